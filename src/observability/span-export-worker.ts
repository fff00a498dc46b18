// The worker thread that exports spans (started by span-export.ts): batches of finished spans come in as
// flat arrays, become the OpenTelemetry SDK's ReadableSpans, and go through the SDK's BatchSpanProcessor
// to its OTLP/HTTP exporter. Serialising and sending happen here, off the server's request thread.
import { parentPort, workerData } from 'node:worker_threads';
import { type Attributes, type HrTime, type SpanContext, type SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { hrTimeDuration, millisToHrTime, setGlobalErrorHandler } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
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

const exporter = new OTLPTraceExporter({ url: config.url });
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

/** A finished span as the SDK's exporters read it. */
class FinishedSpan implements ReadableSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly #context: SpanContext;
  readonly parentSpanContext: SpanContext | undefined;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly duration: HrTime;
  readonly status: { code: SpanStatusCode; message?: string };
  readonly attributes: Attributes;
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
    this.name = b[i] as string;
    this.kind = b[i + 1] as SpanKind;
    const traceId = b[i + 2] as string;
    this.#context = { traceId, spanId: b[i + 3] as string, traceFlags: TraceFlags.SAMPLED };
    const parentSpanId = b[i + 4] as string;
    this.parentSpanContext = parentSpanId ? { traceId, spanId: parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: b[i + 5] as boolean } : undefined;
    this.startTime = millisToHrTime(b[i + 6] as number);
    this.endTime = millisToHrTime(b[i + 7] as number);
    this.duration = hrTimeDuration(this.startTime, this.endTime);
    const error = b[i + 8] as string;
    this.status = error ? { code: SpanStatusCode.ERROR, message: error } : UNSET;
    const attributes: Attributes = {};
    let at = i + 10;
    for (let n = b[i + 9] as number; n > 0; n--, at += 2) attributes[b[at] as string] = b[at + 1];
    this.attributes = attributes;
    this.nextIndex = at;
  }

  spanContext(): SpanContext {
    return this.#context;
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
