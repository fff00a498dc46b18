// Idle instances give memory back. V8 collects garbage only when a program allocates, so what an
// instance's invocations left behind stays in its heap while it waits for the next one. Once an
// instance has run nothing for IDLE_COLLECT_MS, the host asks its runtime for one memory-reducing
// collection (~10–15 ms for a small heap, on every core V8's parallel collector can use; the
// runtime skips heaps over 64 MiB). The host decides when, not each runtime: one collection at a
// time on the whole host, and only once no start (a cold start or a process boot) has begun for
// CALM_MS, so that collections keep off cold starts and do not pile up at the end of a burst. A
// host that never calms down still collects: an instance overdue by MAX_DEFER_MS goes anyway.
import type { Instance } from '../sandbox/instance.ts';
import type { Clock, Timer } from '../util/clock.ts';

export const IDLE_COLLECT_MS = 2000;
/** How long after a start (a cold start or a process boot) began collections wait. */
export const CALM_MS = 250;
/** How long past its due time an instance waits for a calm host at most. */
export const MAX_DEFER_MS = 10_000;

export class IdleCollector {
  readonly #clock: Clock;
  /** Idle instances and when each is due, in the order they went idle (so the first entry is due first). */
  readonly #due = new Map<Instance, number>();
  #timer: Timer | undefined;
  #collecting = false;
  #closed = false;
  #lastStartBegan = Number.NEGATIVE_INFINITY;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** A start (a cold start or a process boot) begins: collections wait CALM_MS. */
  startBegan(): void {
    this.#lastStartBegan = this.#clock.now();
  }

  /** The instance has just finished its last invocation in flight. */
  idled(inst: Instance): void {
    this.#due.delete(inst);
    this.#due.set(inst, this.#clock.now() + IDLE_COLLECT_MS);
    this.#arm();
  }

  /** The instance took an invocation, or is gone: it is not idle. */
  busy(inst: Instance): void {
    this.#due.delete(inst);
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#due.clear();
  }

  #arm(delayMs?: number): void {
    if (this.#timer || this.#collecting || this.#closed) return;
    const first = this.#due.values().next();
    if (first.done) return;
    const wait = delayMs ?? Math.max(0, first.value - this.#clock.now());
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#collectNext();
    }, wait);
  }

  async #collectNext(): Promise<void> {
    const first = this.#due.entries().next();
    if (first.done || this.#closed) return;
    const [inst, at] = first.value;
    const now = this.#clock.now();
    if (at > now) return this.#arm();
    const calmAt = this.#lastStartBegan + CALM_MS;
    if (calmAt > now && now - at < MAX_DEFER_MS) return this.#arm(Math.min(calmAt, at + MAX_DEFER_MS) - now);
    this.#due.delete(inst);
    this.#collecting = true;
    try {
      await inst.collectGarbage();
    } catch {
      // Nothing to do: the instance is on its way out, and its exit is handled elsewhere.
    } finally {
      this.#collecting = false;
      this.#arm();
    }
  }
}
