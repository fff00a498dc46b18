// Span export. Finished spans are written as compact records into one buffer (otlp-proto.ts'
// SpanRecorder: no SDK span objects on the hot path), in runs of up to RUN_LENGTH as they end; a full
// batch, or the oldest span's delay, hands the buffer to a worker thread, which encodes the records as
// OTLP protobuf (SpanEncoder) and sends them with the OpenTelemetry SDK's OTLP/HTTP exporter
// (export-worker.ts: transport, headers, compression, timeouts and retries as OTEL_EXPORTER_OTLP_*
// configure them; why a thread is said there). Recording a request's three spans (two records: the
// gateway's, and the invoke span's with the handler span carried in it) costs the request thread
// ~2,800–3,000 instructions, where encoding them there cost ~5,000 (docs/performance.md, "Counted in
// instructions"); the earlier design (SDK span objects in a worker thread, our JSON serialiser) cost
// ~7 µs a span.
//
// Batching follows the SDK's BatchSpanProcessor and its variables: OTEL_BSP_SCHEDULE_DELAY (5 s),
// OTEL_BSP_MAX_EXPORT_BATCH_SIZE (here 8,192 for protobuf, ~1 MB: the hot path ends ~25,000 spans a
// second at saturation, and an export's cost is mostly per request, not per byte: sending 62 KB cost the
// export thread 0.8 ms of CPU, 1 MB 1.1 ms, and the receiver 0.9 and 2.5 ms; 512, the SDK's default,
// for http/json) and OTEL_BSP_MAX_QUEUE_SIZE (32,768: four batches): batches beyond it, while exports
// are still in flight, are dropped and counted. OTEL_EXPORTER_OTLP_TRACES_PROTOCOL /
// OTEL_EXPORTER_OTLP_PROTOCOL choose http/protobuf (the default) or http/json.
import { Worker } from 'node:worker_threads';
import { getNumberFromEnv, getStringFromEnv } from '@opentelemetry/core';
import type { ExportWorkerInit, ExportWorkerReply, ExportWorkerRequest } from './export-worker.ts';
import type { Logger } from './logger.ts';
import { type Attributes, type EncodedShape, SpanRecorder, type SpanIds } from './otlp-proto.ts';

export type { Attributes } from './otlp-proto.ts';

export interface ExportConfig {
  url: string;
  serviceName: string;
  /** How long a span waits for its batch (default OTEL_BSP_SCHEDULE_DELAY, else 5 s; tests shorten it). */
  exportDelayMs?: number;
  /** 'http/protobuf' or 'http/json' (default from the OTEL_EXPORTER_OTLP_*PROTOCOL variables). */
  protocol?: string;
}

export type Protocol = 'http/protobuf' | 'http/json';

/** The protocol the variables ask for; anything but http/json is http/protobuf (grpc is not offered, and says so). */
export function protocolFromEnv(logger: Logger): Protocol {
  const asked = getStringFromEnv('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? getStringFromEnv('OTEL_EXPORTER_OTLP_PROTOCOL') ?? 'http/protobuf';
  if (asked === 'http/json' || asked === 'http/protobuf') return asked;
  logger.warn({ protocol: asked }, 'OTLP protocol not supported for traces; exporting with http/protobuf (supported: http/protobuf, http/json)');
  return 'http/protobuf';
}

/** A span that has ended, waiting to be recorded (tracing.ts's recorded spans). */
export interface EndedSpan {
  /**
   * Writes the span into `recorder` (SpanRecorder.add), with the part it carries if the batch has room;
   * returns that part when it has not, to be recorded next, alone (in the next batch, if this one is full).
   */
  record(recorder: SpanRecorder): EndedSpan | undefined;
}

// What the SDK's tracer from getTracer('nimbus') would name.
const SCOPE = 'nimbus';
// The SDK exporter's own default limit of exports at once.
const MAX_CONCURRENT_EXPORTS = 30;
// Ended spans wait to be recorded this many at a time. In a server at full speed, encoding each span as
// it ended (when the request thread still wrote the protobuf) cost that thread 1.6–4.5 µs per request
// more than encoding them in runs (the same spans took ~0.5 µs each in a loop: encoded alone, between
// one request's work and the next, they likely found the encoder's code and data cold;
// docs/performance.md, "Observability on vs off"). Records kept them worth it: recording each span as it
// ended took as many instructions, but the recorder's simulated I-cache misses went from ~23 a request to
// ~200, its mispredicted branches from ~38 to ~113 (BENCH_CACHESIM=1 npm run bench:instructions).
const RUN_LENGTH = 128;
// Export threads that may die in a row (without a batch sent in between) before exporting stops.
const MAX_DEATHS = 3;
// A failed export, or a dropped batch, is logged at most this often (a collector that is down would otherwise be a line per batch).
const ERROR_EVERY_MS = 60_000;

export class SpanExport {
  readonly #logger: Logger;
  // The transport: a worker thread with the SDK's exporter (export-worker.ts), started with the exporter
  // (it takes a few hundred ms to be ready: batches wait for it, counted against the queue, and at full
  // speed a batch fills every ~80 ms), and started again with the next batch should it die.
  readonly #workerInit: ExportWorkerInit;
  // The environment as it was when this exporter was made (the SDK's exporter reads its variables there).
  readonly #env: NodeJS.ProcessEnv;
  #worker: Worker | undefined;
  // Threads that died in a row without a batch sent in between: past MAX_DEATHS none is started again
  // (one that cannot even load would otherwise be started, and fail, for every batch).
  #deaths = 0;
  #deathReason = '';
  #nextId = 0;
  // Batches sent to the worker and not yet answered, by id.
  readonly #replies = new Map<number, (reply: ExportWorkerReply) => void>();
  readonly #recorder: SpanRecorder;
  readonly #delayMs: number;
  readonly #batchSize: number;
  readonly #runLength: number;
  // Spans ended and not yet recorded (at most #runLength).
  #ended: EndedSpan[] = [];
  readonly #maxInFlight: number;
  #inFlight = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #dropped = 0;
  // Failed exports and dropped batches are logged once a minute at most, each kind on its own clock.
  #lastErrorAt = -Infinity;
  #lastDropAt = -Infinity;
  #closed = false;

  constructor(config: ExportConfig, logger: Logger) {
    this.#logger = logger;
    const json = (config.protocol ?? protocolFromEnv(logger)) === 'http/json';
    this.#delayMs = config.exportDelayMs ?? getNumberFromEnv('OTEL_BSP_SCHEDULE_DELAY') ?? 5000;
    // As the SDK's BatchSpanProcessor: a batch is never larger than the queue.
    const queue = Math.max(1, getNumberFromEnv('OTEL_BSP_MAX_QUEUE_SIZE') ?? 32_768);
    // http/json: the SDK's default of 512 (a batch is converted in the export thread, ~7 µs a span).
    this.#batchSize = Math.min(queue, Math.max(1, getNumberFromEnv('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? (json ? 512 : 8192)));
    this.#runLength = Math.min(RUN_LENGTH, this.#batchSize);
    // Batches in flight at once: the queue's worth, and never more than the exporter lets through (its concurrencyLimit).
    this.#maxInFlight = Math.min(MAX_CONCURRENT_EXPORTS, Math.max(1, Math.floor(queue / this.#batchSize)));
    // A batch's records take ~90 bytes a span (an invocation's id among them), its protobuf ~130: room
    // for a full batch of them at first, so that buffers seldom grow.
    this.#recorder = new SpanRecorder(Math.max(64 * 1024, 128 * this.#batchSize), this.#batchSize);
    this.#workerInit = { url: config.url, serviceName: config.serviceName, scope: SCOPE, json, concurrencyLimit: this.#maxInFlight, capacity: Math.max(64 * 1024, 160 * this.#batchSize) };
    this.#env = { ...process.env };
    this.#startWorker();
  }

  /**
   * Takes a span that has ended, to be recorded with the next run of them (or the batch's delay, or
   * close(), whichever comes first). The span must not change any more: its attributes are read then.
   */
  end(span: EndedSpan): void {
    if (this.#closed) return;
    this.#ended.push(span);
    if (this.#ended.length >= this.#runLength) this.#recordEnded();
    this.#armTimer();
  }

  /** Records a finished span into the current batch at once (SpanRecorder.add); a full batch goes to the exporter. */
  add(name: string, kind: number, ids: SpanIds, startMs: number, endMs: number, error: string, state: string, attrs: readonly Attributes[], shape?: EncodedShape): void {
    if (this.#closed) return;
    this.#recorder.add(name, kind, ids, startMs, endMs, error, state, attrs, shape);
    if (this.#recorder.count >= this.#batchSize) this.#send(this.#ended.length > 0);
    this.#armTimer();
  }

  /** The oldest span waits at most the batch delay. */
  #armTimer(): void {
    if (this.#timer || (this.#ended.length === 0 && this.#recorder.count === 0)) return;
    this.#timer = setTimeout(() => this.#flush(), this.#delayMs);
    this.#timer.unref();
  }

  #recordEnded(): void {
    const spans = this.#ended;
    this.#ended = [];
    for (let i = 0; i < spans.length; i++) {
      // One span that cannot be recorded (or a batch that cannot be sent) costs that span or batch, not the
      // rest of the run, and never the request whose span happened to end the run.
      try {
        // (A part its parent's record had no room for comes back, to be recorded alone.)
        for (let s: EndedSpan | undefined = spans[i]; s;) {
          s = s.record(this.#recorder);
          // A batch full midway: the spans after it keep the oldest one's deadline.
          if (this.#recorder.count >= this.#batchSize) this.#send(s !== undefined || i < spans.length - 1);
        }
      } catch (err) {
        this.#reportError(`could not record or send a span: ${String(err)}`);
      }
    }
  }

  /** Sends every span there is. */
  #flush(): void {
    this.#recordEnded();
    this.#send();
  }

  /**
   * Sends the spans recorded so far as a batch. The timer (the oldest waiting span's deadline) is kept
   * when `othersWait`: spans ended before this batch filled are still to be recorded, and must not wait
   * a whole delay more.
   */
  #send(othersWait = false): void {
    if (!othersWait) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const count = this.#recorder.count;
    if (count === 0) return;
    const bytes = this.#recorder.take();
    if (this.#inFlight.size >= this.#maxInFlight) {
      // The collector is slower than the spans come: drop this batch rather than grow without bound.
      this.#recorder.recycle(bytes);
      this.#dropped += count;
      if (performance.now() - this.#lastDropAt >= ERROR_EVERY_MS) {
        this.#lastDropAt = performance.now();
        this.#logger.warn({ dropped: this.#dropped }, `the span exporter is behind its collector: ${this.#dropped} spans dropped so far`);
      }
      return;
    }
    // The records go to the worker (transferred: take() gave them up, the recorder writes in another
    // buffer), and come back with the batch's outcome, to be written again.
    const sent = this.#ask({ id: 0, buffer: bytes.buffer as ArrayBuffer, offset: bytes.byteOffset, length: bytes.length, count }, [bytes.buffer as ArrayBuffer]).then((reply) => {
      if (reply.buffer) this.#recorder.recycle(Buffer.from(reply.buffer));
      // Never handed over (no thread to take it): the buffer is still ours to reuse.
      else if (bytes.buffer.byteLength > 0) this.#recorder.recycle(bytes);
      if (reply.ok) this.#deaths = 0;
      else this.#reportError(reply.error);
    });
    this.#inFlight.add(sent);
    void sent.then(() => this.#inFlight.delete(sent));
  }

  /** Sends `message` (its id set here) to the worker, starting one if none runs; resolves with its reply (never rejects). */
  #ask(message: ExportWorkerRequest, transfer: ArrayBuffer[]): Promise<ExportWorkerReply> {
    const id = message.id = this.#nextId++;
    if (this.#deaths >= MAX_DEATHS) return Promise.resolve({ id, ok: false, error: `spans are no longer exported: the export thread died ${this.#deaths} times in a row (last: ${this.#deathReason})` });
    return new Promise((resolve) => {
      try {
        const worker = this.#worker ?? this.#startWorker();
        this.#replies.set(id, resolve);
        worker.postMessage(message, transfer);
      } catch (err) {
        this.#replies.delete(id);
        resolve({ id, ok: false, error: `could not hand the batch to the export thread: ${String(err)}` });
      }
    });
  }

  #startWorker(): Worker {
    const worker = new Worker(new URL('./export-worker.ts', import.meta.url), { workerData: this.#workerInit, env: this.#env });
    worker.on('message', (reply: ExportWorkerReply) => {
      const resolve = this.#replies.get(reply.id);
      this.#replies.delete(reply.id);
      resolve?.(reply);
    });
    // A worker that died takes its batches with it (failed, and logged); the next batch starts another,
    // up to MAX_DEATHS in a row.
    const died = (why: string) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#deaths++;
      this.#deathReason = why;
      for (const [id, resolve] of this.#replies) resolve({ id, ok: false, error: why });
      this.#replies.clear();
      void worker.terminate();
    };
    worker.on('error', (err) => died(`the export thread failed: ${String(err)}`));
    worker.on('messageerror', (err) => died(`an answer from the export thread could not be read: ${String(err)}`));
    worker.on('exit', (code) => died(`the export thread exited (code ${code})`));
    // It must not keep the process alive (close() waits for what matters). After the listeners: adding
    // the first 'message' listener refs a worker again.
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  #reportError(message: string): void {
    const now = performance.now();
    if (now - this.#lastErrorAt < ERROR_EVERY_MS) return;
    this.#lastErrorAt = now;
    this.#logger.warn({ err: message }, 'could not export spans');
  }

  /** Sends what is queued and stops: at most `capMs`, and never an error (a collector that is down must not stop shutdown). */
  async close(capMs: number, logger: Logger = this.#logger): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    let timer: NodeJS.Timeout | undefined;
    const capped = new Promise<boolean>((ok) => { timer = setTimeout(() => ok(false), capMs); });
    const finished = await Promise.race([Promise.all(this.#inFlight).then(() => true), capped]);
    clearTimeout(timer);
    if (this.#dropped > 0) logger.warn({ dropped: this.#dropped }, `the span exporter dropped ${this.#dropped} spans in all: its collector was behind`);
    if (!finished) logger.warn({ capMs }, 'gave up exporting the last spans');
    // Every batch answered, the SDK's exporter has nothing left to do; past the cap, what is still being
    // sent is given up with the thread (and its answers no longer awaited).
    const worker = this.#worker;
    this.#worker = undefined;
    this.#replies.clear();
    this.#inFlight.clear();
    await worker?.terminate();
  }
}
