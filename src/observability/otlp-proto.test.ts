// Our OTLP protobuf span encoding (spans recorded on the request thread, encoded from their records in
// the export thread) against the SDK's own serialiser: the same bytes for the same spans (resource,
// scope, ids, parents, kinds, times, attributes of every type, statuses, flags), and decodeSpans() reads
// back what the encoder wrote (the http/json export goes through it).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { PlainSpan } from './otlp-json.ts';
import { sdkSpan } from './sdk-span.ts';
import { type Attributes, decodeExportRequest, decodeSpans, type EncodedShape, encodeShape, exportRequest, idsFromHex, requestHead, SpanEncoder, type SpanIds, SpanRecorder } from './otlp-proto.ts';

/** Both halves, as the exporter runs them: spans recorded (the request thread's), then encoded from a batch of records (the export thread's). */
class Pipeline {
  readonly recorder: SpanRecorder;
  readonly encoder: SpanEncoder;
  constructor(capacity: number, reserve = 0) {
    this.recorder = new SpanRecorder(capacity);
    this.encoder = new SpanEncoder(capacity, reserve);
  }
  get count() { return this.recorder.count; }
  add(name: string, kind: number, ids: SpanIds, startMs: number, endMs: number, error: string, state: string, attrs: readonly Attributes[], shape?: EncodedShape) {
    this.recorder.add(name, kind, ids, startMs, endMs, error, state, attrs, shape);
  }
  take(prefix?: (spansLength: number) => Uint8Array): Buffer {
    const records = this.recorder.take();
    this.encoder.addRecords(records);
    this.recorder.recycle(records);
    return this.encoder.take(prefix);
  }
  recycle(b: Buffer) { this.encoder.recycle(b); }
}

function encode(spans: PlainSpan[], attrs = (p: PlainSpan): Attributes[] => [Object.fromEntries(pairs(p.attrs)) as Attributes]): Buffer {
  const enc = new Pipeline(64); // small, so the test also grows it
  for (const s of spans) enc.add(s.name, s.kind, idsFromHex(s.traceId, s.spanId, s.parentSpanId, s.parentRemote), s.startMs, s.endMs, s.error, s.traceState, attrs(s));
  assert.equal(enc.count, spans.length);
  return enc.take();
}

function pairs(flat: unknown[]): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1]]);
  return out;
}

// Times with binary fractions, where the SDK's [seconds, nanos] and our milliseconds agree to the nanosecond.
const t = 1_764_098_000_123.25;
const spans: PlainSpan[] = [
  { name: 'GET /users/{id}', kind: 1, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceState: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', parentSpanId: '00f067aa0ba902b7', parentRemote: true, startMs: t, endMs: t + 3.5, error: '',
    attrs: ['http.route', '/users/{id}', 'http.response.status_code', 200, 'faas.coldstart', false, 'ratio', 0.5, 'neg', -42, 'huge', 2 ** 60, 'list', ['a', 1, true, 2.5], 'ü', 'naïve — ✓ 😀'] },
  { name: 'invoke fn', kind: 4, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'c7ad6b7169203331', traceState: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', parentSpanId: 'b7ad6b7169203331', parentRemote: false, startMs: t + 0.5, endMs: t + 2, error: 'Error: "quoted"\nline', attrs: ['faas.invoked_name', 'fn "x"'] },
  // Strings over 16 characters are written natively: non-ASCII ones too, as name, error and attribute.
  { name: 'naïve — ✓ 😀 naïve — ✓ 😀', kind: 0, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'c8ad6b7169203331', traceState: '', parentSpanId: 'c7ad6b7169203331', parentRemote: false, startMs: t + 1, endMs: t + 1.5, error: 'Fehler: Größe überschritten ✗', attrs: ['ünïcode.key.longer.than.16', 'naïve — ✓ 😀'.repeat(3)] },
  { name: 'handler', kind: 0, traceId: '1af7651916cd43dd8448eb211c80319c', spanId: 'd7ad6b7169203331', traceState: '', parentSpanId: '', parentRemote: false, startMs: 1_764_098_000_000, endMs: 1_764_098_000_000.75, error: '', attrs: [] },
  // Long enough that the span's own length takes three bytes, and an attribute's two.
  { name: 'x'.repeat(300), kind: 2, traceId: 'f'.repeat(32), spanId: 'e'.repeat(16), traceState: '', parentSpanId: '', parentRemote: false, startMs: 1, endMs: 2, error: 'e'.repeat(20_000), attrs: ['long', 'y'.repeat(200)] },
  // After the long span, which moved along to fit its length: this one starts where that one ends.
  { name: 'after', kind: 0, traceId: 'f'.repeat(32), spanId: 'c'.repeat(16), traceState: '', parentSpanId: 'e'.repeat(16), parentRemote: false, startMs: 3, endMs: 4, error: '', attrs: [] },
];

it('writes the bytes the SDK writes for the same spans', () => {
  const sdk = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans.map(sdkSpan))!).toString('hex');
  assert.equal(exportRequest(encode(spans), 'nimbus-test', 'nimbus').toString('hex'), sdk);
  // As the exporter does it: the request's head written in the room kept in front of the spans, then
  // a second batch in a recycled buffer.
  const head = (n: number) => requestHead('nimbus-test', 'nimbus', n);
  const enc = new Pipeline(64 * 1024, head(2 ** 31 - 1).length);
  const buffers = new Set<ArrayBufferLike>();
  for (let round = 0; round < 3; round++) {
    for (const s of spans) enc.add(s.name, s.kind, idsFromHex(s.traceId, s.spanId, s.parentSpanId, s.parentRemote), s.startMs, s.endMs, s.error, s.traceState, [Object.fromEntries(pairs(s.attrs)) as Attributes]);
    const request = enc.take(head);
    assert.equal(request.toString('hex'), sdk, `batch ${round + 1}`);
    buffers.add(request.buffer);
    enc.recycle(request);
  }
  assert.equal(buffers.size, 2, 'the first batch\'s buffer came back for the third');
});

it('reads back what it wrote, alone and inside an export request', () => {
  assert.deepEqual(decodeSpans(encode(spans)), spans);
  assert.deepEqual(decodeExportRequest(exportRequest(encode(spans), 'nimbus-test', 'nimbus')), spans);
});

it('writes a key set again in its first place with its last value, as the SDK does, and leaves out values an attribute cannot hold', () => {
  // null is not an attribute value by type, but the encoder must not trip on one from untyped code (the SDK ignores it).
  const given = (): Attributes[] => [{ a: 1, b: 'first', gone: null as unknown as string, late: null as unknown as string }, { c: true, b: 'second', late: 'now' }, { a: 2, b: null as unknown as string }];
  const s = { ...spans[2]!, attrs: [] };
  assert.deepEqual(decodeSpans(encode([s], given))[0]!.attrs, ['a', 2, 'b', 'second', 'c', true, 'late', 'now']);
  // The same bytes as the SDK's span whose attributes were set in that order.
  const sdk = sdkSpan(s);
  for (const a of given()) for (const [k, v] of Object.entries(a)) if (v !== null) sdk.attributes[k] = v;
  assert.equal(exportRequest(encode([s], given), 'nimbus-test', 'nimbus').toString('hex'), Buffer.from(ProtobufTraceSerializer.serializeRequest([sdk])!).toString('hex'));
});

it('writes the same bytes from a shape (its name, kind and first attributes encoded once), and writes them anew when a later set changes one', () => {
  const first: Attributes = { 'http.request.method': 'GET', 'http.route': '/users/{id}', skipped: null as unknown as string, 'ünïcode': 'naïve ✓' };
  const cases: Attributes[][] = [
    [first],
    [first, { 'http.response.status_code': 200 }, { 'faas.coldstart': false }],
    // A later set of one of the shape's own keys: its first place, its last value (not the shape's bytes).
    [first, { 'http.route': '/other' }, { 'http.response.status_code': 404 }],
    [{}],
    // A key attrs[0] only inherits, set later: the later value is written where it is set, as without the shape.
    [Object.create({ inherited: 'x' }) as Attributes, { inherited: 'y' }],
  ];
  for (const attrs of cases) {
    // Short and long names (a span over 16 KB moves along to fit its length), with and without an error.
    for (const [name, error] of [[spans[0]!.name, ''], [spans[0]!.name, 'Error: boom'], ['n'.repeat(20_000), 'e'.repeat(300)]] as const) {
      const shape = encodeShape(name, 1, attrs[0]!);
      const write = (withShape: boolean) => {
        const enc = new Pipeline(64);
        const s = spans[0]!;
        // Twice: the second span after the first in the same buffer.
        for (let i = 0; i < 2; i++) enc.add(name, 1, idsFromHex(s.traceId, s.spanId, s.parentSpanId, s.parentRemote), s.startMs, s.endMs, error, '', attrs, withShape ? shape : undefined);
        return enc.take().toString('hex');
      };
      assert.equal(write(true), write(false), `${JSON.stringify(attrs)}, a name of ${name.length}, error ${JSON.stringify(error.slice(0, 20))}`);
    }
  }
  // And they read back as set.
  const enc = new Pipeline(64);
  const s = spans[0]!;
  enc.add(s.name, 1, idsFromHex(s.traceId, s.spanId, '', false), 1, 2, '', '', cases[2]!, encodeShape(s.name, 1, first));
  assert.deepEqual(decodeSpans(enc.take())[0]!.attrs, ['http.request.method', 'GET', 'http.route', '/other', 'ünïcode', 'naïve ✓', 'http.response.status_code', 404]);
});

it('writes a part carried in its parent\'s record as the same bytes as the child span recorded alone after it', () => {
  const parent = spans[1]!;
  const shape = encodeShape('handler', 0, {});
  const partIds = idsFromHex(parent.traceId, 'd1d2d3d4d5d6d7d8', parent.spanId, false);
  const part = { spanView: partIds.spanView, spanAt: partIds.spanAt, startMs: t + 0.75, endMs: t + 1.25, error: '', shape };
  const parentIds = idsFromHex(parent.traceId, parent.spanId, parent.parentSpanId, parent.parentRemote);
  const attrs: Attributes[] = [{ 'faas.invocation_id': 'r-1' }];
  // With and without errors (non-ASCII, long), with a parent shape or none, with a tracestate (the part has its parent's) or none.
  for (const [parentError, partError] of [['', ''], ['Error: x', 'Fehler: Größe ✗'], ['', 'e'.repeat(5_000)]] as const) {
    for (const parentShape of [undefined, encodeShape(parent.name, parent.kind, attrs[0]!)]) {
      for (const state of ['', parent.traceState, 'v=1,'.repeat(100) + 'w=2']) {
        const carried = new Pipeline(64);
        assert.equal(carried.recorder.add(parent.name, parent.kind, parentIds, parent.startMs, parent.endMs, parentError, state, attrs, parentShape, { ...part, error: partError }), true);
        assert.equal(carried.count, 2, 'a record with a part counts as two spans');
        const alone = new Pipeline(64);
        alone.add(parent.name, parent.kind, parentIds, parent.startMs, parent.endMs, parentError, state, attrs, parentShape);
        alone.add('handler', 0, partIds, part.startMs, part.endMs, partError, state, [{}], shape);
        const bytes = carried.take();
        assert.equal(bytes.toString('hex'), alone.take().toString('hex'));
        const [first, child] = decodeSpans(bytes);
        assert.equal(first!.traceState, state);
        assert.deepEqual([child!.name, child!.spanId, child!.parentSpanId, child!.traceId, child!.error, child!.traceState], ['handler', 'd1d2d3d4d5d6d7d8', parent.spanId, parent.traceId, partError, state]);
      }
    }
  }
  // A batch at its limit of spans less one has no room for a part: add() leaves it out and says so.
  const limited = new SpanRecorder(1024, 3);
  assert.equal(limited.add(parent.name, parent.kind, parentIds, 1, 2, '', '', [], undefined, part), true);
  assert.equal(limited.add(parent.name, parent.kind, parentIds, 1, 2, '', '', [], undefined, part), false);
  assert.equal(limited.count, 3);
  // Nor has a batch naming 65,535 shapes, for the part's (the caller records it alone).
  const full = new SpanRecorder(1024);
  for (let i = 0; i < 0xffff; i++) full.add('s', 0, parentIds, 1, 2, '', '', [], encodeShape('s', 0, {}));
  assert.equal(full.add(parent.name, parent.kind, parentIds, 1, 2, '', '', [], undefined, part), false);
  assert.equal(full.count, 0x10000);
  const fullEncoder = new SpanEncoder(1024);
  fullEncoder.addRecords(full.take());
  assert.equal(fullEncoder.count, 0x10000);
  // A part whose fields were cut off its record is refused, not read past the record.
  const rec = new SpanRecorder(1024);
  rec.add(parent.name, parent.kind, parentIds, 1, 2, '', '', [], undefined, part);
  const records = rec.take();
  records.writeUInt32LE(records.readUInt32LE(0) - 8, 0);
  assert.throws(() => new SpanEncoder(1024).addRecords(records), /part .* does not fit its record|does not fit its batch/);
  // So is a tracestate.
  const stated = new SpanRecorder(1024);
  stated.add(parent.name, parent.kind, parentIds, 1, 2, '', 'congo=1', [], undefined);
  const cutState = stated.take();
  cutState.writeUInt32LE(cutState.readUInt32LE(0) - 4, 0);
  assert.throws(() => new SpanEncoder(1024).addRecords(cutState), /tracestate of 7 bytes does not fit its record/);
});

it('lets go of a buffer grown for a huge span instead of keeping it for later batches, in both halves', () => {
  const rec = new SpanRecorder(1024);
  const enc = new SpanEncoder(1024);
  const s = spans[2]!;
  const add = (error: string) => rec.add(s.name, s.kind, idsFromHex(s.traceId, s.spanId, '', false), 1, 2, error, '', []);
  add('e'.repeat(100_000));
  const bigRecords = rec.take();
  enc.addRecords(bigRecords);
  const big = enc.take();
  assert.ok(bigRecords.buffer.byteLength > 4 * 1024 && big.buffer.byteLength > 4 * 1024);
  rec.recycle(bigRecords);
  enc.recycle(big);
  add('');
  add('');
  const records = rec.take();
  enc.addRecords(records);
  const small = enc.take();
  for (const [what, b] of [['records', records], ['protobuf', small]] as const) assert.ok(b.buffer.byteLength <= 4 * 1024, `a batch of two small spans' ${what} sit in ${b.buffer.byteLength} bytes`);
});

it('names a batch\'s shapes in its own table (a shape again in the next batch, or in another recorder\'s), and refuses a record naming a shape its batch lacks, or of a length it cannot have', () => {
  const ids = idsFromHex(spans[0]!.traceId, spans[0]!.spanId, '', false);
  const shapes = { a: { attrs: { x: 1 }, shape: encodeShape('a', 1, { x: 1 }) }, b: { attrs: { y: 'two' }, shape: encodeShape('b', 2, { y: 'two' }) } };
  const add = (rec: SpanRecorder, name: 'a' | 'b') => rec.add(name, 1, ids, 1, 2, '', '', [shapes[name].attrs], shapes[name].shape);
  const enc = new SpanEncoder(1024);
  const read = (records: Buffer) => {
    enc.addRecords(records);
    return decodeSpans(enc.take()).map((x) => [x.name, ...x.attrs]);
  };
  const [r1, r2] = [new SpanRecorder(1024), new SpanRecorder(1024)];
  add(r1, 'a');
  add(r1, 'b');
  add(r1, 'a');
  assert.deepEqual(read(r1.take()), [['a', 'x', 1], ['b', 'y', 'two'], ['a', 'x', 1]]);
  // b first now: where a was in the last batch's table, b is in this one's.
  add(r1, 'b');
  add(r1, 'a');
  assert.deepEqual(read(r1.take()), [['b', 'y', 'two'], ['a', 'x', 1]]);
  // Two recorders taking turns with the same shapes.
  add(r2, 'a');
  add(r1, 'a');
  add(r2, 'b');
  add(r1, 'b');
  add(r2, 'a');
  assert.deepEqual(read(r2.take()), [['a', 'x', 1], ['b', 'y', 'two'], ['a', 'x', 1]]);
  assert.deepEqual(read(r1.take()), [['a', 'x', 1], ['b', 'y', 'two']]);
  // A batch whose table was cut to none.
  add(r1, 'a');
  const records = r1.take();
  records.writeUInt32LE(0, records.length - 4);
  assert.throws(() => enc.addRecords(records), /a span record names shape 0 of a batch that holds 0/);
  // A record whose length was cut to none (it would otherwise be read again and again).
  add(r1, 'a');
  const cut = r1.take();
  cut.writeUInt32LE(0, 0);
  assert.throws(() => enc.addRecords(cut), /a span record of 0 bytes at 0 does not fit/);
});

it('keeps nanoseconds exact near the epoch and now, carrying a rounded-up fraction', () => {
  for (const ms of [0, 1.000001, 1.9999999, 1_764_098_000_123, 1_764_098_000_123.999_999_9, 4_102_444_800_000.5]) {
    const back = decodeSpans(encode([{ ...spans[2]!, startMs: ms, endMs: ms }]))[0]!;
    const expected = BigInt(Math.floor(ms)) * 1_000_000n + BigInt(Math.round((ms - Math.floor(ms)) * 1e6));
    const got = BigInt(Math.floor(back.startMs)) * 1_000_000n + BigInt(Math.round((back.startMs - Math.floor(back.startMs)) * 1e6));
    assert.equal(got, expected, `at ${ms}`);
  }
});
