// Rollouts: a deploy with a canary or linear strategy leaves `live` on the old version and records
// a rollout; this runner takes its steps. The first step pre-warms the new version (its provisioned
// count, at least one instance) before any traffic; each step moves the alias's weight, and every
// check compares what the new version did since the rollout began (invocation records) against
// the guard — too many errors or a slow p99 points the alias back and marks the rollout rolled back
// with the reason. Steps are compare-and-set in the store, so a second node never takes one twice.
import { ROLLOUT_CHECK_MS } from '../config/limits.ts';
import type { Logger } from '../observability/logger.ts';
import type { Scheduler } from '../scheduler/index.ts';
import type { Store } from '../store/types.ts';
import { type AliasRecord, DEFAULT_ALIAS, type RolloutRecord, type RolloutUpdate, type VersionStats } from '../store/versions.ts';
import type { Clock, Timer } from '../util/clock.ts';
import { NimbusError } from '../errors.ts';
import type { Registry } from './registry.ts';
import { Serial } from '../util/serial.ts';

export interface RolloutDeps {
  store: Store;
  registry: Registry;
  scheduler: Scheduler;
  clock: Clock;
  logger: Logger;
  checkEveryMs?: number;
}

export class RolloutRunner {
  readonly #deps: RolloutDeps;
  #timer: Timer | undefined;
  readonly #serial = new Serial();
  #stopped = false;

  constructor(deps: RolloutDeps) {
    this.#deps = deps;
  }

  start(): void {
    const loop = (): void => {
      if (this.#stopped) return;
      this.#timer = this.#deps.clock.setTimeout(() => void this.tick().catch((err: unknown) => this.#deps.logger.error({ err }, 'rollouts: a check failed')).finally(loop), this.#deps.checkEveryMs ?? ROLLOUT_CHECK_MS);
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#serial.idle();
  }

  /** Checks every running rollout once (one pass at a time: a call during a pass runs after it). */
  tick(now?: number): Promise<void> {
    return this.#serial.run(() => this.#tick(now ?? this.#deps.clock.now()));
  }

  async #tick(now: number): Promise<void> {
    // Each rollout on its own: one slow pre-warm must not hold back another's guard.
    const running = await this.#deps.store.versions.listRollouts({ status: 'running' });
    const changed = await Promise.all(running.map(async (r) => {
      try {
        return await this.#advance(r, now);
      } catch (err) {
        this.#deps.logger.error({ err, fn: r.fn, rollout: r.id }, 'rollout: could not take a step');
        return false;
      }
    }));
    if (changed.includes(true) && !this.#stopped) await this.#deps.registry.refresh();
  }

  async #advance(r: RolloutRecord, now: number): Promise<boolean> {
    const stats = await this.#deps.store.versions.versionStats(r.fn, r.toVersion, r.startedAt);
    const failure = guardFailure(r, stats);
    if (failure) return this.#rollBack(r, stats, failure, now);
    if (r.nextAt === null || r.nextAt > now) return false;
    if (r.weight === 0) {
      const fn = this.#deps.registry.functions.get(r.fn);
      const version = this.#deps.registry.versions.get(r.fn)?.get(r.toVersion);
      if (!fn || !version) return this.#rollBack(r, stats, `version ${r.toVersion} no longer exists`, now);
      try {
        await this.#deps.scheduler.prewarm(version, 1);
      } catch (err) {
        // Only the version's own init failing condemns it; a throttle, a full host or a shutdown
        // under the pre-warm is tried again at the next check.
        const failed = (err as { functionError?: { errorType: string; errorMessage: string } }).functionError;
        if (!failed || this.#stopped) {
          this.#deps.logger.info({ fn: r.fn, rollout: r.id, err }, 'rollout: pre-warm did not finish; trying again');
          return false;
        }
        return this.#rollBack(r, stats, `version ${r.toVersion} failed to start: ${failed.errorType}: ${failed.errorMessage}`, now);
      }
      if (this.#stopped) return false;
      // The step is taken when the pre-warm is done (with a real clock, a moment after `now`).
      now = Math.max(now, this.#deps.clock.now());
    }
    const s = r.strategy;
    if (s.kind === 'all-at-once') return this.#finish(r, stats, now);
    const weight = s.kind === 'canary' ? (r.weight === 0 ? s.percent : 100) : Math.min(100, r.weight + s.percent);
    if (weight >= 100) return this.#finish(r, stats, now);
    return this.#step(r, {
      status: 'running', weight, nextAt: now + s.intervalMs,
      step: { at: now, weight, ...statsOf(stats), note: `version ${r.toVersion} takes ${weight}%` },
      alias: { version: r.fromVersion, extraVersion: r.toVersion, extraWeight: weight },
    }, now);
  }

  #finish(r: RolloutRecord, stats: VersionStats, now: number): Promise<boolean> {
    return this.#step(r, {
      status: 'succeeded', weight: 100, nextAt: null,
      step: { at: now, weight: 100, ...statsOf(stats), note: `version ${r.toVersion} takes all traffic` },
      alias: { version: r.toVersion, extraVersion: null, extraWeight: 0 },
    }, now);
  }

  #rollBack(r: RolloutRecord, stats: VersionStats, reason: string, now: number): Promise<boolean> {
    this.#deps.logger.warn({ fn: r.fn, rollout: r.id, from: r.fromVersion, to: r.toVersion, reason }, `rollout of ${r.fn} rolled back: ${reason}`);
    return this.#step(r, {
      status: 'rolled-back', weight: 0, nextAt: null, reason,
      step: { at: now, weight: 0, ...statsOf(stats), note: `rolled back to version ${r.fromVersion}: ${reason}` },
      alias: { version: r.fromVersion, extraVersion: null, extraWeight: 0 },
    }, now);
  }

  async #step(r: RolloutRecord, u: RolloutUpdate, now: number): Promise<boolean> {
    const ok = await this.#deps.store.versions.stepRollout(r.id, r.steps.length, u, now);
    if (ok) this.#deps.logger.info({ fn: r.fn, rollout: r.id, status: u.status, weight: u.weight }, u.step.note);
    return ok;
  }

  /**
   * `nimbus rollback <fn>`: a running rollout is rolled back; otherwise `live` goes back to the
   * version before the one it points to (the newest older one still kept). Answers where it points now.
   */
  async rollback(fnName: string, now = this.#deps.clock.now()): Promise<{ alias: AliasRecord; rollout: number | null }> {
    const fn = this.#deps.registry.functions.get(fnName);
    if (!fn) throw new NimbusError('FUNCTION_NOT_FOUND', `no function named "${fnName}"`);
    // A running rollout is rolled back; if a step lands first (the compare-and-set fails), look again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const [running] = await this.#deps.store.versions.listRollouts({ fn: fnName, status: 'running' });
      if (!running) break;
      const stats = await this.#deps.store.versions.versionStats(fnName, running.toVersion, running.startedAt);
      if (await this.#rollBack(running, stats, 'rolled back by hand', now)) {
        await this.#deps.registry.refresh();
        return { alias: this.#deps.registry.aliases.get(fnName)!.get(DEFAULT_ALIAS)!, rollout: running.id };
      }
    }
    await this.#deps.registry.refresh();
    const live = this.#deps.registry.aliases.get(fnName)?.get(DEFAULT_ALIAS);
    const current = live?.version ?? fn.revision;
    // The newest kept version before live's that no rollout rejected: never back onto a version known to fail.
    const rejected = new Set((await this.#deps.store.versions.listRollouts({ fn: fnName, status: 'rolled-back', limit: 1000 })).map((r) => r.toVersion));
    const older = [...(this.#deps.registry.versions.get(fnName)?.keys() ?? [])].filter((v) => v < current && !rejected.has(v)).sort((a, b) => b - a)[0];
    if (older === undefined) throw new NimbusError('VERSION_NOT_FOUND', `function "${fnName}" has no kept version before ${current} that a rollout did not reject; point live with nimbus alias ${fnName} live <version>`);
    const alias = await this.#deps.store.versions.setAlias(fnName, DEFAULT_ALIAS, { version: older, extraVersion: null, extraWeight: 0 }, now);
    await this.#deps.registry.refresh();
    this.#deps.logger.warn({ fn: fnName, from: current, to: older }, `${fnName}: live rolled back by hand`);
    return { alias, rollout: null };
  }
}

/** Why the guard stops the rollout, or undefined while the new version behaves. */
export function guardFailure(r: Pick<RolloutRecord, 'guard' | 'toVersion'>, s: VersionStats): string | undefined {
  if (s.invocations < r.guard.minRequests) return undefined;
  const rate = (s.errors / s.invocations) * 100;
  if (rate > r.guard.maxErrorRate) return `error rate ${rate.toFixed(1)}% (${s.errors} of ${s.invocations} invocations of version ${r.toVersion}) is over ${r.guard.maxErrorRate}%`;
  if (r.guard.maxP99Ms !== null && s.p99Ms !== null && s.p99Ms > r.guard.maxP99Ms) return `p99 ${s.p99Ms.toFixed(1)} ms over ${s.invocations} invocations of version ${r.toVersion} is over ${r.guard.maxP99Ms} ms`;
  return undefined;
}

function statsOf(s: VersionStats): { invocations: number; errors: number; p99Ms: number | null } {
  return { invocations: s.invocations, errors: s.errors, p99Ms: s.p99Ms === null ? null : Math.round(s.p99Ms * 10) / 10 };
}
