// npm run bench:observability — the hot path with observability fully on next to off, same run:
// "off" exports no traces (ids only) and nobody scrapes; "on" exports every span with OTLP/HTTP to
// a receiver in its own process (a collector is not the load generator's business) and scrapes
// /_nimbus/metrics every second, as Prometheus would. Metrics, records and logs are always kept
// (they are not optional). Target: ≤ 5% throughput loss.
// BENCH_ROUNDS (default 3) rounds of BENCH_SECONDS (default 10) s at 50 connections, alternating;
// then the same at a fixed rate (BENCH_RATE, default 60% of "off"'s throughput), where CPU per
// request is what observability costs without the two servers fighting the load generator for cores.
import autocannon from 'autocannon';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONNECTIONS, deploy, HELLO, load, median, type Run, start, startProcess } from './harness.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

async function main(): Promise<void> {
  // The OTLP receiver: a child process that reads and discards, and counts export requests.
  const sinkCode = `let n = 0; const s = require('node:http').createServer((q, r) => { if (q.method === 'GET') { r.end(String(n)); return; }
    q.on('data', () => {}); q.on('end', () => { n++; r.writeHead(200, { 'content-type': 'application/json' }); r.end('{}'); }); });
    s.listen(0, '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + s.address().port));`;
  const sink = await startProcess(['-e', sinkCode]);
  const sinkUrl = sink.url;
  const dirs = [mkdtempSync(join(tmpdir(), 'nimbus-bench-off-')), mkdtempSync(join(tmpdir(), 'nimbus-bench-on-'))];
  const env = { NIMBUS_LOG_LEVEL: 'warn', OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' };
  const off = await start(['bin/nimbus.mjs', 'serve', '--port', '0', '--data', dirs[0]!], env);
  const on = await start(['bin/nimbus.mjs', 'serve', '--port', '0', '--data', dirs[1]!], { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl });
  const servers = [{ name: 'off', ...off, dir: dirs[0]! }, { name: 'on', ...on, dir: dirs[1]! }];
  let scraper: NodeJS.Timeout | undefined;
  try {
    for (const s of servers) {
      const token = readFileSync(join(s.dir, 'admin-token'), 'utf8').trim();
      await deploy(s.url, token, { 'nimbus.yml': 'app: bench\nfunctions:\n  hello:\n    handler: src/hello.handler\n    events:\n      - http: GET /hello\n', 'src/hello.ts': HELLO });
      await autocannon({ url: `${s.url}/hello`, connections: CONNECTIONS, duration: 2 });
    }
    const onToken = readFileSync(join(dirs[1]!, 'admin-token'), 'utf8').trim();
    scraper = setInterval(() => void fetch(`${on.url}/_nimbus/metrics`, { headers: { authorization: `Bearer ${onToken}` } }).then((r) => r.text()).catch(() => undefined), 1000);
    const runs: { off: Run; on: Run }[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const a = await load(`${off.url}/hello`, off.proc.pid!, SECONDS);
      const b = await load(`${on.url}/hello`, on.proc.pid!, SECONDS);
      runs.push({ off: a, on: b });
      process.stderr.write(`round ${i + 1}/${ROUNDS}: off ${a.rps.toFixed(0)} req/s, on ${b.rps.toFixed(0)} req/s\n`);
    }
    const m = (side: 'off' | 'on', k: keyof Run, from = runs) => median(from.map((r) => r[side][k]));
    const rate = Number(process.env.BENCH_RATE ?? Math.round(m('off', 'rps') * 0.6));
    const fixed: { off: Run; on: Run }[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const a = await load(`${off.url}/hello`, off.proc.pid!, SECONDS, rate);
      const b = await load(`${on.url}/hello`, on.proc.pid!, SECONDS, rate);
      fixed.push({ off: a, on: b });
      process.stderr.write(`fixed ${rate} req/s, round ${i + 1}/${ROUNDS}: CPU ms/req off ${a.cpuMsPerReq.toFixed(3)}, on ${b.cpuMsPerReq.toFixed(3)}\n`);
    }
    const loss = (1 - m('on', 'rps') / m('off', 'rps')) * 100;
    const cpu = (from: typeof runs) => (m('on', 'cpuMsPerReq', from) / m('off', 'cpuMsPerReq', from) - 1) * 100;
    process.stdout.write(`\nObservability on vs off: ${CONNECTIONS} connections, ${ROUNDS} rounds × ${SECONDS} s, medians\n`);
    process.stdout.write(`saturated: requests/s   off ${m('off', 'rps').toFixed(0)}   on ${m('on', 'rps').toFixed(0)}   loss ${loss.toFixed(1)}%  (target ≤ 5%)\n`);
    process.stdout.write(`saturated: CPU ms/req   off ${m('off', 'cpuMsPerReq').toFixed(3)}   on ${m('on', 'cpuMsPerReq').toFixed(3)}   +${cpu(runs).toFixed(1)}%\n`);
    process.stdout.write(`saturated: latency p99  off ${m('off', 'p99').toFixed(1)} ms   on ${m('on', 'p99').toFixed(1)} ms\n`);
    process.stdout.write(`at ${rate} req/s: CPU ms/req  off ${m('off', 'cpuMsPerReq', fixed).toFixed(3)}   on ${m('on', 'cpuMsPerReq', fixed).toFixed(3)}   +${cpu(fixed).toFixed(1)}%; p99 off ${m('off', 'p99', fixed).toFixed(1)} ms, on ${m('on', 'p99', fixed).toFixed(1)} ms\n`);
    process.stdout.write(`OTLP export requests received: ${await (await fetch(sinkUrl)).text()}\n`);
  } finally {
    if (scraper) clearInterval(scraper);
    for (const s of servers) {
      s.proc.kill('SIGTERM');
      await new Promise((r) => s.proc.once('exit', r));
      rmSync(s.dir, { recursive: true, force: true });
    }
    sink.proc.kill('SIGTERM');
  }
}

await main();
