// The instances of one function revision: warm reuse (most recently used first), scale-out up to
// concurrency.max, a bounded FIFO wait when at the limit (then 429), and keep-alive then exit.
import { NimbusError } from '../errors.ts';
import type { Instance } from '../sandbox/instance.ts';
import type { FunctionRecord } from '../store/types.ts';
import type { Clock, Timer } from '../util/clock.ts';

export interface Lease {
  instance: Instance;
  cold: boolean;
  release(): void;
}

interface Waiter { resolve: (lease: Lease) => void; reject: (err: unknown) => void; timer: Timer }

export interface PoolDeps {
  clock: Clock;
  keepAliveMs: number;
  startInstance: (fn: FunctionRecord) => Promise<Instance>;
}

export class FunctionPool {
  readonly fn: FunctionRecord;
  readonly #deps: PoolDeps;
  readonly #idle: { inst: Instance; timer: Timer }[] = [];
  readonly #busy = new Set<Instance>();
  readonly #waiters: Waiter[] = [];
  #starting = 0;
  #closed = false;

  constructor(fn: FunctionRecord, deps: PoolDeps) {
    this.fn = fn;
    this.#deps = deps;
  }

  get stats(): { busy: number; idle: number; starting: number; waiting: number } {
    return { busy: this.#busy.size, idle: this.#idle.length, starting: this.#starting, waiting: this.#waiters.length };
  }

  get empty(): boolean {
    return this.#busy.size === 0 && this.#idle.length === 0 && this.#starting === 0 && this.#waiters.length === 0;
  }

  acquire(): Promise<Lease> {
    if (this.#closed) return Promise.reject(new NimbusError('INTERNAL', 'the function was redeployed while the request waited'));
    const warm = this.#takeIdle();
    if (warm) return Promise.resolve(this.#lease(warm, false));
    if (this.#busy.size + this.#starting < this.fn.concurrencyMax) return this.#startFor();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: this.#deps.clock.setTimeout(() => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(new NimbusError('TOO_MANY_REQUESTS', `function "${this.fn.name}" is at its concurrency limit (${this.fn.concurrencyMax}) and no instance freed up within ${this.fn.queueTimeoutMs} ms; retry later or raise concurrency.max`, { retryAfterMs: 1000 }));
        }, this.fn.queueTimeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  #takeIdle(): Instance | undefined {
    while (this.#idle.length > 0) {
      const { inst, timer } = this.#idle.pop()!;
      timer.cancel();
      if (!inst.exited) return inst;
    }
    return undefined;
  }

  async #startFor(): Promise<Lease> {
    this.#starting++;
    let inst: Instance;
    try {
      inst = await this.#deps.startInstance(this.fn);
    } catch (err) {
      this.#starting--;
      this.#serveWaiters();
      throw err;
    }
    this.#starting--;
    if (this.#closed) {
      void inst.stop();
      throw new NimbusError('INTERNAL', 'the function was redeployed while its instance started');
    }
    return this.#lease(inst, true);
  }

  #lease(inst: Instance, cold: boolean): Lease {
    this.#busy.add(inst);
    let released = false;
    return {
      instance: inst,
      cold,
      release: () => {
        if (released) return;
        released = true;
        this.#release(inst);
      },
    };
  }

  #release(inst: Instance): void {
    this.#busy.delete(inst);
    if (inst.exited || this.#closed) {
      if (this.#closed) void inst.stop();
      this.#serveWaiters();
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.timer.cancel();
      waiter.resolve(this.#lease(inst, false));
      return;
    }
    const entry = { inst, timer: this.#deps.clock.setTimeout(() => this.#expire(inst), this.#deps.keepAliveMs) };
    this.#idle.push(entry);
  }

  #expire(inst: Instance): void {
    const i = this.#idle.findIndex((e) => e.inst === inst);
    if (i < 0) return;
    this.#idle.splice(i, 1);
    void inst.stop();
  }

  /** Called when an instance exits on its own (crash, OOM, timeout kill): frees its slot. */
  onInstanceExit(inst: Instance): void {
    const i = this.#idle.findIndex((e) => e.inst === inst);
    if (i >= 0) {
      this.#idle[i]!.timer.cancel();
      this.#idle.splice(i, 1);
    }
    // A busy instance stays counted until its lease is released by the invocation that holds it.
  }

  /** Capacity freed without an instance to hand over: start one for the longest waiter. */
  #serveWaiters(): void {
    while (this.#waiters.length > 0 && this.#busy.size + this.#starting < this.fn.concurrencyMax) {
      const waiter = this.#waiters.shift()!;
      waiter.timer.cancel();
      this.#startFor().then(waiter.resolve, waiter.reject);
    }
  }

  /** Stops every idle instance now, and busy ones as they finish; waiters are failed. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) {
      w.timer.cancel();
      w.reject(new NimbusError('INTERNAL', 'the function was removed or redeployed while the request waited'));
    }
    const stops = this.#idle.splice(0).map(({ inst, timer }) => { timer.cancel(); return inst.stop(); });
    await Promise.all(stops);
  }

  /** Stops everything, busy instances included (server shutdown). */
  async destroy(): Promise<void> {
    await this.close();
    await Promise.all([...this.#busy].map((i) => i.stop()));
  }
}
