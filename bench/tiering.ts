// npm run bench:tiering — whether a bench's warm-up leaves V8 anything to compile in the window it
// measures. One server of bench:observability's pair, on the same timeline: warmed by BENCH_WARM_LOADS
// loads of 2 s (default 3, as bench:observability), then BENCH_SLICES (default 8) loads of 2 s at 50
// connections, each followed by 2 s idle (when the other server of a pair is loaded). It counts V8's
// optimising compiles (TurboFan, Maglev) and eager deopts in each (--trace-opt --trace-deopt) and
// prints the functions TurboFan compiled. BENCH_MODE=off|on (default on): "on" exports spans to a
// receiver and is scraped every second, from before the warm-up unless BENCH_SCRAPE_AFTER=1 (the
// scrapes begin after it, as bench:observability did until 2026-11-27).
//
// A warm-up that is done leaves a few compiles a slice (timers, the instance pool's rarer paths); one
// that is not leaves dozens, and deopts, in the first slices measured, and those slices run slower.
import autocannon from 'autocannon';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONNECTIONS, deploy, HELLO_APP, scrapeEverySecond, start, startOtlpSink, WARM_LOADS, warm } from './harness.ts';

const SLICES = Math.max(1, Number(process.env.BENCH_SLICES ?? 8));
const ON = (process.env.BENCH_MODE ?? 'on') === 'on';
const SCRAPE_AFTER = process.env.BENCH_SCRAPE_AFTER === '1';

const sink = ON ? await startOtlpSink() : undefined;
const dir = mkdtempSync(join(tmpdir(), 'nimbus-bench-tiering-'));
const counts = { turbofan: 0, maglev: 0, deopts: 0 };
const compiled: string[] = [];
const server = await start(['--trace-opt', '--trace-deopt', 'bin/nimbus.mjs', 'serve', '--port', '0', '--data', dir],
  { NIMBUS_LOG_LEVEL: 'warn', OTEL_EXPORTER_OTLP_ENDPOINT: sink?.url ?? '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' });
// (V8's traces go to stdout, a line each.)
let rest = '';
server.proc.stdout!.on('data', (chunk: Buffer) => {
  const lines = (rest + chunk.toString()).split('\n');
  rest = lines.pop()!;
  for (const line of lines) {
    if (/completed compiling .*\(target TURBOFAN/.test(line)) {
      counts.turbofan++;
      const fn = /<JSFunction (\S*)/.exec(line)?.[1];
      if (fn) compiled.push(fn);
    } else if (/completed compiling .*\(target MAGLEV/.test(line)) counts.maglev++;
    else if (/bailout \(kind: deopt-eager/.test(line)) counts.deopts++;
  }
});
let scraper: NodeJS.Timeout | undefined;
try {
  const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
  await deploy(server.url, token, HELLO_APP);
  if (ON && !SCRAPE_AFTER) scraper = scrapeEverySecond(server.url, token);
  await warm(server.url);
  if (ON && SCRAPE_AFTER) scraper = scrapeEverySecond(server.url, token);
  process.stdout.write(`"${ON ? 'on' : 'off'}", ${WARM_LOADS} warm-up load(s) of 2 s${ON ? `, scraped from ${SCRAPE_AFTER ? 'after' : 'before'} the warm-up` : ''}; per slice of 2 s at full speed (and the 2 s idle after it):\n`);
  let last = { ...counts };
  const line = (label: string): void => {
    const fns = compiled.splice(0);
    process.stdout.write(`${label}  TurboFan +${counts.turbofan - last.turbofan}, Maglev +${counts.maglev - last.maglev}, deopts +${counts.deopts - last.deopts}`
      + `${fns.length ? `  (${fns.slice(0, 10).join(' ')}${fns.length > 10 ? ' …' : ''})` : ''}\n`);
    last = { ...counts };
  };
  compiled.length = 0;
  for (let k = 0; k < SLICES; k++) {
    const r = await autocannon({ url: `${server.url}/hello`, connections: CONNECTIONS, duration: 2 });
    line(`slice ${String(k + 1).padStart(2)}: ${r.requests.average.toFixed(0).padStart(5)} req/s`);
    await new Promise((res) => setTimeout(res, 2000));
    line('            idle');
  }
} finally {
  clearInterval(scraper);
  server.proc.kill('SIGTERM');
  await new Promise((r) => server.proc.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  sink?.proc.kill('SIGTERM');
}
