// npm run bench:observability — the hot path with observability fully on next to off, same run:
// "off" exports no traces (ids only) and nobody scrapes; "on" exports every span with OTLP/HTTP to
// a receiver in its own process (a collector is not the load generator's business) and scrapes
// /_nimbus/metrics every second, as Prometheus would. Metrics, records and logs are always kept
// (they are not optional). Target: ≤ 5% throughput loss.
//
// Each of BENCH_ROUNDS (default 8) rounds starts a fresh pair of servers, so that one process's luck
// on this machine (where it lands, what it shares a cache with: ±10% between two identical servers)
// does not decide the whole run. Each server is warmed by BENCH_WARM_LOADS (default 3) loads of 2 s,
// each on new connections, "on" scraped from before the first: V8 compiles the paths of a
// connection's end and of a second client (the scraper) only when they first run (~150 optimising
// compiles and ~80 deopts), and with one 2 s load of warm-up and the scrapes after it (until
// 2026-11-27) that landed in the first slices measured (docs/performance.md, "Warmed to a steady
// state"; npm run bench:tiering). Then it loads each for BENCH_SECONDS (default 8) s at 50 connections, in
// BENCH_SLICES (default 4) slices taken in turn, then again at a fixed rate (BENCH_RATE, default
// 5,000 req/s), where CPU per request is what observability costs without the servers fighting the
// load generator for the two cores. Which of
// the pair starts first, and which is loaded first, alternate (a multiple of 4 rounds takes each
// order both ways equally). Figures are medians of the rounds, and of the per-round ratios.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONNECTIONS, deploy, HELLO_APP, load, median, type Run, scrapeEverySecond, start, startOtlpSink, warm } from './harness.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const RATE = Number(process.env.BENCH_RATE ?? 5000);
// Each side's load in a round is cut into this many slices, taken in turn (off, on, on, off, …), so
// that the two are measured seconds apart: what else the machine is doing changes over seconds, and
// one 8 s load each, one after the other, let it change between the two (docs/performance.md, run 12).
const SLICES = Math.max(1, Number(process.env.BENCH_SLICES ?? 4));

type Server = Awaited<ReturnType<typeof start>> & { dir: string; token: string; scraper: NodeJS.Timeout | undefined };

/** A server with the bench's app, warmed; `scraped`, its metrics are scraped every second from before the warm-up until stop(). */
async function startServer(env: Record<string, string>, scraped: boolean): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-bench-obs-'));
  const s = await start(['bin/nimbus.mjs', 'serve', '--port', '0', '--data', dir], { NIMBUS_LOG_LEVEL: 'warn', OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '', ...env });
  const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
  const server: Server = { ...s, dir, token, scraper: undefined };
  try {
    await deploy(s.url, token, HELLO_APP);
    if (scraped) server.scraper = scrapeEverySecond(s.url, token);
    await warm(s.url);
  } catch (err) {
    await stop(server);
    throw err;
  }
  return server;
}

async function stop(s: Server): Promise<void> {
  clearInterval(s.scraper);
  s.proc.kill('SIGTERM');
  await new Promise((r) => s.proc.once('exit', r));
  rmSync(s.dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const sink = await startOtlpSink();
  const saturated: { off: Run; on: Run }[] = [];
  const fixed: { off: Run; on: Run }[] = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      // Which of the pair starts first alternates too, every other pair of rounds, so that start order and
      // load order each take both ways in every four rounds (until 1906a41 "on" always started second).
      const started: Server[] = [];
      try {
        const onFirst = Math.floor(i / 2) % 2 === 1;
        for (const traced of onFirst ? [true, false] : [false, true]) started.push(await startServer(traced ? { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url } : {}, traced));
        const [on, off] = onFirst ? [started[0]!, started[1]!] : [started[1]!, started[0]!];
        const pair = async (rate?: number) => {
          const slices: { off: Run[]; on: Run[] } = { off: [], on: [] };
          for (let k = 0; k < SLICES; k++) {
            for (const side of (i + k) % 2 ? ['on', 'off'] as const : ['off', 'on'] as const) {
              const s = side === 'on' ? on : off;
              slices[side].push(await load(`${s.url}/hello`, s.proc.pid!, SECONDS / SLICES, rate));
            }
          }
          return { off: joined(slices.off), on: joined(slices.on) };
        };
        const s = await pair();
        const f = await pair(RATE);
        saturated.push(s);
        fixed.push(f);
        process.stderr.write(`round ${i + 1}/${ROUNDS}: saturated off ${s.off.rps.toFixed(0)} req/s, on ${s.on.rps.toFixed(0)} (${pctLoss(s).toFixed(1)}% lost); `
          + `at ${RATE} req/s CPU ms/req off ${f.off.cpuMsPerReq.toFixed(3)}, on ${f.on.cpuMsPerReq.toFixed(3)} (${signed(cpuMore(f))}%)\n`);
      } finally {
        await Promise.all(started.map(stop));
      }
    }
    const m = (runs: typeof saturated, side: 'off' | 'on', k: keyof Run) => median(runs.map((r) => r[side][k]));
    process.stdout.write(`\nObservability on vs off: ${CONNECTIONS} connections, ${ROUNDS} rounds (a fresh pair of servers each) × ${SECONDS} s, medians\n`);
    process.stdout.write(`saturated: requests/s   off ${m(saturated, 'off', 'rps').toFixed(0)}   on ${m(saturated, 'on', 'rps').toFixed(0)}   loss ${median(saturated.map(pctLoss)).toFixed(1)}% (median of rounds; target ≤ 5%)\n`);
    process.stdout.write(`saturated: CPU ms/req   off ${m(saturated, 'off', 'cpuMsPerReq').toFixed(3)}   on ${m(saturated, 'on', 'cpuMsPerReq').toFixed(3)}   ${signed(median(saturated.map(cpuMore)))}%\n`);
    process.stdout.write(`saturated: latency p99  off ${m(saturated, 'off', 'p99').toFixed(1)} ms   on ${m(saturated, 'on', 'p99').toFixed(1)} ms\n`);
    process.stdout.write(`at ${RATE} req/s: CPU ms/req  off ${m(fixed, 'off', 'cpuMsPerReq').toFixed(3)}   on ${m(fixed, 'on', 'cpuMsPerReq').toFixed(3)}   ${signed(median(fixed.map(cpuMore)))}%; `
      + `p99 off ${m(fixed, 'off', 'p99').toFixed(1)} ms, on ${m(fixed, 'on', 'p99').toFixed(1)} ms\n`);
    process.stdout.write(`per-round loss, saturated: ${saturated.map((r) => pctLoss(r).toFixed(1)).join(', ')} %; CPU at ${RATE} req/s: ${fixed.map((r) => signed(cpuMore(r))).join(', ')} %\n`);
    process.stdout.write(`OTLP export requests received: ${await (await fetch(sink.url)).text()}\n`);
  } finally {
    sink.proc.kill('SIGTERM');
  }
}

/** One side's slices as one load: their mean rate, CPU per request over all their requests, the median slice's latencies. */
function joined(runs: Run[]): Run {
  // The slices are of one length: a slice's share of the requests is its share of the summed rates.
  const rates = runs.reduce((a, r) => a + r.rps, 0);
  return {
    rps: rates / runs.length,
    cpuMsPerReq: runs.reduce((a, r) => a + r.cpuMsPerReq * r.rps, 0) / rates,
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors: runs.reduce((a, r) => a + r.errors, 0),
  };
}

const pctLoss = (r: { off: Run; on: Run }) => (1 - r.on.rps / r.off.rps) * 100;
const cpuMore = (r: { off: Run; on: Run }) => (r.on.cpuMsPerReq / r.off.cpuMsPerReq - 1) * 100;
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;

await main();
