// The instance manager: one FunctionPool per function version, spare runtimes booted ahead of
// demand, and the host's capacity (instance cap, memory budget, start limiter) over all of them.
// A version no alias points to any more (after a deploy moved `live`) has its pool closed — idle
// instances stop at once, busy ones when their invocation ends; invoked again by number, it gets a
// new pool that keep-alive scales back to zero.
import { randomUUID } from 'node:crypto';
import { NimbusError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { Instance, type InstanceLog } from '../sandbox/instance.ts';
import { type SandboxLayout, UidPool } from '../sandbox/layout.ts';
import { Spawner } from '../sandbox/spawner.ts';
import type { FunctionRecord } from '../store/types.ts';
import type { Clock } from '../util/clock.ts';
import type { BundleCache } from './bundles.ts';
import { Capacity, type CapacityOptions } from './capacity.ts';
import { IdleCollector } from './idle-gc.ts';
import { type FirstInvocation, FunctionPool, type InstanceView, type Lease, type PoolStats } from './pool.ts';
import { SparePool } from './spares.ts';

export type { FirstInvocation, Lease } from './pool.ts';

export interface SchedulerOptions {
  layout: SandboxLayout;
  bundles: BundleCache;
  clock: Clock;
  keepAliveMs: number;
  logger: Logger;
  capacity: CapacityOptions;
  spares: { min: number; max: number };
  /** Keep and reuse V8 code caches per bundle (default on). */
  compileCache?: boolean;
  onLog: (fn: string, log: InstanceLog) => void;
  /** Init may take the function's timeout and at least this long (default 10 s; tests shorten it). */
  initTimeoutMinMs?: number;
  /** The values of the secrets a function is granted (added to its environment, redacted from its output). */
  secretsFor?: (fn: FunctionRecord) => Promise<Record<string, string>>;
  /** Builds the redaction of those values. */
  redactorFor?: (values: Record<string, string>) => ((text: string) => string) | undefined;
  /** A call from the function's code through the runtime SDK (authorised by the callee). */
  onCall?: (fn: FunctionRecord, op: string, args: unknown, requestId?: string, trace?: string) => Promise<unknown>;
}

export const DEFAULT_MEMORY_MB = 128;
const SPARE_DEMAND_WINDOW_MS = 10_000;
/** Init may take the function's timeout, and at least this (Lambda allows 10 s). */
const INIT_TIMEOUT_MIN_MS = 10_000;

export interface FunctionInstanceStats extends PoolStats {
  /** The newest version with a pool. */
  revision: number;
  /** Each version's own stats, when several run (a canary). */
  versions: Record<number, PoolStats>;
}

const poolKey = (fn: FunctionRecord): string => `${fn.name}@${fn.revision}#${fn.secretsEpoch ?? 0}`;
/** Handler styles learnt from inits, per bundle and export: at most this many kept. */
const MAX_STYLES = 4096;

export class Scheduler {
  readonly #opts: SchedulerOptions;
  readonly #uids = new UidPool();
  /** Starts every process (spares and instances) from a small process of its own: see spawner-process.ts. */
  readonly #spawner = new Spawner();
  readonly #pools = new Map<string, FunctionPool>();
  readonly #retired = new Set<FunctionPool>();
  readonly capacity: Capacity;
  readonly spares: SparePool;
  readonly #idle: IdleCollector;
  /** Each bundle export's handler style, as its instances' inits found it (what a cold start's invocation is built for). */
  readonly #styles = new Map<string, 'lambda' | 'fetch'>();
  #closed = false;

  constructor(opts: SchedulerOptions) {
    this.#opts = opts;
    this.capacity = new Capacity(opts.capacity);
    this.#idle = new IdleCollector(opts.clock);
    this.spares = new SparePool({
      ...opts.spares,
      defaultMemoryMb: DEFAULT_MEMORY_MB,
      windowMs: SPARE_DEMAND_WINDOW_MS,
      clock: opts.clock,
      logger: opts.logger,
      boot: (memoryMb) => this.capacity.startSlot(() => this.#boot(memoryMb, 'spare')),
      startIdle: () => this.capacity.startIdle,
    });
    this.spares.start();
  }

  /** An instance of the version; `first` is the invocation, sent with init if a cold start of its own serves it (the lease's instance then has it: Instance.takeFirst). */
  async acquire(fn: FunctionRecord, first?: FirstInvocation): Promise<Lease> {
    // After close, nothing may start a process (work still queued in memory stays in the store).
    if (this.#closed) throw new NimbusError('INTERNAL', 'the server is stopping');
    const lease = await this.#pool(fn).acquire(first);
    if (!lease.cold) return lease;
    // A replacement spare's boot takes a core for ~25 ms: start it once the cold start's own
    // invocation is answered, not while it runs.
    const release = lease.release;
    return { ...lease, release: () => { release(); this.spares.refillSoon(); } };
  }

  /** Keeps a just-deployed bundle on disk, ready for its first cold start. */
  keepBundle(sha: string, bytes: Uint8Array): void {
    this.#opts.bundles.keep(sha, bytes);
  }

  /** Starts the version's provisioned instances (at least `min`) and waits until they are initialised: a rollout pre-warms its new version. */
  async prewarm(fn: FunctionRecord, min: number): Promise<void> {
    const leases = [];
    try {
      const pool = this.#pool(fn);
      const want = Math.max(min, fn.provisioned) - pool.stats.idle - pool.stats.busy;
      for (let i = 0; i < want; i++) leases.push(this.acquire(fn));
      const settled = await Promise.allSettled(leases);
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    } finally {
      for (const l of await Promise.allSettled(leases)) if (l.status === 'fulfilled') l.value.release();
    }
  }

  #pool(fn: FunctionRecord): FunctionPool {
    let pool = this.#pools.get(poolKey(fn));
    if (!pool) {
      pool = new FunctionPool(fn, {
        clock: this.#opts.clock,
        keepAliveMs: this.#opts.keepAliveMs,
        capacity: this.capacity,
        evictElsewhere: (mb, n, except) => this.#evict(mb, n, except),
        startInstance: (f, onExit, signal, bind) => this.#start(f, onExit, signal, bind),
        onProvisionError: (f, err) => this.#opts.logger.warn({ fn: f.name, err }, 'could not start a provisioned instance'),
        onIdle: (inst, idle) => { if (idle) this.#idle.idled(inst); else this.#idle.busy(inst); },
        // It may have taken a spare; a cold lease refills when it is released (acquire), this one never is.
        onStartUnclaimed: () => this.spares.refillSoon(),
      });
      this.#pools.set(poolKey(fn), pool);
    }
    return pool;
  }

  #boot(memoryMb: number, kind: string): Promise<Instance> {
    this.#idle.startBegan();
    return Instance.boot({ id: `${kind}-${randomUUID().slice(0, 13)}`, layout: this.#opts.layout, uids: this.#uids, spawner: this.#spawner, memoryMb });
  }

  /** A cold start: a spare of the right size if one is ready, else a process booted now. */
  async #start(fn: FunctionRecord, onExit: (inst: Instance) => void, signal?: AbortSignal, bind?: () => FirstInvocation | undefined): Promise<Instance> {
    const t0 = performance.now();
    const bundlePath = await this.#opts.bundles.path(fn.codeSha);
    let secrets: Record<string, string> = {};
    try {
      if (this.#opts.secretsFor) secrets = await this.#opts.secretsFor(fn);
    } catch (err) {
      // An init failure of the function (its record says why), not an error of the request.
      const message = (err as Error).message;
      throw Object.assign(new Error(message), { functionError: { errorType: 'Runtime.SecretsUnavailable', errorMessage: message, trace: [] } });
    }
    if (this.#closed) throw new NimbusError('INTERNAL', 'the server is stopping');
    // Nobody waits for this start any more (an instance freed up first): leave the spare for others.
    signal?.throwIfAborted();
    const spare = this.spares.take(fn.memoryMb);
    this.#idle.startBegan();
    const inst = spare ?? await this.capacity.startSlot(() => this.#boot(fn.memoryMb, fn.name), signal);
    const booted = performance.now();
    const cache = this.#opts.compileCache ? this.#opts.bundles.compileCache(fn.codeSha) : undefined;
    // The request this start is for: its invocation goes right behind init, built for the style this
    // bundle's handler had before (a guess the first time: the runtime skips it if wrong, and it is sent again).
    const styleKey = `${fn.codeSha}:${fn.exportName}`;
    const first = bind?.();
    const style = this.#styles.get(styleKey) ?? (fn.exportName === 'default' ? 'fetch' : 'lambda');
    const built = first?.build(style);
    try {
      await inst.assign({
        bundlePath,
        compileCache: cache !== undefined,
        compileCacheDir: cache?.dir,
        eagerCompile: cache?.eager,
        measureCode: cache?.measure,
        onCompileCache: cache ? (dir, bytecodeBytes) => { this.#opts.bundles.keepCompileCache(fn.codeSha, dir, cache.eager, bytecodeBytes).catch((err: unknown) => this.#opts.logger.warn({ fn: fn.name, err }, 'could not keep the code cache')); } : undefined,
        handler: fn.handler,
        exportName: fn.exportName,
        initTimeoutMs: Math.max(this.#opts.initTimeoutMinMs ?? INIT_TIMEOUT_MIN_MS, fn.timeoutMs),
        redact: this.#opts.redactorFor?.(secrets),
        env: {
          ...fn.environment,
          ...secrets,
          AWS_LAMBDA_FUNCTION_NAME: fn.name,
          AWS_LAMBDA_FUNCTION_VERSION: String(fn.revision),
          AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
          AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
          AWS_LAMBDA_LOG_STREAM_NAME: inst.id,
          AWS_REGION: 'local',
          NIMBUS_FUNCTION_NAME: fn.name,
        },
        meta: {
          functionName: fn.name,
          functionVersion: String(fn.revision),
          memoryMb: fn.memoryMb,
          invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${fn.name}`,
          logStreamName: inst.id,
          // Names only (the host checks every call): fetch-style handlers get a handle per grant on `env`.
          grants: {
            buckets: Object.keys(fn.permissions.buckets), tables: Object.keys(fn.permissions.tables), queues: Object.keys(fn.permissions.queues),
            topics: Object.keys(fn.permissions.topics), functions: Object.keys(fn.permissions.functions), bus: fn.permissions.bus.includes('put'),
          },
        },
        onLog: (log) => this.#opts.onLog(fn.name, log),
        onCall: (op, args, requestId, trace) => (this.#opts.onCall ? this.#opts.onCall(fn, op, args, requestId, trace) : Promise.reject(new Error('no SDK host'))),
        onExit: (i) => {
          onExit(i);
          this.#opts.logger.debug({ fn: fn.name, instance: i.id }, 'instance exited');
        },
      }, first && built ? { frame: built.frame, style: built.styled ? style : undefined, onStart: () => first.onStart() } : undefined);
    } catch (err) {
      // Stopped by the server's shutdown (its processes are killed): not the function's init failing.
      if (this.#closed) throw new NimbusError('INTERNAL', 'the server is stopping');
      this.spares.refillSoon();
      throw err;
    }
    if (!this.#styles.has(styleKey) && this.#styles.size >= MAX_STYLES) this.#styles.delete(this.#styles.keys().next().value!);
    this.#styles.set(styleKey, inst.style);
    // Init duration: what this cold start waited for, boot included when no spare was ready.
    if (!spare) inst.initMs += booted - t0;
    this.#opts.logger.debug({ fn: fn.name, instance: inst.id, initMs: inst.initMs, spare: Boolean(spare) }, 'instance started');
    return inst;
  }

  /**
   * Frees room for another function by stopping idle instances, least recently used first. Spares
   * stay: they hold no reservation (the budget counts assigned instances), so stopping them would
   * free nothing it counts and turn the next cold starts into full boots.
   */
  #evict(neededMb: number, neededInstances: number, except: FunctionPool): void {
    const idle = [...this.#pools.values(), ...this.#retired]
      .filter((p) => p !== except)
      .flatMap((p) => p.idleForEviction().map((c) => ({ ...c, pool: p })))
      .sort((a, b) => a.lastUsed - b.lastUsed);
    let freedMb = 0;
    let freed = 0;
    for (const c of idle) {
      if (freedMb >= neededMb && freed >= neededInstances) break;
      const mb = c.pool.evict(c.inst);
      if (mb === 0) continue;
      freedMb += mb;
      freed++;
      this.#opts.logger.info({ fn: c.pool.fn.name, instance: c.inst.id, memoryMb: c.pool.fn.memoryMb }, 'evicted an idle instance to make room');
    }
    if (freedMb < neededMb || freed < neededInstances) {
      this.#opts.logger.info({ for: except.fn.name, neededMb, neededInstances, freedMb, freed, idleCandidates: idle.length, ...this.capacity.usage }, 'host capacity is short: the request waits');
    }
  }

  #retire(pool: FunctionPool): void {
    if (this.#pools.get(poolKey(pool.fn)) === pool) this.#pools.delete(poolKey(pool.fn));
    this.#retired.add(pool);
    void pool.close().then(() => this.#retired.delete(pool));
  }

  /**
   * Closes the pools of versions that are no longer `active` (the function is gone, or no alias
   * points to the version); starts the provisioned instances of `provisioned` (each function's
   * `live` version, and a canary's).
   */
  sync(current: Map<string, FunctionRecord>, active: Map<string, Set<number>>, provisioned: FunctionRecord[]): void {
    if (this.#closed) return;
    for (const pool of [...this.#pools.values()]) {
      const fn = current.get(pool.fn.name);
      if (!fn || !active.get(pool.fn.name)?.has(pool.fn.revision) || (fn.secretsEpoch ?? 0) !== (pool.fn.secretsEpoch ?? 0)) this.#retire(pool);
    }
    // `provisioned` holds each version to provision once, with its count; every other pool provisions none.
    const want = new Map(provisioned.map((f) => [poolKey(f), f]));
    for (const [key, pool] of this.#pools) if (!want.has(key)) pool.setProvisioned(0);
    for (const f of want.values()) if (f.provisioned > 0) this.#pool(f).setProvisioned(f.provisioned);
  }

  /** Each function's instances over all its versions. */
  stats(): Record<string, FunctionInstanceStats> {
    const out: Record<string, FunctionInstanceStats> = {};
    for (const pool of this.#pools.values()) {
      const s = pool.stats;
      const o = out[pool.fn.name] ??= { revision: 0, busy: 0, idle: 0, provisioned: 0, starting: 0, waiting: 0, inflight: 0, versions: {} };
      o.revision = Math.max(o.revision, pool.fn.revision);
      o.busy += s.busy; o.idle += s.idle; o.provisioned += s.provisioned; o.starting += s.starting; o.waiting += s.waiting; o.inflight += s.inflight;
      o.versions[pool.fn.revision] = s;
    }
    return out;
  }

  /** Every function's instances, the spare pool and the host's capacity (admin API, `nimbus ls`). */
  describe(): { functions: Record<string, FunctionInstanceStats & { instances: (InstanceView & { version: number })[] }>; spares: ReturnType<SparePool['stats']>; capacity: Record<string, number> } {
    const stats = this.stats();
    const functions: Record<string, FunctionInstanceStats & { instances: (InstanceView & { version: number })[] }> = {};
    for (const [name, s] of Object.entries(stats)) functions[name] = { ...s, instances: [] };
    for (const pool of this.#pools.values()) functions[pool.fn.name]!.instances.push(...pool.instances().map((i) => ({ ...i, version: pool.fn.revision })));
    return { functions, spares: this.spares.stats(), capacity: { ...this.capacity.opts, ...this.capacity.usage } };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#idle.close();
    const all = [...this.#pools.values(), ...this.#retired];
    this.#pools.clear();
    await Promise.all([...all.map((p) => p.destroy()), this.spares.close()]);
    await this.#spawner.close();
  }
}
