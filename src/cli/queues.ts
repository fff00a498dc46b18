// `nimbus queues <subcommand>`: list, inspect, send to, receive from, purge and redrive the queues
// apps declare in their manifests, through the admin API. People output by default, the API's JSON
// with --json; errors are one line on stderr and a non-zero exit (thrown to main.ts).
import { readFileSync } from 'node:fs';
import { api, CliError, resolveTarget, type Target } from './client.ts';
import type { Flags } from './commands.ts';

interface QueueView {
  name: string; app: string; fifo: boolean; visibilityTimeoutS: number; retentionS: number; delayS: number; maxMessageBytes: number;
  contentBasedDeduplication: boolean; deadLetter: { queue: string; maxReceiveCount: number } | null;
  triggers: { fn: string; batchSize: number; batchWindowS: number; maxConcurrency?: number | null }[];
  stats: { visible: number; inFlight: number; delayed: number; oldestAgeMs: number };
}
interface Attribute { DataType: string; StringValue?: string; BinaryValue?: string }
interface Message { messageId: string; receiptHandle: string; body: string; attributes: Record<string, string>; messageAttributes: Record<string, Attribute> }
interface Sent { messageId: string; md5OfBody: string; md5OfMessageAttributes?: string; sequenceNumber?: string; duplicate?: true }
interface BatchResult { successful: { id: string }[]; failed: { id: string; code: string; message: string }[] }

const SUBCOMMANDS = 'ls, show, send, receive, delete, purge, redrive';
const USAGE: Record<string, string> = {
  show: 'nimbus queues show <queue>',
  send: 'nimbus queues send <queue> (--body TEXT | --file F) [--group G] [--dedup D] [--delay S] [--attr name=value ...]',
  receive: 'nimbus queues receive <queue> [--max N] [--wait S] [--visibility S] [--delete]',
  delete: 'nimbus queues delete <queue> <receiptHandle>',
  purge: 'nimbus queues purge <queue>',
  redrive: 'nimbus queues redrive <dead-letter-queue> [--to QUEUE] [--max N]',
};

const out = (s: string): void => { process.stdout.write(s + '\n'); };
const path = (q: string, rest = ''): string => `/_nimbus/api/queues/${encodeURIComponent(q)}${rest}`;
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `args` are the positionals after `queues`; `attrs` the repeated --attr values. */
export async function queues(args: (string | undefined)[], flags: Flags, attrs: string[] = []): Promise<void> {
  const [sub, q, handle] = args;
  if (!sub) throw new CliError(`usage: nimbus queues <subcommand>; subcommands: ${SUBCOMMANDS}`);
  if (sub === 'ls') return list(flags);
  if (!Object.hasOwn(USAGE, sub)) throw new CliError(`unknown queues subcommand "${sub}"; use one of: ${SUBCOMMANDS}`);
  if (!q || (sub === 'delete' && !handle)) throw new CliError(`usage: ${USAGE[sub]}`);
  const target = resolveTarget(flags);
  switch (sub) {
    case 'show': return show(target, q, flags);
    case 'send': return send(target, q, flags, attrs);
    case 'receive': return receive(target, q, flags);
    case 'delete': return remove(target, q, handle!, flags);
    case 'purge': return purge(target, q, flags);
    case 'redrive': return redrive(target, q, flags);
    default: throw new CliError(`unknown queues subcommand "${sub}"; use one of: ${SUBCOMMANDS}`);
  }
}

async function list(flags: Flags): Promise<void> {
  const { data } = await api<{ queues: QueueView[] }>(resolveTarget(flags), 'GET', '/_nimbus/api/queues');
  if (flags.json) return out(JSON.stringify(data));
  if (data.queues.length === 0) return out('No queues. Declare them under `queues:` in nimbus.yml and deploy (see docs/manifest.md).');
  table([['QUEUE', 'APP', 'TYPE', 'VISIBLE', 'IN FLIGHT', 'DELAYED', 'OLDEST', 'DLQ', 'TRIGGERS'], ...data.queues.map((q) => [
    q.name, q.app, q.fifo ? 'FIFO' : 'standard', String(q.stats.visible), String(q.stats.inFlight), String(q.stats.delayed),
    q.stats.oldestAgeMs > 0 ? age(q.stats.oldestAgeMs) : '-', q.deadLetter?.queue ?? '-', q.triggers.map((t) => t.fn).join(', ') || '-',
  ])]);
}

async function show(target: Target, q: string, flags: Flags): Promise<void> {
  const { data: v } = await api<QueueView>(target, 'GET', path(q));
  if (flags.json) return out(JSON.stringify(v));
  const s = v.stats;
  out(`Queue ${v.name} (${v.fifo ? 'FIFO' : 'standard'}) of app ${v.app}`);
  out(`  Messages:            ${s.visible} visible, ${s.inFlight} in flight, ${s.delayed} delayed; oldest ${s.oldestAgeMs > 0 ? age(s.oldestAgeMs) : '-'}`);
  out(`  Visibility timeout:  ${seconds(v.visibilityTimeoutS)}`);
  out(`  Retention:           ${seconds(v.retentionS)}`);
  out(`  Delay:               ${seconds(v.delayS)}`);
  out(`  Max message size:    ${v.maxMessageBytes >= 1024 ? `${+(v.maxMessageBytes / 1024).toFixed(1)} KB` : `${v.maxMessageBytes} bytes`}`);
  if (v.fifo) out(`  Deduplication:       ${v.contentBasedDeduplication ? 'by content (or --dedup)' : 'by --dedup id only'}`);
  out(`  Dead-letter queue:   ${v.deadLetter ? `${v.deadLetter.queue}, after ${plural(v.deadLetter.maxReceiveCount, 'receive')}` : 'none'}`);
  const triggers = v.triggers.map((t) => `${t.fn} (batches of up to ${t.batchSize}, window ${t.batchWindowS} s${t.maxConcurrency ? `, at most ${t.maxConcurrency} at once` : ''})`);
  out(`  Triggers:            ${triggers.join('\n                       ') || 'none'}`);
}

async function send(target: Target, q: string, flags: Flags, attrs: string[]): Promise<void> {
  if ((flags.body === undefined) === (flags.file === undefined)) throw new CliError(`give the message with --body TEXT or --file F (one of them); usage: ${USAGE.send}`);
  const body = typeof flags.body === 'string' ? flags.body : readFileSync(flags.file as string, 'utf8');
  const req = {
    body,
    attributes: attrs.length ? attributes(attrs) : undefined,
    delaySeconds: wholeNumber(flags, 'delay'),
    groupId: flags.group, dedupId: flags.dedup,
  };
  const { data } = await api<Sent>(target, 'POST', path(q, '/messages'), req);
  if (flags.json) return out(JSON.stringify(data));
  out(`Sent message ${data.messageId} to ${q}${data.sequenceNumber ? ` (sequence number ${data.sequenceNumber})` : ''}${data.duplicate ? ' — a duplicate within 5 minutes: not added again' : ''}`);
}

async function receive(target: Target, q: string, flags: Flags): Promise<void> {
  const req = { maxMessages: wholeNumber(flags, 'max'), waitSeconds: wholeNumber(flags, 'wait'), visibilityTimeout: wholeNumber(flags, 'visibility') };
  const { data } = await api<{ messages: Message[] }>(target, 'POST', path(q, '/receive'), req);
  let deleted: BatchResult | undefined;
  // Print before deleting: if the delete fails, what was received has still been shown.
  if (!flags.json) {
    if (data.messages.length === 0) out(`No messages available in ${q}.`);
    for (const m of data.messages) printMessage(m);
  }
  if (flags.delete && data.messages.length > 0) {
    ({ data: deleted } = await api<BatchResult>(target, 'POST', path(q, '/delete'), { entries: data.messages.map((m, i) => ({ id: String(i), receiptHandle: m.receiptHandle })) }));
  }
  if (flags.json) out(JSON.stringify(deleted ? { ...data, deleted } : data));
  else if (deleted) out(`Deleted ${plural(deleted.successful.length, 'message')}.`);
  if (deleted?.failed.length) {
    const f = deleted.failed;
    throw new CliError(`could not delete ${plural(f.length, 'message')}: ${f.map((e) => `${data.messages[Number(e.id)]?.messageId ?? e.id}: ${e.code}: ${e.message}`).join('; ')}`);
  }
}

function printMessage(m: Message): void {
  const count = m.attributes.ApproximateReceiveCount ?? '?';
  out(`Message ${m.messageId} (receive ${count}${m.attributes.MessageGroupId ? `, group ${m.attributes.MessageGroupId}` : ''})`);
  const attrs = Object.entries(m.messageAttributes);
  if (attrs.length) out(`  Attributes: ${attrs.map(([k, a]) => `${k}=${a.StringValue ?? `<${a.BinaryValue?.length ?? 0} base64 chars>`}${a.DataType === 'String' ? '' : ` (${a.DataType})`}`).join(', ')}`);
  out(m.body.includes('\n') ? `  Body:\n${m.body.replace(/^/gm, '    ')}` : `  Body: ${m.body}`);
  out(`  Receipt handle: ${m.receiptHandle}`);
}

async function remove(target: Target, q: string, handle: string, flags: Flags): Promise<void> {
  const { data } = await api<{ deleted: boolean }>(target, 'POST', path(q, '/delete'), { receiptHandle: handle });
  out(flags.json ? JSON.stringify(data) : `Deleted the message from ${q}.`);
}

async function purge(target: Target, q: string, flags: Flags): Promise<void> {
  const { data } = await api<{ purged: number }>(target, 'POST', path(q, '/purge'));
  out(flags.json ? JSON.stringify(data) : `Purged ${plural(data.purged, 'message')} from ${q}.`);
}

async function redrive(target: Target, dlq: string, flags: Flags): Promise<void> {
  const to = typeof flags.to === 'string' ? flags.to : undefined;
  const { data } = await api<{ moved: number }>(target, 'POST', path(dlq, '/redrive'), { to, max: wholeNumber(flags, 'max') });
  out(flags.json ? JSON.stringify(data) : `Moved ${plural(data.moved, 'message')} from ${dlq} ${to ? `to ${to}` : 'back to the queues they came from'}.`);
}

/** `--attr name=value`: a value written as a number is a Number attribute (its text kept), else a String. */
export function attributes(list: string[]): Record<string, string | Attribute> {
  const out: Record<string, string | Attribute> = {};
  for (const a of list) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new CliError(`--attr: use name=value, got "${a}"`);
    const [name, value] = [a.slice(0, eq), a.slice(eq + 1)];
    if (Object.hasOwn(out, name)) throw new CliError(`--attr: "${name}" is given twice`);
    out[name] = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(value) && Number.isFinite(Number(value)) ? { DataType: 'Number', StringValue: value } : value;
  }
  return out;
}

/** A flag that takes a whole number (seconds, a count); the server checks the range. */
function wholeNumber(flags: Flags, flag: string): number | undefined {
  const v = flags[flag];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new CliError(`--${flag}: must be a whole number, got "${String(v)}"`);
  return Number(v);
}

/** An age as people read it: 3s, 2m, 1h, 4d (rounded down). */
function age(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

const SPANS: [number, string][] = [[86_400, 'd'], [3600, 'h'], [60, 'm']];

/** Seconds as configured, with the whole minutes, hours or days when they are exact: `345600 s (4d)`. */
function seconds(s: number): string {
  const unit = SPANS.find(([n]) => s >= n && s % n === 0);
  return unit ? `${s} s (${s / unit[0]}${unit[1]})` : `${s} s`;
}

export function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}
