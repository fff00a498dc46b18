// The second baseline for bench/run.ts: bare node:http plus the one thing a process per instance
// cannot avoid, a round trip to another process. The handler runs in one of 10 child processes (as
// `concurrency.max: 10` gives Nimbus), one request at a time each, over a pipe with one JSON line
// each way. No routing, no event, no records, no sandbox: the least such a design can cost.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';

const CHILD = `
const handler = async (event) => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'Hello, world!', path: event.rawPath }) });
let buffered = '';
process.stdin.setEncoding('utf8').on('data', async (chunk) => {
  buffered += chunk;
  let end;
  while ((end = buffered.indexOf('\\n')) >= 0) {
    const event = JSON.parse(buffered.slice(0, end));
    buffered = buffered.slice(end + 1);
    process.stdout.write(JSON.stringify(await handler(event)) + '\\n');
  }
});`;

interface Child { proc: ChildProcess; res?: ServerResponse; buffered: string }
const children: Child[] = Array.from({ length: 10 }, () => ({ proc: spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit'] }), buffered: '' }));
const idle: Child[] = [...children];
const waiting: { rawPath: string; res: ServerResponse }[] = [];

function send(child: Child, rawPath: string, res: ServerResponse): void {
  child.res = res;
  child.proc.stdin!.write(JSON.stringify({ rawPath }) + '\n');
}

for (const child of children) {
  child.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    child.buffered += chunk;
    const end = child.buffered.indexOf('\n');
    if (end < 0) return;
    const out = JSON.parse(child.buffered.slice(0, end)) as { statusCode: number; headers: Record<string, string>; body: string };
    child.buffered = child.buffered.slice(end + 1);
    const res = child.res!;
    res.writeHead(out.statusCode, { ...out.headers, 'content-length': Buffer.byteLength(out.body) });
    res.end(out.body);
    const next = waiting.shift();
    if (next) send(child, next.rawPath, next.res);
    else { child.res = undefined; idle.push(child); }
  });
}

const server = createServer((req, res) => {
  const child = idle.pop();
  if (child) send(child, req.url ?? '/', res);
  else waiting.push({ rawPath: req.url ?? '/', res });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening on http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => { for (const c of children) c.proc.kill(); process.exit(0); });
