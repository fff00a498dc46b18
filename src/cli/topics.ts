// `nimbus topics`: list topics with their subscriptions, show one (with webhook signing secrets),
// publish a message.
import { readFileSync } from 'node:fs';
import { api, CliError, resolveTarget } from './client.ts';
import type { Flags } from './commands.ts';
import { attributes, table } from './queues.ts';

interface Subscription { id: string; kind: string; target: string; rawMessageDelivery: boolean; filterPolicy: unknown; filterPolicyScope: string; deadLetterQueue: string | null; signingSecret?: string }
interface TopicView { name: string; app: string; arn: string; subscriptions: Subscription[] }

const out = (s: string): void => { process.stdout.write(s + '\n'); };
const path = (t: string, rest = ''): string => `/_nimbus/api/topics/${encodeURIComponent(t)}${rest}`;

export async function topics(args: (string | undefined)[], flags: Flags, attrs: string[] = []): Promise<void> {
  const [sub = 'ls', name] = args;
  const target = resolveTarget(flags);
  if (sub === 'ls') {
    const { data } = await api<{ topics: TopicView[] }>(target, 'GET', '/_nimbus/api/topics');
    if (flags.json) return out(JSON.stringify(data));
    if (data.topics.length === 0) return out('No topics. Declare them under `topics:` in nimbus.yml (docs/topics.md).');
    return table([['TOPIC', 'APP', 'SUBSCRIPTIONS'], ...data.topics.map((t) => [t.name, t.app, t.subscriptions.map((s) => `${s.kind}:${s.target}${s.filterPolicy ? ' (filtered)' : ''}`).join(', ') || '-'])]);
  }
  if (sub !== 'show' && sub !== 'publish') throw new CliError(`unknown topics subcommand "${sub}"; use one of: ls, show, publish`);
  if (!name) throw new CliError(sub === 'publish' ? 'usage: nimbus topics publish <topic> (--message TEXT | --file F) [--subject S] [--attr name=value ...]' : `usage: nimbus topics ${sub} <topic>`);
  if (sub === 'show') {
    const { data } = await api<TopicView>(target, 'GET', path(name));
    if (flags.json) return out(JSON.stringify(data));
    out(`Topic ${data.name} of app ${data.app} (${data.arn})`);
    if (data.subscriptions.length === 0) out('  no subscriptions');
    for (const s of data.subscriptions) {
      out(`  ${s.kind} ${s.target}${s.rawMessageDelivery ? ' (raw delivery)' : ''}  [${s.id}]`);
      if (s.filterPolicy) out(`    filter (${s.filterPolicyScope}): ${JSON.stringify(s.filterPolicy)}`);
      if (s.deadLetterQueue) out(`    dead-letter queue: ${s.deadLetterQueue}`);
      if (s.signingSecret) out(`    signing secret: ${s.signingSecret}`);
    }
    return;
  }
  if (sub === 'publish') {
    const message = typeof flags.message === 'string' ? flags.message : typeof flags.file === 'string' ? readFileSync(flags.file, 'utf8') : undefined;
    if (message === undefined) throw new CliError('nimbus topics publish: give the message with --message TEXT or --file F');
    const body: Record<string, unknown> = { message };
    if (typeof flags.subject === 'string') body.subject = flags.subject;
    if (attrs.length) body.attributes = attributes(attrs);
    const { data } = await api<{ messageId: string }>(target, 'POST', path(name, '/messages'), body);
    return out(flags.json ? JSON.stringify(data) : `Published message ${data.messageId} to ${name}`);
  }
  throw new CliError(`unknown topics subcommand "${sub}"; use one of: ls, show, publish`);
}
