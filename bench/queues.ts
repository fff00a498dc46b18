// npm run bench:queues — queues end to end on the embedded store (send over the admin API in batches
// of 10 → a queue trigger invokes a function with batches of 10 → the batch is deleted), next to the
// same calls made straight on a SqliteStore in the same run (the store's ceiling: no HTTP, no
// function), and enqueue → handler latency on an idle, warm consumer. Prints tables with ratios;
// nothing here is a test.
//
// The server is spawned (`nimbus serve`, as bench/run.ts does) so its CPU is its own process tree,
// apart from this load generator, which still shares the machine's cores with it. Rounds alternate
// the cases so noise spreads over all of them; quote medians. Knobs: BENCH_ROUNDS (default 3),
// BENCH_MESSAGES (per end-to-end run, default 50000), BENCH_CONCURRENCY (the trigger's
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
import type { QueueRecord } from '../src/store/types.ts';
import { bundleApp, writeApp } from '../test/helpers.ts';
import { treeCpuMs } from './proc.ts';
import { desiredApp } from '../src/store/desired.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 50_000);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '2,4,8').split(',').map(Number);
const SENDERS = Number(process.env.BENCH_SENDERS ?? 8);
const PINGS = Number(process.env.BENCH_PINGS ?? 200);
const PROF_DIR = process.env.BENCH_PROF;
const BATCH = 10;
const PING_GAP_MS = 20;
const STORE_MESSAGES = 30_000; // per concurrent store baseline run
const STORE_CYCLES = 1_000; // × 10 messages, one call at a time
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

interface Srv { proc: ChildProcess; host: string; port: number; token: string; dataDir: string }

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
      resolve({ proc, host: u.hostname, port: Number(u.port), dataDir, token: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim() });
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
    // The stats scan the backlog: poll rarely while it is large (the time 20k msgs/s would take, at most 1 s).
    await sleep(Math.min(1000, Math.max(DRAIN_POLL_MS, (s.visible + s.inFlight + s.delayed) / 20)));
  }
}

interface E2E { sendRate: number; e2eRate: number; drainRate: number; serverCpuMsPerMsg: number; benchCpuMsPerMsg: number; failed: number }

/** Sends `n` messages to a queue with a trigger, and times until every one is consumed and deleted. */
async function endToEnd(srv: Srv, c: number, n: number): Promise<E2E> {
  const q = queueOf(c);
  const cpu0 = treeCpuMs(srv.proc.pid!);
  const own0 = ownCpuMs();
  const t0 = performance.now();
  const sent = await sendAll(srv, q, n, `e2e${c}`);
  const left = await stats(srv, q);
  const t1 = performance.now();
  await drained(srv, q);
  const t2 = performance.now();
  return {
    sendRate: n / (sent.ms / 1000), e2eRate: n / ((t2 - t0) / 1000), drainRate: (left.visible + left.inFlight) / ((t2 - t1) / 1000),
    serverCpuMsPerMsg: (treeCpuMs(srv.proc.pid!) - cpu0) / n, benchCpuMsPerMsg: (ownCpuMs() - own0) / n, failed: sent.failed,
  };
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
 * A SqliteStore in a fresh file, as the server opens it (FULL), or with its main file switched to
 * synchronous=NORMAL right after the constructor sets FULL: the same code either way, only the
 * commit's fsync differs. The switch fails loudly if the constructor stops setting FULL.
 */
async function openStore(sync: 'FULL' | 'NORMAL'): Promise<{ store: SqliteStore; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-bench-store-'));
  const exec = DatabaseSync.prototype.exec;
  let switched = false;
  if (sync === 'NORMAL') {
    DatabaseSync.prototype.exec = function (this: DatabaseSync, sql: string): void {
      exec.call(this, sql);
      if (/synchronous\s*=\s*FULL/i.test(sql)) { exec.call(this, 'PRAGMA synchronous = NORMAL'); switched = true; }
    };
  }
  let store: SqliteStore;
  try {
    store = new SqliteStore(join(dir, 'nimbus.db'));
  } finally {
    DatabaseSync.prototype.exec = exec;
  }
  if (sync === 'NORMAL' && !switched) throw new Error('SqliteStore no longer sets synchronous = FULL as this bench expects; update openStore()');
  await store.applyApp(desiredApp('b', { specHash: 'b', queues: [QUEUE] }), Date.now());
  return { store, close: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
}

const storeBatch = (b: number) => Array.from({ length: BATCH }, (_, i) => ({ body: `{"t":"store","n":${b * BATCH + i}}` }));

/**
 * The store's ceiling for this workload: SENDERS loops sending batches of 10 and `consumers` loops
 * receiving up to 10 and deleting them — the server's calls, straight on a SqliteStore in this
 * process (no HTTP, no function). Calls made in the same event-loop turn share a commit, as they do
 * in the server.
 */
async function storeConcurrent(sync: 'FULL' | 'NORMAL', consumers: number, n: number): Promise<number> {
  const { store, close } = await openStore(sync);
  try {
    let next = 0;
    let consumed = 0;
    let receipts = 0;
    let waiting: (() => void)[] = [];
    const wake = (): void => { const w = waiting; waiting = []; for (const f of w) f(); };
    const t0 = performance.now();
    await Promise.all([
      ...Array.from({ length: SENDERS }, async () => {
        for (let b = next++; b * BATCH < n; b = next++) { await store.sendMessages('work', storeBatch(b), Date.now(), 300_000); wake(); }
      }),
      ...Array.from({ length: consumers }, async () => {
        while (consumed < n) {
          const got = await store.receiveMessages('work', { max: BATCH, visibilityMs: 30_000, receipt: `r${receipts++}` }, Date.now());
          // Empty: wait for a send or a delete, or 1 ms (a message sent in the same millisecond
          // as this receive's clock reading is not visible to it yet).
          if (got.length === 0) { await new Promise<void>((r) => { waiting.push(r); setTimeout(r, 1); }); continue; }
          await store.deleteMessages('work', got.map((m) => ({ seq: m.seq, receipt: m.receipt })));
          consumed += got.length;
          wake(); // a consumer waiting on an empty queue may be waiting for this one to finish
        }
      }),
    ]);
    return n / ((performance.now() - t0) / 1000);
  } finally {
    await close();
  }
}

/** One call at a time (send 10, receive them, delete them; each call awaited): every call is its own commit. */
async function storeSerial(sync: 'FULL' | 'NORMAL', cycles: number): Promise<{ rate: number; usPerCall: number }> {
  const { store, close } = await openStore(sync);
  try {
    const t0 = performance.now();
    for (let b = 0; b < cycles; b++) {
      await store.sendMessages('work', storeBatch(b), Date.now(), 300_000);
      const got = await store.receiveMessages('work', { max: BATCH, visibilityMs: 30_000, receipt: `r${b}` }, Date.now());
      if (got.length !== BATCH) throw new Error(`store cycle: received ${got.length} of ${BATCH}`);
      await store.deleteMessages('work', got.map((m) => ({ seq: m.seq, receipt: m.receipt })));
    }
    const ms = performance.now() - t0;
    return { rate: (cycles * BATCH) / (ms / 1000), usPerCall: (ms * 1000) / (cycles * 3) };
  } finally {
    await close();
  }
}

// --- main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const t0 = performance.now();
  const busy0 = machineBusyMs();
  const own0 = ownCpuMs();
  process.stdout.write(`Nimbus queues bench — ${cpus()[0]?.model ?? 'cpu'}; ${availableParallelism()} cores, node ${process.version}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at start\n`);
  process.stdout.write(`${ROUNDS} rounds; ${int(MESSAGES)} messages of ~20 bytes per end-to-end run, sent by ${SENDERS} keep-alive loops in batches of ${BATCH}; trigger batchSize ${BATCH}, maxConcurrency ${CONCURRENCY.join(' / ')}\n`);

  const srv = await serve();
  let serverCpu = 0;
  try {
    await deploy(srv);
    // Warm-up: JIT on both sides, every consumer's instances started, the probe warm.
    await sendOnly(srv, 2_000);
    for (const c of CONCURRENCY) { await sendAll(srv, queueOf(c), 2_000, 'warm'); await drained(srv, queueOf(c)); }
    await latency(srv, -1, 20);
    await storeConcurrent('FULL', CONCURRENCY[0]!, 5_000);

    const storeFull = new Map<number, number[]>(CONCURRENCY.map((c) => [c, []]));
    const storeNormal = new Map<number, number[]>(CONCURRENCY.map((c) => [c, []]));
    const serial = { full: [] as number[], normal: [] as number[], fullUs: [] as number[], normalUs: [] as number[] };
    const send = { store: [] as number[], rate: [] as number[], cpu: [] as number[], failed: 0 };
    const e2e = new Map<number, E2E[]>(CONCURRENCY.map((c) => [c, []]));
    const lat = { p50: [] as number[], p99: [] as number[], rtt50: [] as number[], rtt99: [] as number[], all: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      const line: string[] = [];
      for (const c of CONCURRENCY) {
        storeFull.get(c)!.push(await storeConcurrent('FULL', c, STORE_MESSAGES));
        storeNormal.get(c)!.push(await storeConcurrent('NORMAL', c, STORE_MESSAGES));
      }
      const sf = await storeSerial('FULL', STORE_CYCLES);
      const sn = await storeSerial('NORMAL', STORE_CYCLES);
      serial.full.push(sf.rate); serial.fullUs.push(sf.usPerCall); serial.normal.push(sn.rate); serial.normalUs.push(sn.usPerCall);
      send.store.push(await storeConcurrent('FULL', 0, STORE_MESSAGES));
      const s = await sendOnly(srv, MESSAGES);
      send.rate.push(s.rate); send.cpu.push(s.serverCpuMsPerMsg); send.failed += s.failed;
      for (const c of CONCURRENCY) {
        const x = await endToEnd(srv, c, MESSAGES);
        e2e.get(c)!.push(x);
        line.push(`${c}: ${int(x.e2eRate)} (store ${int(storeFull.get(c)!.at(-1)!)})`);
      }
      const l = await latency(srv, r, PINGS);
      lat.p50.push(pct(l.e2e, 50)); lat.p99.push(pct(l.e2e, 99)); lat.rtt50.push(pct(l.rtt, 50)); lat.rtt99.push(pct(l.rtt, 99)); lat.all.push(...l.e2e);
      process.stderr.write(`round ${r + 1}/${ROUNDS}: end to end msgs/s by maxConcurrency ${line.join(', ')}; send only ${int(s.rate)}; idle latency p50 ${f1(pct(l.e2e, 50))} ms\n`);
    }
    serverCpu = treeCpuMs(srv.proc.pid!);

    // --- report ----------------------------------------------------------------------------------
    const med = (xs: number[]): string => int(median(xs));
    const m = (c: number, k: keyof E2E): number => median(e2e.get(c)!.map((x) => x[k]));
    const ratio = (c: number): number => m(c, 'e2eRate') / median(storeFull.get(c)!);
    table(`Throughput, msgs/s: send in batches of ${BATCH} → trigger (batchSize ${BATCH}) → delete; medians of ${ROUNDS} rounds, by the trigger's maxConcurrency`, [
      ['maxConcurrency', ...CONCURRENCY.map(String)],
      [`store alone, FULL: ${SENDERS} sending + maxConcurrency receiving/deleting loops on a SqliteStore, no HTTP, no function`, ...CONCURRENCY.map((c) => med(storeFull.get(c)!))],
      ['store alone, NORMAL: the same with synchronous=NORMAL', ...CONCURRENCY.map((c) => med(storeNormal.get(c)!))],
      ['Nimbus end to end (first send → queue empty)', ...CONCURRENCY.map((c) => int(m(c, 'e2eRate')))],
      ['  Nimbus / store FULL', ...CONCURRENCY.map((c) => `${(ratio(c) * 100).toFixed(0)}%`)],
      ['  sends accepted meanwhile', ...CONCURRENCY.map((c) => int(m(c, 'sendRate')))],
      ['  consumed once sending was done (the backlog left ÷ the time to drain it)', ...CONCURRENCY.map((c) => int(m(c, 'drainRate')))],
      ['  server CPU ms per message (process tree)', ...CONCURRENCY.map((c) => f3(m(c, 'serverCpuMsPerMsg')))],
      ['  load generator CPU ms per message', ...CONCURRENCY.map((c) => f3(m(c, 'benchCpuMsPerMsg')))],
      ['  target ≥ 10,000 msgs/s (Cloudflare Queues: 5,000 per queue)', ...CONCURRENCY.map((c) => (m(c, 'e2eRate') >= 10_000 ? '✓' : '✗'))],
    ]);
    table('Send path alone (nobody consuming), msgs/s, medians', [
      ['', 'msgs/s', 'server CPU ms/msg (tree)'],
      [`Nimbus: ${SENDERS} loops POSTing batches of ${BATCH}`, int(median(send.rate)), f3(median(send.cpu))],
      [`store alone, FULL: ${SENDERS} loops calling sendMessages`, int(median(send.store)), ''],
      ['  Nimbus / store', `${((median(send.rate) / median(send.store)) * 100).toFixed(0)}%`, ''],
    ]);
    table('The store one call at a time (send 10 → receive 10 → delete 10, each awaited: every call its own commit), medians', [
      ['', 'msgs/s', 'µs per call'],
      ['synchronous=FULL (as the server runs)', int(median(serial.full)), f1(median(serial.fullUs))],
      ['synchronous=NORMAL', int(median(serial.normal)), f1(median(serial.normalUs))],
    ]);
    const failed = send.failed + [...e2e.values()].flat().reduce((n, x) => n + x.failed, 0);
    let fnErrors = 0;
    for (const fn of [...CONCURRENCY.map((c) => `consume${c}`), 'probe']) {
      for (const status of ['error', 'timeout', 'throttled', 'crashed', 'out-of-memory', 'init-error']) {
        fnErrors += (await api<{ invocations: unknown[] }>(srv, 'GET', `/_nimbus/api/functions/${fn}/invocations?status=${status}&limit=10000`)).invocations.length;
      }
    }
    process.stdout.write(`Failed entries over all sends: ${failed}; invocations that did not succeed (each would send its batch back after the 30 s visibility timeout): ${fnErrors}.\n`);

    table(`Latency when idle: ${PINGS} single-message sends per round, ${PING_GAP_MS} ms apart, to a warm consumer; ms, medians of ${ROUNDS} rounds`, [
      ['', 'p50', 'p99', 'target'],
      ['enqueue → handler start (send start in the bench → handler, same host clock)', f1(median(lat.p50)), f1(median(lat.p99)), `${median(lat.p50) <= 5 ? '✓' : '✗'} p50 ≤ 5`],
      [`  all ${lat.all.length} samples pooled`, f1(pct(lat.all, 50)), f1(pct(lat.all, 99)), ''],
      ['the send\'s HTTP round trip (context)', f1(median(lat.rtt50)), f1(median(lat.rtt99)), ''],
    ]);
  } finally {
    await stop(srv);
  }

  const wall = performance.now() - t0;
  const others = Math.max(0, machineBusyMs() - busy0 - serverCpu - (ownCpuMs() - own0));
  process.stdout.write(`\nNoise: ${availableParallelism()} cores shared by the server, its instances and this load generator; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end.`
    + ` Processes outside this bench used ${(others / 1000).toFixed(1)} CPU-s meanwhile (${((others / wall) * 100).toFixed(0)}% of one core${others / wall > 0.1 ? ': the machine was NOT quiet' : ''}). Took ${(wall / 1000).toFixed(0)} s.\n`);
}

await main();
