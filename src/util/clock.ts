// Injectable time. Keep-alive, retries and schedules take a Clock so tests advance time
// instead of sleeping.

export interface Timer { cancel(): void }

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** A clock that only moves when the test says so. */
export class ManualClock implements Clock {
  #now: number;
  #timers = new Set<{ at: number; fn: () => void }>();

  constructor(start = Date.UTC(2026, 0, 1)) { this.#now = start; }

  now(): number { return this.#now; }

  setTimeout(fn: () => void, ms: number): Timer {
    const entry = { at: this.#now + Math.max(0, ms), fn };
    this.#timers.add(entry);
    return { cancel: () => { this.#timers.delete(entry); } };
  }

  /** Moves time forward, firing due timers in order (timers set while firing run too if due). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: { at: number; fn: () => void } | undefined;
      for (const t of this.#timers) if (t.at <= target && (!next || t.at < next.at)) next = t;
      if (!next) break;
      this.#timers.delete(next);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = target;
  }
}
