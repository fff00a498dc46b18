// The span exporter against a real OTLP/HTTP receiver: batches by size, a collector that falls behind
// (later batches dropped and logged, nothing grows without bound), and the protocol variables.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import workerThreads from 'node:worker_threads';
import { createLogger } from './logger.ts';
import { decodeExportRequest, encodeShape, idsFromHex } from './otlp-proto.ts';
import { type EndedSpan, protocolFromEnv, SpanExport } from './span-export.ts';

function logCapture() {
  const lines: { msg: string; err?: string; protocol?: string }[] = [];
  const destination = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString('utf8'))); done(); } });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

/** Runs `fn` with environment variables set, and puts them back. */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T> | T): Promise<T> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(before)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
}

const span = (exp: SpanExport, i: number) =>
  exp.add(`s${i}`, 0, idsFromHex('4bf92f3577b34da6a3ce929d0e0e4736', i.toString(16).padStart(16, '0'), '', false), 1_764_098_000_000 + i, 1_764_098_000_001 + i, '', '', [{ n: i }]);

it('sends full batches, and drops what a collector that has fallen behind cannot take', async () => {
  const held: { body: Buffer; res: ServerResponse }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => held.push({ body: Buffer.concat(chunks), res })); // answered only when the test says
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { lines, logger } = logCapture();
  // Batches of 2 spans, and room for 4 spans (two batches) waiting on the collector.
  const exp = await withEnv({ OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2', OTEL_BSP_MAX_QUEUE_SIZE: '4' },
    () => new SpanExport({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, serviceName: 'test', exportDelayMs: 60_000 }, logger));
  try {
    for (let i = 0; i < 10; i++) span(exp, i);
    const deadline = Date.now() + 5000;
    while (held.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(held.length, 2, 'two batches in flight, no more');
    assert.deepEqual(held.flatMap((h) => decodeExportRequest(h.body).map((s) => s.name)), ['s0', 's1', 's2', 's3']);
    const dropped = lines.find((l) => /behind/.test(l.msg));
    assert.equal(dropped?.msg, 'the span exporter is behind its collector: 2 spans dropped so far', JSON.stringify(lines));
    // Once the collector answers, the exporter takes batches again.
    for (const h of held.splice(0)) h.res.end();
    await new Promise((r) => setTimeout(r, 100));
    span(exp, 10);
    span(exp, 11);
    while (held.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(decodeExportRequest(held[0]!.body).map((s) => s.name), ['s10', 's11']);
    held[0]!.res.end();
    await exp.close(1000);
    assert.ok(lines.some((l) => l.msg === 'the span exporter dropped 6 spans in all: its collector was behind'), JSON.stringify(lines));
  } finally {
    await exp.close(1000);
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  }
});

/** A receiver that answers every export at once and keeps the span names of each. */
async function receiver() {
  const batches: string[][] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { batches.push(decodeExportRequest(Buffer.concat(chunks)).map((s) => s.name)); res.end(); });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  const until = async (n: number) => {
    const deadline = Date.now() + 5000;
    while (batches.flat().length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  };
  const close = async () => {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  };
  return { batches, url, until, close };
}

/** An ended span as tracing.ts hands them over: recorded when the exporter says (each counted in `encoded`). */
const encoded = { count: 0 };
const ended = (i: number): EndedSpan => ({
  record: (recorder) => {
    encoded.count++;
    recorder.add(`e${i}`, 0, idsFromHex('4bf92f3577b34da6a3ce929d0e0e4736', i.toString(16).padStart(16, '0'), '', false), 1_764_098_000_000 + i, 1_764_098_000_001 + i, '', '', [{ n: i }]);
  },
});
const names = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => `e${from + k}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('ended spans are encoded in runs of 128, and every one is sent: by a full batch, after the delay, or at close', async () => {
  const r = await receiver();
  const { logger } = logCapture();
  try {
    // Batches of 200: a batch that fills midway through a run is sent at once, at exactly its size.
    const exp = await withEnv({ OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '200' }, () => new SpanExport({ url: r.url, serviceName: 'test', exportDelayMs: 60_000 }, logger));
    encoded.count = 0;
    for (let i = 0; i < 127; i++) exp.end(ended(i));
    assert.equal(encoded.count, 0, 'nothing is encoded before a run is complete');
    exp.end(ended(127));
    assert.equal(encoded.count, 128, 'the 128th span encodes the run');
    for (let i = 128; i < 300; i++) exp.end(ended(i));
    await r.until(200);
    assert.deepEqual(r.batches, [names(0, 200)], 'one full batch at once; the other 100 wait for the delay');
    await exp.close(1000);
    assert.deepEqual(r.batches[1], names(200, 300), 'close() sends the spans not yet encoded');
    r.batches.length = 0;

    // Batches of 50: a run is never longer than a batch.
    const small = await withEnv({ OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '50' }, () => new SpanExport({ url: r.url, serviceName: 'test', exportDelayMs: 60_000 }, logger));
    for (let i = 0; i < 120; i++) small.end(ended(i));
    await r.until(100);
    assert.deepEqual(r.batches, [names(0, 50), names(50, 100)]);
    await small.close(1000);
    r.batches.length = 0;

    // The default batch (8,192): fewer spans than a run still go out when the delay is up ...
    const quick = new SpanExport({ url: r.url, serviceName: 'test', exportDelayMs: 50 }, logger);
    for (let i = 0; i < 3; i++) quick.end(ended(i));
    await r.until(3);
    assert.deepEqual(r.batches, [names(0, 3)]);
    // ... and so do 300 (two runs and some), as one batch, with spans added at once in between.
    r.batches.length = 0;
    for (let i = 0; i < 300; i++) {
      quick.end(ended(i));
      if (i === 150) quick.add('now', 0, idsFromHex('4bf92f3577b34da6a3ce929d0e0e4736', 'ffffffffffffffff', '', false), 1_764_098_000_000, 1_764_098_000_001, '', '', []);
    }
    await r.until(301);
    assert.equal(r.batches.length, 1);
    assert.deepEqual([...r.batches[0]!].sort(), [...names(0, 300), 'now'].sort());
    await quick.close(1000);
    assert.equal(r.batches.length, 1, 'nothing left to send at close');
  } finally {
    await r.close();
  }
});

it('a span carrying a part (a child in its record) counts as two: batches keep to their size, the part going into the next', async () => {
  const r = await receiver();
  const { logger } = logCapture();
  try {
    const handler = encodeShape('handler', 0, {});
    // Five invocations, each with its handler span carried, in batches of 3 spans.
    const exp = await withEnv({ OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '3' }, () => new SpanExport({ url: r.url, serviceName: 'test', exportDelayMs: 60_000 }, logger));
    for (let i = 0; i < 5; i++) {
      const ids = idsFromHex('4bf92f3577b34da6a3ce929d0e0e4736', i.toString(16).padStart(16, '0'), '', false);
      const part = { ...idsFromHex('4bf92f3577b34da6a3ce929d0e0e4736', (i + 16).toString(16).padStart(16, '0'), i.toString(16).padStart(16, '0'), false), startMs: 1, endMs: 2, error: '', shape: handler };
      const alone: EndedSpan = { record: (rec) => { rec.add(`h${i}`, 0, part, 1, 2, '', '', [], undefined); return undefined; } };
      exp.end({ record: (rec) => (rec.add(`p${i}`, 0, ids, 1, 2, '', '', [], undefined, part) ? undefined : alone) });
    }
    await exp.close(1000);
    assert.deepEqual(r.batches, [['p0', 'handler', 'p1'], ['h1', 'p2', 'handler'], ['p3', 'handler', 'p4'], ['h4']]);
  } finally {
    await r.close();
  }
});

it('a span waits at most the batch delay, even when a batch fills and is sent while it waits', async () => {
  const r = await receiver();
  const { logger } = logCapture();
  const exporters: SpanExport[] = [];
  try {
    const make = () => withEnv({ OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '200' }, () => new SpanExport({ url: r.url, serviceName: 'test', exportDelayMs: 1000 }, logger));
    // A batch fills midway through a run: the rest of the run keeps the first span's deadline.
    const runs = await make();
    exporters.push(runs);
    let t0 = performance.now();
    for (let i = 0; i < 100; i++) runs.end(ended(i));
    await sleep(700);
    for (let i = 100; i < 256; i++) runs.end(ended(i));
    await r.until(256);
    assert.deepEqual(r.batches, [names(0, 200), names(200, 256)]);
    let waited = performance.now() - t0;
    assert.ok(waited < 1500, `the last 56 spans went out ${waited.toFixed(0)} ms after the first ended (delay 1,000 ms)`);
    r.batches.length = 0;

    // A batch filled by spans added at once, while ended ones wait to be encoded: those keep their deadline too.
    const mixed = await make();
    exporters.push(mixed);
    t0 = performance.now();
    for (let i = 0; i < 50; i++) mixed.end(ended(i));
    await sleep(700);
    for (let i = 0; i < 200; i++) mixed.add(`a${i}`, 0, idsFromHex('4bf92f3577b34da6a3ce929d0e0e4736', 'ffffffffffffffff', '', false), 1_764_098_000_000, 1_764_098_000_001, '', '', []);
    await r.until(250);
    assert.equal(r.batches.length, 2);
    assert.deepEqual(r.batches[1], names(0, 50));
    waited = performance.now() - t0;
    assert.ok(waited < 1500, `the 50 ended spans went out ${waited.toFixed(0)} ms after they ended (delay 1,000 ms)`);
  } finally {
    for (const e of exporters) await e.close(1000);
    await r.close();
  }
});

it('exports with http/protobuf unless told http/json, and says so when asked for what it does not offer', async () => {
  const { lines, logger } = logCapture();
  const clear = { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: '', OTEL_EXPORTER_OTLP_PROTOCOL: '' };
  assert.equal(await withEnv(clear, () => protocolFromEnv(logger)), 'http/protobuf');
  assert.equal(await withEnv({ ...clear, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, () => protocolFromEnv(logger)), 'http/json');
  assert.equal(await withEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }, () => protocolFromEnv(logger)), 'http/protobuf', 'the traces variable wins');
  assert.equal(lines.length, 0);
  assert.equal(await withEnv({ ...clear, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }, () => protocolFromEnv(logger)), 'http/protobuf');
  assert.equal(lines[0]?.protocol, 'grpc');
});

it('sends with the OTEL_EXPORTER_OTLP_* variables as they were when the exporter was made, from its own thread', async () => {
  const seen: { header: string | undefined; names: string[] }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { seen.push({ header: req.headers['x-tenant'] as string | undefined, names: decodeExportRequest(Buffer.concat(chunks)).map((s) => s.name) }); res.end(); });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { lines, logger } = logCapture();
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  // Read when the exporter is made: they are gone again before its first batch.
  const exp = await withEnv({ OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=acme' }, () => new SpanExport({ url, serviceName: 'test', exportDelayMs: 60_000 }, logger));
  try {
    for (let i = 0; i < 3; i++) span(exp, i);
    await exp.close(2000);
    assert.deepEqual(seen, [{ header: 'acme', names: ['s0', 's1', 's2'] }], JSON.stringify(lines));
  } finally {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  }
});

/** Keeps every worker thread started until restore() (span-export.ts's Worker is node:worker_threads' export, swapped here). */
function trackThreads(): { started: workerThreads.Worker[]; restore(): void } {
  const started: workerThreads.Worker[] = [];
  const Original = workerThreads.Worker;
  workerThreads.Worker = class extends Original {
    constructor(...args: ConstructorParameters<typeof Original>) {
      super(...args);
      started.push(this);
    }
  };
  syncBuiltinESMExports();
  return {
    started,
    restore() {
      workerThreads.Worker = Original;
      syncBuiltinESMExports();
    },
  };
}

it('close() gives up on a collector that never answers after its cap, says so, and stops the export thread', async () => {
  const server = createServer(() => {}); // reads nothing, answers nothing
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { lines, logger } = logCapture();
  const threads = trackThreads();
  const started = threads.started;
  const exp = new SpanExport({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, serviceName: 'test', exportDelayMs: 60_000 }, logger);
  threads.restore();
  try {
    const exited = new Promise((ok) => started[0]!.once('exit', ok));
    span(exp, 0);
    const t0 = performance.now();
    await exp.close(300);
    const took = performance.now() - t0;
    assert.ok(took < 1500, `close() took ${took.toFixed(0)} ms with a cap of 300`);
    assert.ok(lines.some((l) => l.msg === 'gave up exporting the last spans'), JSON.stringify(lines));
    assert.equal(started.length, 1);
    assert.ok(await Promise.race([exited.then(() => true), sleep(2000).then(() => false)]), 'the export thread is stopped');
  } finally {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  }
});

it('a thread that dies takes its batches with it, logged; the next batch starts another, with the variables the exporter was made with; after three deaths in a row, exporting stops', async () => {
  // Every thread the exporter starts, to kill them.
  const threads = trackThreads();
  const started = threads.started;
  let hold = false;
  const seen: { header: string | undefined; names: string[] }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { seen.push({ header: req.headers['x-tenant'] as string | undefined, names: decodeExportRequest(Buffer.concat(chunks)).map((s) => s.name) }); if (!hold) res.end(); });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { lines, logger } = logCapture();
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  const exp = await withEnv({ OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=acme', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1' }, () => new SpanExport({ url, serviceName: 'test', exportDelayMs: 60_000 }, logger));
  const until = async (ok: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!ok() && Date.now() < deadline) await sleep(10);
  };
  try {
    // A batch in flight when its thread dies fails, and says why.
    hold = true;
    span(exp, 0);
    await until(() => seen.length === 1);
    await started[0]!.terminate();
    await until(() => lines.some((l) => l.msg === 'could not export spans'));
    assert.match(lines.find((l) => l.msg === 'could not export spans')?.err ?? '', /the export thread exited/, JSON.stringify(lines));
    // The next batch starts another thread, which sends with the variables as they were.
    hold = false;
    span(exp, 1);
    await until(() => seen.length === 2);
    assert.equal(started.length, 2);
    assert.deepEqual(seen[1], { header: 'acme', names: ['s1'] });
    // Three deaths in a row (no batch sent in between): no fourth thread, and nothing more is sent.
    hold = true;
    for (let i = 2; i < 5; i++) {
      span(exp, i);
      await until(() => seen.length === i + 1);
      await started.at(-1)!.terminate();
      await sleep(20);
    }
    assert.equal(started.length, 4);
    span(exp, 5);
    await sleep(200);
    assert.equal(started.length, 4, 'no thread is started after three deaths in a row');
    assert.equal(seen.length, 5);
  } finally {
    threads.restore();
    await exp.close(500);
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  }
});

it('an exporter never closed does not keep the process alive', () => {
  // A process that exports a span and is left to end on its own: it must, once its work is done.
  const code = `import { SpanExport } from ${JSON.stringify(new URL('./span-export.ts', import.meta.url).href)};
import { idsFromHex } from ${JSON.stringify(new URL('./otlp-proto.ts', import.meta.url).href)};
import { createLogger } from ${JSON.stringify(new URL('./logger.ts', import.meta.url).href)};
const exp = new SpanExport({ url: 'http://127.0.0.1:9/v1/traces', serviceName: 'test', exportDelayMs: 10 }, createLogger({ level: 'silent' }));
exp.add('s', 0, idsFromHex('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', '', false), 1, 2, '', '', []);`;
  // (From a file: a script given with -e ends differently.)
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-span-export-'));
  try {
    writeFileSync(join(dir, 'left.mjs'), code);
    const r = spawnSync(process.execPath, [join(dir, 'left.mjs')], { timeout: 20_000, encoding: 'utf8' });
    assert.equal(r.signal, null, `the process had to be killed: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
