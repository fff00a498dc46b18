// npm run bench — the gateway's hot path and cold starts, each next to a baseline measured in the
// same run. Prints a table with ratios; nothing here is a test. Run it on a quiet machine and quote
// medians: BENCH_ROUNDS (default 3) rounds of BENCH_SECONDS (default 10) s at 50 connections each.
// Two baselines: bare node:http (what the targets are set against), and bare node:http that hands each
// request to one of 10 child processes and back (bench/hop-server.ts): what a gateway in front of
// instance processes costs before it does anything else (HOP_AHEAD=n: with n requests queued in each
// busy child; see bench/hop-server.ts).
import autocannon from 'autocannon';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONNECTIONS, deploy, HELLO, load, median, pct, type Run, start } from './harness.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const COLD_FUNCTIONS = Number(process.env.BENCH_COLD ?? 40);

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-bench-'));
  const started: Awaited<ReturnType<typeof start>>[] = [];
  try {
    // Each kept as it starts, so that one failing to start does not leave the others running.
    const bare = await start(['bench/bare-server.ts']).then((s) => (started.push(s), s));
    const hop = await start(['bench/hop-server.ts']).then((s) => (started.push(s), s));
    const nimbus = await start(['bin/nimbus.mjs', 'serve', '--port', '0', '--data', dataDir], { NIMBUS_LOG_LEVEL: 'warn' }).then((s) => (started.push(s), s));
    const { readFileSync } = await import('node:fs');
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    await deploy(nimbus.url, token, { 'nimbus.yml': 'app: bench\nfunctions:\n  hello:\n    handler: src/hello.handler\n    concurrency: { max: 10 }\n    events:\n      - http: GET /hello\n', 'src/hello.ts': HELLO });
    // Warm-up: instances started, JIT warm, on both sides.
    await autocannon({ url: `${nimbus.url}/hello`, connections: CONNECTIONS, duration: 2 });
    await autocannon({ url: `${bare.url}/hello`, connections: CONNECTIONS, duration: 2 });
    await autocannon({ url: `${hop.url}/hello`, connections: CONNECTIONS, duration: 2 });
    const runs: { bare: Run; hop: Run; nimbus: Run }[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const b = await load(`${bare.url}/hello`, bare.proc.pid!, SECONDS);
      const h = await load(`${hop.url}/hello`, hop.proc.pid!, SECONDS);
      const n = await load(`${nimbus.url}/hello`, nimbus.proc.pid!, SECONDS);
      runs.push({ bare: b, hop: h, nimbus: n });
      process.stderr.write(`round ${i + 1}/${ROUNDS}: bare ${b.rps.toFixed(0)} req/s, bare + process hop ${h.rps.toFixed(0)} req/s, nimbus ${n.rps.toFixed(0)} req/s\n`);
    }
    const m = (side: 'bare' | 'hop' | 'nimbus', k: keyof Run) => median(runs.map((r) => r[side][k]));

    // Cold starts: the first request to each of many never-invoked functions (distinct code each).
    const fns = Array.from({ length: COLD_FUNCTIONS }, (_, i) => `cold${i}`);
    await deploy(nimbus.url, token, {
      'nimbus.yml': `app: cold\nfunctions:\n${fns.map((f) => `  ${f}:\n    handler: src/${f}.handler\n    events:\n      - http: GET /${f}\n`).join('')}`,
      ...Object.fromEntries(fns.map((f) => [`src/${f}.ts`, HELLO.replace('Hello, world!', `Hello from ${f}`)])),
    });
    const cold: number[] = [];
    for (const f of fns) {
      const t0 = performance.now();
      const res = await fetch(`${nimbus.url}/${f}`);
      await res.arrayBuffer();
      cold.push(performance.now() - t0);
    }

    const rps = (side: 'hop' | 'nimbus') => `${((m(side, 'rps') / m('bare', 'rps')) * 100).toFixed(0)}%`;
    const cpu = (side: 'hop' | 'nimbus') => `${(m(side, 'cpuMsPerReq') / m('bare', 'cpuMsPerReq')).toFixed(2)}×`;
    const errors = (side: 'bare' | 'hop' | 'nimbus') => String(runs.reduce((n, r) => n + r[side].errors, 0));
    const rows: string[][] = [
      ['', 'bare node:http', `bare + process hop${process.env.HOP_AHEAD ? ` (HOP_AHEAD=${process.env.HOP_AHEAD})` : ''}`, 'Nimbus gateway', 'hop / bare', 'Nimbus / bare'],
      ['requests/s (median)', m('bare', 'rps').toFixed(0), m('hop', 'rps').toFixed(0), m('nimbus', 'rps').toFixed(0), rps('hop'), `${rps('nimbus')}  (target ≥ 50%)`],
      ['CPU ms per request (process tree)', m('bare', 'cpuMsPerReq').toFixed(3), m('hop', 'cpuMsPerReq').toFixed(3), m('nimbus', 'cpuMsPerReq').toFixed(3), cpu('hop'), `${cpu('nimbus')}  (target ≤ 2×)`],
      ['latency p50 ms', m('bare', 'p50').toFixed(1), m('hop', 'p50').toFixed(1), m('nimbus', 'p50').toFixed(1), '', ''],
      ['latency p99 ms', m('bare', 'p99').toFixed(1), m('hop', 'p99').toFixed(1), m('nimbus', 'p99').toFixed(1), '', '(target p99 ≤ 10 ms)'],
      ['errors (all rounds)', errors('bare'), errors('hop'), errors('nimbus'), '', ''],
    ];
    const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    process.stdout.write(`\nHot path: ${CONNECTIONS} connections, ${ROUNDS} rounds × ${SECONDS} s, medians\n`);
    for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(w[i]!)).join('  ') + '\n');
    process.stdout.write(`\nCold start (first request to ${COLD_FUNCTIONS} never-invoked functions, end to end over HTTP): p50 ${pct(cold, 50).toFixed(1)} ms, p99 ${pct(cold, 99).toFixed(1)} ms\n`);
  } finally {
    await Promise.all(started.map((s) => new Promise((r) => {
      if (s.proc.exitCode !== null || s.proc.signalCode !== null) return r(undefined);
      s.proc.once('exit', r);
      s.proc.kill('SIGTERM');
    })));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
