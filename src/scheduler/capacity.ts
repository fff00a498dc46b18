// Host-wide limits over every function's instances: a cap on how many run, a memory budget over
// their configured sizes, and a cap on how many processes boot at once, so a burst cannot
// fork-bomb the host. A pool that cannot start an instance waits for `onFree` and tries again.

export interface CapacityOptions {
  maxInstances: number;
  memoryBudgetMb: number;
  maxConcurrentStarts: number;
}

export class Capacity {
  readonly opts: CapacityOptions;
  #instances = 0;
  #memoryMb = 0;
  #starting = 0;
  #startQueue: Array<() => void> = [];
  #listeners = new Set<() => void>();
  /** Highest counts seen (for tests and benchmarks). */
  peakInstances = 0;
  peakStarting = 0;
  #evicting = false;
  #notifyAfterEvict = false;

  constructor(opts: CapacityOptions) {
    this.opts = opts;
  }

  get usage(): { instances: number; memoryMb: number; starting: number; startsQueued: number; peakInstances: number; peakStarting: number } {
    return {
      instances: this.#instances, memoryMb: this.#memoryMb, starting: this.#starting, startsQueued: this.#startQueue.length,
      peakInstances: this.peakInstances, peakStarting: this.peakStarting,
    };
  }

  /**
   * Reserves room for one instance of `memoryMb`. When the budget or the instance cap is short,
   * `evict` is asked to stop idle instances elsewhere; what they free is released through `release`.
   */
  reserve(memoryMb: number, evict: (neededMb: number, neededInstances: number) => void): boolean {
    const shortMb = this.#memoryMb + memoryMb - this.opts.memoryBudgetMb;
    const shortInstances = this.#instances + 1 - this.opts.maxInstances;
    if (shortMb > 0 || shortInstances > 0) {
      // Room freed by eviction is for this caller: waiters elsewhere hear about it only afterwards.
      this.#evicting = true;
      try {
        evict(Math.max(0, shortMb), Math.max(0, shortInstances));
      } finally {
        this.#evicting = false;
      }
      if (this.#notifyAfterEvict) {
        this.#notifyAfterEvict = false;
        queueMicrotask(() => this.#notify());
      }
    }
    if (this.#instances >= this.opts.maxInstances) return false;
    if (this.#memoryMb + memoryMb > this.opts.memoryBudgetMb) return false;
    this.#instances++;
    this.#memoryMb += memoryMb;
    this.peakInstances = Math.max(this.peakInstances, this.#instances);
    return true;
  }

  release(memoryMb: number): void {
    this.#instances--;
    this.#memoryMb -= memoryMb;
    if (this.#evicting) this.#notifyAfterEvict = true;
    else this.#notify();
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }

  /**
   * Subscribes a pool that is waiting for room; called whenever a reservation is released or an
   * instance somewhere goes idle (and could be evicted). Pools subscribe only while they wait, so
   * the hot path pays nothing when nobody does.
   */
  onFree(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** An instance went idle: a waiting pool may now evict it. */
  idled(): void {
    if (this.#listeners.size > 0) queueMicrotask(() => this.#notify());
  }

  /**
   * Runs `boot` when fewer than maxConcurrentStarts processes are booting; FIFO otherwise. A start
   * still queued when `signal` aborts leaves the queue and rejects with the signal's reason.
   */
  async startSlot<T>(boot: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.#starting >= this.opts.maxConcurrentStarts) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const i = this.#startQueue.indexOf(go);
          if (i >= 0) this.#startQueue.splice(i, 1);
          reject(signal!.reason);
        };
        const go = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        this.#startQueue.push(go);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    } else this.#starting++;
    this.peakStarting = Math.max(this.peakStarting, this.#starting);
    try {
      return await boot();
    } finally {
      const next = this.#startQueue.shift();
      if (next) next();
      else this.#starting--;
    }
  }

  /** True when a start would not have to queue (background work uses this to stay out of the way). */
  get startIdle(): boolean { return this.#starting < this.opts.maxConcurrentStarts && this.#startQueue.length === 0; }
}
