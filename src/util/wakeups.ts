// Wake-ups by name (a queue, a table): whoever found nothing waits until something changes there or
// a deadline passes. A version per name, bumped on every wake, closes the gap between looking and
// starting to wait: a change that landed in between has moved the version, so the wait returns at once.
import type { Clock, Timer } from './clock.ts';

export class WakeUps {
  readonly #clock: Clock;
  readonly #versions = new Map<string, number>();
  readonly #waiters = new Map<string, Set<() => void>>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Read it before looking; pass it to wait(). */
  version(name: string): number {
    return this.#versions.get(name) ?? 0;
  }

  /** Resolves on the next wake of `name` (at once if there was one since `since`), or at `until` at the latest. */
  wait(name: string, until: number, since?: number): Promise<void> {
    if (since !== undefined && this.version(name) !== since) return Promise.resolve();
    const now = this.#clock.now();
    if (until <= now) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let set = this.#waiters.get(name);
      if (!set) this.#waiters.set(name, (set = new Set()));
      let timer: Timer | undefined = undefined;
      const done = () => {
        timer?.cancel();
        set.delete(done);
        resolve();
      };
      set.add(done);
      timer = this.#clock.setTimeout(done, until - now);
    });
  }

  wake(name: string): void {
    this.#versions.set(name, this.version(name) + 1);
    const set = this.#waiters.get(name);
    if (set) for (const w of [...set]) w();
  }

  /** Wakes every waiter (shutdown). */
  wakeAll(): void {
    for (const set of this.#waiters.values()) for (const w of [...set]) w();
  }
}
