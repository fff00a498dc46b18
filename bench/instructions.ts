// npm run bench:instructions — what observability costs the server, counted in instructions rather than
// timed: the hot path (GET /hello) on two servers, "off" (no span export) and "on" (every span exported
// with OTLP/HTTP to a receiver; unlike bench:observability, nobody scrapes metrics), each run under
// valgrind's callgrind. The request path's counts repeat from run to run whatever else the machine is
// doing, which timings on this machine do not (bench:observability's rounds range over 25 points and
// more), so a change to the span path can be judged here before it is timed there.
//
// Each server is warmed (BENCH_WARM requests, default 30,000), its counters zeroed, then loaded with
// BENCH_REQUESTS (default 10,000) at 10 connections; its whole process is counted (every thread; the
// sandboxed instances are not), the request thread apart: it is the one a request waits for, and the
// bottleneck at full speed (the span export's worker thread, V8's and libuv's are "the other threads").
// V8 compiles on the main thread (--no-concurrent-recompilation) so that tiering finishes within the
// warm-up. JIT code is named from V8's perf map (--perf-basic-prof).
//
// Read with care: under valgrind the server runs ~70× slower, so work done on a timer (usage sampling,
// record pruning, the WAL checkpoint) is spread over ~70× fewer requests than at full speed, and lands
// in one server's window and not the other's. The per-function rows of the request path are the
// reliable part; the totals include that timer work. V8's perf map is append-only: where a code address
// was reused, a row can carry the wrong JavaScript name, and JIT code it does not name is counted as
// such. A function's rows at V8's tiers are added together. Needs valgrind (Debian package `valgrind`).
// BENCH_KEEP=1 keeps the callgrind dumps (a file per thread) and perf maps, for callgrind_annotate or a script of one's own.
// BENCH_CACHESIM=1 also simulates the first-level caches and the branch predictor (callgrind's
// --cache-sim and --branch-sim; ~2.5× slower), and prints the request thread's misses and mispredicted
// branches per request by kind of code: instructions are not time, and what "on" costs in cycles is
// more than its instructions say (docs/performance.md, "Counted in instructions").
import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deploy, HELLO_APP, startOtlpSink, startProcess } from './harness.ts';

const WARM = Number(process.env.BENCH_WARM ?? 30_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10_000);
// Set, the dumps and perf maps are kept (and their folder printed) for a closer look than the summary's.
const KEEP = process.env.BENCH_KEEP === '1';
const CACHESIM = process.env.BENCH_CACHESIM === '1';
// What the simulation counts besides instructions, with the names the table gives them.
const SIMULATED: [event: string, label: string][] = [['I1mr', 'I1 miss'], ['D1mr', 'D1 read miss'], ['D1mw', 'D1 write miss'], ['Bcm', 'cond. mispredict'], ['Bim', 'indirect mispredict']];

// `costs` are the request thread's (the main thread, where the server's JavaScript runs); `others`, the
// instructions of every other thread (V8's, libuv's, the span export's worker) in all; `simulated`, with
// BENCH_CACHESIM, the request thread's simulated events (SIMULATED) by function.
interface Counted { costs: Map<string, number>; simulated: Map<string, number>[]; others: number; requests: number }

async function countServer(mode: 'off' | 'on', sinkUrl: string, work: string): Promise<Counted> {
  const dir = mkdtempSync(join(work, `data-${mode}-`));
  const out = join(work, `callgrind.${mode}`);
  const env = { NIMBUS_LOG_LEVEL: 'warn', OTEL_EXPORTER_OTLP_ENDPOINT: mode === 'on' ? sinkUrl : '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' };
  // (valgrind's own lines go to stderr; --log-file would hide why a server did not start.)
  const { proc, url } = await startProcess(['--tool=callgrind', ...(CACHESIM ? ['--cache-sim=yes', '--branch-sim=yes'] : []), '--dump-instr=yes', '--separate-threads=yes', '--smc-check=all-non-file', '--trace-children=no', `--callgrind-out-file=${out}`,
    process.execPath, '--perf-basic-prof', '--no-concurrent-recompilation', '--no-concurrent-sparkplug', 'bin/nimbus.mjs', 'serve', '--port', '0', '--data', dir], env, 'valgrind');
  try {
    const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
    await deploy(url, token, HELLO_APP);
    await autocannon({ url: `${url}/hello`, connections: 10, amount: WARM });
    execFileSync('callgrind_control', ['-z', String(proc.pid)], { stdio: 'ignore' });
    const r = await autocannon({ url: `${url}/hello`, connections: 10, amount: REQUESTS });
    if (r.non2xx || r.errors) throw new Error(`${mode}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
    execFileSync('callgrind_control', ['-d', String(proc.pid)], { stdio: 'ignore' });
    // The dump of the counted window, a file per thread: callgrind.<mode>.1-01 is the main thread's.
    const dumps = readdirSync(work).filter((f) => f.startsWith(`callgrind.${mode}.1-`));
    const main = dumps.find((f) => f.endsWith('-01'));
    if (!main) throw new Error(`${mode}: callgrind wrote no dump of the main thread`);
    let others = 0;
    for (const f of dumps) if (f !== main) for (const byAddr of parseCallgrind(readFileSync(join(work, f), 'utf8')).values()) for (const c of byAddr.values()) others += c;
    const text = readFileSync(join(work, main), 'utf8');
    const codes = perfMap(proc.pid!);
    return { costs: attribute(parseCallgrind(text), codes), simulated: CACHESIM ? SIMULATED.map(([event]) => attribute(parseCallgrind(text, event), codes)) : [], others, requests: r.requests.total };
  } finally {
    // SIGTERM first: valgrind removes its vgdb pipes (callgrind_control's) when it exits in order.
    const exited = new Promise((r) => proc.once('exit', r));
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    // (Kept by a copy, not a rename: the work folder may be on another filesystem; a missing map is no error here.)
    if (KEEP && existsSync(`/tmp/perf-${proc.pid}.map`)) copyFileSync(`/tmp/perf-${proc.pid}.map`, join(work, `perf-${mode}.map`));
    rmSync(`/tmp/perf-${proc.pid}.map`, { force: true });
  }
}

/** Self cost of `event` (instructions unless said) per (function, instruction address) from a callgrind dump made with --dump-instr=yes. */
function parseCallgrind(text: string, event = 'Ir'): Map<string, Map<number, number>> {
  // "events: Ir …": a cost line holds them in that order, after the address and the line.
  const column = 2 + (/^events: (.*)$/m.exec(text)?.[1]?.split(' ').indexOf(event) ?? 0);
  if (column < 2) throw new Error(`the callgrind dump does not count ${event}`);
  const byFn = new Map<string, Map<number, number>>();
  const names = new Map<string, string>();
  let fn = '?';
  let addr = 0;
  let skipNext = false;
  const name = (spec: string): string => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(spec);
    if (!m) return spec;
    if (m[2] !== undefined) names.set(m[1]!, m[2]);
    return names.get(m[1]!) ?? spec;
  };
  for (const line of text.split('\n')) {
    if (line.startsWith('fn=')) { fn = name(line.slice(3)); continue; }
    if (line.startsWith('cfn=')) { name(line.slice(4)); continue; }
    if (line.startsWith('calls=')) { skipNext = true; continue; }
    const c = line[0];
    if (c === undefined || !(c === '+' || c === '-' || c === '*' || (c >= '0' && c <= '9'))) continue;
    // The line after calls= is the call's inclusive cost, not the caller's own; callgrind writes its
    // position without making it the one the next line is relative to.
    if (skipNext) { skipNext = false; continue; }
    // "positions: instr line": an address (absolute, relative or the same), a line, then the cost.
    const fields = line.split(' ');
    const pos = fields[0];
    const cost = fields[column];
    addr = pos!.startsWith('0x') ? parseInt(pos!, 16) : pos![0] === '+' ? addr + Number(pos!.slice(1)) : pos![0] === '-' ? addr - Number(pos!.slice(1)) : pos === '*' ? addr : Number(pos);
    if (cost === undefined) continue;
    let m = byFn.get(fn);
    if (!m) byFn.set(fn, m = new Map());
    m.set(addr, (m.get(addr) ?? 0) + Number(cost));
  }
  return byFn;
}

interface JitCode { start: number; end: number; name: string }

function perfMap(pid: number): JitCode[] {
  const file = `/tmp/perf-${pid}.map`;
  if (!existsSync(file)) return [];
  const codes: JitCode[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    // Names carry V8's tier ("JS:*'add …" optimised, "+" Maglev, "^" baseline, "~" interpreted): dropped, so a
    // function's rows add up whatever tier ran it.
    if (m) codes.push({ start: parseInt(m[1]!, 16), end: parseInt(m[1]!, 16) + parseInt(m[2]!, 16), name: m[3]!.replace(/0x[0-9a-f]+/g, '').replace(/^JS:[*+^~]?'?/, 'JS:') });
  }
  return codes.sort((a, b) => a.start - b.start);
}

/** Costs by function: JIT code by its JavaScript name (V8's perf map), the rest by callgrind's. */
function attribute(byFn: Map<string, Map<number, number>>, codes: JitCode[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const [fn, byAddr] of byFn) {
    for (const [addr, cost] of byAddr) {
      let lo = 0;
      let hi = codes.length - 1;
      let hit: JitCode | undefined;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (codes[mid]!.start <= addr) { hit = codes[mid]; lo = mid + 1; } else hi = mid - 1;
      }
      const key = hit && addr < hit.end ? `JS ${hit.name}` : /^0x[0-9a-f]+$/.test(fn) ? 'unnamed code (mostly JIT code the perf map misses)' : fn.replace(/0x[0-9a-f]+/g, 'ADDR');
      out.set(key, (out.get(key) ?? 0) + cost);
    }
  }
  return out;
}

/** Per-request costs by kind of code (category()). */
function byKind(costs: Map<string, number>, requests: number): Map<string, number> {
  const m = new Map<string, number>();
  for (const [k, v] of costs) m.set(category(k), (m.get(category(k)) ?? 0) + v / requests);
  return m;
}

const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(0)}`;

function category(k: string): string {
  if (k.includes('observability/otlp-proto')) return 'span records and encoder (otlp-proto.ts)';
  if (k.includes('observability/tracing') || k.includes('observability/span-export')) return 'spans (tracing.ts, span-export.ts)';
  if (k.includes('@opentelemetry')) return 'OpenTelemetry SDK';
  if (k.startsWith('JS JS:') && k.includes('/src/')) return 'Nimbus, other';
  if (k.startsWith('JS JS:') && k.includes('node_modules')) return 'other packages';
  if (k.startsWith('JS JS:')) return 'Node.js core (JavaScript)';
  if (k.startsWith('JS ')) return 'V8 builtins';
  if (k.startsWith('unnamed code')) return k;
  if (/sqlite|^btree|^vdbe|^wal|^getCell|^balance|^pcache/i.test(k)) return 'SQLite';
  if (/compiler::|maglev|turboshaft|Compil/i.test(k)) return 'V8 compiler';
  if (/Scaveng|heap::|Heap::|MarkCompact|Marking|Sweep|IterateObjectCache|BodyDescriptor/.test(k)) return 'V8 garbage collector';
  if (k.includes('v8::')) return 'V8, other';
  if (k.includes('node::') || k.includes('uv_') || k.includes('uv__')) return 'Node.js and libuv (C++)';
  return 'other native code';
}

async function main(): Promise<void> {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    process.stderr.write('bench:instructions needs valgrind (apt-get install valgrind)\n');
    process.exit(1);
  }
  const work = mkdtempSync(join(tmpdir(), 'nimbus-bench-instr-'));
  const sink = await startOtlpSink();
  try {
    process.stderr.write(`counting two servers under callgrind (${WARM} requests of warm-up, ${REQUESTS} counted; several minutes)…\n`);
    // Both to the end, so that one failing does not leave the other running when the folder goes.
    const settled = await Promise.allSettled([countServer('off', sink.url, work), countServer('on', sink.url, work)]);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const [off, on] = settled.map((r) => (r as PromiseFulfilledResult<Counted>).value) as [Counted, Counted];
    const per = (c: Counted, k: string) => (c.costs.get(k) ?? 0) / c.requests;
    const total = (c: Counted) => [...c.costs.values()].reduce((a, b) => a + b, 0) / c.requests;
    const row = (d: number, a: number, b: number, label: string) => `${d >= 0 ? '+' : ''}${d.toFixed(0).padStart(8)} ${a.toFixed(0).padStart(9)} ${b.toFixed(0).padStart(9)}  ${label}`;
    const whole = (c: Counted) => total(c) + c.others / c.requests;
    process.stdout.write(`\nObservability off vs on, instructions per request (callgrind)\n`);
    process.stdout.write(`the request thread: off ${total(off).toFixed(0)}, on ${total(on).toFixed(0)} (${((total(on) / total(off) - 1) * 100).toFixed(1)}%; includes timer work, see the head of this file)\n`);
    process.stdout.write(`the other threads:  off ${(off.others / off.requests).toFixed(0)}, on ${(on.others / on.requests).toFixed(0)}\n`);
    process.stdout.write(`the whole process:  off ${whole(off).toFixed(0)}, on ${whole(on).toFixed(0)} (${((whole(on) / whole(off) - 1) * 100).toFixed(1)}%)\n\n`);
    process.stdout.write(`the request thread, by function:\n`);
    const co = byKind(off.costs, off.requests);
    const cn = byKind(on.costs, on.requests);
    process.stdout.write(`${'on − off'.padStart(9)} ${'off'.padStart(9)} ${'on'.padStart(9)}  by kind of code\n`);
    for (const k of [...new Set([...co.keys(), ...cn.keys()])].sort((a, b) => ((cn.get(b) ?? 0) - (co.get(b) ?? 0)) - ((cn.get(a) ?? 0) - (co.get(a) ?? 0)))) {
      process.stdout.write(`${row((cn.get(k) ?? 0) - (co.get(k) ?? 0), co.get(k) ?? 0, cn.get(k) ?? 0, k)}\n`);
    }
    process.stdout.write(`\n${'on − off'.padStart(9)} ${'off'.padStart(9)} ${'on'.padStart(9)}  the 25 functions that grew most\n`);
    const keys = [...new Set([...off.costs.keys(), ...on.costs.keys()])].sort((a, b) => (per(on, b) - per(off, b)) - (per(on, a) - per(off, a)));
    for (const k of keys.slice(0, 25)) process.stdout.write(`${row(per(on, k) - per(off, k), per(off, k), per(on, k), k.slice(0, 120))}\n`);
    if (CACHESIM) {
      // Per request, "on" minus "off", each event by kind of code (the request thread; simulated first-level
      // caches, as callgrind reads them off this CPU, and branch predictor).
      const sims = SIMULATED.map((_, e) => [byKind(off.simulated[e]!, off.requests), byKind(on.simulated[e]!, on.requests)] as const);
      const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
      process.stdout.write(`\nthe request thread, simulated (per request; on − off, and off → on in all):\n`);
      process.stdout.write(`${SIMULATED.map(([, label]) => label.padStart(20)).join('')}  by kind of code\n`);
      process.stdout.write(`${sims.map(([a, b]) => `${sum(a).toFixed(0)} → ${sum(b).toFixed(0)}`.padStart(20)).join('')}  all\n`);
      // (Sorted by what "on" adds to the first event, I1 misses.)
      const grown = (k: string) => (sims[0]![1].get(k) ?? 0) - (sims[0]![0].get(k) ?? 0);
      const kinds = [...new Set(sims.flatMap(([a, b]) => [...a.keys(), ...b.keys()]))].sort((x, y) => grown(y) - grown(x));
      for (const k of kinds) process.stdout.write(`${sims.map(([a, b]) => signed((b.get(k) ?? 0) - (a.get(k) ?? 0)).padStart(20)).join('')}  ${k}\n`);
    }
  } finally {
    sink.proc.kill('SIGTERM');
    if (KEEP) process.stderr.write(`callgrind dumps and perf maps kept in ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }
}

await main();
