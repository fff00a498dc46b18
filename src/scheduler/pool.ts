// The instances of one function revision: warm reuse (most recently used first), up to
// `perInstance` invocations at once in one instance, scale-out up to concurrency.max instances
// within the host's capacity, a bounded FIFO wait when at a limit (then 429), provisioned
// instances kept initialised at all times, and keep-alive then exit for the rest.
import { NimbusError } from '../errors.ts';
import type { Instance, InvokeFrame } from '../sandbox/instance.ts';
import type { FunctionRecord } from '../store/types.ts';
import type { Clock, Timer } from '../util/clock.ts';
import type { Capacity } from './capacity.ts';

export interface Lease {
  instance: Instance;
  cold: boolean;
  provisioned: boolean;
  release(): void;
}

/**
 * A request's own invocation, which its cold start sends right behind init (Instance.assign's
 * `first`). The pool only carries it: the start is then bound to that request (see PendingStart).
 */
export interface FirstInvocation {
  /** The frame for a handler of `style`; `styled`: the payload depends on the style (an HTTP request). */
  build(style: 'lambda' | 'fetch'): { frame: InvokeFrame; styled: boolean };
  /** Init has ended: the invocation runs now. */
  onStart(): void;
}

/**
 * A request without an instance yet. It either queues (at a limit: `timer` then ends it with a 429)
 * or owns a start under way (no timer: a start is not a throttle). Whichever comes first serves it,
 * its own start or an instance that frees up meanwhile; a start whose owner was served elsewhere
 * passes to the oldest request that has none, or is cancelled if it has not begun.
 */
interface Waiter { resolve: (lease: Lease) => void; reject: (err: unknown) => void; timer: Timer | undefined; start: PendingStart | undefined; first: FirstInvocation | undefined }

/**
 * A start under way. Once it has sent its owner's invocation with init (`bound`), it is that
 * request's for good: the request takes no other instance, and the start is not handed over.
 */
interface PendingStart { owner: Waiter | undefined; abort: AbortController; bound: boolean }

interface Slot {
  inflight: number;
  provisioned: boolean;
  lastUsed: number;
  keepAlive: Timer | undefined;
  /** The capacity reservation is given back once, on exit or on eviction, whichever comes first. */
  reserved: boolean;
}

export interface PoolDeps {
  clock: Clock;
  keepAliveMs: number;
  capacity: Capacity;
  /** Asks the scheduler to free `neededMb` by stopping idle instances of other functions. */
  evictElsewhere: (neededMb: number, neededInstances: number, except: FunctionPool) => void;
  /**
   * Starts an instance; `signal` withdraws a start still queued for a start slot (it then rejects).
   * `bind`, called once the process is ready for init, binds the start to its owner and gives the
   * owner's invocation to send with init (undefined: the owner has none, or there is no owner).
   */
  startInstance: (fn: FunctionRecord, onExit: (inst: Instance) => void, signal?: AbortSignal, bind?: () => FirstInvocation | undefined) => Promise<Instance>;
  onProvisionError: (fn: FunctionRecord, err: unknown) => void;
  /** Told when an instance has no invocation left in flight (`true`), and when it takes one or is gone (`false`). */
  onIdle?: (inst: Instance, idle: boolean) => void;
  /** A cold start finished with nobody waiting for it any more (its request was served by another instance). */
  onStartUnclaimed?: () => void;
}

export interface PoolStats {
  busy: number;
  idle: number;
  provisioned: number;
  starting: number;
  waiting: number;
  inflight: number;
}

export interface InstanceView {
  id: string;
  pid: number;
  state: 'busy' | 'idle';
  inflight: number;
  provisioned: boolean;
  lastUsed: string;
}

export class FunctionPool {
  readonly fn: FunctionRecord;
  readonly #deps: PoolDeps;
  readonly #slots = new Map<Instance, Slot>();
  readonly #waiters: Waiter[] = [];
  #starting = 0;
  #provisioning = 0;
  #provisionBlocked = false;
  /** Instances to keep initialised: set by the scheduler for the versions an alias provisions (0 otherwise). */
  #provisionTarget = 0;
  #closed = false;
  /** Closed for a server shutdown (destroy), not a retire: nothing is answered from a starting instance then. */
  #stopping = false;
  #unsubscribe: (() => void) | undefined;

  constructor(fn: FunctionRecord, deps: PoolDeps) {
    this.fn = fn;
    this.#deps = deps;
  }

  /**
   * How many instances of this version to keep initialised. Fewer than before: the extra provisioned
   * instances become ordinary ones (keep-alive reaps them when idle).
   */
  setProvisioned(n: number): void {
    // Never more than the version may run at once.
    this.#provisionTarget = Math.min(n, this.fn.concurrencyMax);
    this.#fitProvisioned();
    this.ensureProvisioned();
  }

  /**
   * Marks exactly the target's number of live instances provisioned: extra ones become ordinary
   * (keep-alive reaps them when idle), and when short, warm ordinary ones are taken first.
   */
  #fitProvisioned(): void {
    let have = 0;
    for (const [inst, s] of this.#slots) {
      if (!s.provisioned || inst.exited) continue;
      if (++have <= this.#provisionTarget) continue;
      s.provisioned = false;
      if (s.inflight === 0) s.keepAlive = this.#deps.clock.setTimeout(() => this.#expire(inst), this.#deps.keepAliveMs);
    }
    for (const [inst, s] of this.#slots) {
      if (have >= this.#provisionTarget) break;
      if (s.provisioned || inst.exited || !s.reserved) continue;
      s.provisioned = true;
      s.keepAlive?.cancel();
      s.keepAlive = undefined;
      have++;
    }
  }

  get #perInstance(): number { return Math.max(1, this.fn.perInstance); }

  get stats(): PoolStats {
    let busy = 0;
    let idle = 0;
    let provisioned = 0;
    let inflight = 0;
    for (const [inst, s] of this.#slots) {
      if (inst.exited) continue;
      if (s.inflight > 0) busy++;
      else idle++;
      if (s.provisioned) provisioned++;
      inflight += s.inflight;
    }
    return { busy, idle, provisioned, starting: this.#starting, waiting: this.#waiters.filter((w) => !w.start).length, inflight };
  }

  /** Each live instance: its id (also its log stream and sandbox directory name) and state. */
  instances(): InstanceView[] {
    const out: InstanceView[] = [];
    for (const [inst, s] of this.#slots) {
      if (inst.exited) continue;
      out.push({ id: inst.id, pid: inst.pid ?? 0, state: s.inflight > 0 ? 'busy' : 'idle', inflight: s.inflight, provisioned: s.provisioned, lastUsed: new Date(s.lastUsed).toISOString() });
    }
    return out;
  }

  /** An instance for one invocation; `first` is sent with init if the request's own cold start serves it. */
  acquire(first?: FirstInvocation): Promise<Lease> {
    if (this.#closed) return Promise.reject(retired('the function was redeployed while the request waited'));
    const warm = this.#pickWarm();
    if (warm) return Promise.resolve(this.#lease(warm, false));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined, start: undefined, first };
      this.#waiters.push(waiter);
      this.#serveWaiters();
      // Neither an instance nor a start for it: it queues (FIFO) until one frees up; 429 after queueTimeoutMs.
      if (!waiter.start && this.#waiters.includes(waiter)) {
        waiter.timer = this.#deps.clock.setTimeout(() => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(this.#throttled());
        }, this.fn.queueTimeoutMs);
      }
    });
  }

  #throttled(): NimbusError {
    const atMax = this.#slots.size + this.#starting >= this.fn.concurrencyMax;
    const why = atMax
      ? `function "${this.fn.name}" is at its concurrency limit (${this.fn.concurrencyMax} instances × ${this.#perInstance} per instance)`
      : `the server is at its capacity (instances or memory budget; see nimbus serve --max-instances / --memory-budget)`;
    return new NimbusError('TOO_MANY_REQUESTS', `${why} and nothing freed up within ${this.fn.queueTimeoutMs} ms; retry later${atMax ? ' or raise concurrency.max' : ''}`, { retryAfterMs: 1000 });
  }

  /**
   * The warm instance with room: one not in the middle of an idle collection first, then fullest
   * (packs perInstance), then most recently used.
   */
  #pickWarm(): Instance | undefined {
    let best: Instance | undefined;
    let bestSlot: Slot | undefined;
    let bestCollecting = false;
    for (const [inst, s] of this.#slots) {
      if (inst.exited || s.inflight >= this.#perInstance) continue;
      const collecting = inst.collecting !== undefined;
      const better = !bestSlot
        || (bestCollecting && !collecting)
        || (collecting === bestCollecting && (s.inflight > bestSlot.inflight || (s.inflight === bestSlot.inflight && s.lastUsed >= bestSlot.lastUsed)));
      if (better) {
        best = inst;
        bestSlot = s;
        bestCollecting = collecting;
      }
    }
    return best;
  }

  #canStart(): boolean {
    return this.#slots.size + this.#starting < this.fn.concurrencyMax;
  }

  #reserve(): boolean {
    const ok = this.#deps.capacity.reserve(this.fn.memoryMb, (mb, n) => this.#deps.evictElsewhere(mb, n, this));
    // Blocked by the host: listen for room until this pool no longer waits.
    if (!ok) this.#unsubscribe ??= this.#deps.capacity.onFree(() => this.#serveWaiters());
    return ok;
  }

  /**
   * Starts an instance for the waiter (capacity already reserved): a cold start. The new instance
   * goes to whoever owns the start when it is up, or waits idle if nobody does any more.
   */
  #launch(owner: Waiter): void {
    const start: PendingStart = { owner, abort: new AbortController(), bound: false };
    owner.start = start;
    owner.timer?.cancel();
    owner.timer = undefined;
    this.#startReserved(false, start).then(
      (inst) => {
        const w = start.owner;
        if (w) {
          this.#dequeue(w);
          w.resolve(this.#lease(inst, true));
        } else {
          this.#idled(inst, this.#slots.get(inst)!);
          this.#deps.onStartUnclaimed?.();
        }
        this.#serveWaiters(); // perInstance > 1: the new instance has room for those who queued meanwhile
      },
      (err: unknown) => {
        const w = start.owner;
        if (w) {
          this.#dequeue(w);
          w.reject(err);
        }
        this.#serveWaiters();
      },
    );
  }

  #dequeue(w: Waiter): void {
    const i = this.#waiters.indexOf(w);
    if (i >= 0) this.#waiters.splice(i, 1);
    w.start = undefined;
  }

  /** The waiter was served by another instance: its start passes to the oldest waiter without one, else is withdrawn if it has not begun. */
  #handOver(start: PendingStart): void {
    const next = this.#waiters.find((w) => !w.start);
    start.owner = next;
    if (next) {
      next.start = start;
      next.timer?.cancel();
      next.timer = undefined;
    } else start.abort.abort();
  }

  async #startReserved(provisioned: boolean, start?: PendingStart): Promise<Instance> {
    // Binds the start to whoever owns it when its process is ready, if they have an invocation to send.
    const bind = start && ((): FirstInvocation | undefined => {
      const first = start.owner?.first;
      if (first) start.bound = true;
      return first;
    });
    this.#starting++;
    let inst: Instance;
    try {
      inst = await this.#deps.startInstance(this.fn, (i) => this.#onExit(i), start?.abort.signal, bind);
    } catch (err) {
      this.#starting--;
      this.#deps.capacity.release(this.fn.memoryMb);
      throw err;
    }
    this.#starting--;
    const slot: Slot = { inflight: 0, provisioned, lastUsed: this.#deps.clock.now(), keepAlive: undefined, reserved: true };
    this.#slots.set(inst, slot);
    if (inst.exited) {
      // It died between init and now; #onExit ran before the slot existed.
      this.#onExit(inst);
      throw Object.assign(new Error('the instance exited right after init'), { functionError: { errorType: 'Runtime.ExitError', errorMessage: 'the instance exited right after init', trace: [] } });
    }
    // A bound start's invocation is running already: it is answered here, and the instance stops after
    // it. Unless the server is stopping: then its request was failed (its work, if stored, is kept).
    if (this.#closed && !(start?.bound && start.owner)) {
      void inst.stop();
      throw retired('the function was redeployed while its instance started');
    }
    // A provisioned instance starts idle (a cold start's is leased at once), with its init's garbage.
    if (provisioned) this.#deps.onIdle?.(inst, true);
    return inst;
  }

  #lease(inst: Instance, cold: boolean): Lease {
    const slot = this.#slots.get(inst)!;
    if (slot.inflight++ === 0) this.#deps.onIdle?.(inst, false);
    slot.lastUsed = this.#deps.clock.now();
    slot.keepAlive?.cancel();
    slot.keepAlive = undefined;
    let released = false;
    return {
      instance: inst,
      cold,
      provisioned: slot.provisioned,
      release: () => {
        if (released) return;
        released = true;
        this.#release(inst);
      },
    };
  }

  #release(inst: Instance): void {
    const slot = this.#slots.get(inst);
    if (!slot) return;
    slot.inflight--;
    slot.lastUsed = this.#deps.clock.now();
    if (inst.exited) return;
    if (this.#closed) {
      if (slot.inflight === 0) void inst.stop();
      return;
    }
    if (this.#waiters.length > 0) this.#serveWaiters();
    if (slot.inflight === 0) this.#idled(inst, slot);
  }

  /** The instance has nothing in flight: keep-alive starts (unless provisioned), and it may be collected or evicted. */
  #idled(inst: Instance, slot: Slot): void {
    if (!slot.provisioned) slot.keepAlive = this.#deps.clock.setTimeout(() => this.#expire(inst), this.#deps.keepAliveMs);
    this.#deps.onIdle?.(inst, true);
    this.#deps.capacity.idled();
  }

  #expire(inst: Instance): void {
    const slot = this.#slots.get(inst);
    if (!slot || slot.inflight > 0) return;
    void inst.stop();
  }

  /** An instance exited (crash, OOM, timeout kill, keep-alive, eviction): free its slot and capacity. */
  #onExit(inst: Instance): void {
    const slot = this.#slots.get(inst);
    if (!slot) return;
    this.#slots.delete(inst);
    slot.keepAlive?.cancel();
    this.#deps.onIdle?.(inst, false);
    if (slot.reserved) {
      slot.reserved = false;
      this.#deps.capacity.release(this.fn.memoryMb);
    }
    if (slot.provisioned) this.ensureProvisioned();
    this.#serveWaiters();
  }

  /** Idle, non-provisioned instances, least recently used first (candidates for eviction). */
  idleForEviction(): { inst: Instance; lastUsed: number }[] {
    const out: { inst: Instance; lastUsed: number }[] = [];
    // An instance already evicted (reservation given back, exit pending) is not a candidate again.
    for (const [inst, s] of this.#slots) if (!inst.exited && s.reserved && s.inflight === 0 && !s.provisioned) out.push({ inst, lastUsed: s.lastUsed });
    return out;
  }

  /** Stops an idle instance to make room elsewhere; its capacity is released at once. Returns the MB freed. */
  evict(inst: Instance): number {
    const slot = this.#slots.get(inst);
    if (!slot || slot.inflight > 0 || !slot.reserved) return 0;
    slot.keepAlive?.cancel();
    slot.keepAlive = undefined;
    slot.reserved = false;
    this.#deps.capacity.release(this.fn.memoryMb);
    void inst.stop();
    return this.fn.memoryMb;
  }

  /** Starts provisioned instances until the target is up (in the background). */
  ensureProvisioned(): void {
    if (this.#closed) return;
    this.#provisionBlocked = false;
    let have = this.#provisioning;
    for (const [inst, s] of this.#slots) if (s.provisioned && !inst.exited) have++;
    for (; have < this.#provisionTarget; have++) {
      if (!this.#reserve()) { this.#provisionBlocked = true; return; } // retried when capacity frees (#serveWaiters)
      this.#provisioning++;
      this.#startReserved(true).then(
        // The target may have dropped while it started: it joins as an ordinary instance then.
        () => { this.#provisioning--; this.#fitProvisioned(); this.#serveWaiters(); },
        (err: unknown) => {
          this.#provisioning--;
          this.#deps.onProvisionError(this.fn, err);
        },
      );
    }
  }

  /**
   * Hands waiters a warm instance, oldest first, and starts instances for those without one while
   * the function's limit and the host's capacity allow (a request, or capacity freed).
   */
  #serveWaiters(): void {
    if (this.#closed) return;
    while (this.#waiters.length > 0) {
      // Oldest first, but not a request whose start has sent its invocation already.
      const i = this.#waiters.findIndex((w) => !w.start?.bound);
      if (i < 0) break;
      const warm = this.#pickWarm();
      if (!warm) break;
      const waiter = this.#waiters.splice(i, 1)[0]!;
      waiter.timer?.cancel();
      const start = waiter.start;
      waiter.start = undefined;
      if (start) this.#handOver(start);
      waiter.resolve(this.#lease(warm, false));
    }
    for (const waiter of this.#waiters) {
      if (waiter.start) continue;
      if (!this.#canStart() || !this.#reserve()) break;
      this.#launch(waiter);
    }
    if (this.#waiters.every((w) => w.start)) {
      this.ensureProvisioned();
      if (this.#waiters.length === 0 && !this.#provisionBlocked) {
        this.#unsubscribe?.();
        this.#unsubscribe = undefined;
      }
    }
  }

  /** Stops every idle instance now, and busy ones as they finish; waiters are failed. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    for (const w of this.#waiters.splice(0)) {
      // A retire: its invocation runs in the instance starting for it, and is answered there.
      if (w.start?.bound && !this.#stopping) {
        this.#waiters.push(w);
        continue;
      }
      w.timer?.cancel();
      if (w.start) {
        // Still queued for a start slot: the live version's starts go first.
        w.start.owner = undefined;
        w.start.abort.abort();
      }
      w.reject(retired('the function was removed or redeployed while the request waited'));
    }
    const stops: Promise<void>[] = [];
    for (const [inst, s] of this.#slots) {
      if (s.inflight === 0) {
        s.keepAlive?.cancel();
        stops.push(inst.stop());
      }
    }
    await Promise.all(stops);
  }

  /** Stops everything, busy instances included (server shutdown). */
  async destroy(): Promise<void> {
    this.#stopping = true;
    await this.close();
    await Promise.all([...this.#slots.keys()].map((i) => i.stop()));
  }
}

/**
 * The pool closed under a request (its version is no longer live): the invoker resolves the
 * qualifier again and tries the version that is live now, so a deploy fails no request.
 */
export function retired(message: string): NimbusError {
  return Object.assign(new NimbusError('INTERNAL', message), { poolRetired: true });
}

export function isRetired(err: unknown): boolean {
  return (err as { poolRetired?: boolean } | null)?.poolRetired === true;
}
