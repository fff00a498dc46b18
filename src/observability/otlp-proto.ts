// OTLP protobuf for the spans Nimbus records, in two halves. On the request thread, SpanRecorder writes
// each finished span (in runs, after they end: span-export.ts) as a record of fixed fields into one
// growing buffer; in the export thread, SpanEncoder writes the protobuf from a batch of records: no SDK
// span objects, and the request thread does the least it can (docs/performance.md). The bytes are what
// the SDK's ProtobufTraceSerializer writes for the same span (same fields, same order, same defaults
// left out; otlp-proto.test.ts compares them byte for byte), so any collector that takes the SDK's
// exports takes these. decodeSpans() reads spans back, for OTLP/JSON exports.
import type { PlainSpan } from './otlp-json.ts';

export type Attributes = Record<string, string | number | boolean>;
type Value = unknown;

// Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. A tag is (field << 3) | wire type.
const TAG = { traceId: 0x0a, spanId: 0x12, traceState: 0x1a, parent: 0x22, name: 0x2a, kind: 0x30, start: 0x39, end: 0x41, attr: 0x4a, droppedAttrs: 0x50, droppedEvents: 0x60, droppedLinks: 0x70, status: 0x7a };

/** The most bytes an array can take as an AnyValue's contents (strings at 3 bytes per UTF-16 unit). */
function valueBound(v: Value): number {
  if (typeof v === 'string') return 3 * v.length + 6;
  if (Array.isArray(v)) {
    let n = 6;
    for (const x of v) n += valueBound(x) + 6;
    return n;
  }
  return 11;
}

// A span's record, as SpanRecorder writes it and SpanEncoder reads it (little-endian; offsets from the
// record's start): its length (u32), its shape's index in the batch's table (u16, NO_SHAPE for none), flags
// (u8: PARENT, REMOTE, OWN_ATTRS, STATE, PART), the trace, span and parent ids (16, 8 and 8 bytes), the start and end
// (f64, epoch ms); then, without a shape, its name and kind fields (u32 length, bytes); its attributes
// (u32 length, KeyValue fields); its error (u32 length, UTF-8; none for a span that did not fail). With
// STATE, its W3C tracestate (u32 length, bytes). With PART, a child span carried in the record follows
// (SpanPart): its span id (8 bytes), start and end (f64), its shape's index (u16), its error (u32 length,
// UTF-8); its trace and tracestate are the record's, its parent the record's span. It is a span of its
// own in the protobuf, as if it had been recorded alone.
const R = { shape: 4, flags: 6, trace: 8, span: 24, parent: 32, start: 40, end: 48, rest: 56 };
// A carried part's fixed fields, from where they start.
const P = { span: 0, start: 8, end: 16, shape: 24, error: 26, rest: 30 };
const NO_SHAPE = 0xffff;
// The span has a parent; the parent is another process's span; the attributes are all of the span's
// (the shape's are not copied: a later set gave one of its keys again).
const PARENT = 1;
const REMOTE = 2;
const OWN_ATTRS = 4;
const PART = 8;
const STATE = 16;

/**
 * A child span written inside its parent's record (SpanRecorder.add): one record, one call, for two
 * spans, where the child has no attributes but its shape's (a request's handler span inside its invoke
 * span; tracing.ts). Its id is at spanAt in spanView; its trace is the parent's, its parent the parent.
 */
export interface SpanPart {
  readonly spanView: DataView;
  readonly spanAt: number;
  readonly startMs: number;
  readonly endMs: number;
  /** '' for a part that did not fail. */
  readonly error: string;
  readonly shape: EncodedShape;
}

/**
 * The request thread's half of export: a finished span as a record of fixed fields, its attributes
 * beyond its shape's already encoded, in one growing buffer. take() gives a batch of them, with a table
 * of the shapes they name, to SpanEncoder (in the export thread), which writes the OTLP protobuf: the
 * framing, lengths, nanoseconds and copies of shapes are not the request thread's work.
 */
export class SpanRecorder {
  readonly #out: Buffers;
  #at = 0;
  // The shapes this batch's records name, each at the index its `slot` says (while it is there).
  #shapes: EncodedShape[] = [];
  /** Spans written since the last take(). */
  count = 0;
  // The spans a batch may hold: a part is carried only where it fits.
  readonly #limit: number;

  /** `limit`: the spans a batch may hold (a record carrying a part is two). */
  constructor(capacity = 256 * 1024, limit = Infinity) {
    this.#out = new Buffers(Math.max(capacity, 64));
    this.#limit = limit;
  }

  /**
   * Records one finished span. `kind` is the API's SpanKind (OTLP's is one more); times are epoch
   * milliseconds; `error` is '' for a span that did not fail, `state` '' for one without a tracestate
   * (a part carried has its parent's); a key set in more than one of `attrs`
   * keeps the place it was first set, with the value set last. `shape`, when given, is
   * encodeShape(name, kind, attrs[0]): the record names it instead of holding its fields. `part`, a
   * child span written into the same record, is left out (false) when the batch would then hold more
   * spans than its limit, or its table of shapes is full: the caller then records it alone.
   */
  add(name: string, kind: number, ids: SpanIds, startMs: number, endMs: number, error: string, state: string, attrs: readonly Attributes[], shape?: EncodedShape, part?: SpanPart): boolean {
    let si = NO_SHAPE;
    if (shape) {
      si = this.#slot(shape);
      if (si === NO_SHAPE) shape = undefined;
    }
    const ps = part && this.count + 2 <= this.#limit ? this.#slot(part.shape) : NO_SHAPE;
    if (ps === NO_SHAPE) part = undefined;
    // Room for everything but the attributes, which make room for themselves one by one.
    const out = this.#out;
    // What follows the attributes: the error's length and bytes, the tracestate's, the part.
    const tailBound = 4 + 3 * error.length + (state ? 4 + 3 * state.length : 0) + (part ? P.rest + 3 * part.error.length : 0);
    let b = out.room(this.#at, R.rest + 8 + (shape ? 0 : 3 * name.length + 8) + tailBound);
    let dv = out.view;
    const r = this.#at;
    let flags = 0;
    copyWords(dv, r + R.trace, ids.traceView, ids.traceAt, 4);
    copyWords(dv, r + R.span, ids.spanView, ids.spanAt, 2);
    const parent = ids.parentView;
    if (parent) {
      flags = ids.parentRemote ? PARENT | REMOTE : PARENT;
      copyWords(dv, r + R.parent, parent, ids.parentAt, 2);
    }
    dv.setFloat64(r + R.start, startMs, true);
    dv.setFloat64(r + R.end, endMs, true);
    let p = r + R.rest;
    if (!shape) {
      const end = nameAndKind(b, p + 4, name, kind);
      dv.setUint32(p, end - p - 4, true);
      p = end;
    }
    // The attributes, each key once: in the place it was first set, with the value set last (as the SDK's
    // spans keep them). The shape's are copied by the encoder, unless a later set gives one of its keys again.
    let n = shape && attrs.length > 0 ? gather(attrs, 1) : 0;
    if (!shape || attrs.length === 0 || (n > 0 && overlaps(shape.keys, n))) {
      n = gather(attrs, 0);
      flags |= OWN_ATTRS;
    }
    const attrsAt = p;
    p += 4;
    for (let j = 0; j < n; j++) {
      const k = KEYS[j]!;
      const v = VALUES[j];
      const bound = attributeBound(k, v);
      if (p + bound + tailBound > b.length) b = out.room(p, bound + tailBound);
      p = attribute(b, p, k, v);
      // (Let go: a value is not kept alive until the next span. Keys are the code's own constants.)
      VALUES[j] = undefined;
    }
    dv = out.view;
    dv.setUint32(attrsAt, p - attrsAt - 4, true);
    const errorLength = error ? (b as NodeBuffer).utf8Write(error, p + 4, b.length - p - 4) : 0;
    dv.setUint32(p, errorLength, true);
    p += 4 + errorLength;
    if (state) {
      flags |= STATE;
      const n = (b as NodeBuffer).utf8Write(state, p + 4, b.length - p - 4);
      dv.setUint32(p, n, true);
      p += 4 + n;
    }
    if (part) {
      flags |= PART;
      copyWords(dv, p + P.span, part.spanView, part.spanAt, 2);
      dv.setFloat64(p + P.start, part.startMs, true);
      dv.setFloat64(p + P.end, part.endMs, true);
      dv.setUint16(p + P.shape, ps, true);
      const e = part.error ? (b as NodeBuffer).utf8Write(part.error, p + P.rest, b.length - p - P.rest) : 0;
      dv.setUint32(p + P.error, e, true);
      p += P.rest + e;
    }
    dv.setUint32(r, p - r, true);
    dv.setUint16(r + R.shape, si, true);
    b[r + R.flags] = flags;
    this.#at = p;
    this.count += part ? 2 : 1;
    return part !== undefined;
  }

  /** The shape's index in this batch's table, added if it is not there; NO_SHAPE once the table is full (a batch naming 65,535 shapes writes the rest in full). */
  #slot(shape: EncodedShape): number {
    const si = shape.slot;
    if (this.#shapes[si] === shape) return si;
    const next = this.#shapes.length;
    if (next >= NO_SHAPE) return NO_SHAPE;
    this.#shapes.push(shape);
    shape.slot = next;
    return next;
  }

  /**
   * The records written since the last take(), then the table of the shapes they name (each its name
   * and kind fields and its attributes' fields, a u32 length before each), then where that table
   * starts and how many it holds (u32 each): a view of the recorder's buffer, the caller's until it is
   * given back with recycle(). The recorder goes on in another buffer.
   */
  take(): Buffer {
    const shapes = this.#shapes;
    let bytes = 8;
    for (const s of shapes) bytes += 8 + s.head.length + s.attrs.length;
    const b = this.#out.room(this.#at, bytes);
    const tableAt = this.#at;
    let p = tableAt;
    for (const s of shapes) {
      b.writeUInt32LE(s.head.length, p);
      p = copy(b, p + 4, s.head);
      b.writeUInt32LE(s.attrs.length, p);
      p = copy(b, p + 4, s.attrs);
    }
    b.writeUInt32LE(tableAt, p);
    b.writeUInt32LE(shapes.length, p + 4);
    const out = b.subarray(0, p + 8);
    this.#out.next();
    this.#at = 0;
    this.#shapes = [];
    this.count = 0;
    return out;
  }

  /** Gives back a view take() returned, once nothing reads it any more. */
  recycle(view: Buffer): void {
    this.#out.recycle(view);
  }
}

/**
 * The export thread's half: OTLP protobuf written from SpanRecorder's records, into one growing buffer
 * holding a run of `ScopeSpans.spans` fields, with room kept in front for requestHead() (the start of
 * the ExportTraceServiceRequest around them, written in place when a batch is taken, so a batch goes
 * out without a copy).
 */
export class SpanEncoder {
  readonly #out: Buffers;
  readonly #reserve: number;
  #at: number;
  /** Spans written since the last take(). */
  count = 0;

  /** `reserve` bytes are kept free in front of the spans, for take()'s prefix. */
  constructor(capacity = 256 * 1024, reserve = 0) {
    this.#reserve = reserve;
    this.#out = new Buffers(Math.max(capacity, reserve + 1));
    this.#at = reserve;
  }

  /**
   * Writes every span of a batch SpanRecorder.take() gave. A record that does not fit the batch, or
   * names a shape the batch does not hold, throws: the spans before it are written, and the caller
   * gives the batch up (export-worker.ts takes and recycles what was written).
   */
  addRecords(records: Uint8Array): void {
    const rb = Buffer.isBuffer(records) ? records : Buffer.from(records.buffer, records.byteOffset, records.byteLength);
    const rv = viewOf(rb);
    const tableAt = rv.getUint32(rb.length - 8, true);
    const count = rv.getUint32(rb.length - 4, true);
    const heads: Buffer[] = [];
    const attrs: Buffer[] = [];
    for (let i = 0, p = tableAt; i < count; i++) {
      const h = rv.getUint32(p, true);
      heads.push(rb.subarray(p + 4, p += 4 + h));
      const a = rv.getUint32(p, true);
      attrs.push(rb.subarray(p + 4, p += 4 + a));
    }
    for (let r = 0, length = 0; r < tableAt; r += length) {
      length = rv.getUint32(r, true);
      if (length < R.rest + 8 || r + length > tableAt) throw new Error(`a span record of ${length} bytes at ${r} does not fit its batch's ${tableAt}`);
      this.#add(rb, rv, r, r + length, heads, attrs);
    }
  }

  #add(rb: Buffer, rv: DataView, r: number, recordEnd: number, heads: Buffer[], shapeAttrs: Buffer[]): void {
    const si = rv.getUint16(r + R.shape, true);
    const flags = rb[r + R.flags]!;
    let p = r + R.rest;
    let head: Buffer;
    if (si === NO_SHAPE) {
      const n = rv.getUint32(p, true);
      head = rb.subarray(p + 4, p += 4 + n);
    } else {
      if (si >= heads.length) throw new Error(`a span record names shape ${si} of a batch that holds ${heads.length}`);
      head = heads[si]!;
    }
    const sa = si === NO_SHAPE || flags & OWN_ATTRS ? EMPTY : shapeAttrs[si]!;
    const attrsLength = rv.getUint32(p, true);
    const attrsAt = p + 4;
    p = attrsAt + attrsLength;
    const errorLength = rv.getUint32(p, true);
    const errorAt = p + 4;
    let q = errorAt + errorLength;
    let stateLength = 0;
    if (flags & STATE) {
      if (q + 4 > recordEnd) throw new Error(`a span record's tracestate at ${q} does not fit its record`);
      stateLength = rv.getUint32(q, true);
      q += 4 + stateLength;
      if (q > recordEnd) throw new Error(`a span record's tracestate of ${stateLength} bytes does not fit its record`);
    }
    const stateAt = q - stateLength;
    this.#span(rb, rv, r + R.trace, r + R.span, flags & PARENT ? r + R.parent : -1, flags & REMOTE ? 0x03 : 0x01, head, sa, attrsAt, attrsLength,
      rv.getFloat64(r + R.start, true), rv.getFloat64(r + R.end, true), errorAt, errorLength, stateAt, stateLength);
    if (!(flags & PART)) return;
    // The part carried in the record: a span of its own, the record's span its parent.
    const ps = q + P.rest <= recordEnd ? rv.getUint16(q + P.shape, true) : NO_SHAPE;
    if (ps >= heads.length) throw new Error(`a span record's part names shape ${ps} of a batch that holds ${heads.length}, or does not fit its record`);
    const partErrorLength = rv.getUint32(q + P.error, true);
    if (q + P.rest + partErrorLength > recordEnd) throw new Error(`a span record's part of ${P.rest + partErrorLength} bytes at ${q} does not fit its record`);
    this.#span(rb, rv, r + R.trace, q + P.span, r + R.span, 0x01, heads[ps]!, shapeAttrs[ps]!, 0, 0,
      rv.getFloat64(q + P.start, true), rv.getFloat64(q + P.end, true), q + P.rest, partErrorLength, stateAt, stateLength);
  }

  /**
   * Writes one span from bytes in a batch of records: ids at traceAt, spanAt and parentAt (-1 for
   * none), `spanFlags` (W3C sampled, "has is-remote", and "is remote" for a parent from another process:
   * 0x101 | 0x200), its shape's head and attributes, its own attributes' fields, its error and its
   * tracestate where they are.
   */
  #span(rb: Buffer, rv: DataView, traceAt: number, idAt: number, parentAt: number, spanFlags: number, head: Buffer, sa: Buffer, attrsAt: number, attrsLength: number, startMs: number, endMs: number, errorAt: number, errorLength: number, stateAt: number, stateLength: number): void {
    // Every length is known: the span's is written once, in as many bytes as it takes.
    const statusLength = 1 + varintSize(errorLength) + errorLength + 2;
    const tail = errorLength ? 6 + 1 + varintSize(statusLength) + statusLength + 6 : 16;
    const state = stateLength ? 1 + varintSize(stateLength) + stateLength : 0;
    const spanLength = 28 + state + (parentAt >= 0 ? 10 : 0) + head.length + 18 + sa.length + attrsLength + tail;
    const b = this.#out.room(this.#at, 6 + spanLength);
    const dv = this.#out.view;
    let q = this.#at;
    b[q++] = 0x12; // ScopeSpans.spans
    q = varint(b, q, spanLength);
    const spanAt = q;
    dv.setUint16(q, TAG.traceId | (16 << 8), true);
    copyWords(dv, q + 2, rv, traceAt, 4);
    dv.setUint16(q + 18, TAG.spanId | (8 << 8), true);
    copyWords(dv, q + 20, rv, idAt, 2);
    q += 28;
    if (stateLength) {
      b[q++] = TAG.traceState; q = varint(b, q, stateLength);
      q += rb.copy(b, q, stateAt, stateAt + stateLength);
    }
    if (parentAt >= 0) {
      dv.setUint16(q, TAG.parent | (8 << 8), true);
      copyWords(dv, q + 2, rv, parentAt, 2);
      q += 10;
    }
    q = copy(b, q, head);
    b[q++] = TAG.start; q = nanos(dv, q, startMs);
    b[q++] = TAG.end; q = nanos(dv, q, endMs);
    q = copy(b, q, sa);
    if (attrsLength > 0) q += rb.copy(b, q, attrsAt, attrsAt + attrsLength);
    // The counts of what was dropped (none), the status and the flags (field 16, fixed32).
    if (!errorLength) {
      // 50 00 60 00 70 00: dropped_attributes, _events, _links_count 0; 7a 02 18 00: a Status of code
      // UNSET; 85 01 01 <flags> 00 00.
      dv.setUint32(q, TAG.droppedAttrs | (TAG.droppedEvents << 16), true);
      dv.setUint32(q + 4, TAG.droppedLinks | (TAG.status << 16) | (2 << 24), true);
      dv.setUint32(q + 8, 0x01850018, true);
      dv.setUint32(q + 12, 0x0001 | (spanFlags << 8), true);
      q += 16;
    } else {
      dv.setUint32(q, TAG.droppedAttrs | (TAG.droppedEvents << 16), true);
      dv.setUint16(q + 4, TAG.droppedLinks, true);
      q += 6;
      b[q++] = TAG.status; q = varint(b, q, statusLength);
      b[q++] = 0x12; q = varint(b, q, errorLength); // Status.message
      q += rb.copy(b, q, errorAt, errorAt + errorLength);
      b[q++] = 0x18; b[q++] = 2; // Status.code: ERROR
      b[q++] = 0x85; b[q++] = 0x01;
      b[q++] = 0x01; b[q++] = spanFlags; b[q++] = 0; b[q++] = 0;
    }
    if (q - spanAt !== spanLength) throw new Error(`a span record came to ${q - spanAt} bytes where ${spanLength} were counted`);
    this.#at = q;
    this.count++;
  }

  /**
   * The spans written since the last take(), with `prefix(their length)` (at most `reserve` bytes) just
   * in front of them, as one view of the encoder's buffer: no copy. The view is the caller's until it
   * is given back with recycle(); the encoder goes on in another buffer.
   */
  take(prefix?: (spansLength: number) => Uint8Array): Buffer {
    const head = prefix?.(this.#at - this.#reserve);
    if (head && head.length > this.#reserve) throw new Error(`a prefix of ${head.length} bytes does not fit the ${this.#reserve} reserved`);
    const from = this.#reserve - (head?.length ?? 0);
    const b = this.#out.buf;
    if (head) b.set(head, from);
    const out = b.subarray(from, this.#at);
    this.#out.next();
    this.#at = this.#reserve;
    this.count = 0;
    return out;
  }

  /** Gives back a view take() returned, once nothing reads it any more. */
  recycle(view: Buffer): void {
    this.#out.recycle(view);
  }
}

/**
 * The buffer SpanRecorder or SpanEncoder writes into, grown as it must, and the ones handed out and
 * given back: a full batch's buffer is reused rather than a new one allocated per batch (hundreds of KB
 * outside the heap, each pushing V8 towards a full collection).
 */
class Buffers {
  buf: Buffer;
  // The same bytes as a DataView (kept with it by #use()), for the fields of fixed size: a DataView writes
  // four bytes at a time where a Buffer writes one (~20 instructions a byte in a loop).
  view: DataView;
  readonly #capacity: number;
  readonly #free: Buffer[] = [];

  constructor(capacity: number) {
    this.#capacity = capacity;
    this.buf = Buffer.allocUnsafeSlow(capacity);
    this.view = viewOf(this.buf);
  }

  /** The buffer, with at least `bytes` free after `at` (what is before `at` kept, in a new buffer of twice the size or more if it must grow). */
  room(at: number, bytes: number): Buffer {
    if (at + bytes <= this.buf.length) return this.buf;
    const next = Buffer.allocUnsafeSlow(Math.max(at + bytes, 2 * this.buf.length));
    this.buf.copy(next, 0, 0, at);
    return this.#use(next);
  }

  /** Writes into another buffer from now on (one given back, or a new one): the last one is the caller's. */
  next(): void {
    this.#use(this.#free.pop() ?? Buffer.allocUnsafeSlow(this.#capacity));
  }

  /** Keeps a view of a buffer handed out, for next(): at most four, and not one grown past four times the capacity (kept, it would hold that much memory for good). */
  recycle(view: Buffer): void {
    // Every buffer here is allocUnsafeSlow's: its memory is its own, never a slice of Node's shared pool.
    if (this.#free.length < 4 && view.buffer.byteLength <= 4 * this.#capacity) this.#free.push(Buffer.from(view.buffer));
  }

  #use(b: Buffer): Buffer {
    this.buf = b;
    this.view = viewOf(b);
    return b;
  }
}

const EMPTY = Buffer.alloc(0);

/** How many bytes varint() takes for `v`. */
function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** A DataView of the same bytes as `b`. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Where a span's ids are: the trace id's 16 bytes at traceAt, the span id's 8 at spanAt, the parent's
 * 8 at parentAt (parentView undefined for a root span). The encoder copies them; a recorded span
 * (tracing.ts) is one, pointing at the random bytes its ids were made from, so no hex is parsed per span.
 */
export interface SpanIds {
  readonly traceView: DataView;
  readonly traceAt: number;
  readonly spanView: DataView;
  readonly spanAt: number;
  readonly parentView: DataView | undefined;
  readonly parentAt: number;
  /** Whether the parent is another process's span (the flags say so). */
  readonly parentRemote: boolean;
}

/** SpanIds from lowercase hex ids ('' for no parent), as a traceparent carries them. */
export function idsFromHex(traceId: string, spanId: string, parentSpanId: string, parentRemote: boolean): SpanIds {
  const b = Buffer.allocUnsafe(32);
  hex(b, 0, traceId);
  hex(b, 16, spanId);
  if (parentSpanId) hex(b, 24, parentSpanId);
  const v = viewOf(b);
  return { traceView: v, traceAt: 0, spanView: v, spanAt: 16, parentView: parentSpanId ? v : undefined, parentAt: 24, parentRemote };
}

/**
 * The parts of a span that many spans share — its name and kind, and the attributes it starts with —
 * encoded once, for add() to copy (the gateway's span of a route, the invoke span of a function).
 */
export interface EncodedShape {
  /** The name and kind fields. */
  readonly head: Uint8Array;
  /** The attributes' fields. */
  readonly attrs: Uint8Array;
  /** Their keys (those whose value an attribute can hold), in order. */
  readonly keys: readonly string[];
  /** Where the recorder last put it in a batch's table of shapes (SpanRecorder's; it checks the index still holds this shape). */
  slot: number;
}

/** encodeShape()'s bytes are what add() writes for the same name, kind and first attributes. */
export function encodeShape(name: string, kind: number, attrs: Attributes): EncodedShape {
  const b = Buffer.alloc(64 + 3 * name.length);
  const head = Buffer.from(b.subarray(0, nameAndKind(b, 0, name, kind)));
  const parts: Buffer[] = [];
  const keys: string[] = [];
  for (const k in attrs) {
    const v: Value = attrs[k];
    if (!isAttributeValue(v)) continue;
    const out = Buffer.alloc(attributeBound(k, v));
    parts.push(out.subarray(0, attribute(out, 0, k, v)));
    keys.push(k);
  }
  // (Not frozen: TurboFan reads a frozen array's elements through a call, ~100 instructions each.)
  return { head, attrs: Buffer.concat(parts), keys, slot: 0 };
}

/** The name and kind fields. */
function nameAndKind(b: Buffer, p: number, name: string, kind: number): number {
  b[p++] = TAG.name; p = string(b, p, name);
  b[p++] = TAG.kind; b[p++] = kind + 1;
  return p;
}

/** The most bytes attribute() writes for `k` and `v`. */
function attributeBound(k: string, v: Value): number {
  return typeof v === 'string' ? 3 * (k.length + v.length) + 24 : Array.isArray(v) ? 3 * k.length + 24 + valueBound(v) : 3 * k.length + 24;
}

/** One attribute: a span's KeyValue field. */
function attribute(b: Buffer, p: number, k: string, v: Value): number {
  b[p++] = TAG.attr;
  const kvAt = p++;
  b[p++] = 0x0a; p = string(b, p, k); // KeyValue.key
  b[p++] = 0x12; // KeyValue.value
  const valueAt = p++;
  p = anyValue(b, p, v);
  p = close(b, valueAt, 1, p);
  return close(b, kvAt, 1, p);
}

/** Copies `bytes` to `p` (a native copy: ~15 ns for a shape's 14 or 80 bytes, against ~50 for a loop). */
function copy(b: Buffer, p: number, bytes: Uint8Array): number {
  // (None is common: a shape without attributes. The call alone costs ~150 instructions.)
  if (bytes.length > 0) b.set(bytes, p);
  return p + bytes.length;
}

// A span's attributes as gather() collects them, reused from span to span.
const KEYS: string[] = [];
const VALUES: Value[] = [];

/**
 * Collects the attributes of attrs[from..] into KEYS and VALUES, each key once: in the order keys are
 * first set, with the value set last; values an attribute cannot hold are left out. Keys are those a
 * for-in gives (an inherited enumerable one counts as set, with or without a shape). Returns the count.
 * A span has a handful of keys, and keys from object literals compare by pointer: a linear search
 * costs less than the Object.hasOwn() of every key in every other set that this replaced (~2,500
 * instructions a request on the hot path; `npm run bench:instructions`).
 * Not reentrant: attribute objects are plain data (a getter that encoded another span would clobber it).
 */
function gather(attrs: readonly Attributes[], from: number): number {
  let n = 0;
  for (let i = from; i < attrs.length; i++) {
    const a = attrs[i]!;
    for (const k in a) {
      const v: Value = a[k];
      if (!isAttributeValue(v)) continue;
      let j = 0;
      while (j < n && KEYS[j] !== k) j++;
      if (j === n) KEYS[n++] = k;
      VALUES[j] = v;
    }
  }
  return n;
}

/** Whether one of the first `n` gathered keys is one of `keys`. */
function overlaps(keys: readonly string[], n: number): boolean {
  for (let i = 0; i < keys.length; i++) for (let j = 0; j < n; j++) if (KEYS[j] === keys[i]) return true;
  return false;
}

/** What an attribute can hold: null, undefined and objects are left out, as the JSON serialiser does. */
function isAttributeValue(v: Value): boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || Array.isArray(v);
}

/** Each lowercase hex digit's value, by character code. */
const NIBBLE = new Uint8Array(128);
for (let i = 0; i < 16; i++) NIBBLE[i.toString(16).charCodeAt(0)] = i;

/** Copies `words` × 4 bytes (an id's) from `from` at `at` to `p`. */
function copyWords(v: DataView, p: number, from: DataView, at: number, words: number): void {
  for (let i = 0; i < 4 * words; i += 4) v.setUint32(p + i, from.getUint32(at + i, true), true);
}

/** Writes a lowercase hex id as bytes. */
function hex(b: Buffer, p: number, id: string): number {
  for (let i = 0; i < id.length; i += 2) b[p++] = (NIBBLE[id.charCodeAt(i)]! << 4) | NIBBLE[id.charCodeAt(i + 1)]!;
  return p;
}

// Buffer's own UTF-8 write, without write()'s argument parsing (~200 instructions a call): undocumented,
// and on Buffer.prototype since Node's first releases (protobufjs writes strings with it too).
type NodeBuffer = Buffer & { utf8Write(s: string, offset: number, length: number): number };

/** A length-prefixed UTF-8 string (the tag is the caller's). */
function string(b: Buffer, p: number, s: string): number {
  // A long one natively: fewer instructions for a string V8 must flatten first (a request id), about
  // even for a flat one. (The length is given: Node 22.7.0 once broke the default.)
  if (s.length > 16) return close(b, p, 1, p + 1 + (b as NodeBuffer).utf8Write(s, p + 1, b.length - p - 1));
  const at = p++;
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) { ascii = false; break; }
    b[p++] = c;
  }
  if (!ascii) p = at + 1 + b.write(s, at + 1, 'utf8');
  return close(b, at, 1, p);
}

/**
 * Writes the length of what lies between `at + reserved` and `end` as a varint at `at`, moving the
 * contents along when the varint needs more than the bytes reserved for it. Returns the new end.
 */
function close(b: Buffer, at: number, reserved: number, end: number): number {
  const len = end - at - reserved;
  const size = varintSize(len);
  if (size !== reserved) {
    b.copyWithin(at + size, at + reserved, end);
    end += size - reserved;
  }
  varint(b, at, len);
  return end;
}

/** An unsigned varint below 2^53 at `p`; returns the position after it. */
function varint(b: Buffer, p: number, v: number): number {
  while (v >= 0x80) {
    b[p++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  b[p++] = v;
  return p;
}

/** An AnyValue's contents, as the SDK writes them (an int64 in range as int_value, else a double). */
function anyValue(b: Buffer, p: number, v: Value): number {
  if (typeof v === 'string') {
    b[p++] = 0x0a;
    return string(b, p, v);
  }
  if (typeof v === 'boolean') {
    b[p++] = 0x10; b[p++] = v ? 1 : 0;
    return p;
  }
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63) {
      b[p++] = 0x18;
      if (v >= 0 && v <= Number.MAX_SAFE_INTEGER) return varint(b, p, v);
      // A negative int64 is its two's complement, ten bytes; so is anything past 2^53, done with BigInt (rare).
      let x = BigInt.asUintN(64, BigInt(v));
      while (x >= 0x80n) { b[p++] = Number(x & 0x7fn) | 0x80; x >>= 7n; }
      b[p++] = Number(x);
      return p;
    }
    b[p++] = 0x21;
    b.writeDoubleLE(v, p);
    return p + 8;
  }
  if (Array.isArray(v)) {
    b[p++] = 0x2a; // AnyValue.array_value
    const arrayAt = p++;
    for (const x of v) {
      b[p++] = 0x0a; // ArrayValue.values
      const at = p++;
      if (isAttributeValue(x)) p = anyValue(b, p, x);
      p = close(b, at, 1, p);
    }
    return close(b, arrayAt, 1, p);
  }
  return p;
}

/**
 * Nanoseconds since the epoch as fixed64, exact to the microsecond a float of ms holds: the whole
 * milliseconds and the fraction apart, so no product passes 2^53.
 */
function nanos(v: DataView, p: number, ms: number): number {
  let whole = Math.floor(ms);
  let ns = Math.round((ms - whole) * 1e6);
  if (ns >= 1e6) { whole += 1; ns -= 1e6; }
  const high = Math.floor(whole / 2 ** 32);
  const low = (whole - high * 2 ** 32) * 1e6 + ns; // < 2^32 × 10^6 < 2^52
  const carry = Math.floor(low / 2 ** 32);
  v.setUint32(p, low - carry * 2 ** 32, true);
  v.setUint32(p + 4, high * 1e6 + carry, true);
  return p + 8;
}

/**
 * The start of an ExportTraceServiceRequest for one resource (service.name) and one instrumentation
 * scope, up to where its spans (`spansLength` bytes from SpanEncoder) begin.
 */
export function requestHead(serviceName: string, scopeName: string, spansLength: number): Buffer {
  const b = Buffer.allocUnsafe(6 * serviceName.length + 3 * scopeName.length + 64);
  // ResourceSpans.resource: a Resource with one attribute, then its dropped_attributes_count.
  let p = 0;
  b[p++] = 0x0a;
  const resAt = p++;
  b[p++] = 0x0a; // Resource.attributes
  const kvAt = p++;
  b[p++] = 0x0a; p = string(b, p, 'service.name');
  b[p++] = 0x12;
  const valueAt = p++;
  b[p++] = 0x0a; p = string(b, p, serviceName);
  p = close(b, valueAt, 1, p);
  p = close(b, kvAt, 1, p);
  b[p++] = 0x10; b[p++] = 0;
  const resourceEnd = p = close(b, resAt, 1, p);
  // ScopeSpans.scope
  b[p++] = 0x0a;
  const scopeAt = p++;
  b[p++] = 0x0a; p = string(b, p, scopeName);
  p = close(b, scopeAt, 1, p);
  const scopeLen = p - resourceEnd;
  // Lengths are known now: ExportTraceServiceRequest.resource_spans → ResourceSpans.scope_spans → the spans.
  const ssLen = scopeLen + spansLength;
  const lengths = Buffer.allocUnsafe(10);
  const rsLen = resourceEnd + 1 + varint(lengths, 0, ssLen) + ssLen;
  const out = Buffer.allocUnsafe(1 + varint(lengths, 0, rsLen) + resourceEnd + 1 + varint(lengths, 0, ssLen) + scopeLen);
  let o = 0;
  out[o++] = 0x0a;
  o = varint(out, o, rsLen);
  o += b.copy(out, o, 0, resourceEnd);
  out[o++] = 0x12;
  o = varint(out, o, ssLen);
  b.copy(out, o, resourceEnd, p);
  return out;
}

/** A whole ExportTraceServiceRequest around spans from SpanEncoder (a copy; the exporter writes the head in place instead). */
export function exportRequest(spans: Uint8Array, serviceName: string, scopeName: string): Buffer {
  return Buffer.concat([requestHead(serviceName, scopeName, spans.length), spans]);
}

/** The spans of an ExportTraceServiceRequest (what a receiver reads; the tests' collectors use it). */
export function decodeExportRequest(buf: Uint8Array): PlainSpan[] {
  const out: PlainSpan[] = [];
  const r = new Reader(buf);
  while (!r.done()) {
    const tag = r.varint();
    if (tag !== 0x0a) { r.skip(tag & 7); continue; }
    const rs = r.sub();
    while (!rs.done()) {
      const t = rs.varint();
      if (t === 0x12) out.push(...decodeSpans(rs.bytes()));
      else rs.skip(t & 7);
    }
  }
  return out;
}

/** Reads back spans SpanEncoder wrote (for an OTLP/JSON export of them), skipping a ScopeSpans' other fields. */
export function decodeSpans(buf: Uint8Array): PlainSpan[] {
  const r = new Reader(buf);
  const out: PlainSpan[] = [];
  while (!r.done()) {
    const tag = r.varint();
    if (tag !== 0x12) { r.skip(tag & 7); continue; }
    out.push(span(r.sub()));
  }
  return out;
}

function span(r: Reader): PlainSpan {
  const s: PlainSpan = { name: '', kind: 0, traceId: '', spanId: '', traceState: '', parentSpanId: '', parentRemote: false, startMs: 0, endMs: 0, error: '', attrs: [] };
  while (!r.done()) {
    const tag = r.varint();
    switch (tag) {
      case TAG.traceId: s.traceId = r.bytes().toString('hex'); break;
      case TAG.spanId: s.spanId = r.bytes().toString('hex'); break;
      case TAG.traceState: s.traceState = r.string(); break;
      case TAG.parent: s.parentSpanId = r.bytes().toString('hex'); break;
      case TAG.name: s.name = r.string(); break;
      case TAG.kind: s.kind = r.varint() - 1; break;
      case TAG.start: s.startMs = r.nanosAsMs(); break;
      case TAG.end: s.endMs = r.nanosAsMs(); break;
      case TAG.attr: {
        const kv = r.sub();
        let key = '';
        let value: Value;
        while (!kv.done()) {
          const t = kv.varint();
          if (t === 0x0a) key = kv.string();
          else if (t === 0x12) value = readAnyValue(kv.sub());
          else kv.skip(t & 7);
        }
        s.attrs.push(key, value);
        break;
      }
      case TAG.status: {
        const st = r.sub();
        while (!st.done()) {
          const t = st.varint();
          if (t === 0x12) s.error = st.string();
          else st.skip(t & 7);
        }
        break;
      }
      case 133: s.parentRemote = (r.fixed32() & 0x200) !== 0; break; // field 16, fixed32: the flags
      default: r.skip(tag & 7);
    }
  }
  return s;
}

function readAnyValue(r: Reader): Value {
  let value: Value;
  while (!r.done()) {
    const t = r.varint();
    if (t === 0x0a) value = r.string();
    else if (t === 0x10) value = r.varint() !== 0;
    else if (t === 0x18) value = r.int64();
    else if (t === 0x21) value = r.double();
    else if (t === 0x2a) {
      const arr = r.sub();
      const items: Value[] = [];
      while (!arr.done()) {
        const at = arr.varint();
        if (at === 0x0a) items.push(readAnyValue(arr.sub()) ?? null);
        else arr.skip(at & 7);
      }
      value = items;
    } else r.skip(t & 7);
  }
  return value;
}

class Reader {
  readonly #b: Buffer;
  #p: number;
  readonly #end: number;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.#b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.#p = start;
    this.#end = end;
  }

  done(): boolean { return this.#p >= this.#end; }

  varint(): number {
    let v = 0;
    let scale = 1;
    for (;;) {
      const byte = this.#b[this.#p++]!;
      v += (byte & 0x7f) * scale;
      if (byte < 0x80) return v;
      scale *= 0x80;
    }
  }

  /** A varint int64 as a number (negative ones are two's complement, ten bytes). */
  int64(): number {
    let x = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.#b[this.#p++]!;
      x |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return Number(BigInt.asIntN(64, x));
      shift += 7n;
    }
  }

  fixed32(): number { const v = this.#b.readUInt32LE(this.#p); this.#p += 4; return v; }
  double(): number { const v = this.#b.readDoubleLE(this.#p); this.#p += 8; return v; }

  nanosAsMs(): number {
    const low = this.#b.readUInt32LE(this.#p);
    const high = this.#b.readUInt32LE(this.#p + 4);
    this.#p += 8;
    const ns = (BigInt(high) << 32n) | BigInt(low);
    return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
  }

  bytes(): Buffer {
    const len = this.varint();
    const out = this.#b.subarray(this.#p, this.#p + len);
    this.#p += len;
    return out;
  }

  string(): string { return this.bytes().toString('utf8'); }

  sub(): Reader {
    const len = this.varint();
    const r = new Reader(this.#b, this.#p, this.#p + len);
    this.#p += len;
    return r;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.#p += 8;
    else if (wire === 2) { const len = this.varint(); this.#p += len; } // not `#p += varint()`: that adds to #p as it was before the read
    else if (wire === 5) this.#p += 4;
    else throw new Error(`cannot skip protobuf wire type ${wire}`);
  }
}
