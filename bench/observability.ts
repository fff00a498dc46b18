// npm run bench:observability — the hot path with observability fully on next to off, same run:
// "off" exports no traces (ids only) and nobody scrapes; "on" exports every span with OTLP/HTTP to
// a receiver in this process and scrapes /_nimbus/metrics every second, as Prometheus would.
// Metrics, records and logs are always kept (they are not optional). Target: ≤ 5% throughput loss.
// BENCH_ROUNDS (default 3) rounds of BENCH_SECONDS (default 10) s at 50 connections, alternating.
import autocannon from 'autocannon';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONNECTIONS, deploy, HELLO, load, median, type Run, start } from './harness.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

async function main(): Promise<void> {
  let spans = 0;
  const sink = createServer((req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => { spans++; res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}'); });
  });
  await new Promise<void>((ok) => sink.listen(0, '127.0.0.1', ok));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
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
    const m = (side: 'off' | 'on', k: keyof Run) => median(runs.map((r) => r[side][k]));
    const loss = (1 - m('on', 'rps') / m('off', 'rps')) * 100;
    process.stdout.write(`\nObservability on vs off: ${CONNECTIONS} connections, ${ROUNDS} rounds × ${SECONDS} s, medians\n`);
    process.stdout.write(`requests/s          off ${m('off', 'rps').toFixed(0)}   on ${m('on', 'rps').toFixed(0)}   loss ${loss.toFixed(1)}%  (target ≤ 5%)\n`);
    process.stdout.write(`CPU ms per request  off ${m('off', 'cpuMsPerReq').toFixed(3)}   on ${m('on', 'cpuMsPerReq').toFixed(3)}\n`);
    process.stdout.write(`latency p99 ms      off ${m('off', 'p99').toFixed(1)}   on ${m('on', 'p99').toFixed(1)}\n`);
    process.stdout.write(`OTLP export requests received: ${spans}\n`);
  } finally {
    if (scraper) clearInterval(scraper);
    for (const s of servers) {
      s.proc.kill('SIGTERM');
      await new Promise((r) => s.proc.once('exit', r));
      rmSync(s.dir, { recursive: true, force: true });
    }
    sink.close();
  }
}

await main();
