// Ids-only spans, the OpenTelemetry SDK's sampler settings being honoured, and a
// recorded span exported as it was when it ended.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { it } from 'node:test';
import { silentLogger } from './logger.ts';
import { decodeExportRequest } from './otlp-proto.ts';
import { newTraceparent, ShapeCache, Tracing } from './tracing.ts';

it('without an endpoint, spans are ids only: unique, well-formed, children keep the trace and the sampled flag', () => {
  const t = new Tracing({ logger: silentLogger, endpoint: '', tracesEndpoint: '' });
  assert.equal(t.exportUrl, undefined);
  const root = t.start('a', undefined, 'server');
  const child = t.start('b', root, 'internal');
  assert.match(root.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.equal(child.traceId, root.traceId);
  assert.notEqual(child.spanId, root.spanId);
  assert.ok(t.start('c', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00', 'internal').traceparent.endsWith('-00'));
  const ids = new Set(Array.from({ length: 2000 }, () => newTraceparent()));
  assert.equal(ids.size, 2000);
});

it('exporting, honours OTEL_TRACES_SAMPLER (always_off: spans are not sampled, and say so downstream)', async () => {
  process.env.OTEL_TRACES_SAMPLER = 'always_off';
  try {
    const t = new Tracing({ logger: silentLogger, endpoint: 'http://127.0.0.1:1' });
    assert.match(t.start('x', undefined, 'server').traceparent, /-00$/);
    await t.close();
  } finally {
    delete process.env.OTEL_TRACES_SAMPLER;
  }
});

/** Runs `fn` with a Tracing that exports to a receiver of this test's, which keeps the request bodies. */
async function withReceiver(fn: (t: Tracing, bodies: Buffer[]) => Promise<void>): Promise<void> {
  const bodies: Buffer[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { bodies.push(Buffer.concat(chunks)); res.end(); });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  try {
    await fn(new Tracing({ logger: silentLogger, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, exportDelayMs: 60_000, protocol: 'http/protobuf' }), bodies);
  } finally {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  }
}

it('exporting, a span is what it was when it ended: later sets and start times are ignored, its end time is kept', async () => {
  await withReceiver(async (t, bodies) => {
    const span = t.start('request', undefined, 'server', { 'http.route': '/a' }, 1_764_098_000_000);
    span.setAttributes({ 'http.response.status_code': 200 });
    span.end();
    const endedBy = performance.timeOrigin + performance.now();
    // Encoding waits for a run of spans, the delay or close(): none of this may reach the export.
    span.setAttributes({ 'http.response.status_code': 500, late: true });
    span.setStartTime(1_764_098_999_000);
    span.end('too late');
    await new Promise((r) => setTimeout(r, 30));
    await t.close();
    const [s] = bodies.flatMap((b) => decodeExportRequest(b));
    assert.ok(s, 'the span was exported');
    assert.deepEqual(s.attrs, ['http.route', '/a', 'http.response.status_code', 200]);
    assert.equal(s.startMs, 1_764_098_000_000);
    assert.equal(s.error, '');
    assert.ok(s.endMs <= endedBy, `ended at ${s.endMs}, read at ${endedBy}: the end time is the one end() took`);
  });
});

it('exporting, a span given another shape before it ends takes its name, kind and first attributes, and keeps what was set since; ids-only spans ignore it', async () => {
  await withReceiver(async (t, bodies) => {
    const started = t.shape('GET /a', 'server', { 'http.route': '/a' });
    const ended = t.shape('GET /a', 'server', { 'http.route': '/a', 'http.response.status_code': 404 });
    const span = t.startShaped(started, undefined, { 'faas.invocation_id': 'r1' });
    assert.equal(span.recorded, true);
    span.setShape(ended);
    span.end();
    // Too late: the span has ended.
    span.setShape(t.shape('other', 'internal', { late: true }));
    const other = t.startShaped(started, undefined);
    other.setShape(t.shape('renamed', 'client', {}));
    other.end();
    await t.close();
    const spans = bodies.flatMap((b) => decodeExportRequest(b));
    assert.equal(spans.length, 2);
    assert.deepEqual(spans[0]!.attrs, ['http.route', '/a', 'http.response.status_code', 404, 'faas.invocation_id', 'r1']);
    assert.equal(spans[0]!.name, 'GET /a');
    assert.deepEqual([spans[1]!.name, spans[1]!.kind, spans[1]!.attrs], ['renamed', 2, []]); // 2: the API's SpanKind.CLIENT
    // Without an endpoint nothing is recorded, and a shape changes nothing.
    const ids = new Tracing({ logger: silentLogger, endpoint: '', tracesEndpoint: '' }).startShaped(started, undefined);
    assert.equal(ids.recorded, false);
    ids.setShape(ended);
    ids.end();
  });
});

it('exporting, a part (a child carried in its parent\'s record) is exported as any child is: ended first, with its parent; ended after it, or given attributes, alone', async () => {
  await withReceiver(async (t, bodies) => {
    const handler = t.shape('handler', 'internal');
    const invoke = t.shape('invoke fn', 'server', { 'faas.invoked_name': 'fn' });
    const spanOf = (name: string, parent: { spanId: string }) => bodies.flatMap((b) => decodeExportRequest(b)).find((s) => s.name === name && s.parentSpanId === parent.spanId);
    // Ended before its parent: in the parent's record; its times, error and traceparent as given.
    const a = t.startShaped(invoke, undefined, { 'faas.invocation_id': 'a' });
    const part = t.startPart(handler, a, 1_764_098_000_000);
    assert.equal(part.recorded, true);
    assert.equal(part.traceparent, `00-${a.traceId}-${part.spanId}-01`);
    part.setStartTime(1_764_098_000_001);
    part.end('Boom', 1_764_098_000_003);
    part.end('again');
    a.end();
    // Ended after its parent: alone.
    const b = t.startShaped(invoke, undefined);
    const late = t.startPart(handler, b, 1_764_098_000_000);
    b.end();
    late.end(undefined, 1_764_098_000_004);
    // Given attributes: alone, with them; another shape: its name.
    const c = t.startShaped(invoke, undefined);
    const withAttrs = t.startPart(handler, c);
    withAttrs.setAttributes({ extra: 1 });
    withAttrs.setShape(t.shape('renamed', 'internal', { first: true }));
    withAttrs.end();
    c.end();
    // A span carries one part: a second one is a child started as any other; one never ended is not exported.
    const d = t.startShaped(invoke, undefined);
    const first = t.startPart(handler, d);
    const second = t.startPart(handler, d);
    t.startPart(t.shape('never ended', 'internal'), second);
    second.end();
    first.end();
    d.end();
    await t.close();
    const s = spanOf('handler', a);
    assert.deepEqual(s && [s.spanId, s.traceId, s.startMs, s.endMs, s.error, s.attrs], [part.spanId, a.traceId, 1_764_098_000_001, 1_764_098_000_003, 'Boom', []]);
    assert.equal(spanOf('handler', b)?.endMs, 1_764_098_000_004);
    assert.deepEqual(spanOf('renamed', c)?.attrs, ['first', true, 'extra', 1]);
    assert.deepEqual(bodies.flatMap((b) => decodeExportRequest(b)).filter((x) => x.parentSpanId === d.spanId).map((x) => x.spanId).sort(), [first.spanId, second.spanId].sort());
    assert.equal(bodies.flatMap((b) => decodeExportRequest(b)).some((x) => x.name === 'never ended'), false);
    // Without an endpoint a part is ids only, as any child.
    const off = new Tracing({ logger: silentLogger, endpoint: '', tracesEndpoint: '' });
    const root = off.start('root', undefined, 'server');
    const ids = off.startPart(handler, root);
    assert.deepEqual([ids.recorded, ids.traceId, ids.sampled], [false, root.traceId, true]);
  });
});

it('a caller\'s tracestate is on its spans and on every child\'s, exported or not, and goes on with the context', async () => {
  const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  // Not exporting: the ids-only spans still carry it on.
  const quiet = new Tracing({ logger: silentLogger });
  const idSpan = quiet.start('a', `${parent}\ncongo=t61rcWkgMzE`, 'server');
  assert.equal(idSpan.tracestate, 'congo=t61rcWkgMzE');
  const child = quiet.start('b', idSpan, 'internal');
  assert.equal(child.context, `00-${idSpan.traceId}-${child.spanId}-01\ncongo=t61rcWkgMzE`);
  const none = quiet.start('c', parent, 'server');
  assert.deepEqual([none.tracestate, none.context], [undefined, none.traceparent]);
  await withReceiver(async (t, bodies) => {
    const root = t.startShaped(t.shape('GET /x', 'server'), `${parent}\ncongo=t61rcWkgMzE,rojo=00f067aa0ba902b7`);
    const invoke = t.startShaped(t.shape('invoke fn', 'server'), root);
    const part = t.startPart(t.shape('handler', 'internal'), invoke);
    assert.equal(part.tracestate, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
    assert.equal(part.context, `${part.traceparent}\ncongo=t61rcWkgMzE,rojo=00f067aa0ba902b7`);
    part.end();
    invoke.end();
    root.end();
    // Without one: none on the span, none on its context.
    const plain = t.start('plain', parent, 'server');
    assert.equal(plain.context, plain.traceparent);
    plain.end();
    // A span whose ids the caller chose (a workflow execution's) has its context's.
    t.finished('workflow w', `${parent}\nw=1`, 'a1a2a3a4a5a6a7a8', 'internal', 1, 2, {});
    await t.close();
    const spans = bodies.flatMap((b) => decodeExportRequest(b));
    const state = (name: string) => spans.find((x) => x.name === name)?.traceState;
    assert.deepEqual(['GET /x', 'invoke fn', 'handler', 'plain', 'workflow w'].map(state), ['congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', '', 'w=1']);
  });
});

it('a shape cache makes a shape once per owner and key, and find() stops making them at its bound', () => {
  const t = new Tracing({ logger: silentLogger, endpoint: '', tracesEndpoint: '' });
  let made = 0;
  const cache = new ShapeCache<object>((_owner, key) => (made++, t.shape(key, 'server')));
  const a = {};
  assert.equal(cache.get(a, 'x'), cache.get(a, 'x'));
  assert.equal(made, 1);
  assert.ok(cache.find(a, 'y', 2));
  assert.equal(cache.find(a, 'z', 2), undefined, 'the owner holds two: no third');
  assert.equal(cache.find(a, 'x', 2), cache.get(a, 'x'), 'one it holds is still found');
  assert.ok(cache.find({}, 'z', 2), 'another owner has its own bound');
  assert.equal(made, 3);
});

it('exporting, every span carries the ids its handle shows: its trace, its own, its parent\'s (ours or another process\'s), across many refills of the id pool', async () => {
  await withReceiver(async (t, bodies) => {
    const want = new Map<string, { traceId: string; parentSpanId: string; parentRemote: boolean }>();
    const shape = t.shape('child', 'internal');
    // 400 requests of three spans take ~10,000 bytes of ids (the pool is refilled every 4,096), under a
    // new trace, a remote parent, or a parent of ours started before the pool was refilled.
    let kept = t.start('kept', undefined, 'server');
    want.set(kept.spanId, { traceId: kept.traceId, parentSpanId: '', parentRemote: false });
    for (let i = 0; i < 400; i++) {
      const remote = i % 3 === 1 ? `00-${(i + 1).toString(16).padStart(32, 'a')}-${(i + 1).toString(16).padStart(16, 'b')}-01` : undefined;
      const root = t.start('root', remote, 'server');
      want.set(root.spanId, { traceId: remote ? remote.slice(3, 35) : root.traceId, parentSpanId: remote ? remote.slice(36, 52) : '', parentRemote: remote !== undefined });
      const child = t.startShaped(shape, root);
      const grandchild = t.start('grandchild', i % 50 === 49 ? kept : child, 'internal');
      // A part carried in its parent's record (or, every other time, ended after it: recorded alone).
      const part = t.startPart(shape, child);
      want.set(child.spanId, { traceId: root.traceId, parentSpanId: root.spanId, parentRemote: false });
      want.set(grandchild.spanId, { traceId: i % 50 === 49 ? kept.traceId : root.traceId, parentSpanId: i % 50 === 49 ? kept.spanId : child.spanId, parentRemote: false });
      want.set(part.spanId, { traceId: root.traceId, parentSpanId: child.spanId, parentRemote: false });
      grandchild.end();
      if (i % 2) part.end();
      child.end();
      part.end();
      root.end();
      if (i % 50 === 49) {
        kept.end();
        kept = t.start('kept', undefined, 'server');
        want.set(kept.spanId, { traceId: kept.traceId, parentSpanId: '', parentRemote: false });
      }
    }
    kept.end();
    await t.close();
    const spans = bodies.flatMap((b) => decodeExportRequest(b));
    assert.equal(spans.length, want.size);
    for (const s of spans) assert.deepEqual({ traceId: s.traceId, parentSpanId: s.parentSpanId, parentRemote: s.parentRemote }, want.get(s.spanId), `span ${s.name} ${s.spanId}`);
  });
});

it('exporting, new traces one after another keep their ids when one\'s trace id ends a pool of ids and its span id starts the next', async () => {
  await withReceiver(async (t, bodies) => {
    // Each takes 24 bytes of the 4,096 a pool holds (16 for the trace, 8 for the span): 400 in a row
    // reach the case wherever the pool starts.
    const made = Array.from({ length: 400 }, () => t.start('root', undefined, 'server'));
    for (const s of made) s.end();
    await t.close();
    const spans = bodies.flatMap((b) => decodeExportRequest(b));
    assert.deepEqual(spans.map((s) => [s.traceId, s.spanId, s.parentSpanId]), made.map((s) => [s.traceId, s.spanId, '']));
  });
});
