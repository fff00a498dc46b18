// node bench/scaling.ts — cold starts, a burst from zero and idle instance memory, each next to a
// baseline measured in the same run. Prints tables; nothing here is a test. Two servers are spawned
// one after the other (spare pool on: --spares 1 --max-spares 8; pool off: --max-spares 0), so the
// server's CPU is its own process tree, separate from this load generator (which still shares the
// machine's cores with it). Knobs: BENCH_COLD (functions per cold-start case, default 30),
// BENCH_BURST (concurrent requests, default 100), BENCH_BIG_KB (size of the big bundle, default 1024).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleApp, writeApp } from '../test/helpers.ts';
import { treeCpuMs } from './proc.ts';

const COLD = Number(process.env.BENCH_COLD ?? 30);
const BURST = Number(process.env.BENCH_BURST ?? 100);
const BIG_BYTES = Number(process.env.BENCH_BIG_KB ?? 1024) * 1024;
const HOLD_MS = 200;
const WARMUP_FUNCTIONS = 3;
const MAX_DEPLOY_JSON_BYTES = 48 * 1024 * 1024; // below the server's 64 MB upload cap, with room
const root = fileURLToPath(new URL('..', import.meta.url));

// --- helpers ---------------------------------------------------------------------------------------

interface Srv { proc: ChildProcess; url: string; token: string; dataDir: string }

function start(args: string[], dataDir: string): Promise<Srv> {
  const proc = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NIMBUS_LOG_LEVEL: 'warn' } });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/i.exec(out);
      if (m) resolve({ proc, url: m[1]!, dataDir, token: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim() });
    });
    proc.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}

async function stop(srv: Srv): Promise<void> {
  const exited = new Promise((r) => srv.proc.once('exit', r));
  srv.proc.kill('SIGTERM');
  await exited;
  rmSync(srv.dataDir, { recursive: true, force: true });
}

async function serve(extra: string[]): Promise<Srv> {
  const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-bench-scaling-'));
  return start(['bin/nimbus.mjs', 'serve', '--port', '0', '--data', dataDir, ...extra], dataDir);
}

async function api<T>(srv: Srv, method: string, path: string, body?: string): Promise<T> {
  const res = await fetch(`${srv.url}${path}`, { method, body, headers: { authorization: `Bearer ${srv.token}`, ...(body ? { 'content-type': 'application/json' } : {}) } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

type Bundled = Awaited<ReturnType<typeof bundleApp>>;

/** Bundles an app the way the CLI does; returns the PUT body and each function's bundle size. */
async function bundle(files: Record<string, string>): Promise<{ body: Bundled; sizes: number[]; codes: string[] }> {
  const dir = writeApp(files);
  try {
    const body = await bundleApp(dir, files['nimbus.yml']!);
    const all = Object.values(body.bundles);
    return { body, sizes: all.map((b) => Buffer.from(b.code, 'base64').length), codes: all.map((b) => b.code) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function put(srv: Srv, body: Bundled): Promise<void> {
  await api(srv, 'PUT', `/_nimbus/api/apps/${(body.manifest as { app: string }).app}`, JSON.stringify(body));
}

/**
 * One or more apps (split only when the upload would pass the server's cap) holding `fns`. `source`
 * gives each function its own file, or (a string) one file every function's handler names: esbuild
 * writes the entry's path into the bundle, so only then do the functions share a bundle.
 */
async function deployCase(srv: Srv, app: string, fns: string[], source: ((fn: string, i: number) => string) | string, yaml = ''): Promise<number[]> {
  const shared = typeof source === 'string';
  const perFn = Math.max(1, (shared ? source : source(fns[0]!, 0)).length * 1.5);
  const perApp = Math.max(1, Math.floor(MAX_DEPLOY_JSON_BYTES / perFn));
  const sizes: number[] = [];
  const codes = new Set<string>();
  for (let a = 0; a * perApp < fns.length; a++) {
    const group = fns.slice(a * perApp, (a + 1) * perApp);
    const files: Record<string, string> = {
      'nimbus.yml': `app: ${a === 0 ? app : `${app}-${a}`}\nfunctions:\n${group.map((f) => `  ${f}:\n    handler: src/${shared ? 'shared' : f}.handler\n${yaml}    events:\n      - http: GET /${f}\n`).join('')}`,
    };
    if (shared) files['src/shared.ts'] = source;
    else group.forEach((f, i) => { files[`src/${f}.ts`] = source(f, a * perApp + i); });
    const b = await bundle(files);
    sizes.push(...b.sizes);
    for (const c of b.codes) codes.add(c);
    await put(srv, b.body);
  }
  if (shared && codes.size !== 1) throw new Error(`${app}: the functions were meant to share one bundle, and have ${codes.size}`);
  return sizes;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!; };
const ms = (x: number): string => (Number.isNaN(x) ? '–' : x.toFixed(1));
const mib = (kb: number): string => (kb / 1024).toFixed(1);

function table(title: string, rows: string[][]): void {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  process.stdout.write(`\n${title}\n`);
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd() + '\n');
}

// --- generated handlers ----------------------------------------------------------------------------

const HELLO = (fn: string): string =>
  `export const handler = async (event: { rawPath: string }) => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'Hello from ${fn}', path: event.rawPath }) });\n`;

/**
 * About BIG_BYTES of TypeScript whose top level runs: thousands of small functions, a table literal of
 * objects referencing them, and a loop calling every one at import (checksum returned by the handler).
 * Constants and names depend on the function, so no two bundles share code.
 */
function big(fn: string, seed: number): string {
  const parts: string[] = [`// ${fn}: generated, about ${BIG_BYTES} bytes\n`];
  const entries: string[] = [];
  let size = 0;
  for (let i = 0; size < BIG_BYTES * 1.08; i++) { // esbuild's output is ~8% smaller than this source
    const k = (seed * 7919 + i * 104729) % 1000003;
    const f = `function ${fn}_f${i}(x: number): number {\n  let s = ${k};\n  for (let j = 0; j < (x & 7) + 1; j++) s = (s * 31 + j + ${i}) | 0;\n  return s ^ ${(k * 31) % 65521};\n}\n`;
    const e = `  { id: ${i}, key: '${fn}-${i}', weight: ${(k % 97) + 1}, tags: ['t${i % 13}', 'g${k % 7}'], run: ${fn}_f${i} },\n`;
    parts.push(f);
    entries.push(e);
    size += f.length + e.length;
  }
  parts.push(`const TABLE = [\n${entries.join('')}];\n`);
  parts.push('let checksum = 0;\nfor (const e of TABLE) checksum = (checksum + e.run(e.id) * e.weight) | 0;\n');
  parts.push(`export const handler = async (event: { rawPath: string }) => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fn: '${fn}', entries: TABLE.length, checksum, path: event.rawPath }) });\n`);
  return parts.join('');
}

// Answers "<instance id> <epoch ms when the handler started>".
const burstSrc = (holdMs: number): string => `const id = Math.random().toString(36).slice(2);
export const handler = async () => {
  const started = Date.now();
  await new Promise((r) => setTimeout(r, ${holdMs}));
  return { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: id + ' ' + started };
};
`;
const BURST_SRC = burstSrc(HOLD_MS);
/**
 * The same burst with a handler that holds each request this long: no instance frees up before
 * every request has one, so it measures 100 instances starting (the 200 ms burst reuses the
 * instances that finish first for the requests still waiting on a start).
 */
const HOLD_LONG_MS = 5000;

// --- the admin API's view ------------------------------------------------------------------------

interface Described {
  functions: Record<string, { instances: { id: string; pid: number; state: 'busy' | 'idle' }[] }>;
  spares: { ready: Record<string, number>; booting: number; handedOut: number; missed: number; targets: Record<string, number>; instances: { id: string; pid: number; memoryMb: number }[] };
  capacity: Record<string, number>;
}

const describe = (srv: Srv): Promise<Described> => api<Described>(srv, 'GET', '/_nimbus/api/instances');

/** Waits until the 128 MB spares are at their target and none is booting: the pool's steady state. */
async function spareSteady(srv: Srv, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = (await describe(srv)).spares;
    const ready = s.ready['128'] ?? 0;
    if (ready >= 1 && ready >= (s.targets['128'] ?? 0) && s.booting === 0) return true;
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
}

// --- cold starts ---------------------------------------------------------------------------------

interface ColdResult { name: string; e2e: number[]; warm: number[]; init: number[]; spareHits: number; errors: number; sizes: number[]; steadyTimeouts: number }

async function get(url: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - t0 };
}

async function coldCase(srv: Srv, name: string, prefix: string, source: ((fn: string, i: number) => string) | string, waitSpare: boolean, n = COLD): Promise<ColdResult> {
  const fns = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const sizes = await deployCase(srv, prefix, fns, source);
  const r: ColdResult = { name, e2e: [], warm: [], init: [], spareHits: 0, errors: 0, sizes, steadyTimeouts: 0 };
  const before = (await describe(srv)).spares.handedOut;
  if (!waitSpare) await spareSteady(srv, 5_000); // start back-to-back runs from the same steady state
  for (const f of fns) {
    if (waitSpare && !(await spareSteady(srv))) r.steadyTimeouts++;
    const { status, ms } = await get(`${srv.url}/${f}`);
    r.e2e.push(ms);
    if (status !== 200) r.errors++;
  }
  r.spareHits = (await describe(srv)).spares.handedOut - before;
  // Second request to each: the same path warm, i.e. what HTTP + gateway + invoke cost without a start.
  for (const f of fns) {
    const { status, ms } = await get(`${srv.url}/${f}`);
    r.warm.push(ms);
    if (status !== 200) r.errors++;
  }
  for (const f of fns) {
    const { invocations } = await api<{ invocations: { cold: boolean; initDurationMs: number | null }[] }>(srv, 'GET', `/_nimbus/api/functions/${f}/invocations`);
    const c = invocations.find((i) => i.cold && i.initDurationMs !== null);
    if (c) r.init.push(c.initDurationMs!);
  }
  process.stderr.write(`${name}: p50 ${ms(pct(r.e2e, 50))} ms, init p50 ${ms(median(r.init))} ms\n`);
  return r;
}

/** JIT-warms the server's start path with a few throwaway cold starts. */
async function warmUp(srv: Srv, prefix: string): Promise<void> {
  const fns = Array.from({ length: WARMUP_FUNCTIONS }, (_, i) => `${prefix}${i}`);
  await deployCase(srv, prefix, fns, HELLO);
  for (const f of fns) { await get(`${srv.url}/${f}`); await spareSteady(srv, 3_000); }
}

// --- baselines without Nimbus --------------------------------------------------------------------

/** A fresh Node process until its first IPC message (the floor for a start without a spare). */
async function bareBoot(code: string, flags: string[] = []): Promise<{ wallMs: number; reported: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const reported = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve(Number(m)));
    child.once('exit', (c) => reject(new Error(`baseline child exited with ${c}`)));
  });
  const wallMs = performance.now() - t0;
  child.kill();
  return { wallMs, reported };
}

// --- burst ---------------------------------------------------------------------------------------

interface BurstResult { allMs: number; latencies: number[]; non200: number; distinct: number; handlerStarts: number[]; sockets?: number }

async function burst(url: string): Promise<BurstResult> {
  const t0 = performance.now();
  const epoch0 = Date.now();
  const results = await Promise.all(Array.from({ length: BURST }, async () => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
      const body = await res.text();
      return { status: res.status, body, ms: performance.now() - t0 };
    } catch {
      return { status: 0, body: '', ms: performance.now() - t0 };
    }
  }));
  const failed = results.filter((r) => r.status !== 200);
  if (failed.length) process.stderr.write(`burst failures: ${[...new Set(failed.map((r) => `${r.status} ${r.body.slice(0, 300)}`))].join(' | ')}\n`);
  return {
    allMs: performance.now() - t0,
    latencies: results.map((r) => r.ms),
    non200: results.filter((r) => r.status !== 200).length,
    distinct: new Set(results.filter((r) => r.status === 200).map((r) => r.body.split(' ')[0])).size,
    handlerStarts: results.filter((r) => r.status === 200 && r.body.includes(' ')).map((r) => Number(r.body.split(' ')[1]) - epoch0),
  };
}

/** The same burst against a node:http server in this process that holds each request HOLD_MS. */
async function bareBurst(): Promise<BurstResult> {
  const sockets = new Set<string>();
  const server = createServer((req, res) => {
    sockets.add(`${req.socket.remotePort}`);
    setTimeout(() => res.end('bare'), HOLD_MS);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const r = await burst(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    return { ...r, sockets: sockets.size };
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

// --- memory --------------------------------------------------------------------------------------

interface Mem { rssKb: number; pssKb: number; ussKb: number }

function smaps(pid: number): Mem | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rssKb: kb('Rss'), pssKb: kb('Pss'), ussKb: kb('Private_Clean') + kb('Private_Dirty') };
  } catch {
    return undefined;
  }
}

/** An instance's runtime collects garbage once it has been idle 2 s (runtime/bootstrap.mjs): measure after that. */
const IDLE_MS = 3000;

function idlePids(d: Awaited<ReturnType<typeof describe>>, match: (fn: string) => boolean): number[] {
  return Object.entries(d.functions).filter(([n]) => match(n)).flatMap(([, f]) => f.instances.filter((i) => i.state === 'idle').map((i) => i.pid));
}

function memRow(label: string, pids: number[]): string[] {
  const ms = pids.map(smaps).filter((m): m is Mem => m !== undefined);
  if (ms.length === 0) return [label, '0', '–', '–', '–', '–'];
  return [label, String(ms.length), mib(median(ms.map((m) => m.rssKb))), mib(median(ms.map((m) => m.pssKb))), mib(median(ms.map((m) => m.ussKb))), mib(ms.reduce((s, m) => s + m.ussKb, 0))];
}

// --- noise -------------------------------------------------------------------------------------

/** CPU ms the whole machine has spent busy so far (all cores, from /proc/stat). */
function machineBusyMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is everything but idle and iowait.
  return ((f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / 100) * 1000;
}

// --- main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const t0 = performance.now();
  const load0 = loadavg();
  const busy0 = machineBusyMs();
  const own0 = treeCpuMs(process.pid);
  process.stdout.write(`Nimbus scaling bench — ${cpus()[0]?.model ?? 'cpu'}; ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, node ${process.version}; load average ${load0.map((x) => x.toFixed(2)).join(' ')} at start\n`);
  process.stdout.write(`${COLD} functions per cold-start case, burst of ${BURST} × ${HOLD_MS} ms, big bundle target ${(BIG_BYTES / 1024).toFixed(0)} KiB\n`);

  // Baselines first, on a quiet machine.
  const boots: number[] = [];
  for (let i = 0; i < 10; i++) boots.push((await bareBoot('process.send(0)')).wallMs);
  const bigSample = big('sample', 0);
  const sampleBundle = await bundle({ 'nimbus.yml': 'app: sample\nfunctions:\n  sample:\n    handler: src/sample.handler\n', 'src/sample.ts': bigSample });
  const sampleFile = join(mkdtempSync(join(tmpdir(), 'nimbus-bench-big-')), 'index.mjs');
  writeFileSync(sampleFile, Buffer.from(sampleBundle.body.bundles.sample!.code, 'base64'));
  const importCode = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(sampleFile).href)}); process.send(performance.now() - t);`;
  const bigImports: number[] = [];
  const bigImportsSandboxed: number[] = [];
  // The sandbox's own flags: permission model, heap cap of 80% of 128 MB.
  const sandboxFlags = ['--permission', `--allow-fs-read=${join(sampleFile, '..')}`, '--max-old-space-size=102'];
  for (let i = 0; i < 7; i++) {
    bigImports.push((await bareBoot(importCode)).reported);
    bigImportsSandboxed.push((await bareBoot(importCode, sandboxFlags)).reported);
  }
  rmSync(join(sampleFile, '..'), { recursive: true, force: true });
  const bare = await bareBurst();

  // Spare pool on: cold starts, then the burst, then memory of what is left idle.
  const on = await serve(['--spares', '1', '--max-spares', '8']);
  const pooled = await (async () => {
    try {
      await warmUp(on, 'warmon');
      const helloWait = await coldCase(on, 'hello, pool on, spare ready', 'hwait', HELLO, true);
      const helloB2b = await coldCase(on, 'hello, pool on, back-to-back', 'hb2b', HELLO, false);
      // The hello instances' memory now: the big cases fill the memory budget and evict them.
      await sleep(IDLE_MS);
      const helloMem = memRow('hello instances (cold-start cases)', idlePids(await describe(on), (n) => n.startsWith('hwait') || n.startsWith('hb2b')));
      const bigWait = await coldCase(on, `${(BIG_BYTES / 1024).toFixed(0)} KiB bundle, pool on, spare ready`, 'bwait', big, true);
      const bigB2b = await coldCase(on, `${(BIG_BYTES / 1024).toFixed(0)} KiB bundle, pool on, back-to-back`, 'bb2b', big, false);
      // The same bundle behind every function: after the first start, each gets the kept V8 code cache.
      const bigCached = await coldCase(on, `${(BIG_BYTES / 1024).toFixed(0)} KiB bundle, same code (code cache), pool on, spare ready`, 'bcache', big('shared', 1), true);

      // Burst from zero, with the pool in its steady state.
      await deployCase(on, 'burst', ['burst'], () => BURST_SRC, `    concurrency: { max: ${BURST} }\n`);
      await spareSteady(on);
      const b = await burst(`${on.url}/burst`);
      process.stderr.write(`burst: all ${BURST} in ${ms(b.allMs)} ms, ${b.non200} non-200, ${b.distinct} instances\n`);
      await deployCase(on, 'burstlong', ['burstlong'], () => burstSrc(HOLD_LONG_MS), `    timeout: 30\n    concurrency: { max: ${BURST} }\n`);
      await spareSteady(on);
      const bLong = await burst(`${on.url}/burstlong`);
      process.stderr.write(`burst holding ${HOLD_LONG_MS} ms: all ${BURST} handlers started by ${ms(Math.max(...bLong.handlerStarts))} ms, ${bLong.non200} non-200, ${bLong.distinct} instances\n`);
      const capacity = (await describe(on)).capacity;
      await sleep(IDLE_MS);
      const d = await describe(on);
      const memRows = [
        ['idle process', 'n', 'RSS MiB (median)', 'PSS MiB (median)', 'USS MiB (median)', 'USS MiB (sum)'],
        helloMem,
        memRow(`burst instances (hold ${HOLD_MS} ms handler)`, idlePids(d, (n) => n === 'burst')),
        memRow(`${(BIG_BYTES / 1024).toFixed(0)} KiB-bundle instances`, idlePids(d, (n) => n.startsWith('bwait') || n.startsWith('bb2b'))),
        memRow('spare runtimes (unassigned)', d.spares.instances.map((s) => s.pid)),
        memRow('the server process itself', [on.proc.pid!]),
      ];
      return { helloWait, helloB2b, bigWait, bigB2b, bigCached, b, bLong, capacity, memRows };
    } finally {
      await stop(on);
    }
  })();
  const { helloWait, helloB2b, bigWait, bigB2b, bigCached, b, bLong, capacity: peak, memRows } = pooled;

  // Spare pool off.
  const off = await serve(['--max-spares', '0']);
  const { helloOff, bigOff, bigCachedOff } = await (async () => {
    try {
      await warmUp(off, 'warmoff');
      return {
        helloOff: await coldCase(off, 'hello, pool off', 'hoff', HELLO, false),
        bigOff: await coldCase(off, `${(BIG_BYTES / 1024).toFixed(0)} KiB bundle, pool off`, 'boff', big, false),
        bigCachedOff: await coldCase(off, `${(BIG_BYTES / 1024).toFixed(0)} KiB bundle, same code (code cache), pool off`, 'bcoff', big('sharedoff', 2), false),
      };
    } finally {
      await stop(off);
    }
  })();

  // --- report ------------------------------------------------------------------------------------
  const coldRow = (r: ColdResult, target: string): string[] => [
    r.name, `${r.spareHits}/${r.e2e.length}`, ms(pct(r.e2e, 50)), ms(pct(r.e2e, 99)), ms(median(r.init)), ms(pct(r.e2e, 50) - median(r.init)), ms(median(r.warm)), r.errors ? `${r.errors} errors! ${target}` : target,
  ];
  const helloTarget = (r: ColdResult): string => `p50 ${pct(r.e2e, 50) <= 5 ? '✓' : '✗'} ≤ 5, p99 ${pct(r.e2e, 99) <= 15 ? '✓' : '✗'} ≤ 15`;
  const bigTarget = (r: ColdResult): string => `p50 ${pct(r.e2e, 50) <= 50 ? '✓' : '✗'} ≤ 50`;
  table(`Cold start: first request over HTTP to each of ${COLD} never-invoked functions, ms (p99 of ${COLD} samples ≈ the max)`, [
    ['case', 'spare used', 'e2e p50', 'e2e p99', 'init p50 (server)', 'e2e − init', 'warm p50', 'target (e2e)'],
    coldRow(helloWait, helloTarget(helloWait)),
    coldRow(helloB2b, helloTarget(helloB2b)),
    coldRow(helloOff, helloTarget(helloOff)),
    coldRow(bigWait, bigTarget(bigWait)),
    coldRow(bigB2b, bigTarget(bigB2b)),
    coldRow(bigOff, bigTarget(bigOff)),
    coldRow(bigCached, bigTarget(bigCached)),
    coldRow(bigCachedOff, bigTarget(bigCachedOff)),
    ['baseline: fresh `node` process to first IPC message', '', ms(median(boots)), ms(pct(boots, 99)), '', '', '', '(floor for a start without a spare)'],
    ['baseline: import() of a big bundle in a fresh node', '', ms(median(bigImports)), ms(pct(bigImports, 99)), '', '', '', '(floor for the big init)'],
    ['  … with the sandbox flags (--permission, heap cap)', '', ms(median(bigImportsSandboxed)), ms(pct(bigImportsSandboxed, 99)), '', '', '', ''],
  ]);
  const allBig = [...bigWait.sizes, ...bigB2b.sizes, ...bigOff.sizes];
  const sizeOk = Math.min(...allBig) >= BIG_BYTES * 0.9 && Math.max(...allBig) <= BIG_BYTES * 1.1;
  process.stdout.write(`big bundles as deployed: ${(Math.min(...allBig) / 1024).toFixed(0)}–${(Math.max(...allBig) / 1024).toFixed(0)} KiB each (${sizeOk ? 'within 10% of target' : 'NOT within 10% of target'}); hello bundles ${(median(helloWait.sizes) / 1024).toFixed(1)} KiB\n`);
  process.stdout.write(`"spare ready": before each request, waited until the 128 MB spares were at the pool's target and none booting${helloWait.steadyTimeouts + bigWait.steadyTimeouts ? ` (gave up waiting ${helloWait.steadyTimeouts + bigWait.steadyTimeouts}× after 10 s)` : ''}; "back-to-back": no wait.\n`);
  process.stdout.write('init = what the server counted as the start (spare: copy bundle + import + top-level code; no spare: + process boot); e2e − init = gateway, invoke, HTTP; warm = 2nd request, same path.\n'
    + 'Every function has its own code, so each start is its bundle\'s first, except in the "same code" rows: one bundle behind all functions, so every start after the first gets the V8 code cache the first one left.\n');

  table(`Burst from zero: ${BURST} concurrent GETs, handler holds ${HOLD_MS} ms, concurrency { max: ${BURST} }, pool on`, [
    ['', 'all responses ms', 'per-request p50', 'per-request p99', 'non-200', 'distinct instances', 'target'],
    ['Nimbus', ms(b.allMs), ms(pct(b.latencies, 50)), ms(pct(b.latencies, 99)), String(b.non200), String(b.distinct), `${b.allMs <= 2000 ? '✓' : '✗'} ≤ 2000 ms, ${b.non200 === 0 ? '✓' : '✗'} 0 errors`],
    ['bare node:http in this process', ms(bare.allMs), ms(pct(bare.latencies, 50)), ms(pct(bare.latencies, 99)), String(bare.non200), `${bare.sockets} client sockets`, `Nimbus / bare: ${(b.allMs / bare.allMs).toFixed(1)}×`],
  ]);
  const hs = b.handlerStarts;
  process.stdout.write(`handlers started (ms after the requests were sent): first ${ms(Math.min(...hs))}, median ${ms(median(hs))}, last ${ms(Math.max(...hs))}; starts at once: peak ${peak.peakStarting} (limit --max-starts ${peak.maxConcurrentStarts}); fetch opened ${bare.sockets} sockets for ${BURST} requests in the baseline\n`);
  process.stdout.write(`A request waiting on a start takes an instance that frees up first (its start, if not begun, is withdrawn): hence fewer than ${BURST} instances above.\n`);
  const hl = bLong.handlerStarts;
  process.stdout.write(`Each request its own instance (the same burst, handler holding ${HOLD_LONG_MS / 1000} s, so nothing frees up): all ${BURST} handlers running ${ms(Math.max(...hl))} ms after the requests were sent `
    + `(first ${ms(Math.min(...hl))}, median ${ms(median(hl))}); ${bLong.distinct} distinct instances, ${bLong.non200} non-200\n`);

  table('Idle instance memory from /proc/<pid>/smaps_rollup (USS = Private_Clean + Private_Dirty)', memRows);
  process.stdout.write(`target: idle instance USS ≤ 10 MiB (first row: hello-world instances, idle ≥ ${IDLE_MS / 1000} s)\n`);

  const load1 = loadavg();
  const wallMs = performance.now() - t0;
  const others = machineBusyMs() - busy0 - (treeCpuMs(process.pid) - own0);
  process.stdout.write(`\nNoise: one run, ${availableParallelism()} cores shared by the server, its instances and this load generator; load average ${load1.map((x) => x.toFixed(2)).join(' ')} at the end.`
    + ` Processes outside this bench used ${(others / 1000).toFixed(1)} CPU-s meanwhile (${((others / wallMs) * 100).toFixed(0)}% of one core${others / wallMs > 0.1 ? ': the machine was NOT quiet, numbers are inflated' : ''}).`
    + ` Rerun and quote medians; p99 of ${COLD} samples is close to the max. Took ${(wallMs / 1000).toFixed(0)} s.\n`);
}

await main();
