// The worker thread that exports spans (started by span-export.ts): batches of finished spans come in as
// flat arrays, become the OpenTelemetry SDK's ReadableSpans, and go through the SDK's BatchSpanProcessor
// to its OTLP/HTTP exporter, which writes them with our serialiser (otlp-json.ts). Serialising and
// sending happen here, off the server's request thread.
import { parentPort, workerData } from 'node:worker_threads';
import { type Attributes, type AttributeValue, type HrTime, type SpanContext, type SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { hrTimeDuration, millisToHrTime, setGlobalErrorHandler } from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { JsonTraceSerializer, TraceExporterMetricsHelper } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { exportRequestJson, type PlainSpan } from './otlp-json.ts';
import type { ExportConfig, SpanBatch, WorkerMessage } from './span-export.ts';

const config = workerData as ExportConfig;
const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);

// The SDK reports a failed background export to its global error handler: tell the server's log, once a
// minute at most (a collector that is down would otherwise be a line per batch).
const ERROR_EVERY_MS = 60_000;
let lastErrorAt = -Infinity;
setGlobalErrorHandler((err) => {
  if (performance.now() - lastErrorAt < ERROR_EVERY_MS) return;
  lastErrorAt = performance.now();
  post({ type: 'error', message: String(err) });
});

// The SDK's OTLP/HTTP exporter (transport, retries, timeouts), given our serialiser for the spans we
// record (otlp-json.ts: the same JSON the SDK writes, several times cheaper); anything else the SDK's.
const serializer = {
  serializeRequest(spans: ReadableSpan[]): Uint8Array | undefined {
    if (!spans.every((s) => s instanceof FinishedSpan)) return JsonTraceSerializer.serializeRequest(spans);
    return Buffer.from(exportRequestJson(spans.map((s) => (s as FinishedSpan).plain), config.serviceName, instrumentationScope.name));
  },
  deserializeResponse: JsonTraceSerializer.deserializeResponse,
};
const exporter = new OTLPExporterBase<ReadableSpan[]>(createOtlpHttpExportDelegate(
  convertLegacyHttpOptions({ url: config.url }, 'TRACES', 'v1/traces', { 'Content-Type': 'application/json' }),
  serializer, 'otlp_http_span_exporter', TraceExporterMetricsHelper, undefined,
));
// Batches of 2,048 spans from a queue of 8,192 (the SDK's defaults are 512 and 2,048) unless OTEL_BSP_*
// say otherwise: at saturation the hot path ends ~25,000 spans a second, which would fill 2,048 in less
// than a tenth of a second, and a request per 2,048 spans cost ~20% less CPU per span than per 512.
const processor = new BatchSpanProcessor(exporter, {
  ...(config.exportDelayMs === undefined ? {} : { scheduledDelayMillis: config.exportDelayMs }),
  ...(process.env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE ? {} : { maxExportBatchSize: 2048 }),
  ...(process.env.OTEL_BSP_MAX_QUEUE_SIZE ? {} : { maxQueueSize: 8192 }),
});
const resource = resourceFromAttributes({ 'service.name': config.serviceName });
// What the SDK's tracer from getTracer('nimbus') would name.
const instrumentationScope = { name: 'nimbus' };
const UNSET = { code: SpanStatusCode.UNSET };

/** A finished span as the SDK reads it; its plain values (what our serialiser writes) are kept as they came. */
class FinishedSpan implements ReadableSpan {
  readonly plain: PlainSpan;
  readonly #context: SpanContext;
  readonly links = [];
  readonly events = [];
  readonly ended = true;
  readonly resource = resource;
  readonly instrumentationScope = instrumentationScope;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;

  /** The span at `b[i]`; `nextIndex` is where the next one starts. */
  readonly nextIndex: number;

  constructor(b: SpanBatch, i: number) {
    const n = b[i + 9] as number;
    this.plain = {
      name: b[i] as string, kind: b[i + 1] as number, traceId: b[i + 2] as string, spanId: b[i + 3] as string, parentSpanId: b[i + 4] as string,
      parentRemote: b[i + 5] as boolean, startMs: b[i + 6] as number, endMs: b[i + 7] as number, error: b[i + 8] as string, attrs: b.slice(i + 10, i + 10 + 2 * n),
    };
    this.#context = { traceId: this.plain.traceId, spanId: this.plain.spanId, traceFlags: TraceFlags.SAMPLED };
    this.nextIndex = i + 10 + 2 * n;
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  // What the SDK's own serialiser and processors would read (computed only if they do).
  get name(): string { return this.plain.name; }
  get kind(): SpanKind { return this.plain.kind as SpanKind; }
  get parentSpanContext(): SpanContext | undefined {
    const p = this.plain;
    return p.parentSpanId ? { traceId: p.traceId, spanId: p.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: p.parentRemote } : undefined;
  }
  get startTime(): HrTime { return millisToHrTime(this.plain.startMs); }
  get endTime(): HrTime { return millisToHrTime(this.plain.endMs); }
  get duration(): HrTime { return hrTimeDuration(this.startTime, this.endTime); }
  get status(): { code: SpanStatusCode; message?: string } { return this.plain.error ? { code: SpanStatusCode.ERROR, message: this.plain.error } : UNSET; }
  get attributes(): Attributes {
    const out: Attributes = {};
    for (let k = 0; k < this.plain.attrs.length; k += 2) out[this.plain.attrs[k] as string] = this.plain.attrs[k + 1] as AttributeValue;
    return out;
  }
}

port.on('message', (m: SpanBatch | 'close') => {
  if (m === 'close') {
    processor.shutdown().then(() => post({ type: 'closed' }), (err: unknown) => post({ type: 'closed', error: String(err) }));
    return;
  }
  for (let i = 0; i < m.length;) {
    const span = new FinishedSpan(m, i);
    processor.onEnd(span);
    i = span.nextIndex;
  }
});
