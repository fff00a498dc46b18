// Tracing: W3C trace context on every invocation, and OpenTelemetry spans exported with OTLP/HTTP
// when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set. Without an
// endpoint, spans are ids only — the trace id still reaches records, logs and user code, and still
// crosses hops — so the hot path does not pay for an SDK nobody reads.
//
// A hop carries its context as a `traceparent` string (00-<trace id>-<span id>-<flags>): in HTTP
// headers, in a queue message attribute, in the invoke frame to the runtime.
import { randomFillSync } from 'node:crypto';
import { ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Logger } from './logger.ts';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

export interface ParsedTraceparent { traceId: string; spanId: string; sampled: boolean }

/** A traceparent as W3C defines it (version 00), or undefined when malformed (then a new trace starts). */
export function parseTraceparent(value: unknown): ParsedTraceparent | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT.exec(value.trim().toLowerCase());
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return undefined;
  return { traceId: m[1]!, spanId: m[2]!, sampled: (parseInt(m[3]!, 16) & 1) === 1 };
}

export type SpanKindName = 'server' | 'internal' | 'consumer' | 'producer' | 'client';
const KINDS: Record<SpanKindName, SpanKind> = { server: SpanKind.SERVER, internal: SpanKind.INTERNAL, consumer: SpanKind.CONSUMER, producer: SpanKind.PRODUCER, client: SpanKind.CLIENT };

export type Attributes = Record<string, string | number | boolean>;

export interface SpanHandle {
  readonly traceId: string;
  readonly spanId: string;
  /** This span as a parent for the next hop. */
  readonly traceparent: string;
  setAttributes(attrs: Attributes): void;
  /** Ends the span; `error` marks it failed with that description. */
  end(error?: string, endTimeMs?: number): void;
}

export interface TracingOptions {
  /** OTLP/HTTP base URL (…/v1/traces is added) — default from OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint?: string;
  /** Full traces URL — default from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. */
  tracesEndpoint?: string;
  serviceName?: string;
  /** Batch export delay (default the SDK's 5 s; tests shorten it). */
  exportDelayMs?: number;
  logger: Logger;
}

export class Tracing {
  readonly #tracer: Tracer | undefined;
  readonly #provider: BasicTracerProvider | undefined;
  /** Where spans go, or undefined when they are not exported. */
  readonly exportUrl: string | undefined;

  constructor(opts: TracingOptions) {
    // An empty variable is an unset one (as the OpenTelemetry SDKs read them).
    const base = opts.endpoint || process.env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined;
    const url = opts.tracesEndpoint || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
    this.exportUrl = url;
    if (!url) return;
    const exporter = new OTLPTraceExporter({ url });
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': opts.serviceName ?? process.env.OTEL_SERVICE_NAME ?? 'nimbus' }),
      spanProcessors: [new BatchSpanProcessor(exporter, opts.exportDelayMs === undefined ? {} : { scheduledDelayMillis: opts.exportDelayMs })],
    });
    this.#tracer = this.#provider.getTracer('nimbus');
    opts.logger.info({ url }, 'exporting traces with OTLP/HTTP');
  }

  /** Starts a span: a child of `parent` (a traceparent, or a span of this process), or the root of a new trace. */
  start(name: string, parent: string | SpanHandle | undefined, kind: SpanKindName, attrs: Attributes = {}, startTimeMs?: number): SpanHandle {
    // A span of ours is its own parsed context: no need to format and parse it again on the hot path.
    const p = typeof parent === 'object' ? { traceId: parent.traceId, spanId: parent.spanId, sampled: parent.traceparent.endsWith('1') } : parseTraceparent(parent);
    // Under an unsampled parent nothing is recorded: the ids alone carry the context on, without the SDK's cost.
    if (!this.#tracer || (p && !p.sampled)) return new IdSpan(p);
    const ctx = p ? trace.setSpanContext(ROOT_CONTEXT, { traceId: p.traceId, spanId: p.spanId, traceFlags: p.sampled ? 1 : 0, isRemote: true }) : ROOT_CONTEXT;
    return new OtelSpan(this.#tracer.startSpan(name, { kind: KINDS[kind], attributes: attrs, ...(startTimeMs === undefined ? {} : { startTime: startTimeMs }) }, ctx));
  }

  /** Sends what is buffered and stops (at shutdown): at most 2 s, and never an error — a collector that is down must not stop the server's shutdown. */
  async close(logger?: Logger): Promise<void> {
    if (!this.#provider) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((ok) => { timer = setTimeout(ok, 2000); timer.unref(); });
    await Promise.race([this.#provider.shutdown().catch((err: unknown) => logger?.warn({ err }, 'could not export the last spans')), timeout]);
    clearTimeout(timer);
  }
}

// Ids come from a pool of random bytes refilled 4 KB at a time: a randomBytes() call per id cost 16% of
// the server's CPU on the hot path (three spans, two ids each, per request).
const POOL = Buffer.alloc(4096);
let poolAt = POOL.length;
function randomHex(bytes: number): string {
  if (poolAt + bytes > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  const hex = POOL.toString('hex', poolAt, poolAt + bytes);
  poolAt += bytes;
  return hex;
}

/** A new trace's context (for work that starts one without a span of its own, e.g. an async event). */
export function newTraceparent(): string {
  return `00-${randomHex(16)}-${randomHex(8)}-01`;
}

/** A span that is only its ids: the context still propagates, nothing is recorded. */
class IdSpan implements SpanHandle {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceparent: string;

  constructor(parent: ParsedTraceparent | undefined) {
    this.traceId = parent?.traceId ?? randomHex(16);
    this.spanId = randomHex(8);
    this.traceparent = `00-${this.traceId}-${this.spanId}-${parent && !parent.sampled ? '00' : '01'}`;
  }

  setAttributes(): void {}
  end(): void {}
}

class OtelSpan implements SpanHandle {
  readonly #span: Span;
  readonly traceId: string;
  readonly spanId: string;
  readonly traceparent: string;

  constructor(span: Span) {
    this.#span = span;
    const c = span.spanContext();
    this.traceId = c.traceId;
    this.spanId = c.spanId;
    this.traceparent = `00-${c.traceId}-${c.spanId}-0${c.traceFlags & 1}`;
  }

  setAttributes(attrs: Attributes): void {
    this.#span.setAttributes(attrs);
  }

  end(error?: string, endTimeMs?: number): void {
    if (error !== undefined) this.#span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    this.#span.end(endTimeMs);
  }
}
