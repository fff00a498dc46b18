// The second baseline for bench/run.ts: bare node:http plus a round trip to another process, as a
// gateway in front of instance processes makes. The handler runs in one of 10 child processes (as
// `concurrency.max: 10` gives Nimbus), one request at a time each, over a pipe with one JSON line
// each way. No routing, no event, no records, no sandbox: the least a gateway that hands each
// request to an instance process and waits for its answer can cost (docs/performance.md, "The floor").
//
// HOP_AHEAD=n lets a busy child hold up to n more requests, queued behind the one it runs, when
// every child is busy (default 0: a request waits in the server for a child that is free).
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';

const CHILDREN = 10;
const AHEAD = Number(process.env.HOP_AHEAD ?? 0);

// One request at a time: a line is answered before the next is read, whatever the handler awaits.
const CHILD = `
const handler = async (event) => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'Hello, world!', path: event.rawPath }) });
let buffered = '';
let running = false;
async function drain() {
  if (running) return;
  running = true;
  let end;
  while ((end = buffered.indexOf('\\n')) >= 0) {
    const event = JSON.parse(buffered.slice(0, end));
    buffered = buffered.slice(end + 1);
    process.stdout.write(JSON.stringify(await handler(event)) + '\\n');
  }
  running = false;
}
process.stdin.setEncoding('utf8').on('data', (chunk) => { buffered += chunk; void drain(); });`;

interface Child { proc: ChildProcess; answering: ServerResponse[]; buffered: string }
const children: Child[] = [];
const idle: Child[] = [];
const waiting: { rawPath: string; res: ServerResponse }[] = [];
let stopping = false;

function send(child: Child, rawPath: string, res: ServerResponse): void {
  child.answering.push(res);
  child.proc.stdin!.write(JSON.stringify({ rawPath }) + '\n');
}

function answered(child: Child, line: string): void {
  const out = JSON.parse(line) as { statusCode: number; headers: Record<string, string>; body: string };
  const res = child.answering.shift()!;
  res.writeHead(out.statusCode, { ...out.headers, 'content-length': Buffer.byteLength(out.body) });
  res.end(out.body);
  const next = waiting.shift();
  if (next) send(child, next.rawPath, next.res);
  else if (child.answering.length === 0) idle.push(child);
}

for (let i = 0; i < CHILDREN; i++) {
  const child: Child = { proc: spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit'] }), answering: [], buffered: '' };
  children.push(child);
  idle.push(child);
  child.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    child.buffered += chunk;
    let end: number;
    while ((end = child.buffered.indexOf('\n')) >= 0) {
      const line = child.buffered.slice(0, end);
      child.buffered = child.buffered.slice(end + 1);
      answered(child, line);
    }
  });
  // A baseline that loses a child would only show up as timeouts in the load: stop, and say why.
  child.proc.on('exit', (code, signal) => { if (!stopping) fail(`child ${i} exited (${signal ?? code})`); });
  child.proc.stdin!.on('error', (err) => fail(`child ${i}: ${err.message}`));
}

const server = createServer((req, res) => {
  const rawPath = req.url ?? '/';
  const child = idle.pop() ?? (AHEAD > 0 ? children.find((c) => c.answering.length <= AHEAD) : undefined);
  if (child) send(child, rawPath, res);
  else waiting.push({ rawPath, res });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening on http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});

function stop(code: number): void {
  stopping = true;
  for (const c of children) c.proc.kill();
  process.exit(code);
}
function fail(why: string): void {
  process.stderr.write(`hop-server: ${why}\n`);
  stop(1);
}
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => stop(0));
