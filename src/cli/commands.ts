// The CLI's commands other than serve: init, deploy, invoke, logs, ls, rm. Each prints for people
// by default and JSON with --json; errors are one line on stderr and a non-zero exit.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadManifest } from '../config/manifest.ts';
import { inlineWorkflowDefinitions } from '../workflows/definition-file.ts';
import { isNimbusError } from '../errors.ts';
import { bundleFunction } from './bundle.ts';
import { api, CliError, resolveTarget, type Target } from './client.ts';

export interface Flags {
  json?: boolean; url?: string; token?: string; data?: string;
  [key: string]: string | boolean | undefined;
}

const out = (s: string): void => { process.stdout.write(s + '\n'); };
const err = (s: string): void => { process.stderr.write(s + '\n'); };
const ms = (t0: number): string => `${(performance.now() - t0).toFixed(0)} ms`;
const kb = (n: number): string => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} KB`);

export async function init(name: string | undefined, flags: Flags): Promise<void> {
  if (!name) throw new CliError('usage: nimbus init <name>');
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(name)) throw new CliError(`app name "${name}": use lower-case letters, digits and '-', starting with a letter`);
  const dir = resolve(name);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new CliError(`${dir} exists and is not empty; choose another name`);
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'nimbus.yml'), `# The app manifest: see docs/manifest.md in the Nimbus repository.
app: ${name}
functions:
  hello:
    handler: src/hello.handler
    memory: 128
    timeout: 3
    events:
      - http: { method: GET, path: /${name} }
`);
  writeFileSync(join(dir, 'src', 'hello.ts'), `// A Lambda-style handler: the event is API Gateway's HTTP API (payload 2.0) event.
interface HttpEvent { rawPath: string; queryStringParameters?: Record<string, string> }

export const handler = async (event: HttpEvent) => {
  const who = event.queryStringParameters?.name ?? 'world';
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: \`Hello, \${who}!\`, path: event.rawPath }) };
};
`);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module', version: '0.1.0' }, null, 2) + '\n');
  if (flags.json) return out(JSON.stringify({ created: dir, files: ['nimbus.yml', 'src/hello.ts', 'package.json'] }));
  out(`Created ${name}/ with nimbus.yml, src/hello.ts and package.json.`);
  out(`Next, from this folder (not inside ${name}/): npx nimbus deploy ${name}   then   curl ${resolveTarget(flags).url}/${name}`);
}

interface DeployResponse {
  app: string; status: 'applied' | 'unchanged'; created: string[]; updated: string[]; removed: string[]; routes: { method: string; path: string; fn: string | null; workflow?: string | null; syncMs?: number | null }[];
  queues?: { names: string[]; created: string[]; removed: string[] };
  buckets?: { names: string[]; created: string[]; removed: string[] };
  tables?: { names: string[]; created: string[]; removed: string[] };
  rollouts?: { fn: string; id: number; fromVersion: number; toVersion: number; strategy: string }[];
  workflows?: string[];
}

export async function deploy(dirArg: string | undefined, flags: Flags): Promise<void> {
  const appDir = resolve(dirArg ?? '.');
  const step = (s: string): void => { if (!flags.json) out(s); };
  let t0 = performance.now();
  const { manifest, path } = await loadManifest(appDir);
  const names = Object.keys(manifest.functions);
  step(`✓ manifest ${path.slice(appDir.length + 1)}: app ${manifest.app}, ${names.length} function${names.length === 1 ? '' : 's'} (${ms(t0)})`);
  const bundles: Record<string, { code: string }> = {};
  let total = 0;
  for (const name of names) {
    t0 = performance.now();
    const b = await bundleFunction(appDir, name, manifest.functions[name]!.handler);
    bundles[name] = { code: Buffer.from(b.code).toString('base64') };
    total += b.sizeBytes;
    step(`✓ bundled ${name} ${kb(b.sizeBytes)} (${ms(t0)})`);
  }
  t0 = performance.now();
  const target = resolveTarget(flags);
  const strategy = typeof flags.strategy === 'string' ? flags.strategy : undefined;
  const { data } = await api<DeployResponse>(target, 'PUT', `/_nimbus/api/apps/${encodeURIComponent(manifest.app)}`, { manifest: await inlineWorkflowDefinitions(appDir, manifest), bundles, ...(strategy ? { strategy } : {}) });
  if (flags.json) return out(JSON.stringify(data));
  if (data.status === 'unchanged') step(`✓ uploaded ${kb(total)}: app ${data.app} is unchanged, nothing to apply (${ms(t0)})`);
  else step(`✓ uploaded ${kb(total)} and applied: ${data.created.length} created, ${data.updated.length} updated, ${data.removed.length} removed (${ms(t0)})`);
  if (data.removed.length) out(`  removed: ${data.removed.join(', ')}`);
  const q = data.queues;
  if (q && (q.created.length || q.removed.length)) out(`  queues: ${[...q.created.map((n) => `+${n}`), ...q.removed.map((n) => `-${n} (with its messages)`)].join(', ')}`);
  for (const [what, c] of [['buckets', data.buckets], ['tables', data.tables]] as const) {
    if (c && (c.created.length || c.removed.length)) out(`  ${what}: ${[...c.created.map((n) => `+${n}`), ...c.removed.map((n) => `-${n}`)].join(', ')}`);
  }
  if (data.workflows?.length) out(`  workflows: ${data.workflows.join(', ')}`);
  for (const r of data.rollouts ?? []) out(`  ${r.fn}: rollout #${r.id} from version ${r.fromVersion} to ${r.toVersion}, ${r.strategy} (nimbus rollouts ${r.fn})`);
  if (data.routes.length) {
    out('Routes:');
    for (const r of data.routes) out(`  ${r.method.padEnd(7)} ${target.url}${r.path}  →  ${r.fn ?? `workflow ${r.workflow}${r.syncMs != null ? ' (sync)' : ''}`}`);
  }
}

export async function invoke(fn: string | undefined, flags: Flags): Promise<void> {
  if (!fn) throw new CliError('usage: nimbus invoke <function> [--data JSON | --file F] [--qualifier ALIAS|VERSION] [--async [--idempotency-key KEY]]');
  const qs = typeof flags.qualifier === 'string' ? `?qualifier=${encodeURIComponent(flags.qualifier)}` : '';
  const key = flags['idempotency-key'];
  if (key !== undefined && !flags.async) throw new CliError('--idempotency-key goes with --async (a synchronous invoke always runs)');
  let payload: unknown = {};
  const raw = typeof flags.payload === 'string' ? flags.payload : typeof flags.file === 'string' ? readFileSync(flags.file, 'utf8') : undefined;
  if (raw !== undefined) {
    try { payload = JSON.parse(raw); } catch (e) { throw new CliError(`${flags.payload !== undefined ? '--data' : '--file'} is not valid JSON: ${(e as Error).message}`); }
  }
  if (flags.async) {
    const headers: Record<string, string> = { 'x-nimbus-invocation-type': 'Event', ...(typeof key === 'string' ? { 'x-nimbus-idempotency-key': key } : {}) };
    const { data } = await api<{ requestId: string; duplicate?: boolean }>(resolveTarget(flags), 'POST', `/_nimbus/api/functions/${encodeURIComponent(fn)}/invocations${qs}`, payload, headers);
    return out(flags.json ? JSON.stringify(data) : `Accepted: RequestId ${data.requestId}${data.duplicate ? ' (duplicate: not run again)' : ''}`);
  }
  const { headers, data } = await api<unknown>(resolveTarget(flags), 'POST', `/_nimbus/api/functions/${encodeURIComponent(fn)}/invocations${qs}`, payload);
  const failed = headers.get('x-nimbus-function-error');
  const requestId = headers.get('x-nimbus-request-id');
  const version = Number(headers.get('x-nimbus-executed-version'));
  const traceId = headers.get('x-nimbus-trace-id') ?? undefined;
  if (flags.json) out(JSON.stringify({ requestId, version, traceId, error: failed ? data : undefined, result: failed ? undefined : data }));
  else {
    out(JSON.stringify(data, null, 2));
    err(`RequestId: ${requestId}  Version: ${version}${traceId ? `  TraceId: ${traceId}` : ''}${failed ? `  (function error: ${headers.get('x-nimbus-error-type')})` : ''}`);
  }
  if (failed) process.exitCode = 1;
}

interface LogLine { seq: number; time: string; requestId: string | null; level: string; message: string }

export async function logs(fn: string | undefined, flags: Flags): Promise<void> {
  if (!fn) throw new CliError('usage: nimbus logs <function> [--follow] [--since 1h] [--request-id ID] [--level ERROR]');
  if (flags.follow && typeof flags.until === 'string') throw new CliError('--until and --follow do not go together: --follow prints lines as they come, after --until\'s range');
  const target = resolveTarget(flags);
  // Ctrl-C ends a follow quietly, whenever it comes (before the first lines too).
  const stop = new AbortController();
  if (flags.follow) process.once('SIGINT', () => stop.abort());
  const q = new URLSearchParams();
  for (const [flag, param] of [['since', 'since'], ['until', 'until'], ['request-id', 'requestId'], ['level', 'level'], ['limit', 'limit'], ['search', 'q']] as const) {
    if (typeof flags[flag] === 'string') q.set(param, flags[flag] as string);
  }
  const print = (lines: LogLine[]): void => {
    for (const l of lines) out(flags.json ? JSON.stringify(l) : `${l.time} ${l.requestId ?? '-'} ${l.level.padEnd(5)} ${l.message}`);
  };
  const { data } = await api<{ logs: LogLine[]; cursor?: number }>(target, 'GET', `/_nimbus/api/functions/${encodeURIComponent(fn)}/logs?${q}`);
  print(data.logs);
  if (!flags.follow) return;
  // Then the live tail: server-sent events from where the lines above ended, until Ctrl-C.
  await follow(target, fn, q, data.cursor ?? 0, stop.signal, print);
}

// A live tail that lost its connection tries again after this long, doubling up to the cap.
const FOLLOW_RETRY_MS = 250;
const FOLLOW_RETRY_MAX_MS = 5000;

/**
 * Prints a function's new log lines as the server streams them (after line `after`), until `signal`.
 * A stream that ends or breaks (the server restarted, or let go of a reader too slow for it) is taken
 * up again from the last line printed, so no line is lost or printed twice; the outage is said once
 * on stderr. An answer of 4xx (the function was deleted, the token is refused) ends the tail with it.
 */
async function follow(target: Target, fn: string, q: URLSearchParams, after: number, signal: AbortSignal, print: (lines: LogLine[]) => void): Promise<void> {
  const live = new URLSearchParams();
  for (const k of ['level', 'q', 'requestId'] as const) { const v = q.get(k); if (v !== null) live.set(k, v); }
  let retryMs = FOLLOW_RETRY_MS;
  // Whether the tail is cut off (and that was said).
  let lost = false;
  while (!signal.aborted) {
    let why: string;
    try {
      live.set('after', String(after));
      const res = await fetch(`${target.url}/_nimbus/api/functions/${encodeURIComponent(fn)}/logs/stream?${live}`, { headers: target.token ? { authorization: `Bearer ${target.token}` } : {}, signal });
      if (res.status >= 400 && res.status < 500) throw new CliError(`the live tail failed: HTTP ${res.status} ${await res.text()}`);
      if (!res.ok || !res.body) {
        why = `HTTP ${res.status}`;
        await res.body?.cancel();
      } else {
        if (lost) err(`The live tail is back: going on after line ${after}.`);
        lost = false;
        retryMs = FOLLOW_RETRY_MS;
        let buffered = '';
        for await (const chunk of res.body.pipeThrough(new TextDecoderStream())) {
          buffered += chunk;
          let end: number;
          while ((end = buffered.indexOf('\n\n')) >= 0) {
            const event = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            const data = event.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
            if (!data) continue;
            let line: LogLine;
            try {
              line = JSON.parse(data) as LogLine;
            } catch {
              throw new CliError(`the live tail sent an event that is not a log line: ${data.slice(0, 200)}`);
            }
            print([line]);
            after = line.seq;
          }
        }
        why = 'the server closed the stream';
      }
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof CliError) throw e;
      // (fetch says "fetch failed"; the cause says why: ECONNREFUSED, ECONNRESET, ...)
      const cause = (e as Error & { cause?: { code?: string } }).cause?.code;
      why = `${(e as Error).message}${cause ? `: ${cause}` : ''}`;
    }
    if (!lost) err(`The live tail was cut off (${why}): trying again until it is back (Ctrl-C to stop).`);
    lost = true;
    // (Ctrl-C ends the wait at once: the rejection is the abort, and the loop stops on it.)
    await sleep(retryMs, undefined, { signal }).catch(() => undefined);
    retryMs = Math.min(2 * retryMs, FOLLOW_RETRY_MAX_MS);
  }
}

interface InvocationView {
  requestId: string; trigger: string; startedAt: number; durationMs: number; billedDurationMs: number; initDurationMs: number | null;
  memoryMb: number; maxMemoryUsedMb: number; cold: boolean; outcome: string; errorType: string | null; version: string; qualifier: string | null;
}

/** `nimbus invocations <fn> [--since 1h] [--status error] [--limit N]`: invocation records, newest first. */
export async function invocations(fn: string | undefined, flags: Flags): Promise<void> {
  if (!fn) throw new CliError('usage: nimbus invocations <function> [--since 1h] [--status error|timeout|throttled|...] [--limit N]');
  const q = new URLSearchParams();
  for (const flag of ['since', 'status', 'limit'] as const) if (typeof flags[flag] === 'string') q.set(flag, flags[flag] as string);
  const { data } = await api<{ invocations: InvocationView[] }>(resolveTarget(flags), 'GET', `/_nimbus/api/functions/${encodeURIComponent(fn)}/invocations?${q}`);
  if (flags.json) return out(JSON.stringify(data));
  if (data.invocations.length === 0) return out(`No invocations of ${fn}${q.size ? ' match' : ' recorded yet'}.`);
  const rows = [['STARTED', 'REQUEST ID', 'TRIGGER', 'VERSION', 'OUTCOME', 'DURATION', 'BILLED', 'INIT', 'MEMORY'], ...data.invocations.map((r) => [
    new Date(r.startedAt).toISOString(), r.requestId, r.trigger, r.qualifier && r.qualifier !== r.version ? `${r.version} (${r.qualifier})` : r.version, r.outcome === 'success' ? 'success' : `${r.outcome}${r.errorType ? ` (${r.errorType})` : ''}`,
    `${r.durationMs.toFixed(2)} ms`, `${r.billedDurationMs} ms`, r.initDurationMs === null ? '-' : `${r.initDurationMs.toFixed(2)} ms`, `${r.maxMemoryUsedMb}/${r.memoryMb} MB`,
  ])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

interface UsageLineView { key: string; requests: number; errors: number; throttles: number; coldStarts: number; gbSeconds: number; provisionedDurationGbSeconds: number; provisionedGbSeconds: number; initSeconds: number; cost: number }

/** `nimbus usage [--by function|day|hour] [--since 30d] [--function F] [--json]`: usage and estimated cost, with totals. */
export async function usage(flags: Flags): Promise<void> {
  const q = new URLSearchParams();
  for (const flag of ['since', 'by', 'function'] as const) if (typeof flags[flag] === 'string') q.set(flag, flags[flag] as string);
  const { data } = await api<{ since: string; until: string; by: string; prices: { currency: string; source: string }; lines: UsageLineView[]; total: Omit<UsageLineView, 'key'> }>(resolveTarget(flags), 'GET', `/_nimbus/api/usage?${q}`);
  if (flags.json) return out(JSON.stringify(data));
  // Nothing recorded (a function that never ran in the range, or a name that does not exist): say so, not a table of zeros.
  if (data.lines.length === 0) return out(`No usage${typeof flags.function === 'string' ? ` of ${flags.function}` : ''} recorded from ${data.since} to ${data.until}.`);
  const money = (n: number): string => moneyText(n, data.prices.currency);
  const gbs = (n: number): string => n.toFixed(n < 10 ? 3 : 1);
  const row = (key: string, l: Omit<UsageLineView, 'key'>): string[] => [
    key, String(l.requests), String(l.errors), String(l.throttles), String(l.coldStarts), gbs(l.gbSeconds), gbs(l.provisionedGbSeconds + l.provisionedDurationGbSeconds), `${l.initSeconds.toFixed(2)} s`, money(l.cost),
  ];
  const rows = [[data.by.toUpperCase(), 'REQUESTS', 'ERRORS', 'THROTTLES', 'COLD', 'GB-S', 'PROV. GB-S', 'INIT', 'COST'], ...data.lines.map((l) => row(l.key, l)), row('TOTAL', data.total)];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
  out(`\n${data.since} to ${data.until}. Prices: ${data.prices.source} (an estimate, for comparison).`);
}

/** Small amounts keep two significant digits: a test run costs millionths of a dollar. */
function moneyText(n: number, currency: string): string {
  return `${currency === 'USD' ? '$' : `${currency} `}${n < 0.01 && n > 0 ? n.toFixed(Math.min(12, 1 - Math.floor(Math.log10(n)))) : n.toFixed(2)}`;
}

interface BudgetView { app: string; fn: string | null; monthly: number; alerts: number[]; month: string; cost: number; currency: string; percent: number; raised: number[] }

/** `nimbus budgets [--json]`: each budget's month-to-date cost and the alerts raised this month. */
export async function budgets(flags: Flags): Promise<void> {
  const { data } = await api<{ budgets: BudgetView[] }>(resolveTarget(flags), 'GET', '/_nimbus/api/budgets');
  if (flags.json) return out(JSON.stringify(data));
  if (data.budgets.length === 0) return out('No budgets. Add `budget: { monthly: 10 }` to an app or a function in nimbus.yml (docs/metering.md).');
  const rows = [['APP', 'FUNCTION', 'MONTH', 'BUDGET', 'SPENT', 'USED', 'ALERTS AT', 'RAISED'], ...data.budgets.map((b) => [
    b.app, b.fn ?? '(whole app)', b.month, moneyText(b.monthly, b.currency), moneyText(b.cost, b.currency), `${b.percent.toFixed(1)}%`,
    b.alerts.map((p) => `${p}%`).join(' '), b.raised.map((p) => `${p}%`).join(' ') || '-',
  ])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

interface FnView { name: string; app: string; memoryMb: number; timeoutMs: number; routes: string[]; instances: { busy: number; idle: number; provisioned: number; waiting: number } }

export async function ls(flags: Flags): Promise<void> {
  const { data } = await api<{ functions: FnView[] }>(resolveTarget(flags), 'GET', '/_nimbus/api/functions');
  if (flags.json) return out(JSON.stringify(data));
  if (data.functions.length === 0) return out('No functions deployed. Try: npx nimbus init hello && npx nimbus deploy hello');
  const rows = [['FUNCTION', 'APP', 'MEMORY', 'TIMEOUT', 'INSTANCES', 'ROUTES'], ...data.functions.map((f) => [
    f.name, f.app, `${f.memoryMb} MB`, `${f.timeoutMs / 1000} s`,
    `${f.instances.busy} busy, ${f.instances.idle} idle${f.instances.provisioned ? ` (${f.instances.provisioned} provisioned)` : ''}${f.instances.waiting ? `, ${f.instances.waiting} waiting` : ''}`,
    f.routes.join(', ') || '-',
  ])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
  const host = await api<{ spares: { ready: Record<string, number> }; capacity: { instances: number; maxInstances: number; memoryMb: number; memoryBudgetMb: number } }>(resolveTarget(flags), 'GET', '/_nimbus/api/instances');
  const { spares, capacity } = host.data;
  const ready = Object.entries(spares.ready).filter(([, n]) => n > 0).map(([mb, n]) => `${n} × ${mb} MB`).join(', ') || 'none';
  out(`\nSpare runtimes ready: ${ready}. Host: ${capacity.instances}/${capacity.maxInstances} instances, ${capacity.memoryMb}/${capacity.memoryBudgetMb} MB of the memory budget.`);
}

export async function rm(name: string | undefined, flags: Flags): Promise<void> {
  const target = resolveTarget(flags);
  if (typeof flags.app === 'string') {
    await api(target, 'DELETE', `/_nimbus/api/apps/${encodeURIComponent(flags.app)}`);
    return out(flags.json ? JSON.stringify({ deleted: flags.app }) : `Removed app ${flags.app} with its functions and routes.`);
  }
  if (!name) throw new CliError('usage: nimbus rm <function> | nimbus rm --app <app>');
  await api(target, 'DELETE', `/_nimbus/api/functions/${encodeURIComponent(name)}`);
  out(flags.json ? JSON.stringify({ deleted: name }) : `Removed function ${name} and its routes.`);
}

export function describeError(e: unknown): string {
  if (e instanceof CliError) return e.message;
  if (isNimbusError(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
