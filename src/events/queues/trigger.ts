// Queue → function (an event source mapping): one poller per trigger receives batches and invokes
// the function with SQS-shaped events, up to maxConcurrency batches at once. A poller with nothing
// to do sleeps until a send wakes it or a message's delay or visibility timeout ends — it never
// busy-loops the store. Success deletes the batch; `batchItemFailures` deletes all but those; an
// error leaves the batch to come back after the visibility timeout (and to the dead-letter queue
// after maxReceiveCount).
import { randomUUID } from 'node:crypto';
import { MAX_SYNC_PAYLOAD_BYTES } from '../../config/limits.ts';
import { isNimbusError } from '../../errors.ts';
import type { Invoker } from '../../invoker/index.ts';
import type { Logger } from '../../observability/logger.ts';
import { traceContext } from '../../observability/trace-context.ts';
import type { FunctionRecord, QueueTriggerRecord, ReceivedMessage } from '../../store/types.ts';
import type { Clock } from '../../util/clock.ts';
import { messageView, queueArn, type QueueService } from './service.ts';

/** How long an idle poller sleeps at most before looking again (a safety net; sends wake it). */
const IDLE_WAIT_MS = 20_000;
/** Bodies in one batch at most, as Lambda's 6 MB invocation payload (a message over it goes alone). */
const BATCH_MAX_BYTES = MAX_SYNC_PAYLOAD_BYTES;
/** A throttled batch comes back after this long. */
const THROTTLED_RETRY_MS = 1000;
/** After an unexpected error (store trouble), the poller pauses this long. */
const ERROR_PAUSE_MS = 1000;

export interface SqsRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  attributes: Record<string, string>;
  messageAttributes: Record<string, { stringValue?: string; binaryValue?: string; stringListValues: string[]; binaryListValues: string[]; dataType: string }>;
  md5OfBody: string;
  md5OfMessageAttributes?: string;
  eventSource: 'aws:sqs';
  eventSourceARN: string;
  awsRegion: string;
}

export function sqsEvent(queue: string, messages: ReceivedMessage[]): { Records: SqsRecord[] } {
  return {
    Records: messages.map((m) => {
      const v = messageView(queue, m);
      const messageAttributes: SqsRecord['messageAttributes'] = {};
      for (const [name, a] of Object.entries(v.messageAttributes)) {
        messageAttributes[name] = {
          ...(a.StringValue !== undefined ? { stringValue: a.StringValue } : {}),
          ...(a.BinaryValue !== undefined ? { binaryValue: a.BinaryValue } : {}),
          stringListValues: [], binaryListValues: [], dataType: a.DataType,
        };
      }
      return {
        messageId: v.messageId, receiptHandle: v.receiptHandle, body: v.body, attributes: v.attributes, messageAttributes, md5OfBody: v.md5OfBody,
        ...(v.md5OfMessageAttributes ? { md5OfMessageAttributes: v.md5OfMessageAttributes } : {}),
        eventSource: 'aws:sqs', eventSourceARN: queueArn(queue), awsRegion: 'local',
      };
    }),
  };
}

/**
 * Which messages of a batch failed, from the function's result: undefined when the whole batch
 * failed (an invalid `batchItemFailures`, as Lambda treats it), else the failed message ids.
 */
export function failedItems(json: string | undefined, batch: ReceivedMessage[]): Set<string> | undefined {
  if (json === undefined) return new Set();
  let result: unknown;
  try { result = JSON.parse(json); } catch { return new Set(); }
  if (typeof result !== 'object' || result === null || !('batchItemFailures' in result)) return new Set();
  const list = (result as { batchItemFailures: unknown }).batchItemFailures;
  if (list === null || list === undefined) return new Set();
  if (!Array.isArray(list)) return undefined;
  const ids = new Set(batch.map((m) => m.messageId));
  const failed = new Set<string>();
  for (const item of list) {
    const id = typeof item === 'object' && item !== null ? (item as { itemIdentifier?: unknown }).itemIdentifier : undefined;
    if (typeof id !== 'string' || !ids.has(id)) return undefined;
    failed.add(id);
  }
  return failed;
}

export interface TriggerDeps {
  queues: QueueService;
  invoker: Invoker;
  functions: () => Map<string, FunctionRecord>;
  clock: Clock;
  logger: Logger;
}

class Poller {
  readonly t: QueueTriggerRecord;
  readonly #deps: TriggerDeps;
  #stopped = false;
  #inflight = 0;
  #slotFree: (() => void) | undefined;
  readonly #deliveries = new Set<Promise<void>>();
  readonly done: Promise<void>;

  constructor(t: QueueTriggerRecord, deps: TriggerDeps) {
    this.t = t;
    this.#deps = deps;
    this.done = this.#run();
  }

  get inflight(): number { return this.#inflight; }

  async #run(): Promise<void> {
    const { queues, clock, logger } = this.#deps;
    while (!this.#stopped && !queues.closed) {
      if (this.#inflight >= this.t.maxConcurrency) {
        await new Promise<void>((r) => { this.#slotFree = r; });
        continue;
      }
      let batch: ReceivedMessage[];
      const seen = queues.version(this.t.queue);
      try {
        batch = await this.#gather();
      } catch (err) {
        if (this.#stopped || queues.closed) return;
        logger.error({ err, queue: this.t.queue, fn: this.t.fn }, 'queue trigger could not receive; pausing');
        await queues.waitForMessages(this.t.queue, clock.now() + ERROR_PAUSE_MS).catch(() => undefined);
        continue;
      }
      if (batch.length === 0) {
        if (this.#stopped) return;
        await queues.waitForMessages(this.t.queue, clock.now() + IDLE_WAIT_MS, seen);
        continue;
      }
      this.#inflight++;
      const d: Promise<void> = this.#deliver(batch).finally(() => {
        this.#inflight--;
        this.#deliveries.delete(d);
        const wake = this.#slotFree;
        this.#slotFree = undefined;
        wake?.();
      });
      this.#deliveries.add(d);
    }
  }

  /** Resolves when the loop has ended and every batch it started is settled. */
  async drained(): Promise<void> {
    await this.done;
    while (this.#deliveries.size) await Promise.all(this.#deliveries);
  }

  /** One batch: up to batchSize messages and BATCH_MAX_BYTES of bodies, waiting up to the batch window to fill it. */
  async #gather(): Promise<ReceivedMessage[]> {
    const { queues, clock } = this.#deps;
    let seen = queues.version(this.t.queue);
    const batch = await queues.receive(this.t.queue, { max: this.t.batchSize, maxBytes: BATCH_MAX_BYTES }, false);
    if (batch.length === 0 || this.t.batchWindowMs === 0) return batch;
    const until = clock.now() + this.t.batchWindowMs;
    let bytes = batch.reduce((n, m) => n + m.body.length, 0);
    while (batch.length < this.t.batchSize && bytes < BATCH_MAX_BYTES && clock.now() < until && !this.#stopped) {
      await queues.waitForMessages(this.t.queue, until, seen);
      seen = queues.version(this.t.queue);
      const more = await queues.receive(this.t.queue, { max: this.t.batchSize - batch.length, maxBytes: BATCH_MAX_BYTES - bytes }, false);
      // A receive always takes one message, so the last one may pass the cap by its own size.
      for (const m of more) bytes += m.body.length;
      batch.push(...more);
      if (bytes >= BATCH_MAX_BYTES) break;
    }
    return batch;
  }

  async #deliver(batch: ReceivedMessage[]): Promise<void> {
    const { queues, invoker, logger } = this.#deps;
    const fn = this.#deps.functions().get(this.t.fn);
    if (!fn) return; // removed since: the messages come back after their visibility timeout
    const event = sqsEvent(this.t.queue, batch);
    try {
      // The batch continues the trace of its first message that carries one (a `traceparent` attribute, and a `tracestate` with it).
      const traced = batch.find((m) => m.attributes?.traceparent?.StringValue !== undefined)?.attributes;
      const trace = traced ? traceContext(traced.traceparent!.StringValue, traced.tracestate?.StringValue) : undefined;
      const result = await invoker.invoke({ fn, qualifier: this.t.qualifier ?? undefined, requestId: randomUUID(), trigger: 'queue', prepare: () => ({ kind: 'event', payload: event }), trace });
      if (result.outcome !== 'success') return; // the whole batch comes back after the visibility timeout
      const failed = failedItems(result.json, batch);
      if (failed === undefined) {
        logger.warn({ fn: fn.name, queue: this.t.queue, requestId: result.requestId }, 'batchItemFailures names a message not in the batch (or is not a list): the whole batch is retried');
        return;
      }
      await queues.deleteProcessed(this.t.queue, batch.filter((m) => !failed.has(m.messageId)));
    } catch (err) {
      if (isNimbusError(err) && err.code === 'TOO_MANY_REQUESTS') {
        await queues.release(this.t.queue, batch, THROTTLED_RETRY_MS).catch(() => undefined);
        return;
      }
      if (!queues.closed) logger.error({ err, fn: fn.name, queue: this.t.queue }, 'queue trigger delivery failed');
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#deps.queues.notify(this.t.queue);
    this.#slotFree?.();
  }
}

/** Runs one poller per deployed trigger; sync() after every deploy. */
export class QueueTriggers {
  readonly #deps: TriggerDeps;
  readonly #pollers = new Map<string, Poller>();

  constructor(deps: TriggerDeps) {
    this.#deps = deps;
  }

  sync(triggers: QueueTriggerRecord[]): void {
    const want = new Map(triggers.map((t) => [`${t.fn}\u0000${t.queue}`, t]));
    for (const [key, p] of this.#pollers) {
      const t = want.get(key);
      if (!t || t.batchSize !== p.t.batchSize || t.batchWindowMs !== p.t.batchWindowMs || t.maxConcurrency !== p.t.maxConcurrency || (t.qualifier ?? null) !== (p.t.qualifier ?? null)) {
        p.stop();
        this.#pollers.delete(key);
      }
    }
    for (const [key, t] of want) if (!this.#pollers.has(key)) this.#pollers.set(key, new Poller(t, this.#deps));
  }

  stats(): Record<string, { queue: string; fn: string; inflight: number }> {
    const out: Record<string, { queue: string; fn: string; inflight: number }> = {};
    for (const p of this.#pollers.values()) out[`${p.t.queue}→${p.t.fn}`] = { queue: p.t.queue, fn: p.t.fn, inflight: p.inflight };
    return out;
  }

  /** Stops every poller: no new batches. Batches in flight finish (or fail when instances stop). */
  stop(): Promise<void> {
    const all = [...this.#pollers.values()];
    this.#pollers.clear();
    for (const p of all) p.stop();
    return Promise.all(all.map((p) => p.drained().catch(() => undefined))).then(() => undefined);
  }
}
