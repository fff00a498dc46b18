// Table change stream → function: one reader per trigger reads its table's stream in sequence
// order from its own checkpoint (kept in the store), invokes the function with a batch, and moves
// the checkpoint only when the function succeeded (to before the first failed record with
// `batchItemFailures`). The next batch starts only when the previous one is settled, so each key's
// changes reach the function in the order they were committed. A failing batch is retried with
// backoff up to maxRetries, then skipped (logged). Readers with nothing to read sleep until a write
// to their table wakes them — they never poll in a loop.
import { randomUUID } from 'node:crypto';
import { MAX_SYNC_PAYLOAD_BYTES } from '../../config/limits.ts';
import { isNimbusError } from '../../errors.ts';
import type { InvokeRequest, InvokeResult } from '../../invoker/index.ts';
import type { Logger } from '../../observability/logger.ts';
import type { StreamRecord } from '../../store/kv.ts';
import type { FunctionRecord, InvocationRecord, TableTriggerRecord } from '../../store/types.ts';
import type { Clock } from '../../util/clock.ts';
import type { KvService } from './service.ts';
import { firstFailure, sequenceNumber, streamEvent } from './stream.ts';

/** An idle reader looks again after this long at most (a safety net; writes wake it). */
const IDLE_WAIT_MS = 20_000;
/** First retry delay of a failing batch; doubles per attempt up to RETRY_MAX_MS. */
const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 30_000;
const THROTTLED_RETRY_MS = 1000;
const ERROR_PAUSE_MS = 1000;
/** A batch's records and images stay under the synchronous payload limit (one record always goes). */
const BATCH_MAX_BYTES = MAX_SYNC_PAYLOAD_BYTES - 256 * 1024;
/** Envelope bytes per record on top of its SizeBytes (ids, ARN, names). */
const RECORD_OVERHEAD_BYTES = 400;
/** How the invocations are recorded (`nimbus invocations`, the API's trigger field). */
const TRIGGER: InvocationRecord['trigger'] = 'table';

export interface TableTriggerDeps {
  kv: KvService;
  invoker: { invoke(req: InvokeRequest): Promise<InvokeResult> };
  functions: () => Map<string, FunctionRecord>;
  clock: Clock;
  logger: Logger;
  /** First retry delay (tests shorten it). */
  retryBaseMs?: number;
}

type Outcome = { kind: 'done'; failedAt: number } | { kind: 'throttled' } | { kind: 'no-function' };

class Reader {
  readonly t: TableTriggerRecord;
  readonly #deps: TableTriggerDeps;
  #stopped = false;
  #wakeStop: () => void = () => undefined;
  readonly #stopSignal = new Promise<void>((r) => { this.#wakeStop = r; });
  checkpoint: number | undefined;
  /** The record that keeps failing, and how often it has. */
  #failing = { seq: -1, attempts: 0 };
  readonly done: Promise<void>;

  constructor(t: TableTriggerRecord, deps: TableTriggerDeps, after: Promise<void>) {
    this.t = t;
    this.#deps = deps;
    // A reader replaced by a new deploy finishes its batch first: never two readers on one trigger.
    this.done = after.then(() => this.#run());
  }

  get attempts(): number { return this.#failing.attempts; }

  async #run(): Promise<void> {
    const { kv, clock, logger } = this.#deps;
    const store = kv.store;
    this.checkpoint = await store.getCheckpoint(this.t.fn, this.t.table).catch(() => undefined);
    if (this.checkpoint === undefined) return; // removed before it started
    while (!this.#stopped && !kv.closed) {
      const seen = kv.version(this.t.table);
      let batch: StreamRecord[];
      try {
        batch = await this.#gather(this.checkpoint);
      } catch (err) {
        if (this.#stopped || kv.closed) return;
        logger.error({ err, table: this.t.table, fn: this.t.fn }, 'table trigger could not read its stream; pausing');
        await this.#sleep(ERROR_PAUSE_MS);
        continue;
      }
      if (batch.length === 0) {
        await Promise.race([kv.waitForChange(this.t.table, clock.now() + IDLE_WAIT_MS, seen), this.#stopSignal]);
        continue;
      }
      const outcome = await this.#deliver(batch);
      // An invocation cut short by shutdown is not the function's failure: unless the whole batch
      // succeeded, leave the checkpoint where it is (the batch runs again at the next start) and count no attempt.
      if (this.#stopped && !(outcome.kind === 'done' && outcome.failedAt === batch.length)) return;
      if (outcome.kind === 'no-function') {
        await this.#sleep(ERROR_PAUSE_MS); // removed since: the next sync stops this reader
        continue;
      }
      if (outcome.kind === 'throttled') {
        await this.#sleep(THROTTLED_RETRY_MS);
        continue;
      }
      const { failedAt } = outcome;
      if (failedAt > 0 && !(await this.#advance(batch[failedAt - 1]!.seq))) return;
      if (failedAt === batch.length) {
        this.#failing = { seq: -1, attempts: 0 };
        continue;
      }
      const failed = batch[failedAt]!;
      this.#failing = failed.seq === this.#failing.seq ? { seq: failed.seq, attempts: this.#failing.attempts + 1 } : { seq: failed.seq, attempts: 1 };
      const retries = this.#failing.attempts - 1;
      if (this.t.maxRetries >= 0 && retries >= this.t.maxRetries) {
        const last = batch.at(-1)!;
        logger.error({ fn: this.t.fn, table: this.t.table, from: sequenceNumber(failed.seq), to: sequenceNumber(last.seq), records: batch.length - failedAt, attempts: this.#failing.attempts },
          'table trigger skipped records its function failed on after maxRetries retries');
        this.#failing = { seq: -1, attempts: 0 };
        if (!(await this.#advance(last.seq))) return;
        continue;
      }
      const base = this.#deps.retryBaseMs ?? RETRY_BASE_MS;
      await this.#sleep(Math.min(base * 2 ** (this.#failing.attempts - 1), RETRY_MAX_MS));
    }
  }

  /** Up to batchSize records after `from`, waiting up to the batch window to fill the batch. */
  async #gather(from: number): Promise<StreamRecord[]> {
    const { kv, clock } = this.#deps;
    const batch = await kv.store.readStream(this.t.table, from, this.t.batchSize);
    if (batch.length > 0 && this.t.batchWindowMs > 0 && batch.length < this.t.batchSize) {
      const until = clock.now() + this.t.batchWindowMs;
      while (batch.length < this.t.batchSize && clock.now() < until && !this.#stopped) {
        const seen = kv.version(this.t.table);
        const more = await kv.store.readStream(this.t.table, batch.at(-1)!.seq, this.t.batchSize - batch.length);
        if (more.length) batch.push(...more);
        else await Promise.race([kv.waitForChange(this.t.table, until, seen), this.#stopSignal]);
      }
    }
    let bytes = 0;
    const fit = batch.findIndex((r) => (bytes += r.sizeBytes + RECORD_OVERHEAD_BYTES) > BATCH_MAX_BYTES);
    return fit > 0 ? batch.slice(0, fit) : fit === 0 ? batch.slice(0, 1) : batch;
  }

  async #deliver(batch: StreamRecord[]): Promise<Outcome> {
    const { invoker, logger } = this.#deps;
    const fn = this.#deps.functions().get(this.t.fn);
    if (!fn) return { kind: 'no-function' };
    const event = streamEvent(batch);
    try {
      // The batch continues the trace of its first record whose writer had one.
      const result = await invoker.invoke({ fn, requestId: randomUUID(), trigger: TRIGGER, prepare: () => ({ kind: 'event', payload: event }), trace: batch.find((r) => r.trace !== undefined)?.trace });
      if (result.outcome !== 'success') return { kind: 'done', failedAt: 0 };
      const failedAt = firstFailure(result.json, batch);
      if (failedAt === undefined) {
        logger.warn({ fn: fn.name, table: this.t.table, requestId: result.requestId }, 'batchItemFailures names a record not in the batch (or is not a list): the whole batch is retried');
        return { kind: 'done', failedAt: 0 };
      }
      return { kind: 'done', failedAt };
    } catch (err) {
      if (isNimbusError(err) && err.code === 'TOO_MANY_REQUESTS') return { kind: 'throttled' };
      if (!this.#deps.kv.closed) logger.error({ err, fn: fn.name, table: this.t.table }, 'table trigger delivery failed');
      return { kind: 'done', failedAt: 0 };
    }
  }

  /** Persists the checkpoint; false when the trigger is gone (the reader ends). */
  async #advance(seq: number): Promise<boolean> {
    this.checkpoint = seq;
    try {
      return await this.#deps.kv.store.setCheckpoint(this.t.fn, this.t.table, seq);
    } catch (err) {
      if (!this.#deps.kv.closed) this.#deps.logger.error({ err, fn: this.t.fn, table: this.t.table }, 'could not save a table trigger checkpoint');
      return !this.#stopped;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.#deps.clock.setTimeout(resolve, ms);
      void this.#stopSignal.then(() => { timer.cancel(); resolve(); });
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#wakeStop();
  }
}

/** Runs one reader per deployed table trigger; sync() after every deploy. */
export class TableTriggers {
  readonly #deps: TableTriggerDeps;
  readonly #readers = new Map<string, Reader>();

  constructor(deps: TableTriggerDeps) {
    this.#deps = deps;
  }

  sync(triggers: TableTriggerRecord[]): void {
    const want = new Map(triggers.map((t) => [`${t.fn}\u0000${t.table}`, t]));
    const ending = new Map<string, Promise<void>>();
    for (const [key, r] of this.#readers) {
      const t = want.get(key);
      if (!t || t.batchSize !== r.t.batchSize || t.batchWindowMs !== r.t.batchWindowMs || t.maxRetries !== r.t.maxRetries) {
        r.stop();
        ending.set(key, r.done.catch(() => undefined));
        this.#readers.delete(key);
      }
    }
    for (const [key, t] of want) {
      if (!this.#readers.has(key)) this.#readers.set(key, new Reader(t, this.#deps, ending.get(key) ?? Promise.resolve()));
    }
  }

  stats(): { table: string; fn: string; checkpoint: number | null; failingAttempts: number }[] {
    return [...this.#readers.values()].map((r) => ({ table: r.t.table, fn: r.t.fn, checkpoint: r.checkpoint ?? null, failingAttempts: r.attempts }));
  }

  /** Stops every reader; resolves when their batches in flight are settled. */
  async stop(): Promise<void> {
    const all = [...this.#readers.values()];
    this.#readers.clear();
    for (const r of all) r.stop();
    await Promise.all(all.map((r) => r.done.catch(() => undefined)));
  }
}
