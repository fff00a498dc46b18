// Shared by the gateway benches: a server in a child process, an app deployed to it, a timed load
// with the process tree's CPU, medians.
import autocannon from 'autocannon';
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleApp, writeApp } from '../test/helpers.ts';
import { treeCpuMs } from './proc.ts';

export const CONNECTIONS = 50;
const root = fileURLToPath(new URL('..', import.meta.url));

export function start(args: string[], env: Record<string, string> = {}): Promise<{ proc: ChildProcess; url: string }> {
  return startProcess(args, env);
}

/** A process (node, the same binary, unless `command` says otherwise) that prints `listening on http://…` once ready. */
export function startProcess(args: string[], env: Record<string, string> = {}, command = process.execPath): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/i.exec(out);
      if (m) resolve({ proc, url: m[1]! });
    });
    proc.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}

/** An OTLP receiver in a process of its own: reads and discards what it is sent; a GET says how many exports came. */
export function startOtlpSink(): Promise<{ proc: ChildProcess; url: string }> {
  return startProcess(['-e', `let n = 0; const s = require('node:http').createServer((q, r) => { if (q.method === 'GET') { r.end(String(n)); return; }
    q.on('data', () => {}); q.on('end', () => { n++; r.writeHead(200, { 'content-type': 'application/json' }); r.end('{}'); }); });
    s.listen(0, '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + s.address().port));`]);
}

export const HELLO = `export const handler = async (event: { rawPath: string }) => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'Hello, world!', path: event.rawPath }) });`;

/** The app the observability benches deploy: HELLO behind GET /hello. */
export const HELLO_APP = { 'nimbus.yml': 'app: bench\nfunctions:\n  hello:\n    handler: src/hello.handler\n    events:\n      - http: GET /hello\n', 'src/hello.ts': HELLO };

// A server's warm-up for bench:observability (and bench:tiering, which checks it): this many loads of 2 s,
// each on new connections (BENCH_WARM_LOADS; one until 2026-11-27). A load's connections close only when
// it ends, and V8 compiles those paths when they first run (docs/performance.md, "Warmed to a steady state").
export const WARM_LOADS = Math.max(1, Number(process.env.BENCH_WARM_LOADS ?? 3));

/** Warms the server at `url` (GET /hello): WARM_LOADS loads of 2 s at CONNECTIONS. */
export async function warm(url: string): Promise<void> {
  for (let w = 0; w < WARM_LOADS; w++) await autocannon({ url: `${url}/hello`, connections: CONNECTIONS, duration: 2 });
}

/** Scrapes the server's /_nimbus/metrics every second, as Prometheus would, until the timer is cleared. */
export function scrapeEverySecond(url: string, token: string): NodeJS.Timeout {
  return setInterval(() => void fetch(`${url}/_nimbus/metrics`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.text()).catch(() => undefined), 1000);
}

export async function deploy(url: string, token: string, files: Record<string, string>): Promise<void> {
  const dir = writeApp(files);
  const body = await bundleApp(dir, files['nimbus.yml']!);
  rmSync(dir, { recursive: true, force: true });
  const res = await fetch(`${url}/_nimbus/api/apps/${(body.manifest as { app: string }).app}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`deploy failed: ${await res.text()}`);
}

export interface Run { rps: number; p50: number; p99: number; cpuMsPerReq: number; errors: number }

/** Load at full speed, or at `rate` requests/s in all; CPU is the server's whole process tree. */
export async function load(url: string, pid: number, seconds: number, rate?: number): Promise<Run> {
  const cpu0 = treeCpuMs(pid);
  const r = await autocannon({ url, connections: CONNECTIONS, duration: seconds, ...(rate ? { overallRate: rate } : {}) });
  const cpu1 = treeCpuMs(pid);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, cpuMsPerReq: (cpu1 - cpu0) / r.requests.total, errors: r.errors + r.timeouts + r.non2xx };
}

export const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
export const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!; };

