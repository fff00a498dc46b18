// Object storage throughput through the admin API (HTTP, streamed both ways) next to a plain file
// copy of the same bytes on the same disk, in the same run:
//   put: file → HTTP PUT → blob (fsynced, metadata committed)   vs   file → file stream pipe + fsync
//   get: blob → HTTP GET → file                                 vs   file → file stream pipe
// Medians of several rounds and their ratio (target: storage ≥ 50% of the copy).
//
//   node bench/storage.ts            256 MB objects, 5 rounds (under a minute here)
//   NIMBUS_BENCH_OBJECT_MB=64 NIMBUS_BENCH_ROUNDS=3 node bench/storage.ts
//
// It starts the real server (startServer, port 0, a temp data dir) and deploys an app declaring the
// bucket. The HTTP client runs in a child process, as a real client would: in one process, client
// and server would share one JavaScript thread and the bench would measure that instead.
import { createReadStream, createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { Agent, request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../src/observability/logger.ts';
import { startServer } from '../src/server.ts';
import { bundleApp, writeApp } from '../test/helpers.ts';

const MB = 1024 * 1024;
const OBJECT_MB = Number(process.env.NIMBUS_BENCH_OBJECT_MB ?? 256);
const ROUNDS = Number(process.env.NIMBUS_BENCH_ROUNDS ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'nimbus-bench-storage-'));
const agent = new Agent({ keepAlive: true });

interface Target { url: string; token: string; close(): Promise<void>; mode: string }

/** The real server (startServer) with an app declaring bucket `bench`. */
async function target(): Promise<Target> {
  const srv = await startServer({ port: 0, dataDir: join(dir, 'data'), logger: silentLogger });
  const manifest = 'app: bench\nbuckets:\n  bench: {}\nfunctions:\n  noop:\n    handler: src/noop.handler\n';
  const body = await bundleApp(writeApp({ 'nimbus.yml': manifest, 'src/noop.ts': 'export const handler = async () => null;' }, join(dir, 'app')), manifest);
  const d = await fetch(`${srv.url}/_nimbus/api/apps/bench`, { method: 'PUT', headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (d.status !== 200) throw new Error(`deploy failed: ${await d.text()}`);
  return { url: srv.url, token: srv.token, close: () => srv.close(), mode: 'the nimbus server (startServer, admin API)' };
}

function call(t: Target, method: string, path: string, headers: Record<string, string>, body?: NodeJS.ReadableStream): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(t.url + path, { method, agent, headers: { authorization: `Bearer ${t.token}`, ...headers } }, resolve);
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

/** One transfer in a child process (`--client put|get url token file`); resolves with the ms it took there. */
function transfer(t: Target, op: 'put' | 'get', file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--client', op, t.url, t.token, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.on('close', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`${op} client exited with ${code}`))));
  });
}

/** The child's side: one PUT of `file`, or one GET into `file`; prints the milliseconds. */
async function client(op: string, url: string, token: string, file: string): Promise<void> {
  const t: Target = { url, token, mode: '', close: async () => undefined };
  const t0 = performance.now();
  const path = '/_nimbus/api/buckets/bench/objects/object.bin';
  if (op === 'put') {
    const res = await call(t, 'PUT', path, { 'content-length': String(OBJECT_MB * MB) }, createReadStream(file));
    let text = '';
    for await (const c of res) text += c;
    if (res.statusCode !== 200) throw new Error(`put: ${res.statusCode} ${text}`);
  } else {
    const res = await call(t, 'GET', path, {});
    if (res.statusCode !== 200) throw new Error(`get: ${res.statusCode}`);
    await pipeline(res, createWriteStream(file));
  }
  process.stdout.write(String(performance.now() - t0));
  agent.destroy();
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try { await fh.sync(); } finally { await fh.close(); }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rate = (ms: number): number => OBJECT_MB / (ms / 1000);

async function main(): Promise<void> {
  const source = join(dir, 'source.bin');
  const block = randomBytes(MB);
  const fh = await open(source, 'w');
  for (let i = 0; i < OBJECT_MB; i++) await fh.write(block);
  await fh.sync();
  await fh.close();
  const t = await target();
  const times = { copyPut: [] as number[], put: [] as number[], copyGet: [] as number[], get: [] as number[] };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      let t0 = performance.now();
      await pipeline(createReadStream(source), createWriteStream(join(dir, 'copy-put.bin')));
      await fsyncFile(join(dir, 'copy-put.bin'));
      times.copyPut.push(performance.now() - t0);

      times.put.push(await transfer(t, 'put', source));

      t0 = performance.now();
      await pipeline(createReadStream(source), createWriteStream(join(dir, 'copy-get.bin')));
      times.copyGet.push(performance.now() - t0);

      times.get.push(await transfer(t, 'get', join(dir, 'got.bin')));
      rmSync(join(dir, 'copy-put.bin'));
      rmSync(join(dir, 'copy-get.bin'));
      rmSync(join(dir, 'got.bin'));
    }
  } finally {
    await t.close();
    agent.destroy();
  }
  const line = (name: string, ms: number[], base: number[]) => {
    const r = rate(median(ms));
    const b = rate(median(base));
    return `${name.padEnd(5)} ${r.toFixed(0).padStart(6)} MB/s   file copy ${b.toFixed(0).padStart(6)} MB/s   ratio ${(r / b * 100).toFixed(0)}%`;
  };
  const report = [
    `object storage: ${OBJECT_MB} MB objects, median of ${ROUNDS} rounds, through ${t.mode}`,
    line('put', times.put, times.copyPut) + '   (copy: stream pipe + fsync; put: HTTP PUT, blob fsynced, metadata committed)',
    line('get', times.get, times.copyGet) + '   (copy: stream pipe; get: HTTP GET into a file)',
  ].join('\n');
  process.stdout.write(report + '\n');
  writeFileSync(join(tmpdir(), 'nimbus-bench-storage.txt'), report + '\n');
}

if (process.argv[2] === '--client') {
  rmSync(dir, { recursive: true, force: true });
  await client(process.argv[3]!, process.argv[4]!, process.argv[5]!, process.argv[6]!);
} else {
  try {
    await main();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
