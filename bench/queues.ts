// npm run bench:queues — queues end to end on the embedded store (send over the admin API in batches
// of 10 → a queue trigger invokes a function with batches of 10 → the batch is deleted), next to the
// store's own send → receive → delete cycle measured in the same run, and enqueue → handler latency
// on an idle, warm consumer. Prints tables with ratios; nothing here is a test.
//
// The server is spawned (`nimbus serve`, as bench/run.ts does) so its CPU is its own process tree,
// apart from this load generator, which still shares the machine's cores with it. Rounds alternate
// the cases so noise spreads over all of them; quote medians. Knobs: BENCH_ROUNDS (default 3),
// BENCH_MESSAGES (per end-to-end run, default 20000), BENCH_CONCURRENCY (the trigger's
// maxConcurrency values, default 2,4,8), BENCH_SENDERS (concurrent sending loops, default 8),
// BENCH_PINGS (latency samples per round, default 200), BENCH_PROF (a directory: the server runs
// with --cpu-prof and writes its profile there on exit).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../src/store/sqlite/index.ts';
import { MIGRATIONS } from '../src/store/sqlite/schema.ts';
import { Sql } from '../src/store/sqlite/sql.ts';
import { WorkStore } from '../src/store/sqlite/work.ts';
import type { QueueRecord } from '../src/store/types.ts';
import { bundleApp, writeApp } from '../test/helpers.ts';
import { treeCpuMs } from './proc.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '2,4,8').split(',').map(Number);
const SENDERS = Number(process.env.BENCH_SENDERS ?? 8);
const PINGS = Number(process.env.BENCH_PINGS ?? 200);
const PROF_DIR = process.env.BENCH_PROF;
const BATCH = 10;
const PING_GAP_MS = 20;
const STORE_CYCLES = 2_000; // × 10 messages per store baseline run
const DRAIN_POLL_MS = 50;
const root = fileURLToPath(new URL('..', import.meta.url));

// --- helpers ---------------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Wall-clock ms with sub-ms precision; the same expression in the handler reads the same host clock. */
const wallMs = (): number => performance.timeOrigin + performance.now();
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!; };
const int = (x: number): string => (Number.isNaN(x) ? '–' : Math.round(x).toLocaleString('en-US'));
const f1 = (x: number): string => (Number.isNaN(x) ? '–' : x.toFixed(1));
const f3 = (x: number): string => (Number.isNaN(x) ? '–' : x.toFixed(3));

function table(title: string, rows: string[][]): void {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  process.stdout.write(`\n${title}\n`);
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd() + '\n');
}

/** CPU ms the whole machine has spent busy so far (all cores, from /proc/stat). */
function machineBusyMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return ((f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / 100) * 1000;
}

/** This process's CPU ms (the load generator). */
const ownCpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

// --- the server --------------------------------------------------------------------------------------

interface Srv { proc: ChildProcess; host: string; port: number; url: string; token: string; dataDir: string }

function serve(): Promise<Srv> {
  const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-bench-queues-'));
  const flags = PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROF_DIR}`] : [];
  const proc = spawn(process.execPath, [...flags, 'bin/nimbus.mjs', 'serve', '--port', '0', '--data', dataDir], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NIMBUS_LOG_LEVEL: 'warn' } });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/i.exec(out);
      if (!m) return;
      const u = new URL(m[1]!);
      resolve({ proc, host: u.hostname, port: Number(u.port), url: m[1]!, dataDir, token: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim() });
    });
    proc.once('exit', (code) => reject(new Error(`nimbus serve exited with ${code}`)));
  });
}

async function stop(srv: Srv): Promise<void> {
  const exited = new Promise((r) => srv.proc.once('exit', r));
  srv.proc.kill('SIGTERM');
  await exited;
  rmSync(srv.dataDir, { recursive: true, force: true });
}

// node:http with keep-alive: lighter on this shared CPU than fetch, and one socket per sending loop.
const agent = new Agent({ keepAlive: true, maxSockets: SENDERS });

function call(srv: Srv, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${srv.token}` };
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = request({ host: srv.host, port: srv.port, method, path, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function api<T>(srv: Srv, method: string, path: string, body?: unknown): Promise<T> {
  const r = await call(srv, method, path, body === undefined ? undefined : JSON.stringify(body));
  if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 500)}`);
  return JSON.parse(r.text) as T;
}

// --- the app -----------------------------------------------------------------------------------------

const WORK = 'export const handler = async () => null;\n';
// One JSON line per record: when the handler started (host wall clock, sub-ms) and what the bench sent.
const PROBE = `export const handler = async (event: { Records: { body: string }[] }) => {
  const at = performance.timeOrigin + performance.now();
  for (const r of event.Records) console.log(JSON.stringify({ probe: JSON.parse(r.body), at }));
  return null;
};
`;

const queueOf = (c: number): string => `work${c}`;

async function deploy(srv: Srv): Promise<void> {
  const fn = (name: string, handler: string, queue: string, c: number) =>
    `  ${name}:\n    handler: src/${handler}.handler\n    events:\n      - queue: { name: ${queue}, batchSize: ${BATCH}, maxConcurrency: ${c} }\n`;
  const yml = `app: qbench\nfunctions:\n${CONCURRENCY.map((c) => fn(`consume${c}`, 'work', queueOf(c), c)).join('')}${fn('probe', 'probe', 'ping', 1)}`
    + `queues:\n${CONCURRENCY.map((c) => `  ${queueOf(c)}: {}\n`).join('')}  ping: {}\n  sink: {}\n`;
  const files = { 'nimbus.yml': yml, 'src/work.ts': WORK, 'src/probe.ts': PROBE };
  const dir = writeApp(files);
  try {
    await api(srv, 'PUT', '/_nimbus/api/apps/qbench', await bundleApp(dir, yml));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- throughput over HTTP ------------------------------------------------------------------------

interface Stats { visible: number; inFlight: number; delayed: number }
const stats = async (srv: Srv, q: string): Promise<Stats> => (await api<{ stats: Stats }>(srv, 'GET', `/_nimbus/api/queues/${q}`)).stats;

/** SENDERS loops POST batches of 10 until `n` messages are accepted; returns when the last is acknowledged. */
async function sendAll(srv: Srv, q: string, n: number, tag: string): Promise<{ ms: number; failed: number }> {
  let next = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: SENDERS }, async () => {
    for (let b = next++; b * BATCH < n; b = next++) {
      const entries = Array.from({ length: Math.min(BATCH, n - b * BATCH) }, (_, i) => ({ id: String(i), body: `{"t":"${tag}","n":${b * BATCH + i}}` }));
      const r = await call(srv, 'POST', `/_nimbus/api/queues/${q}/messages`, JSON.stringify({ entries }));
      if (r.status !== 200) throw new Error(`send: ${r.status} ${r.text.slice(0, 300)}`);
      failed += (JSON.parse(r.text) as { failed: unknown[] }).failed.length;
    }
  }));
  return { ms: performance.now() - t0, failed };
}

async function drained(srv: Srv, q: string, timeoutMs = 300_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const s = await stats(srv, q);
    if (s.visible + s.inFlight + s.delayed === 0) return;
    if (performance.now() > deadline) throw new Error(`queue ${q} not drained after ${timeoutMs} ms: ${JSON.stringify(s)}`);
    await sleep(DRAIN_POLL_MS);
  }
}

interface E2E { sendRate: number; e2eRate: number; serverCpuMsPerMsg: number; benchCpuMsPerMsg: number; failed: number }

/** Sends `n` messages to a queue with a trigger, and times until every one is consumed and deleted. */
async function endToEnd(srv: Srv, c: number, n: number): Promise<E2E> {
  const q = queueOf(c);
  const cpu0 = treeCpuMs(srv.proc.pid!);
  const own0 = ownCpuMs();
  const t0 = performance.now();
  const sent = await sendAll(srv, q, n, `e2e${c}`);
  await drained(srv, q);
  const ms = performance.now() - t0;
  return { sendRate: n / (sent.ms / 1000), e2eRate: n / (ms / 1000), serverCpuMsPerMsg: (treeCpuMs(srv.proc.pid!) - cpu0) / n, benchCpuMsPerMsg: (ownCpuMs() - own0) / n, failed: sent.failed };
}

/** Sends `n` messages to a queue nobody consumes (the send path alone), then purges it. */
async function sendOnly(srv: Srv, n: number): Promise<{ rate: number; serverCpuMsPerMsg: number; failed: number }> {
  const cpu0 = treeCpuMs(srv.proc.pid!);
  const sent = await sendAll(srv, 'sink', n, 'sink');
  const cpu = treeCpuMs(srv.proc.pid!) - cpu0;
  await api(srv, 'POST', '/_nimbus/api/queues/sink/purge', {});
  return { rate: n / (sent.ms / 1000), serverCpuMsPerMsg: cpu / n, failed: sent.failed };
}

// --- latency when idle ---------------------------------------------------------------------------

/** One message at a time to the idle, warm probe: send start → handler start, and the send's round trip. */
async function latency(srv: Srv, round: number, pings: number): Promise<{ e2e: number[]; rtt: number[] }> {
  const rtt: number[] = [];
  for (let i = 0; i < pings; i++) {
    const sentAt = wallMs();
    await api(srv, 'POST', '/_nimbus/api/queues/ping/messages', { entries: [{ id: '0', body: JSON.stringify({ round, i, sentAt }) }] });
    rtt.push(wallMs() - sentAt);
    await sleep(PING_GAP_MS);
  }
  await drained(srv, 'ping');
  // The logs API flushes the server's record buffer before it answers.
  const { logs } = await api<{ logs: { message: string }[] }>(srv, 'GET', '/_nimbus/api/functions/probe/logs?limit=10000');
  const e2e: number[] = [];
  for (const l of logs) {
    const m = /\{"probe".*\}/.exec(l.message);
    if (!m) continue;
    const { probe, at } = JSON.parse(m[0]) as { probe: { round: number; sentAt: number }; at: number };
    if (probe.round === round) e2e.push(at - probe.sentAt);
  }
  if (e2e.length !== pings) throw new Error(`latency: ${pings} pings sent, ${e2e.length} found in the probe's logs`);
  return { e2e, rtt };
}

// --- the store alone -----------------------------------------------------------------------------

const QUEUE: Omit<QueueRecord, 'app'> = { name: 'work', fifo: false, visibilityTimeoutMs: 30_000, retentionMs: 4 * 86_400_000, delayMs: 0, maxMessageBytes: 256 * 1024, contentBasedDeduplication: false };

/**
 * The cycle the server runs per batch — send 10 (one transaction), receive up to 10 (one), delete
 * them (one) — in a loop on one thread, no HTTP, no function: what the store allows at most.
 * FULL is SqliteStore as the server opens it; NORMAL is the same queue code (WorkStore, which
 * SqliteStore delegates to) on a connection opened the same way but with synchronous=NORMAL.
 */
async function storeCycle(sync: 'FULL' | 'NORMAL'): Promise<{ rate: number; usPerTx: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-bench-store-'));
  const path = join(dir, 'nimbus.db');
  let ops: Pick<SqliteStore, 'sendMessages' | 'receiveMessages' | 'deleteMessages'>;
  let close: () => void;
  if (sync === 'FULL') {
    const store = new SqliteStore(path);
    await store.applyApp({ name: 'b', specHash: 'b', functions: [], routes: [], queues: [QUEUE], queueTriggers: [] }, Date.now());
    ops = store;
    close = () => void store.close();
  } else {
    const db = new DatabaseSync(path);
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
    const sql = new Sql(db);
    for (const m of MIGRATIONS) sql.db.exec(m);
    const work = new WorkStore(sql);
    sql.run('INSERT INTO apps(name, spec_hash, deployed_at) VALUES (?, ?, ?)', 'b', 'b', Date.now());
    sql.tx(() => work.applyQueues({ name: 'b', specHash: 'b', functions: [], routes: [], queues: [QUEUE], queueTriggers: [] }));
    ops = {
      sendMessages: async (...a) => work.sendMessages(...a),
      receiveMessages: async (...a) => work.receiveMessages(...a),
      deleteMessages: async (...a) => work.deleteMessages(...a),
    };
    close = () => sql.close();
  }
  try {
    const t0 = performance.now();
    for (let b = 0; b < STORE_CYCLES; b++) {
      await ops.sendMessages('work', Array.from({ length: BATCH }, (_, i) => ({ body: `{"t":"store","n":${b * BATCH + i}}` })), Date.now(), 300_000);
      const got = await ops.receiveMessages('work', { max: BATCH, visibilityMs: 30_000, receipt: `r${b}` }, Date.now());
      if (got.length !== BATCH) throw new Error(`store cycle: received ${got.length} of ${BATCH}`);
      await ops.deleteMessages('work', got.map((m) => ({ seq: m.seq, receipt: m.receipt })));
    }
    const ms = performance.now() - t0;
    return { rate: (STORE_CYCLES * BATCH) / (ms / 1000), usPerTx: (ms * 1000) / (STORE_CYCLES * 3) };
  } finally {
    close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const t0 = performance.now();
  const busy0 = machineBusyMs();
  const own0 = ownCpuMs();
  process.stdout.write(`Nimbus queues bench — ${cpus()[0]?.model ?? 'cpu'}; ${availableParallelism()} cores, node ${process.version}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at start\n`);
  process.stdout.write(`${ROUNDS} rounds; per end-to-end run ${int(MESSAGES)} messages of ~20 bytes, sent by ${SENDERS} keep-alive loops in batches of ${BATCH}; trigger batchSize ${BATCH}, maxConcurrency ${CONCURRENCY.join(' / ')}\n`);

  const srv = await serve();
  let serverCpu = 0;
  try {
    await deploy(srv);
    // Warm-up: JIT on both sides, every consumer's instances started, the probe warm.
    await sendOnly(srv, 2_000);
    for (const c of CONCURRENCY) { await sendAll(srv, queueOf(c), 2_000, 'warm'); await drained(srv, queueOf(c)); }
    await latency(srv, -1, 20);

    const store: { full: number[]; normal: number[]; fullUs: number[]; normalUs: number[] } = { full: [], normal: [], fullUs: [], normalUs: [] };
    const send: { rate: number[]; cpu: number[]; failed: number } = { rate: [], cpu: [], failed: 0 };
    const e2e = new Map<number, E2E[]>(CONCURRENCY.map((c) => [c, []]));
    const lat: { p50: number[]; p99: number[]; rtt50: number[]; rtt99: number[]; all: number[] } = { p50: [], p99: [], rtt50: [], rtt99: [], all: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const full = await storeCycle('FULL');
      const normal = await storeCycle('NORMAL');
      store.full.push(full.rate); store.fullUs.push(full.usPerTx); store.normal.push(normal.rate); store.normalUs.push(normal.usPerTx);
      const s = await sendOnly(srv, MESSAGES);
      send.rate.push(s.rate); send.cpu.push(s.serverCpuMsPerMsg); send.failed += s.failed;
      const line: string[] = [];
      for (const c of CONCURRENCY) {
        const x = await endToEnd(srv, c, MESSAGES);
        e2e.get(c)!.push(x);
        line.push(`c${c} ${int(x.e2eRate)}`);
      }
      const l = await latency(srv, r, PINGS);
      lat.p50.push(pct(l.e2e, 50)); lat.p99.push(pct(l.e2e, 99)); lat.rtt50.push(pct(l.rtt, 50)); lat.rtt99.push(pct(l.rtt, 99)); lat.all.push(...l.e2e);
      process.stderr.write(`round ${r + 1}/${ROUNDS}: store FULL ${int(full.rate)} msgs/s, NORMAL ${int(normal.rate)}; send only ${int(s.rate)}; end to end ${line.join(', ')} msgs/s; idle latency p50 ${f1(pct(l.e2e, 50))} ms\n`);
    }
    serverCpu = treeCpuMs(srv.proc.pid!);

    // --- report ----------------------------------------------------------------------------------
    const fullRate = median(store.full);
    const m = (c: number, k: keyof E2E): number => median(e2e.get(c)!.map((x) => x[k]));
    const best = CONCURRENCY.reduce((a, c) => (m(c, 'e2eRate') > m(a, 'e2eRate') ? c : a), CONCURRENCY[0]!);
    table(`Throughput: msgs/s, medians of ${ROUNDS} rounds (ratios against the store alone, FULL)`, [
      ['', 'msgs/s', 'of store FULL', 'server CPU ms/msg (tree)', 'bench CPU ms/msg', 'target'],
      ['store alone, synchronous=FULL (send 10 → receive 10 → delete 10, one thread)', int(fullRate), '100%', `${f1(median(store.fullUs))} µs/tx`, '', ''],
      ['store alone, synchronous=NORMAL (same code)', int(median(store.normal)), `${((median(store.normal) / fullRate) * 100).toFixed(0)}%`, `${f1(median(store.normalUs))} µs/tx`, '', ''],
      ['Nimbus send only (POST batches of 10, nobody consuming)', int(median(send.rate)), `${((median(send.rate) / fullRate) * 100).toFixed(0)}%`, f3(median(send.cpu)), '', ''],
      ...CONCURRENCY.map((c) => [
        `Nimbus end to end, maxConcurrency ${c}${c === best ? ' (best)' : ''}`, int(m(c, 'e2eRate')), `${((m(c, 'e2eRate') / fullRate) * 100).toFixed(0)}%`,
        f3(m(c, 'serverCpuMsPerMsg')), f3(m(c, 'benchCpuMsPerMsg')), `${m(c, 'e2eRate') >= 10_000 ? '✓' : '✗'} ≥ 10,000 (Cloudflare Queues: 5,000/queue)`,
      ]),
      ...CONCURRENCY.map((c) => [`  … its send rate while consuming`, int(m(c, 'sendRate')), '', '', '', '']),
    ]);
    const failed = send.failed + [...e2e.values()].flat().reduce((n, x) => n + x.failed, 0);
    process.stdout.write(`Failed entries over all sends: ${failed}. "End to end" runs from the first send until the queue's stats show nothing visible, in flight or delayed (polled every ${DRAIN_POLL_MS} ms once sending is done).\n`);

    table(`Latency when idle: ${PINGS} single-message sends per round, ${PING_GAP_MS} ms apart, to a warm consumer; ms, medians of ${ROUNDS} rounds`, [
      ['', 'p50', 'p99', 'target'],
      ['enqueue → handler start (send start in the bench → handler, same host clock)', f1(median(lat.p50)), f1(median(lat.p99)), `${median(lat.p50) <= 5 ? '✓' : '✗'} p50 ≤ 5`],
      ['  all rounds pooled', f1(pct(lat.all, 50)), f1(pct(lat.all, 99)), ''],
      ['the send\'s HTTP round trip (context)', f1(median(lat.rtt50)), f1(median(lat.rtt99)), ''],
    ]);
  } finally {
    await stop(srv);
  }

  const wall = performance.now() - t0;
  const others = machineBusyMs() - busy0 - serverCpu - (ownCpuMs() - own0);
  process.stdout.write(`\nNoise: ${availableParallelism()} cores shared by the server, its instances and this load generator; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end.`
    + ` Processes outside this bench used ${(others / 1000).toFixed(1)} CPU-s meanwhile (${((others / wall) * 100).toFixed(0)}% of one core${others / wall > 0.1 ? ': the machine was NOT quiet, numbers are deflated' : ''}). Took ${(wall / 1000).toFixed(0)} s.\n`);
}

await main();
