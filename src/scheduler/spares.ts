// Spare runtimes: generic sandbox processes booted ahead of demand, so a cold start hands one to
// the function (copy its bundle in, send its environment, import) instead of booting Node. A spare
// can read nothing but its own empty code dir until it is assigned. The heap cap is fixed when a
// process boots, so spares are kept per memory size: the default size always (at least `min`), and
// any size in proportion to its cold starts over the last window, up to `max` spares in all.
import type { Logger } from '../observability/logger.ts';
import type { Instance } from '../sandbox/instance.ts';
import type { Clock } from '../util/clock.ts';

export interface SparePoolOptions {
  /** Spares kept for the default memory size even with no recent cold starts (0: only on demand). */
  min: number;
  /** Most spares in all sizes together; 0 disables the pool. */
  max: number;
  defaultMemoryMb: number;
  windowMs: number;
  clock: Clock;
  logger: Logger;
  /** Boots one generic process of this memory size (through the host's start limiter). */
  boot: (memoryMb: number) => Promise<Instance>;
  /** True when booting a spare now would not delay a request's own start. */
  startIdle: () => boolean;
}

/** After a spare failed to boot, wait this long before trying again. */
const BOOT_RETRY_MS = 1000;
// How long a refill waits after the cold start that called for it (see refillSoon).
const REFILL_DELAY_MS = 10;

export class SparePool {
  readonly #opts: SparePoolOptions;
  readonly #ready = new Map<number, Instance[]>();
  readonly #booting = new Map<number, number>();
  #demand: { at: number; memoryMb: number }[] = [];
  #refilling = false;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;
  #handedOut = 0;
  #missed = 0;

  constructor(opts: SparePoolOptions) {
    this.#opts = opts;
  }

  start(): void { this.#refill(); }

  /** A ready spare of this memory size, if there is one; every call counts as demand. */
  take(memoryMb: number): Instance | undefined {
    if (this.#opts.max === 0) return undefined;
    this.#demand.push({ at: this.#opts.clock.now(), memoryMb });
    const list = this.#ready.get(memoryMb);
    let inst: Instance | undefined;
    while (list && list.length > 0) {
      const candidate = list.shift()!;
      if (!candidate.exited) { inst = candidate; break; }
    }
    if (inst) {
      inst.onUnassignedExit = undefined;
      this.#handedOut++;
    } else this.#missed++;
    return inst;
  }

  /**
   * Boots replacements, shortly. The scheduler calls this once a cold start's invocation is answered:
   * the new runtime's boot takes a core for ~25 ms, so it waits REFILL_DELAY_MS for the answer to
   * reach its client and the requests right behind it to run (measured when the server still forked
   * each process itself, which also held its event loop ~7 ms: the first request to a function, end
   * to end, p50 7.3 → 5.8 ms on this machine, and the request after it 6.7 → 2.0 ms).
   */
  refillSoon(): void {
    setTimeout(() => this.#refill(), REFILL_DELAY_MS).unref();
  }

  /** How many spares of each size the pool aims to hold now. */
  targets(): Map<number, number> {
    const now = this.#opts.clock.now();
    this.#demand = this.#demand.filter((d) => now - d.at <= this.#opts.windowMs);
    const want = new Map<number, number>();
    if (this.#opts.min > 0) want.set(this.#opts.defaultMemoryMb, this.#opts.min);
    const counts = new Map<number, number>();
    for (const d of this.#demand) counts.set(d.memoryMb, (counts.get(d.memoryMb) ?? 0) + 1);
    for (const [mb, n] of counts) want.set(mb, Math.max(want.get(mb) ?? 0, n));
    // Scale down to the overall cap, keeping at least one for each size in demand where possible.
    let total = [...want.values()].reduce((a, b) => a + b, 0);
    while (total > this.#opts.max) {
      const [mb, n] = [...want].sort((a, b) => b[1] - a[1])[0]!;
      if (n <= 1) { want.delete(mb); } else want.set(mb, n - 1);
      total--;
    }
    return want;
  }

  #count(mb: number): number {
    return (this.#ready.get(mb)?.filter((i) => !i.exited).length ?? 0) + (this.#booting.get(mb) ?? 0);
  }

  /** Boots missing spares one at a time, in the background, only while no request is starting one. */
  #refill(): void {
    if (this.#refilling || this.#closed || this.#opts.max === 0) return;
    const need = [...this.targets()].find(([mb, n]) => this.#count(mb) < n);
    if (!need) return;
    if (!this.#opts.startIdle()) {
      this.#retry ??= setTimeout(() => { this.#retry = undefined; this.#refill(); }, 20).unref();
      return;
    }
    const [mb] = need;
    this.#refilling = true;
    this.#booting.set(mb, (this.#booting.get(mb) ?? 0) + 1);
    this.#opts.boot(mb).then((inst) => {
      if (this.#closed) { void inst.stop(); return; }
      inst.onUnassignedExit = (gone) => {
        const list = this.#ready.get(mb);
        const i = list?.indexOf(gone) ?? -1;
        if (list && i >= 0) list.splice(i, 1);
        this.#refill();
      };
      const list = this.#ready.get(mb) ?? [];
      list.push(inst);
      this.#ready.set(mb, list);
      return true;
    }, (err: unknown) => {
      // At shutdown a boot in flight fails as its process is stopped: nothing to report.
      if (!this.#closed) this.#opts.logger.warn({ err, memoryMb: mb }, 'could not boot a spare runtime');
      return false;
    }).then((booted) => {
      this.#booting.set(mb, (this.#booting.get(mb) ?? 1) - 1);
      this.#refilling = false;
      // Trim sizes no longer wanted, then go on filling; after a failed boot, not in a tight loop.
      this.#trim();
      if (this.#closed) return;
      if (booted) setImmediate(() => this.#refill());
      else this.#retry ??= setTimeout(() => { this.#retry = undefined; this.#refill(); }, BOOT_RETRY_MS).unref();
    });
  }

  #trim(): void {
    const want = this.targets();
    for (const [mb, list] of this.#ready) {
      while (list.filter((i) => !i.exited).length > (want.get(mb) ?? 0)) {
        const extra = list.pop()!;
        extra.onUnassignedExit = undefined;
        void extra.stop();
      }
    }
  }

  stats(): { ready: Record<string, number>; booting: number; handedOut: number; missed: number; targets: Record<string, number>; instances: { id: string; pid: number; memoryMb: number }[] } {
    const ready: Record<string, number> = {};
    const instances: { id: string; pid: number; memoryMb: number }[] = [];
    for (const [mb, list] of this.#ready) {
      const live = list.filter((i) => !i.exited);
      ready[`${mb}`] = live.length;
      for (const i of live) instances.push({ id: i.id, pid: i.pid ?? 0, memoryMb: mb });
    }
    return {
      ready,
      instances,
      booting: [...this.#booting.values()].reduce((a, b) => a + b, 0),
      handedOut: this.#handedOut,
      missed: this.#missed,
      targets: Object.fromEntries([...this.targets()].map(([mb, n]) => [`${mb}`, n])),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    const all = [...this.#ready.values()].flat();
    this.#ready.clear();
    await Promise.all(all.map((i) => { i.onUnassignedExit = undefined; return i.stop(); }));
  }
}
