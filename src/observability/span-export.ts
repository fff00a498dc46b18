// Span export off the request thread. The server records a finished span as a few values in a flat
// array (no OpenTelemetry objects on the hot path); the array goes to a worker thread in batches, and
// the worker hands the spans, as the SDK's ReadableSpans, to the SDK's BatchSpanProcessor and OTLP/HTTP
// exporter (span-export-worker.ts). Building SDK spans per request and serialising OTLP on the server's
// one thread cost ~0.05 ms of CPU per request, a third of a hot-path request.
import { Worker } from 'node:worker_threads';
import type { Logger } from './logger.ts';

export type Attributes = Record<string, string | number | boolean>;

/**
 * Finished spans, one after another, each as: name, kind (the API's SpanKind), trace id, span id, parent
 * span id ('' for a root), whether the parent is remote, start and end (epoch ms), the error ('' when the
 * span did not fail), the number of attributes, then each attribute's key and value. Flat values clone
 * to the worker for less than objects do.
 */
export type SpanBatch = (string | number | boolean)[];

/** What the worker is started with. */
export interface ExportConfig { url: string; serviceName: string; exportDelayMs: number | undefined }

/** Messages from the worker: a failed export (logged, as the SDK's own diagnostics would be), or its shutdown done. */
export type WorkerMessage = { type: 'error'; message: string } | { type: 'closed'; error?: string };

// A batch goes to the worker at this many values (~512 spans), or this long after its first span: posting a message per
// span would cost more than the spans themselves.
const BATCH_VALUES = 512 * 20;
const BATCH_MS = 100;

export class SpanExport {
  readonly #worker: Worker;
  readonly #logger: Logger;
  readonly #batchMs: number;
  #batch: SpanBatch = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(config: ExportConfig, logger: Logger) {
    this.#logger = logger;
    this.#batchMs = Math.min(BATCH_MS, config.exportDelayMs ?? BATCH_MS);
    this.#worker = new Worker(new URL('./span-export-worker.ts', import.meta.url), { workerData: config });
    // The worker exports in the background: it must not keep the process alive, nor take it down.
    this.#worker.unref();
    this.#worker.on('message', (m: WorkerMessage) => { if (m.type === 'error') this.#logger.warn({ err: m.message }, 'could not export spans'); });
    this.#worker.on('error', (err) => this.#logger.warn({ err }, 'the span exporter stopped'));
  }

  /** Queues a finished span: a few array pushes here, the rest in the worker. */
  add(name: string, kind: number, traceId: string, spanId: string, parentSpanId: string, parentRemote: boolean, startMs: number, endMs: number, error: string, attrs: Attributes[]): void {
    if (this.#closed) return;
    const b = this.#batch;
    const at = b.length + 9;
    b.push(name, kind, traceId, spanId, parentSpanId, parentRemote, startMs, endMs, error, 0);
    let n = 0;
    for (const a of attrs) for (const k in a) { b.push(k, a[k]!); n++; }
    b[at] = n;
    if (b.length >= BATCH_VALUES) this.#flush();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => this.#flush(), this.#batchMs);
      this.#timer.unref();
    }
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#batch.length === 0) return;
    this.#worker.postMessage(this.#batch);
    this.#batch = [];
  }

  /** Sends what is queued and stops the worker: at most `capMs`, and never an error (a collector that is down must not stop shutdown). */
  async close(capMs: number, logger: Logger = this.#logger): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((ok) => {
      const onMessage = (m: WorkerMessage) => {
        if (m.type !== 'closed') return;
        if (m.error) logger.warn({ err: m.error }, 'could not export the last spans');
        ok();
      };
      this.#worker.on('message', onMessage);
      this.#worker.once('exit', () => ok());
      timer = setTimeout(() => { logger.warn({ capMs }, 'gave up exporting the last spans'); ok(); }, capMs);
    });
    this.#worker.ref();
    this.#worker.postMessage('close');
    await done;
    clearTimeout(timer);
    await this.#worker.terminate();
  }
}
