// The versions seam (issue 8): immutable numbered versions of each function, aliases that point to
// one version or split traffic between two, and rollouts that move an alias step by step. A
// function's version number is its revision: every deploy that changes its code or configuration
// publishes the next one, and `$LATEST` is the newest. Every method is one transaction at most.
import type { FunctionRecord } from './types.ts';

/** The alias every function has: routes, triggers and invokes without a qualifier go through it. */
export const DEFAULT_ALIAS = 'live';

/** A published version: the function's configuration and code as they were (`revision` is its number). */
export interface VersionRecord extends FunctionRecord {
  createdAt: number;
}

export interface AliasRecord {
  fn: string;
  name: string;
  version: number;
  /** A second version taking `extraWeight` percent of the traffic (a canary), or null. */
  extraVersion: number | null;
  extraWeight: number;
  /** Instances of the alias's versions kept initialised; null: for `live`, each version's own `concurrency.provisioned`, for others none. */
  provisioned: number | null;
  updatedAt: number;
}

/** Where an alias points; `provisioned` left out keeps what the alias had. */
export type AliasTarget = Pick<AliasRecord, 'version' | 'extraVersion' | 'extraWeight'> & { provisioned?: number | null };

/** How a deploy moves `live` to a new version. */
export type RolloutStrategy =
  | { kind: 'all-at-once' }
  /** `percent` for `intervalMs`, then everything. */
  | { kind: 'canary'; percent: number; intervalMs: number }
  /** `percent` more every `intervalMs` until everything. */
  | { kind: 'linear'; percent: number; intervalMs: number };

/** When a rollout gives up and points the alias back: the new version's error rate or p99 over a bound. */
export interface RolloutGuard {
  /** Percent of the new version's invocations that failed (default 1). */
  maxErrorRate: number;
  /** Invocations of the new version before the error rate counts (default 20). */
  minRequests: number;
  /** p99 duration bound in ms, or null for none. */
  maxP99Ms: number | null;
}

export type RolloutStatus = 'running' | 'succeeded' | 'rolled-back' | 'superseded';

export interface RolloutStep {
  at: number;
  /** The new version's share after this step (percent). */
  weight: number;
  /** What the new version did since the rollout began, when the step was taken. */
  invocations: number;
  errors: number;
  p99Ms: number | null;
  note: string;
}

export interface RolloutRecord {
  id: number;
  fn: string;
  alias: string;
  fromVersion: number;
  toVersion: number;
  strategy: RolloutStrategy;
  guard: RolloutGuard;
  status: RolloutStatus;
  reason: string | null;
  /** The new version's current share (percent). */
  weight: number;
  /** When the next step is due (null once finished). */
  nextAt: number | null;
  startedAt: number;
  updatedAt: number;
  steps: RolloutStep[];
}

/** A change to a running rollout, applied only if it still has the steps its caller saw (another node may have moved it). */
export interface RolloutUpdate {
  status: RolloutStatus;
  weight: number;
  nextAt: number | null;
  reason?: string | null;
  step: RolloutStep;
  /** Where the alias points after this step. */
  alias: AliasTarget;
}

/** What the new version of a rollout did since it began (from the invocation records). */
export interface VersionStats {
  invocations: number;
  errors: number;
  p99Ms: number | null;
}

export interface VersionsStore {
  listVersions(fn?: string): Promise<VersionRecord[]>;
  listAliases(fn?: string): Promise<AliasRecord[]>;
  /** Creates or moves an alias; VERSION_NOT_FOUND when a version does not exist. */
  setAlias(fn: string, name: string, target: AliasTarget, now: number): Promise<AliasRecord>;
  /** False when there was no such alias; `live` cannot be deleted (BAD_REQUEST). */
  deleteAlias(fn: string, name: string): Promise<boolean>;
  listRollouts(q: { fn?: string; status?: RolloutStatus; limit?: number }): Promise<RolloutRecord[]>;
  /** Takes a step of a running rollout and moves its alias with it, in one transaction; false when it moved meanwhile (its step count is no longer `seenSteps`). */
  stepRollout(id: number, seenSteps: number, u: RolloutUpdate, now: number): Promise<boolean>;
  /** The new version's invocations since `sinceMs`: how many, how many failed, and the p99 duration. */
  versionStats(fn: string, version: number, sinceMs: number): Promise<VersionStats>;
}
