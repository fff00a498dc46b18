// Tracing: W3C trace context on every invocation, and OpenTelemetry spans exported with OTLP/HTTP
// when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set. Without an
// endpoint, spans are ids only — the trace id still reaches records, logs and user code, and still
// crosses hops — so the hot path does not pay for an SDK nobody reads.
//
// A hop carries its context as a W3C traceparent and tracestate (trace-context.ts).
import { randomFillSync } from 'node:crypto';
// (Imported: the global `performance` is a getter, called on every use.)
import { performance } from 'node:perf_hooks';
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
// The SDK's own reading of OTEL_TRACES_SAMPLER / _ARG (not on the package's index; the version is pinned).
import { buildSamplerFromEnv } from '@opentelemetry/sdk-trace-base/build/src/config.js';
import { type Sampler, SamplingDecision } from '@opentelemetry/sdk-trace-base';
import type { Logger } from './logger.ts';
import { type EncodedShape, encodeShape, idsFromHex, type SpanIds, type SpanPart, type SpanRecorder, viewOf } from './otlp-proto.ts';
import { type Attributes, type EndedSpan, SpanExport } from './span-export.ts';
import { joinTraceContext, type ParsedTraceparent, parseTraceContext } from './trace-context.ts';

export type { Attributes } from './span-export.ts';

export type SpanKindName = 'server' | 'internal' | 'consumer' | 'producer' | 'client';
const KINDS: Record<SpanKindName, SpanKind> = { server: SpanKind.SERVER, internal: SpanKind.INTERNAL, consumer: SpanKind.CONSUMER, producer: SpanKind.PRODUCER, client: SpanKind.CLIENT };

export interface SpanHandle {
  readonly traceId: string;
  readonly spanId: string;
  /** Whether this span is sampled (its traceparent's flags are 01). */
  readonly sampled: boolean;
  /** Whether this span is recorded for export (sampled, and spans are exported). */
  readonly recorded: boolean;
  /** This span as a parent for the next hop. */
  readonly traceparent: string;
  /** The tracestate of the trace it continues (W3C: passed on unchanged, Nimbus adds no entry), if the caller sent one. */
  readonly tracestate: string | undefined;
  /** This span as a parent for an asynchronous hop: its traceparent and tracestate, as traceContext() joins them. */
  readonly context: string;
  /** Adds attributes (ignored once the span has ended). The object is read when the span is recorded, after it ends: don't change it. */
  setAttributes(attrs: Attributes): void;
  /**
   * Gives the span another shape before it ends: its name, kind and first attributes become the
   * shape's, and the attributes set since stay. For what is known only at the end (an answer's status,
   * an invocation's outcome): a shape holding it is copied as encoded, where an attribute set per span
   * is encoded per span. Ignored once the span has ended.
   */
  setShape(shape: SpanShape): void;
  /** Moves the span's start (epoch ms): it was made before the work it times began. */
  setStartTime(ms: number): void;
  /** Ends the span; `error` marks it failed with that description. */
  end(error?: string, endTimeMs?: number): void;
}

/**
 * What many spans share — a name, a kind and the attributes they start with (a route's server spans,
 * a function's invoke spans) — made once with Tracing.shape(), so that a recorded span's export
 * copies their bytes instead of encoding them again.
 */
export class SpanShape {
  readonly name: string;
  readonly kind: SpanKind;
  readonly attrs: Attributes;
  /** The shape's OTLP bytes, when spans are exported. */
  readonly encoded: EncodedShape | undefined;

  constructor(name: string, kind: SpanKind, attrs: Attributes, encoded: EncodedShape | undefined) {
    this.name = name;
    this.kind = kind;
    this.attrs = attrs;
    this.encoded = encoded;
  }
}

/** Shapes kept by an owner (a route, a function version) and a key, made on first use and let go with their owner. */
export class ShapeCache<O extends object, K extends string | number = string> {
  readonly #byOwner = new WeakMap<O, Map<K, SpanShape>>();
  readonly #make: (owner: O, key: K) => SpanShape;

  constructor(make: (owner: O, key: K) => SpanShape) {
    this.#make = make;
  }

  get(owner: O, key: K): SpanShape {
    let shapes = this.#byOwner.get(owner);
    if (!shapes) this.#byOwner.set(owner, shapes = new Map());
    let shape = shapes.get(key);
    if (!shape) shapes.set(key, shape = this.#make(owner, key));
    return shape;
  }

  /** As get(), but undefined rather than a new shape once the owner holds `max` (for keys a caller does not bound). */
  find(owner: O, key: K, max: number): SpanShape | undefined {
    const shapes = this.#byOwner.get(owner);
    const shape = shapes?.get(key);
    if (shape || (shapes?.size ?? 0) >= max) return shape;
    return this.get(owner, key);
  }
}

export interface TracingOptions {
  /** OTLP/HTTP base URL (…/v1/traces is added) — default from OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint?: string;
  /** Full traces URL — default from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. */
  tracesEndpoint?: string;
  serviceName?: string;
  /** Batch export delay (default OTEL_BSP_SCHEDULE_DELAY, else 5 s; tests shorten it). */
  exportDelayMs?: number;
  /** 'http/protobuf' or 'http/json' (default from OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf). */
  protocol?: string;
  logger: Logger;
}

// The shape of spans that are not recorded (their name and attributes are never read).
const UNRECORDED = new SpanShape('', SpanKind.INTERNAL, {}, undefined);

// Wall-clock milliseconds with the monotonic clock's precision, as the SDK times its spans.
// (timeOrigin is a getter: read once.)
const ORIGIN = performance.timeOrigin;
const now = () => ORIGIN + performance.now();

export class Tracing {
  readonly #export: SpanExport | undefined;
  readonly #sampler: Sampler | undefined;
  // The default sampler (parent-based, always on) and always_on record every span they are asked about:
  // no need to ask per request.
  readonly #alwaysSamples: boolean = false;
  /** Where spans go, or undefined when they are not exported. */
  readonly exportUrl: string | undefined;

  constructor(opts: TracingOptions) {
    // An empty variable is an unset one (as the OpenTelemetry SDKs read them).
    const base = opts.endpoint || process.env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined;
    const url = opts.tracesEndpoint || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
    this.exportUrl = url;
    if (!url) return;
    this.#sampler = buildSamplerFromEnv();
    this.#alwaysSamples = /^(AlwaysOnSampler$|ParentBased\{root=AlwaysOnSampler, remoteParentSampled=AlwaysOnSampler,)/.test(String(this.#sampler));
    this.#export = new SpanExport({ url, serviceName: opts.serviceName || process.env.OTEL_SERVICE_NAME || 'nimbus', exportDelayMs: opts.exportDelayMs, protocol: opts.protocol }, opts.logger);
    opts.logger.info({ url }, 'exporting traces with OTLP/HTTP');
  }

  /**
   * A shape for spans that share a name, a kind and first attributes (kept by the caller, e.g. in a
   * ShapeCache). `attrs` is frozen: its encoding is made now.
   */
  shape(name: string, kind: SpanKindName, attrs: Attributes = {}): SpanShape {
    Object.freeze(attrs);
    return new SpanShape(name, KINDS[kind], attrs, this.#export ? encodeShape(name, KINDS[kind], attrs) : undefined);
  }

  /** Starts a span: a child of `parent` (a context as traceContext() makes it, or a span of this process), or the root of a new trace. */
  start(name: string, parent: string | SpanHandle | undefined, kind: SpanKindName, attrs: Attributes = {}, startTimeMs?: number): SpanHandle {
    // (Not exporting: no span is recorded, so none needs its shape.)
    return this.startShaped(this.#export ? new SpanShape(name, KINDS[kind], attrs, undefined) : UNRECORDED, parent, undefined, startTimeMs);
  }

  /** Starts a span of a shape, with `attrs` besides the shape's own. */
  startShaped(shape: SpanShape, parent: string | SpanHandle | undefined, attrs?: Attributes, startTimeMs?: number): SpanHandle {
    // A span of ours is its own parsed context: no need to format and parse it again on the hot path.
    const local = typeof parent === 'object';
    const p = local ? parent : parseTraceContext(parent);
    // Not exporting, or under an unsampled parent: the ids alone carry the context on, and nothing is recorded.
    if (!this.#export || (p && !p.sampled)) return new IdSpan(p?.traceId, p ? p.sampled : true, p?.tracestate);
    const traceId = p?.traceId ?? randomHex(16);
    // A new trace's id bytes are in the pool, just made (read now: the span's own id may take a new pool).
    const newTraceView = poolView;
    const newTraceAt = poolAt - 16;
    // Under a sampled span of this process every sampler the SDK reads from OTEL_TRACES_SAMPLER samples
    // (parent-based ones follow the parent; ratio ones decide by the trace id, as they did for the parent).
    if (!local && !this.#alwaysSamples && !this.#sample(traceId, p, shape, attrs)) return new IdSpan(traceId, false, p?.tracestate);
    // The parent's ids as bytes, for the recorder to copy: a span of ours has them; another process's are
    // parsed once here. (A sampled span of ours is a RecordedSpan when spans are exported.)
    const parentIds = !p ? undefined : parent instanceof RecordedSpan ? parent : idsFromHex(p.traceId, p.spanId, '', false);
    const traceView = parentIds ? parentIds.traceView : newTraceView;
    const traceAt = parentIds ? parentIds.traceAt : newTraceAt;
    return new RecordedSpan(this.#export, shape, traceId, p?.tracestate, traceView, traceAt, parentIds?.spanView, parentIds?.spanAt ?? 0, p !== undefined && !local, attrs, startTimeMs ?? now());
  }

  /**
   * Starts a span to be carried in `parent`'s record: a child with no attributes of its own that ends
   * before its parent (an invocation's handler span, inside its invoke span). Exported as any child is,
   * once its parent ends (a part whose parent never ends is not); recording it with its parent spares
   * the request thread a span's start, end and record. Under an ids-only span, or once the parent
   * carries one, it is started as any other child.
   */
  startPart(shape: SpanShape, parent: SpanHandle, startTimeMs?: number): SpanHandle {
    if (parent instanceof RecordedSpan && shape.encoded) {
      const part = parent.startPart(shape, startTimeMs ?? now());
      if (part) return part;
    }
    return this.startShaped(shape, parent, undefined, startTimeMs);
  }

  #sample(traceId: string, p: Pick<ParsedTraceparent, 'traceId' | 'spanId' | 'tracestate'> | undefined, shape: SpanShape, attrs: Attributes | undefined): boolean {
    const ctx = p ? trace.setSpanContext(ROOT_CONTEXT, { traceId: p.traceId, spanId: p.spanId, traceFlags: 1, isRemote: true, ...(p.tracestate ? { traceState: new TraceState(p.tracestate) } : {}) }) : ROOT_CONTEXT;
    return this.#sampler!.shouldSample(ctx, traceId, shape.name, shape.kind, attrs ? { ...shape.attrs, ...attrs } : shape.attrs, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
  }

  /**
   * A span whose ids the caller chose and that already ended (a workflow execution: its span id is
   * derived from the execution, so it is the same after a restart, and its tasks' spans name it as
   * their parent). Recorded when exporting and `parent` (a context, as traceContext() makes it) is sampled.
   */
  finished(name: string, parent: string, spanId: string, kind: SpanKindName, startMs: number, endMs: number, attrs: Attributes, error?: string): void {
    const p = parseTraceContext(parent);
    if (!this.#export || !p || !p.sampled) return;
    this.#export.add(name, KINDS[kind], idsFromHex(p.traceId, spanId, p.spanId, true), startMs, endMs, error ?? '', p.tracestate ?? '', [attrs]);
  }

  /** Sends what is buffered and stops (at shutdown): at most 2 s, and never an error — a collector that is down must not stop the server's shutdown. */
  async close(logger?: Logger): Promise<void> {
    await this.#export?.close(2000, logger);
  }
}

// Ids come from a pool of random bytes refilled 4 KB at a time (a randomBytes() call per id cost 16% of
// the server's CPU on the hot path: a request takes four ids), written out as hex once per refill: an
// id is a slice of that string (V8 makes a view of it, not a copy; ~4× cheaper than hex per id). Each
// refill is a new buffer: a recorded span keeps where its ids' bytes are in it, for the recorder to copy
// (parsing them back from hex cost ~850 instructions an id, ~6,000 a request). A recorded span's own id
// is sliced from the hex only when asked for (most never are: the recorder copies the bytes).
const POOL_BYTES = 4096;
// (Empty until the first id is asked for.)
let poolView: DataView = new DataView(new ArrayBuffer(0));
let poolHex = '';
let poolAt = POOL_BYTES;
function randomHex(bytes: number): string {
  takeId(bytes);
  return poolHex.slice(2 * (poolAt - bytes), 2 * poolAt);
}

/** Takes an id's bytes from the pool, as the `bytes` before poolAt, without writing them out (poolHex holds their hex). */
function takeId(bytes: number): void {
  if (poolAt + bytes > POOL_BYTES) {
    const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
    poolView = viewOf(pool);
    randomFillSync(pool);
    poolHex = pool.toString('hex');
    poolAt = 0;
  }
  poolAt += bytes;
}

/** A new trace's context (for work that starts one without a span of its own, e.g. an async event). */
export function newTraceparent(): string {
  return traceparentOf(randomHex(16), randomHex(8), true);
}

/** A span's context as a W3C traceparent (version 00). */
function traceparentOf(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/** A span's context as an asynchronous hop carries it (traceContext()). */
function contextOf(span: SpanHandle): string {
  return joinTraceContext(span.traceparent, span.tracestate);
}

/** A span that is only its ids: the context still propagates, nothing is recorded. */
class IdSpan implements SpanHandle {
  readonly traceId: string;
  readonly sampled: boolean;
  readonly tracestate: string | undefined;
  readonly recorded = false;
  // Where its id is in the pool's hex: written out only when asked for (of a request's three spans, the
  // handler's alone is, for its traceparent).
  readonly #hex: string;
  readonly #at: number;

  constructor(traceId: string | undefined, sampled: boolean, tracestate: string | undefined) {
    this.traceId = traceId ?? randomHex(16);
    takeId(8);
    this.#hex = poolHex;
    this.#at = 2 * (poolAt - 8);
    this.sampled = sampled;
    this.tracestate = tracestate;
  }

  get spanId(): string {
    return this.#hex.slice(this.#at, this.#at + 16);
  }

  get traceparent(): string {
    return traceparentOf(this.traceId, this.spanId, this.sampled);
  }

  get context(): string {
    return contextOf(this);
  }

  setAttributes(): void {}
  setShape(): void {}
  setStartTime(): void {}
  end(): void {}
}

/**
 * A sampled span: its ids, times and attributes, recorded for export after it ends. As SpanIds, its own
 * id is in the pool it was made from; its trace's and parent's are its parent's, or parsed.
 */
class RecordedSpan implements SpanHandle, EndedSpan, SpanIds {
  readonly #export: SpanExport;
  #shape: SpanShape;
  #startMs: number;
  #endMs = 0;
  #error = '';
  // The attribute objects as given, the shape's first (a key set again later wins when the span is recorded).
  readonly #attrs: Attributes[];
  #ended = false;
  readonly traceId: string;
  readonly tracestate: string | undefined;
  // The pool's hex its id is in (spanId).
  readonly #hex: string;
  readonly sampled = true;
  readonly recorded = true;
  // SpanIds, declared again rather than inherited from a class: a derived class's constructor is not
  // inlined where spans are started (~870 instructions a request more, counted).
  readonly traceView: DataView;
  readonly traceAt: number;
  readonly spanView: DataView;
  readonly spanAt: number;
  readonly parentView: DataView | undefined;
  readonly parentAt: number;
  readonly parentRemote: boolean;
  // The child carried in this span's record (startPart()), if any.
  #part: PartSpan | undefined = undefined;

  constructor(exp: SpanExport, shape: SpanShape, traceId: string, tracestate: string | undefined, traceView: DataView, traceAt: number, parentView: DataView | undefined, parentAt: number, parentRemote: boolean, attrs: Attributes | undefined, startMs: number) {
    this.#export = exp;
    this.#shape = shape;
    this.traceId = traceId;
    this.tracestate = tracestate;
    takeId(8);
    this.#hex = poolHex;
    this.spanView = poolView;
    this.spanAt = poolAt - 8;
    this.traceView = traceView;
    this.traceAt = traceAt;
    this.parentView = parentView;
    this.parentAt = parentAt;
    this.parentRemote = parentRemote;
    this.#attrs = attrs ? [shape.attrs, attrs] : [shape.attrs];
    this.#startMs = startMs;
  }

  get spanId(): string {
    return this.#hex.slice(2 * this.spanAt, 2 * this.spanAt + 16);
  }

  get traceparent(): string {
    return traceparentOf(this.traceId, this.spanId, true);
  }

  get context(): string {
    return contextOf(this);
  }

  setAttributes(attrs: Attributes): void {
    if (!this.#ended) this.#attrs.push(attrs);
  }

  setShape(shape: SpanShape): void {
    if (this.#ended) return;
    this.#shape = shape;
    this.#attrs[0] = shape.attrs;
  }

  setStartTime(ms: number): void {
    if (!this.#ended) this.#startMs = ms;
  }

  end(error?: string, endTimeMs?: number): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#endMs = endTimeMs ?? now();
    this.#error = error ?? '';
    this.#export.end(this);
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** A child carried in this span's record; undefined once it has one, or has ended. */
  startPart(shape: SpanShape, startMs: number): PartSpan | undefined {
    if (this.#part || this.#ended) return undefined;
    return this.#part = new PartSpan(this.#export, this, shape, startMs);
  }

  record(recorder: SpanRecorder): EndedSpan | undefined {
    const s = this.#shape;
    const part = this.#part?.carried ? this.#part : undefined;
    // (A batch without room for it leaves the part out: it is recorded next, alone.)
    return recorder.add(s.name, s.kind, this, this.#startMs, this.#endMs, this.#error, this.tracestate ?? '', this.#attrs, s.encoded, part) ? undefined : part;
  }
}

/**
 * A child span carried in its parent's record (Tracing.startPart): ended before its parent, it is
 * written with it; ended after, or given attributes, it is recorded alone, as any span.
 */
class PartSpan implements SpanHandle, EndedSpan, SpanIds, SpanPart {
  readonly #export: SpanExport;
  readonly #parent: RecordedSpan;
  #shape: SpanShape;
  #attrs: Attributes[] | undefined;
  #ended = false;
  // Ended after its parent (or given attributes): recorded alone, not in the parent's record.
  #alone = false;
  startMs: number;
  endMs = 0;
  error = '';
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled = true;
  readonly recorded = true;
  readonly spanView: DataView;
  readonly spanAt: number;

  constructor(exp: SpanExport, parent: RecordedSpan, shape: SpanShape, startMs: number) {
    this.#export = exp;
    this.#parent = parent;
    this.#shape = shape;
    this.traceId = parent.traceId;
    this.spanId = randomHex(8);
    this.spanView = poolView;
    this.spanAt = poolAt - 8;
    this.startMs = startMs;
  }

  // SpanIds, for a part recorded alone: its trace is its parent's, its parent the parent.
  get traceView(): DataView { return this.#parent.traceView; }
  get traceAt(): number { return this.#parent.traceAt; }
  get parentView(): DataView { return this.#parent.spanView; }
  get parentAt(): number { return this.#parent.spanAt; }
  get parentRemote(): boolean { return false; }
  get tracestate(): string | undefined { return this.#parent.tracestate; }

  /** Its shape's encoding, for its parent's record (a part is started with an encoded shape; given one without, it is recorded alone). */
  get shape(): EncodedShape {
    return this.#shape.encoded!;
  }

  /** Whether its parent's record carries it: it ended first, as it was, with nothing of its own. */
  get carried(): boolean {
    return this.#ended && !this.#alone;
  }

  get traceparent(): string {
    return traceparentOf(this.traceId, this.spanId, true);
  }

  get context(): string {
    return contextOf(this);
  }

  setAttributes(attrs: Attributes): void {
    if (this.#ended) return;
    (this.#attrs ??= [this.#shape.attrs]).push(attrs);
    this.#alone = true;
  }

  setShape(shape: SpanShape): void {
    if (this.#ended) return;
    this.#shape = shape;
    if (this.#attrs) this.#attrs[0] = shape.attrs;
    if (!shape.encoded) this.#alone = true;
  }

  setStartTime(ms: number): void {
    if (!this.#ended) this.startMs = ms;
  }

  end(error?: string, endTimeMs?: number): void {
    if (this.#ended) return;
    this.#ended = true;
    this.endMs = endTimeMs ?? now();
    this.error = error ?? '';
    if (this.#parent.ended) this.#alone = true;
    if (this.#alone) this.#export.end(this);
  }

  record(recorder: SpanRecorder): undefined {
    const s = this.#shape;
    recorder.add(s.name, s.kind, this, this.startMs, this.endMs, this.error, this.#parent.tracestate ?? '', this.#attrs ?? [s.attrs], s.encoded);
    return undefined;
  }
}
