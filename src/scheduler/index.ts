// The instance manager: one FunctionPool per function revision. A redeploy (new revision) closes
// the old pool — idle instances stop at once, busy ones when their invocation ends.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../observability/logger.ts';
import { Instance, type InstanceLog } from '../sandbox/instance.ts';
import { type SandboxLayout, UidPool } from '../sandbox/layout.ts';
import type { FunctionRecord } from '../store/types.ts';
import type { Clock } from '../util/clock.ts';
import type { BundleCache } from './bundles.ts';
import { FunctionPool, type Lease } from './pool.ts';

export type { Lease } from './pool.ts';

export interface SchedulerOptions {
  layout: SandboxLayout;
  bundles: BundleCache;
  clock: Clock;
  keepAliveMs: number;
  logger: Logger;
  onLog: (fn: string, log: InstanceLog) => void;
}

export class Scheduler {
  readonly #opts: SchedulerOptions;
  readonly #uids = new UidPool();
  readonly #pools = new Map<string, FunctionPool>();
  readonly #retired = new Set<FunctionPool>();

  constructor(opts: SchedulerOptions) {
    this.#opts = opts;
  }

  acquire(fn: FunctionRecord): Promise<Lease> {
    let pool = this.#pools.get(fn.name);
    if (pool && pool.fn.revision !== fn.revision) {
      this.#retire(pool);
      pool = undefined;
    }
    if (!pool) {
      pool = new FunctionPool(fn, {
        clock: this.#opts.clock,
        keepAliveMs: this.#opts.keepAliveMs,
        startInstance: (f) => this.#start(f, pool!),
      });
      this.#pools.set(fn.name, pool);
    }
    return pool.acquire();
  }

  async #start(fn: FunctionRecord, pool: FunctionPool): Promise<Instance> {
    const bundlePath = await this.#opts.bundles.path(fn.codeSha);
    const id = `${fn.name}-${fn.revision}-${randomUUID().slice(0, 8)}`;
    const inst = await Instance.start({
      id,
      layout: this.#opts.layout,
      uids: this.#uids,
      bundlePath,
      handler: fn.handler,
      exportName: fn.exportName,
      memoryMb: fn.memoryMb,
      env: {
        ...fn.environment,
        AWS_LAMBDA_FUNCTION_NAME: fn.name,
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
        AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
        AWS_LAMBDA_LOG_STREAM_NAME: id,
        AWS_REGION: 'local',
        NIMBUS_FUNCTION_NAME: fn.name,
      },
      meta: {
        functionName: fn.name,
        functionVersion: '$LATEST',
        memoryMb: fn.memoryMb,
        invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${fn.name}`,
        logStreamName: id,
      },
      onLog: (log) => this.#opts.onLog(fn.name, log),
      onExit: (i) => {
        pool.onInstanceExit(i);
        this.#opts.logger.debug({ fn: fn.name, instance: i.id }, 'instance exited');
      },
    });
    this.#opts.logger.debug({ fn: fn.name, instance: id, initMs: inst.initMs }, 'instance started');
    return inst;
  }

  #retire(pool: FunctionPool): void {
    if (this.#pools.get(pool.fn.name) === pool) this.#pools.delete(pool.fn.name);
    this.#retired.add(pool);
    void pool.close().then(() => this.#retired.delete(pool));
  }

  /** Drops the pools of functions that no longer exist or changed revision. */
  sync(current: Map<string, FunctionRecord>): void {
    for (const pool of [...this.#pools.values()]) {
      const fn = current.get(pool.fn.name);
      if (!fn || fn.revision !== pool.fn.revision) this.#retire(pool);
    }
  }

  stats(): Record<string, { revision: number; busy: number; idle: number; starting: number; waiting: number }> {
    const out: Record<string, { revision: number; busy: number; idle: number; starting: number; waiting: number }> = {};
    for (const [name, pool] of this.#pools) out[name] = { revision: pool.fn.revision, ...pool.stats };
    return out;
  }

  async close(): Promise<void> {
    const all = [...this.#pools.values(), ...this.#retired];
    this.#pools.clear();
    await Promise.all(all.map((p) => p.destroy()));
  }
}
