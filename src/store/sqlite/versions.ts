// Versions, aliases and rollouts in the embedded store. `publish` runs inside applyApp's
// transaction: it stores the new version, then either points `live` at it (a new function, or the
// all-at-once strategy) or starts a rollout that the RolloutRunner steps. Old versions are kept
// (the newest N, and every version an alias or a running rollout names); the rest are deleted.
import { NimbusError } from '../../errors.ts';
import type { DesiredFunction, FunctionRecord } from '../types.ts';
import {
  type AliasRecord, type AliasTarget, DEFAULT_ALIAS, type RolloutGuard, type RolloutRecord, type RolloutStatus, type RolloutStep,
  type RolloutStrategy, type RolloutUpdate, type VersionRecord, type VersionsStore, type VersionStats,
} from '../versions.ts';
import type { Row, Sql } from './sql.ts';
import { describeStrategy } from '../../config/strategy.ts';

/** What a version keeps of its function: everything but the names and counters. */
type VersionConfig = Omit<DesiredFunction, 'name'>;

export class SqliteVersions implements VersionsStore {
  readonly #m: Sql;
  readonly #r: Sql;
  readonly #bump: () => void;

  constructor(main: Sql, records: Sql, bumpGeneration: () => void) {
    this.#m = main;
    this.#r = records;
    this.#bump = bumpGeneration;
  }

  /**
   * Inside applyApp: publishes version `version` of `f`. A new function's `live` points at it; a
   * changed one's moves at once (all-at-once) or through a rollout from where `live` points now. A
   * rollout still running for the function is superseded, and the new one starts from its old version.
   */
  publish(f: DesiredFunction, version: number, created: boolean, deploy: { strategy: RolloutStrategy; guard: RolloutGuard }, now: number): void {
    const { name: _name, ...config } = f;
    this.#m.run('INSERT INTO function_versions(fn, version, config, code_sha, created_at) VALUES (?, ?, ?, ?, ?)', f.name, version, JSON.stringify(config satisfies VersionConfig), f.codeSha, now);
    const live = this.#m.get('SELECT version FROM aliases WHERE fn = ? AND name = ?', f.name, DEFAULT_ALIAS);
    if (created || !live) {
      this.#setAlias(f.name, DEFAULT_ALIAS, { version, extraVersion: null, extraWeight: 0 }, now);
    } else {
      let base = Number(live.version);
      const running = this.#m.get("SELECT * FROM rollouts WHERE fn = ? AND status = 'running'", f.name);
      if (running) {
        base = Number(running.from_version);
        this.#finish(Number(running.id), 'superseded', `version ${version} was deployed`, now);
      }
      if (deploy.strategy.kind === 'all-at-once') {
        this.#setAlias(f.name, DEFAULT_ALIAS, { version, extraVersion: null, extraWeight: 0 }, now);
      } else {
        this.#setAlias(f.name, DEFAULT_ALIAS, { version: base, extraVersion: null, extraWeight: 0 }, now);
        const step: RolloutStep = { at: now, weight: 0, invocations: 0, errors: 0, p99Ms: null, note: `started: ${describeStrategy(deploy.strategy)} from version ${base} to ${version}` };
        this.#m.run(`INSERT INTO rollouts(fn, alias, from_version, to_version, strategy, guard, status, reason, weight, next_at, started_at, updated_at, steps)
          VALUES (?, ?, ?, ?, ?, ?, 'running', NULL, 0, ?, ?, ?, ?)`,
        f.name, DEFAULT_ALIAS, base, version, JSON.stringify(deploy.strategy), JSON.stringify(deploy.guard), now, now, now, JSON.stringify([step]));
      }
    }
  }

  /**
   * Inside applyApp, once the app's routes are in: a route naming a version number needs it to exist;
   * then each function keeps its newest `keep` versions and every version an alias, a running
   * rollout or a route names — the rest are deleted.
   */
  collect(app: string, keep: number): void {
    const pinned = [
      ...this.#m.all("SELECT fn, 'route ' || method || ' ' || path AS what, qualifier FROM routes WHERE app = ? AND qualifier GLOB '[0-9]*'", app),
      ...this.#m.all("SELECT fn, 'the trigger on queue ' || queue AS what, qualifier FROM queue_triggers WHERE app = ? AND qualifier GLOB '[0-9]*'", app),
    ];
    for (const r of pinned) {
      if (!this.#m.get('SELECT 1 AS x FROM function_versions WHERE fn = ? AND version = ?', String(r.fn), Number(r.qualifier))) {
        throw new NimbusError('BAD_REQUEST', `functions.${String(r.fn)}: ${String(r.what)} names version ${String(r.qualifier)}, which function "${String(r.fn)}" does not have; nothing was deployed`);
      }
    }
    for (const f of this.#m.all('SELECT name FROM functions WHERE app = ?', app)) this.#collect(String(f.name), keep);
  }

  /** Deletes versions older than the newest `keep` that no alias, running rollout or route names. */
  #collect(fn: string, keep: number): void {
    this.#m.run(`DELETE FROM function_versions WHERE fn = ?1
      AND version <= (SELECT MAX(version) FROM function_versions WHERE fn = ?1) - ?2
      AND version NOT IN (SELECT version FROM aliases WHERE fn = ?1)
      AND version NOT IN (SELECT extra_version FROM aliases WHERE fn = ?1 AND extra_version IS NOT NULL)
      AND version NOT IN (SELECT from_version FROM rollouts WHERE fn = ?1 AND status = 'running')
      AND version NOT IN (SELECT to_version FROM rollouts WHERE fn = ?1 AND status = 'running')
      AND version NOT IN (SELECT CAST(qualifier AS INTEGER) FROM routes WHERE fn = ?1 AND qualifier GLOB '[0-9]*')
      AND version NOT IN (SELECT CAST(qualifier AS INTEGER) FROM queue_triggers WHERE fn = ?1 AND qualifier GLOB '[0-9]*')`, fn, keep);
  }

  #finish(id: number, status: RolloutStatus, reason: string, now: number): void {
    const step: RolloutStep = { at: now, weight: 0, invocations: 0, errors: 0, p99Ms: null, note: `${status}: ${reason}` };
    this.#m.run("UPDATE rollouts SET status = ?, reason = ?, next_at = NULL, updated_at = ?, steps = json_insert(steps, '$[#]', json(?)) WHERE id = ?",
      status, reason, now, JSON.stringify(step), id);
  }

  async listVersions(fn?: string): Promise<VersionRecord[]> {
    const rows = this.#m.all(`SELECT v.*, f.app FROM function_versions v JOIN functions f ON f.name = v.fn${fn === undefined ? '' : ' WHERE v.fn = ?'} ORDER BY v.fn, v.version`, ...(fn === undefined ? [] : [fn]));
    return rows.map(toVersion);
  }

  async listAliases(fn?: string): Promise<AliasRecord[]> {
    return this.#m.all(`SELECT * FROM aliases${fn === undefined ? '' : ' WHERE fn = ?'} ORDER BY fn, name`, ...(fn === undefined ? [] : [fn])).map(toAlias);
  }

  async setAlias(fn: string, name: string, target: AliasTarget, now: number): Promise<AliasRecord> {
    return this.#m.tx(() => {
      if (!this.#m.get('SELECT 1 AS x FROM functions WHERE name = ?', fn)) throw new NimbusError('FUNCTION_NOT_FOUND', `no function named "${fn}"`);
      for (const v of [target.version, target.extraVersion]) {
        if (v !== null && !this.#m.get('SELECT 1 AS x FROM function_versions WHERE fn = ? AND version = ?', fn, v)) {
          throw new NimbusError('VERSION_NOT_FOUND', `function "${fn}" has no version ${v} (nimbus versions ${fn} lists them)`);
        }
      }
      const running = name === DEFAULT_ALIAS ? this.#m.get("SELECT id FROM rollouts WHERE fn = ? AND alias = ? AND status = 'running'", fn, name) : undefined;
      if (running) this.#finish(Number(running.id), 'superseded', 'the alias was set by hand', now);
      this.#setAlias(fn, name, target, now);
      this.#bump();
      return toAlias(this.#m.get('SELECT * FROM aliases WHERE fn = ? AND name = ?', fn, name)!);
    });
  }

  #setAlias(fn: string, name: string, t: AliasTarget, now: number): void {
    const keep = t.provisioned === undefined;
    this.#m.run(`INSERT INTO aliases(fn, name, version, extra_version, extra_weight, provisioned, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(fn, name) DO UPDATE SET version = excluded.version, extra_version = excluded.extra_version, extra_weight = excluded.extra_weight,
        ${keep ? '' : 'provisioned = excluded.provisioned, '}updated_at = excluded.updated_at`,
    fn, name, t.version, t.extraVersion, t.extraVersion === null ? 0 : t.extraWeight, t.provisioned ?? null, now);
  }

  async deleteAlias(fn: string, name: string): Promise<boolean> {
    if (name === DEFAULT_ALIAS) throw new NimbusError('BAD_REQUEST', `the "${DEFAULT_ALIAS}" alias cannot be deleted: routes and triggers without a qualifier go through it`);
    return this.#m.tx(() => {
      const n = this.#m.run('DELETE FROM aliases WHERE fn = ? AND name = ?', fn, name);
      if (n > 0) this.#bump();
      return n > 0;
    });
  }

  async listRollouts(q: { fn?: string; status?: RolloutStatus; limit?: number }): Promise<RolloutRecord[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.fn !== undefined) { where.push('fn = ?'); params.push(q.fn); }
    if (q.status !== undefined) { where.push('status = ?'); params.push(q.status); }
    return this.#m.all(`SELECT * FROM rollouts${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, ...params, q.limit ?? 100).map(toRollout);
  }

  async stepRollout(id: number, seenSteps: number, u: RolloutUpdate, now: number): Promise<boolean> {
    return this.#m.tx(() => {
      const row = this.#m.get("SELECT fn, alias FROM rollouts WHERE id = ? AND status = 'running' AND json_array_length(steps) = ?", id, seenSteps);
      if (!row) return false;
      this.#m.run("UPDATE rollouts SET status = ?, weight = ?, next_at = ?, reason = COALESCE(?, reason), updated_at = ?, steps = json_insert(steps, '$[#]', json(?)) WHERE id = ?",
        u.status, u.weight, u.nextAt, u.reason ?? null, now, JSON.stringify(u.step), id);
      this.#setAlias(String(row.fn), String(row.alias), u.alias, now);
      this.#bump();
      return true;
    });
  }

  async versionStats(fn: string, version: number, sinceMs: number): Promise<VersionStats> {
    const where = "fn = ? AND started_at >= ? AND revision = ? AND outcome != 'throttled'";
    const c = this.#r.get(`SELECT COUNT(*) AS n, SUM(outcome != 'success') AS errors FROM invocations WHERE ${where}`, fn, sinceMs, version)!;
    const n = Number(c.n);
    if (n === 0) return { invocations: 0, errors: 0, p99Ms: null };
    const p = this.#r.get(`SELECT duration_ms FROM invocations WHERE ${where} ORDER BY duration_ms LIMIT 1 OFFSET ?`, fn, sinceMs, version, Math.ceil(0.99 * n) - 1)!;
    return { invocations: n, errors: Number(c.errors), p99Ms: Number(p.duration_ms) };
  }
}

function toVersion(r: Row): VersionRecord {
  const c = JSON.parse(String(r.config)) as VersionConfig;
  return { ...c, name: String(r.fn), app: String(r.app), revision: Number(r.version), updatedAt: Number(r.created_at), createdAt: Number(r.created_at) } satisfies FunctionRecord & { createdAt: number };
}

function toAlias(r: Row): AliasRecord {
  return {
    fn: String(r.fn), name: String(r.name), version: Number(r.version), extraVersion: r.extra_version === null ? null : Number(r.extra_version), extraWeight: Number(r.extra_weight),
    provisioned: r.provisioned === null || r.provisioned === undefined ? null : Number(r.provisioned), updatedAt: Number(r.updated_at),
  };
}

function toRollout(r: Row): RolloutRecord {
  return {
    id: Number(r.id), fn: String(r.fn), alias: String(r.alias), fromVersion: Number(r.from_version), toVersion: Number(r.to_version),
    strategy: JSON.parse(String(r.strategy)) as RolloutStrategy, guard: JSON.parse(String(r.guard)) as RolloutGuard, status: String(r.status) as RolloutStatus,
    reason: r.reason === null ? null : String(r.reason), weight: Number(r.weight), nextAt: r.next_at === null ? null : Number(r.next_at),
    startedAt: Number(r.started_at), updatedAt: Number(r.updated_at), steps: JSON.parse(String(r.steps)) as RolloutStep[],
  };
}
