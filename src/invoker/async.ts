// Asynchronous invocation (Lambda's Event invocation type): an event is stored before the caller
// gets 202, then run by this dispatcher — with retries (exponential backoff and jitter), a maximum
// event age, destinations carrying Lambda's destination record, and a dead-letter queue. Each
// outcome is settled in one store transaction with its deliveries, so a crash between "ran" and
// "delivered" re-runs the event (at least once) rather than losing its destination record.
import { randomUUID } from 'node:crypto';
import { ASYNC_RETRY_BASE_MS, IDEMPOTENCY_WINDOW_MS } from '../config/limits.ts';
import { isNimbusError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { DEFAULT_ALIAS } from '../store/versions.ts';
import type { AsyncEvent, Delivery, Destination, FunctionRecord, MessageAttribute, Store } from '../store/types.ts';
import type { Clock } from '../util/clock.ts';
import { Waker } from '../util/waker.ts';
import type { Invoker, InvokeResult } from './index.ts';
import { newTraceparent } from '../observability/tracing.ts';
import type { FunctionError } from '../sandbox/instance.ts';

/** Events claimed and held by this node at most (running or waiting for their function's limit). */
const MAX_HELD = 256;
/** Per function: held events at most, as a multiple of what it may run at once — so one backlog cannot take every slot. */
const HELD_PER_SLOT = 2;
const CLAIM_CHUNK = 16;
/**
 * A claimed event comes due again after this if the node dies holding it (cluster mode; the
 * embedded store releases at start). It covers the longest timeout (900 s), the longest wait for an
 * instance (60 s), the margin below, and slack for the claim's own commit.
 */
const LEASE_MS = 20 * 60 * 1000;
const IDLE_WAIT_MS = 30_000;
const SKIPPED_DUE_WAIT_MS = 1000;
/** An event starts only if it can finish (its timeout plus this) before its lease ends; else it waits to be claimed afresh. */
const LEASE_MARGIN_MS = 60_000;
const THROTTLE_RETRY_MAX_MS = 30_000;

export type Condition = 'Success' | 'RetriesExhausted' | 'EventAgeExceeded';

/** Lambda's destination record. */
export interface DestinationRecord {
  version: '1.0';
  timestamp: string;
  requestContext: { requestId: string; functionArn: string; condition: Condition; approximateInvokeCount: number };
  requestPayload: unknown;
  responseContext?: { statusCode: number; executedVersion: string; functionError?: 'Unhandled' };
  responsePayload?: unknown;
}

export interface AsyncDeps {
  store: Store;
  invoker: Invoker;
  functions: () => Map<string, FunctionRecord>;
  /** Called after a delivery put a message in a queue (wakes its consumers). */
  onQueueMessage: (queue: string) => void;
  clock: Clock;
  logger: Logger;
  retryBaseMs?: number;
}

export class AsyncInvoker {
  readonly #deps: AsyncDeps;
  readonly #retryBaseMs: number;
  /** Per function: events claimed and waiting for one of the function's instances. */
  readonly #held = new Map<string, AsyncEvent[]>();
  readonly #running = new Map<string, number>();
  readonly #runs = new Set<Promise<void>>();
  /** Throttles per event (by seq), for the backoff: a throttle gives its attempt back, so attempts cannot count them. */
  readonly #throttles = new Map<number, number>();
  #heldCount = 0;
  readonly #waker: Waker;
  #stopped = false;
  #loop: Promise<void> | undefined;

  constructor(deps: AsyncDeps) {
    this.#deps = deps;
    this.#retryBaseMs = deps.retryBaseMs ?? ASYNC_RETRY_BASE_MS;
    this.#waker = new Waker(deps.clock);
  }

  async start(): Promise<void> {
    await this.#deps.store.releaseAsyncLeases(this.#deps.clock.now());
    this.#loop = this.#run();
  }

  /** Stores the event (committed before this returns) and wakes the dispatcher. */
  async enqueue(fn: FunctionRecord, payload: string, idempotencyKey?: string, requestId: string = randomUUID(), trace?: string, qualifier?: string): Promise<{ requestId: string; duplicate: boolean }> {
    // An event without a caller's context starts a trace here, so its attempts, destination and dead letter share it.
    const r = await this.#deps.store.enqueueAsync({ requestId, fn: fn.name, payload, idempotencyKey, trace: trace ?? newTraceparent(), ...(qualifier !== undefined ? { qualifier } : {}) }, this.#deps.clock.now(), IDEMPOTENCY_WINDOW_MS);
    if (!r.duplicate) this.kick();
    return r;
  }

  kick(): void {
    this.#waker.kick();
  }

  async #run(): Promise<void> {
    const { store, clock, logger } = this.#deps;
    while (!this.#stopped) {
      this.#waker.reset();
      let claimed: AsyncEvent[] = [];
      // Claimed in small chunks, so a function's share is known before the next chunk is taken.
      const room = Math.min(CLAIM_CHUNK, MAX_HELD - this.#heldCount);
      if (room > 0) {
        try {
          const now = clock.now();
          claimed = await store.claimAsync(room, now, now + LEASE_MS, this.#full());
        } catch (err) {
          if (this.#stopped) return;
          logger.error({ err }, 'could not claim async events; pausing');
        }
      }
      for (const ev of claimed) {
        let list = this.#held.get(ev.fn);
        if (!list) this.#held.set(ev.fn, (list = []));
        list.push(ev);
        this.#heldCount++;
      }
      for (const fn of [...this.#held.keys()]) this.#pump(fn);
      if (claimed.length === room && room > 0) continue;
      if (this.#waker.kicked) continue;
      const next = await store.nextAsyncDue().catch(() => undefined);
      const now = clock.now();
      // Held events have next_at at their lease end, so `next` is the next retry or new event.
      // A due event left in the store belongs to a function that holds enough already (a run ending
      // kicks), or came due just after the claim: look again shortly rather than spin.
      const waitMs = next === undefined ? IDLE_WAIT_MS : next <= now ? SKIPPED_DUE_WAIT_MS : Math.min(IDLE_WAIT_MS, next - now);
      if (this.#stopped) return;
      await this.#waker.wait(room > 0 ? waitMs : IDLE_WAIT_MS);
    }
  }

  /** How many events of `fn` it may run at once. */
  #limit(fn: FunctionRecord | undefined): number {
    return fn ? Math.max(1, fn.concurrencyMax * fn.perInstance) : 1;
  }

  /** Functions holding as many events as they should: the next claim leaves theirs in the store. */
  #full(): string[] {
    const fns = this.#deps.functions();
    const full: string[] = [];
    for (const [name, list] of this.#held) {
      if (list.length + (this.#running.get(name) ?? 0) >= HELD_PER_SLOT * this.#limit(fns.get(name))) full.push(name);
    }
    return full;
  }

  /** Starts held events of `fn` while it has room under its concurrency limit. */
  #pump(name: string): void {
    const list = this.#held.get(name);
    if (!list || list.length === 0) return;
    if (this.#stopped) return;
    const fn = this.#deps.functions().get(name);
    const limit = this.#limit(fn);
    while (list.length > 0 && (this.#running.get(name) ?? 0) < limit) {
      const ev = list.shift()!;
      if (fn && this.#deps.clock.now() + fn.timeoutMs + fn.queueTimeoutMs + LEASE_MARGIN_MS > ev.leaseUntil) {
        // Held so long that it might outlive its lease and be claimed again while running: give it
        // back to the store now (the attempt returned) to be claimed afresh, here or on another node.
        this.#heldCount--;
        this.#deps.store.retryAsync(ev, this.#deps.clock.now(), false).then(() => this.kick(), (err: unknown) => this.#deps.logger.error({ err, requestId: ev.requestId }, 'could not release an async event; it comes due when its lease ends'));
        continue;
      }
      this.#running.set(name, (this.#running.get(name) ?? 0) + 1);
      const p: Promise<void> = this.#execute(ev, fn).catch((err: unknown) => {
        this.#deps.logger.error({ err, fn: name, requestId: ev.requestId }, 'async invocation could not be settled; it runs again when its lease ends');
      }).finally(() => {
        this.#runs.delete(p);
        this.#heldCount--;
        this.#running.set(name, (this.#running.get(name) ?? 1) - 1);
        this.#pump(name);
        if (this.#heldCount < MAX_HELD) this.kick();
      });
      this.#runs.add(p);
    }
    if (list.length === 0) this.#held.delete(name);
  }

  async #execute(ev: AsyncEvent, fn: FunctionRecord | undefined): Promise<void> {
    const { store, invoker, clock, logger } = this.#deps;
    if (!fn) {
      this.#throttles.delete(ev.seq);
      logger.warn({ fn: ev.fn, requestId: ev.requestId }, 'async event dropped: its function no longer exists');
      await store.settleAsync(ev, [], clock.now());
      return;
    }
    let payload: unknown;
    try { payload = JSON.parse(ev.payload); } catch { payload = ev.payload; }
    if (clock.now() - ev.createdAt > fn.async.maxEventAgeMs) {
      logger.warn({ fn: fn.name, requestId: ev.requestId, attempts: ev.attempts - 1 }, 'async event is older than the function\'s maxEventAge: not run');
      await this.#settle(ev, fn, payload, 'EventAgeExceeded', undefined, ev.attempts - 1);
      return;
    }
    let result: InvokeResult;
    try {
      result = await invoker.invoke({ fn, qualifier: ev.qualifier, requestId: ev.requestId, trigger: 'async', prepare: () => ({ kind: 'event', payload }), trace: ev.trace });
    } catch (err) {
      if (this.#stopped) return;
      if (isNimbusError(err) && err.code === 'TOO_MANY_REQUESTS') {
        // A throttle is not a failed attempt (as Lambda): try again later, the attempt given back,
        // backing off by the throttles this node has seen for the event.
        const n = (this.#throttles.get(ev.seq) ?? 0) + 1;
        this.#throttles.set(ev.seq, n);
        await store.retryAsync(ev, clock.now() + this.#backoff(n, THROTTLE_RETRY_MAX_MS), false);
        return;
      }
      if (isNimbusError(err) && err.code === 'VERSION_NOT_FOUND') {
        // The alias or version it names is gone: no retry can run it.
        logger.warn({ fn: fn.name, requestId: ev.requestId, qualifier: ev.qualifier }, `async event not run: ${err.message}`);
        await this.#settle(ev, fn, payload, 'RetriesExhausted', undefined, ev.attempts, { statusCode: err.status, qualifier: ev.qualifier ?? DEFAULT_ALIAS, error: { errorType: err.code, errorMessage: err.message, trace: [] } });
        return;
      }
      throw err;
    }
    if (this.#stopped && result.outcome === 'crashed') return; // stopped under it: runs again at the next start
    if (result.outcome === 'success') {
      await this.#settle(ev, fn, payload, 'Success', result, ev.attempts);
    } else if (ev.attempts <= fn.async.retries) {
      await store.retryAsync(ev, clock.now() + this.#backoff(ev.attempts), true);
      this.kick();
    } else {
      await this.#settle(ev, fn, payload, 'RetriesExhausted', result, ev.attempts);
    }
  }

  /** Delay before attempt n+1: base × 2^(n-1), with jitter over its upper half. */
  #backoff(attempt: number, capMs = Infinity): number {
    const full = Math.min(capMs, this.#retryBaseMs * 2 ** Math.max(0, attempt - 1));
    return Math.round(full / 2 + Math.random() * (full / 2));
  }

  /** `notRun`: the event could not be run at all (the version it names is gone): why, as the invoke API would answer. */
  async #settle(ev: AsyncEvent, fn: FunctionRecord, payload: unknown, condition: Condition, result: InvokeResult | undefined, invokeCount: number, notRun?: NotRun): Promise<void> {
    const deliveries: Delivery[] = [];
    const dest = condition === 'Success' ? fn.async.onSuccess : fn.async.onFailure;
    // Destinations and the dead-letter queue continue the event's trace.
    if (dest) deliveries.push({ ...destinationDelivery(dest, destinationRecord(ev, fn, payload, condition, result, invokeCount, notRun)), ...(ev.trace ? { trace: ev.trace } : {}) });
    if (condition !== 'Success' && fn.async.deadLetterQueue) {
      const error = result?.error ?? notRun?.error;
      const attributes: Record<string, MessageAttribute> = {
        RequestID: { DataType: 'String', StringValue: ev.requestId },
        ErrorCode: { DataType: 'Number', StringValue: String(notRun?.statusCode ?? (condition === 'EventAgeExceeded' ? 0 : 200)) },
        ErrorMessage: { DataType: 'String', StringValue: error ? `${error.errorType}: ${error.errorMessage}`.slice(0, 1000) : 'Event age exceeded; the event was not run' },
      };
      deliveries.push({ to: { kind: 'queue', name: fn.async.deadLetterQueue }, body: ev.payload, attributes, ...(ev.trace ? { trace: ev.trace } : {}) });
    }
    this.#throttles.delete(ev.seq);
    const missing = await this.#deps.store.settleAsync(ev, deliveries, this.#deps.clock.now());
    if (missing === null) {
      this.#deps.logger.warn({ fn: fn.name, requestId: ev.requestId }, 'async event outlived its lease and was claimed again; this run\'s outcome is dropped');
      return;
    }
    if (missing.length) this.#deps.logger.warn({ fn: fn.name, requestId: ev.requestId, condition, missing }, 'async outcome not delivered: its destination no longer exists');
    for (const d of deliveries) {
      if (d.to.kind === 'queue') this.#deps.onQueueMessage(d.to.name);
      else this.kick();
    }
  }

  stats(): { held: number; running: number } {
    let running = 0;
    for (const n of this.#running.values()) running += n;
    return { held: this.#heldCount - running, running };
  }

  /** Stops claiming; events in flight finish (or fail when instances stop) and are settled or retried. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.kick();
    await this.#loop;
  }

  async drained(): Promise<void> {
    while (this.#runs.size) await Promise.all(this.#runs);
  }
}

export function functionArn(name: string): string {
  return `arn:aws:lambda:local:000000000000:function:${name}`;
}

/** Why an async event could not be run at all: the invoke API's status and error, and the qualifier it named. */
interface NotRun { statusCode: number; qualifier: string; error: FunctionError }

function destinationRecord(ev: AsyncEvent, fn: FunctionRecord, payload: unknown, condition: Condition, result: InvokeResult | undefined, invokeCount: number, notRun?: NotRun): DestinationRecord {
  const record: DestinationRecord = {
    version: '1.0',
    timestamp: new Date().toISOString(),
    requestContext: { requestId: ev.requestId, functionArn: `${functionArn(fn.name)}:$LATEST`, condition, approximateInvokeCount: invokeCount },
    requestPayload: payload,
  };
  if (result) {
    record.responseContext = { statusCode: 200, executedVersion: String(result.version), ...(result.outcome !== 'success' ? { functionError: 'Unhandled' as const } : {}) };
    record.responsePayload = result.outcome === 'success' ? (result.json === undefined ? null : JSON.parse(result.json)) : result.error;
  } else if (notRun) {
    record.responseContext = { statusCode: notRun.statusCode, executedVersion: notRun.qualifier };
    record.responsePayload = notRun.error;
  }
  return record;
}

function destinationDelivery(to: Destination, record: DestinationRecord): Delivery {
  return { to, body: JSON.stringify(record), ...(to.kind === 'function' ? { requestId: randomUUID() } : {}) };
}
