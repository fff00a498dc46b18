// `nimbus events put` (put an event on the bus), `nimbus events test-pattern`, and `nimbus rules`.
import { readFileSync } from 'node:fs';
import { api, CliError, resolveTarget } from './client.ts';
import type { Flags } from './commands.ts';
import { table } from './queues.ts';

const out = (s: string): void => { process.stdout.write(s + '\n'); };

function json(flag: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CliError(`--${flag} is not valid JSON: ${(e as Error).message}`);
  }
}

export async function events(args: (string | undefined)[], flags: Flags): Promise<void> {
  const [sub] = args;
  const target = resolveTarget(flags);
  if (sub === 'put') {
    if (typeof flags.source !== 'string' || typeof flags['detail-type'] !== 'string') throw new CliError('usage: nimbus events put --source S --detail-type T [--detail JSON | --file F]');
    const detailText = typeof flags.detail === 'string' ? flags.detail : typeof flags.file === 'string' ? readFileSync(flags.file, 'utf8') : '{}';
    const detailFlag = typeof flags.detail === 'string' ? 'detail' : 'file';
    const detail = json(detailFlag, detailText);
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) throw new CliError(`--${detailFlag} must be a JSON object, e.g. '{"orderId":"o-1"}'`);
    const entry = { source: flags.source, detailType: flags['detail-type'], detail };
    const { data } = await api<{ failedEntryCount: number; entries: ({ eventId: string } | { errorCode: string; errorMessage: string })[] }>(target, 'POST', '/_nimbus/api/events', { entries: [entry] });
    if (flags.json) return out(JSON.stringify(data));
    const r = data.entries[0]!;
    if ('errorCode' in r) throw new CliError(`${r.errorCode}: ${r.errorMessage}`);
    return out(`Put event ${r.eventId}`);
  }
  if (sub === 'test-pattern') {
    if (typeof flags.pattern !== 'string' || typeof flags.event !== 'string') throw new CliError("usage: nimbus events test-pattern --pattern JSON --event JSON");
    const { data } = await api<{ match: boolean }>(target, 'POST', '/_nimbus/api/events/test-pattern', { pattern: json('pattern', flags.pattern), event: json('event', flags.event) });
    return out(flags.json ? JSON.stringify(data) : data.match ? 'match' : 'no match');
  }
  throw new CliError(`unknown events subcommand "${sub ?? ''}"; use one of: put, test-pattern`);
}

interface RuleView { name: string; app: string; enabled: boolean; pattern: unknown; targets: { kind: string; name: string; input: unknown }[] }

export async function rules(flags: Flags): Promise<void> {
  const { data } = await api<{ rules: RuleView[] }>(resolveTarget(flags), 'GET', '/_nimbus/api/rules');
  if (flags.json) return out(JSON.stringify(data));
  if (data.rules.length === 0) return out('No rules. Declare them under `rules:` in nimbus.yml (docs/events.md).');
  table([['RULE', 'APP', 'STATE', 'TARGETS', 'PATTERN'], ...data.rules.map((r) => [
    r.name, r.app, r.enabled ? 'enabled' : 'disabled', r.targets.map((t) => `${t.kind}:${t.name}${t.input ? ' (shaped)' : ''}`).join(', '), JSON.stringify(r.pattern),
  ])]);
}
