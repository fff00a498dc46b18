// The embedded store: node:sqlite in WAL mode. Methods are async to match the store seam even
// though node:sqlite is synchronous; each method is one transaction at most.
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { NimbusError } from '../../errors.ts';
import { methodsOverlap, normalizeRoutePath } from '../routes.ts';
import type {
  AppRecord, ApplyResult, AsyncEvent, BudgetAlert, BudgetRecord, Claim, Delivery, DesiredApp, DesiredFunction, FunctionRecord, InvocationQuery, InvocationRecord,
  LogEntry, LogLevel, LogQuery, NewMessage, Outcome, PayloadVersion, Permissions, UsageRow, QueueRecord, QueueStats, QueueTriggerRecord, ReceiptResult,
  ReceivedMessage, RouteRecord, RuleEndpoint, RuleRecord, ScheduleRecord, SentMessage, Store, TopicRecord, WebhookDelivery,
} from '../types.ts';
import { LOG_LEVELS } from '../types.ts';
import { MIGRATIONS, RECORD_MIGRATIONS } from './schema.ts';
import { type Row, Sql } from './sql.ts';
import { WorkStore } from './work.ts';
import { SqliteObjects } from './objects.ts';
import { SqliteKv } from './kv.ts';
import { SqliteBudgets } from './budgets.ts';
import { SqliteVersions } from './versions.ts';
import { DEFAULT_GUARD, DEFAULT_KEEP_VERSIONS } from '../../config/limits.ts';
import { SqliteWorkflows } from './workflows.ts';

// Rows of a table one step of pruneRecords() or expireMessages() deletes at most: ~2 ms of the event
// loop for log lines (800,000: ~0.7 s of steps, the loop held at most 9 ms at a time; in one DELETE,
// 1.0 s at once); queue messages, with four indexes, take longer (100,000 expired: the loop held at
// most 17.6 ms at a time, where one DELETE held it 269 ms).
const STEP_ROWS = 2000;
// Between two steps, the event loop is let go for this many times as long as the step took.
const STEP_YIELD = 3;

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly #db: DatabaseSync;
  /** Logs and invocation records: written on every request, so kept apart and never fsynced. */
  readonly #rec: DatabaseSync;
  readonly #m: Sql;
  readonly #r: Sql;
  readonly #work: WorkStore;
  readonly objects: SqliteObjects;
  readonly kv: SqliteKv;
  readonly workflows: SqliteWorkflows;
  readonly #budgets: SqliteBudgets;
  readonly versions: SqliteVersions;

  /** `path` is the main database file; records go to the same name with `.records` before the extension. */
  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    // FULL: queue messages and async events are acknowledged once committed, so a commit must
    // survive a power cut, not only a crash (measured: ~160 µs per transaction here).
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
    this.#m = new Sql(this.#db);
    migrate(this.#m, MIGRATIONS);
    this.#rec = new DatabaseSync(path === ':memory:' ? ':memory:' : path.replace(/(\.db)?$/, '.records$1'));
    // Losing the last moments of logs in a power cut is acceptable; blocking requests on fsync is not.
    this.#rec.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA busy_timeout = 5000;');
    this.#r = new Sql(this.#rec);
    migrate(this.#r, RECORD_MIGRATIONS);
    this.#work = new WorkStore(this.#m);
    this.objects = new SqliteObjects(this.#m, this.#work);
    this.kv = new SqliteKv(this.#m);
    this.workflows = new SqliteWorkflows(this.#m);
    this.#budgets = new SqliteBudgets(this.#m);
    this.versions = new SqliteVersions(this.#m, this.#r, () => this.#bumpGeneration());
  }

  #tx<T>(fn: () => T, db = this.#db): T {
    return (db === this.#rec ? this.#r : this.#m).tx(fn);
  }

  #stmt(sql: string, db = this.#db): StatementSync {
    return (db === this.#rec ? this.#r : this.#m).stmt(sql);
  }

  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#m.all(sql, ...params);
  }

  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#m.get(sql, ...params);
  }

  #run(sql: string, ...params: SQLInputValue[]): number {
    return this.#m.run(sql, ...params);
  }

  #bumpGeneration(): void {
    this.#run("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'config_generation'");
  }

  async close(): Promise<void> {
    this.#m.close();
    this.#r.close();
  }

  async applyApp(desired: DesiredApp, now: number): Promise<ApplyResult> {
    return this.#tx(() => {
      const existing = this.#get('SELECT spec_hash FROM apps WHERE name = ?', desired.name);
      if (existing && existing.spec_hash === desired.specHash) {
        return {
          status: 'unchanged', created: [], updated: [], removed: [], routes: this.#routesOf(desired.name), queues: { names: this.#work.queuesOf(desired.name), created: [], removed: [] },
          buckets: { names: this.#namesOf('buckets', desired.name), created: [], removed: [] }, tables: { names: this.#namesOf('kv_tables', desired.name), created: [], removed: [] },
        };
      }
      for (const f of desired.functions) {
        const owner = this.#get('SELECT app FROM functions WHERE name = ? AND app != ?', f.name, desired.name);
        if (owner) {
          throw new NimbusError('FUNCTION_CONFLICT', `function "${f.name}" already belongs to app "${owner.app}"; function names are unique across apps — rename it or remove it from "${owner.app}" first`);
        }
      }
      for (const r of desired.routes) {
        for (const other of this.#all('SELECT app, method, path FROM routes WHERE norm_path = ? AND app != ?', normalizeRoutePath(r.path), desired.name)) {
          if (methodsOverlap(String(other.method), r.method)) {
            throw new NimbusError('ROUTE_CONFLICT', `route ${r.method} ${r.path} overlaps ${other.method} ${other.path}, owned by app "${other.app}"; nothing was deployed`);
          }
        }
      }
      this.#run('INSERT INTO apps(name, spec_hash, deployed_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET spec_hash = excluded.spec_hash, deployed_at = excluded.deployed_at', desired.name, desired.specHash, now);
      const created: string[] = [];
      const updated: string[] = [];
      const before = new Map(this.#all('SELECT * FROM functions WHERE app = ?', desired.name).map((row) => [String(row.name), toFunction(row)]));
      this.#run('DELETE FROM routes WHERE app = ?', desired.name);
      for (const f of desired.functions) {
        const old = before.get(f.name);
        before.delete(f.name);
        if (old && sameFunction(old, f)) continue;
        const revision = old ? old.revision + 1 : 1;
        this.#run(
          `INSERT INTO functions(name, app, handler, export_name, memory_mb, timeout_ms, environment, concurrency_max, queue_timeout_ms, provisioned, per_instance, async_config, secrets, permissions, code_sha, revision, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(name) DO UPDATE SET handler = excluded.handler, export_name = excluded.export_name, memory_mb = excluded.memory_mb,
             timeout_ms = excluded.timeout_ms, environment = excluded.environment, concurrency_max = excluded.concurrency_max, queue_timeout_ms = excluded.queue_timeout_ms, provisioned = excluded.provisioned, per_instance = excluded.per_instance, async_config = excluded.async_config, secrets = excluded.secrets, permissions = excluded.permissions,
             code_sha = excluded.code_sha, revision = excluded.revision, updated_at = excluded.updated_at`,
          f.name, desired.name, f.handler, f.exportName, f.memoryMb, f.timeoutMs, JSON.stringify(f.environment), f.concurrencyMax, f.queueTimeoutMs, f.provisioned, f.perInstance, JSON.stringify(f.async), JSON.stringify(f.secrets), JSON.stringify(f.permissions), f.codeSha, revision, now,
        );
        (old ? updated : created).push(f.name);
        this.versions.publish(f, revision, !old, {
          strategy: desired.rollout?.strategies[f.name]?.strategy ?? { kind: 'all-at-once' }, guard: desired.rollout?.strategies[f.name]?.guard ?? DEFAULT_GUARD,
        }, now);
      }
      const removed = [...before.keys()];
      for (const name of removed) this.#run('DELETE FROM functions WHERE name = ?', name);
      for (const r of desired.routes) {
        this.#run('INSERT INTO routes(app, method, path, norm_path, fn, payload, qualifier, workflow, sync_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', desired.name, r.method, r.path, normalizeRoutePath(r.path), r.fn, r.payload, r.qualifier, r.workflow ?? null, r.syncMs ?? null);
      }
      const queues = this.#work.applyQueues(desired);
      // After routes and queue triggers are in: they may pin versions.
      this.versions.collect(desired.name, desired.rollout?.keepVersions ?? DEFAULT_KEEP_VERSIONS);
      this.#work.applySchedules(desired, now);
      this.#work.applyTopics(desired);
      this.#work.applyRules(desired);
      const bucketsBefore = this.#namesOf('buckets', desired.name);
      const tablesBefore = this.#namesOf('kv_tables', desired.name);
      this.objects.applyBuckets(desired);
      this.kv.applyTables(desired, now);
      this.#budgets.apply(desired, now);
      this.workflows.applyWorkflows(desired, now);
      this.#bumpGeneration();
      return {
        status: 'applied', created, updated, removed, routes: this.#routesOf(desired.name), queues: { names: this.#work.queuesOf(desired.name), ...queues },
        buckets: changes(bucketsBefore, this.#namesOf('buckets', desired.name)), tables: changes(tablesBefore, this.#namesOf('kv_tables', desired.name)),
      };
    });
  }

  /** Names of an app's buckets or KV tables, sorted. */
  #namesOf(table: 'buckets' | 'kv_tables', app: string): string[] {
    return this.#all(`SELECT name FROM ${table} WHERE app = ? ORDER BY name`, app).map((r) => String(r.name));
  }

  #routesOf(app: string): RouteRecord[] {
    return this.#all('SELECT * FROM routes WHERE app = ? ORDER BY path, method', app).map(toRoute);
  }

  async getApp(name: string): Promise<AppRecord | undefined> {
    const row = this.#get('SELECT * FROM apps WHERE name = ?', name);
    return row ? this.#toApp(row) : undefined;
  }

  async listApps(): Promise<AppRecord[]> {
    return this.#all('SELECT * FROM apps ORDER BY name').map((row) => this.#toApp(row));
  }

  #toApp(row: Row): AppRecord {
    const name = String(row.name);
    return {
      name,
      specHash: String(row.spec_hash),
      deployedAt: Number(row.deployed_at),
      functions: this.#all('SELECT name FROM functions WHERE app = ? ORDER BY name', name).map((r) => String(r.name)),
      routes: this.#routesOf(name),
    };
  }

  async deleteApp(name: string): Promise<boolean> {
    return this.#tx(() => {
      // Refuses (TABLE_NOT_EMPTY, BUCKET_NOT_EMPTY) while the app's tables or buckets hold data, as a deploy does.
      this.kv.dropApp(name, Date.now());
      this.objects.dropApp(name);
      this.workflows.dropApp(name);
      const changes = this.#run('DELETE FROM apps WHERE name = ?', name);
      if (changes > 0) this.#bumpGeneration();
      return changes > 0;
    });
  }

  async getFunction(name: string): Promise<FunctionRecord | undefined> {
    const row = this.#get('SELECT * FROM functions WHERE name = ?', name);
    return row ? toFunction(row) : undefined;
  }

  async listFunctions(): Promise<FunctionRecord[]> {
    return this.#all('SELECT * FROM functions ORDER BY name').map(toFunction);
  }

  async deleteFunction(name: string): Promise<boolean> {
    return this.#tx(() => {
      const row = this.#get('SELECT app FROM functions WHERE name = ?', name);
      if (!row) return false;
      this.#run('DELETE FROM functions WHERE name = ?', name);
      // The app's desired state changed outside a deploy: forget its hash so the next deploy applies.
      this.#run("UPDATE apps SET spec_hash = '' WHERE name = ?", String(row.app));
      this.#bumpGeneration();
      return true;
    });
  }

  async listRoutes(): Promise<RouteRecord[]> {
    return this.#all('SELECT * FROM routes ORDER BY path, method').map(toRoute);
  }

  async configGeneration(): Promise<number> {
    return Number(this.#get("SELECT value FROM meta WHERE key = 'config_generation'")!.value);
  }

  async putCode(sha: string, bytes: Uint8Array): Promise<void> {
    this.#run('INSERT INTO code(sha, bytes) VALUES (?, ?) ON CONFLICT(sha) DO NOTHING', sha, bytes);
  }

  async getCode(sha: string): Promise<Uint8Array | undefined> {
    const row = this.#get('SELECT bytes FROM code WHERE sha = ?', sha);
    return row ? (row.bytes as Uint8Array) : undefined;
  }

  async pruneCode(): Promise<number> {
    return this.#run('DELETE FROM code WHERE sha NOT IN (SELECT code_sha FROM functions UNION SELECT code_sha FROM function_versions)');
  }

  async appendRecords(batch: { logs: LogEntry[]; invocations: InvocationRecord[] }): Promise<void> {
    if (batch.logs.length === 0 && batch.invocations.length === 0) return;
    this.#tx(() => {
      const log = this.#stmt('INSERT INTO logs(ts, fn, request_id, level, message) VALUES (?, ?, ?, ?, ?)', this.#rec);
      for (const e of batch.logs) log.run(e.ts, e.fn, e.requestId, e.level, e.message);
      const inv = this.#stmt(`INSERT INTO invocations(request_id, fn, revision, trigger, started_at, duration_ms, billed_duration_ms,
        init_duration_ms, memory_mb, max_memory_used_mb, cold, outcome, error_type, provisioned, trace_id, qualifier) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, this.#rec);
      for (const r of batch.invocations) {
        inv.run(r.requestId, r.fn, r.revision, r.trigger, r.startedAt, r.durationMs, r.billedDurationMs, r.initDurationMs, r.memoryMb, r.maxMemoryUsedMb, r.cold ? 1 : 0, r.outcome, r.errorType, r.provisioned ? 1 : 0, r.traceId ?? null, r.qualifier ?? null);
      }
      this.#addUsage(usageOf(batch.invocations));
    }, this.#rec);
  }

  async listBudgets(): Promise<BudgetRecord[]> {
    return this.#budgets.list();
  }

  async claimBudgetAlert(a: BudgetAlert): Promise<boolean> {
    return this.#tx(() => this.#budgets.claimAlert(a));
  }

  async releaseBudgetAlert(a: BudgetAlert): Promise<void> {
    this.#tx(() => this.#budgets.releaseAlert(a));
  }

  async listBudgetAlerts(month: string): Promise<BudgetAlert[]> {
    return this.#budgets.alerts(month);
  }

  async addUsage(rows: UsageRow[]): Promise<void> {
    if (rows.length) this.#tx(() => this.#addUsage(rows), this.#rec);
  }

  #addUsage(rows: UsageRow[]): void {
    const up = this.#stmt(`INSERT INTO usage_hourly(fn, hour, requests, errors, throttles, cold_starts, billed_mb_ms, provisioned_billed_mb_ms, provisioned_mb_ms, init_ms)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(fn, hour) DO UPDATE SET requests = requests + excluded.requests, errors = errors + excluded.errors,
      throttles = throttles + excluded.throttles, cold_starts = cold_starts + excluded.cold_starts, billed_mb_ms = billed_mb_ms + excluded.billed_mb_ms,
      provisioned_billed_mb_ms = provisioned_billed_mb_ms + excluded.provisioned_billed_mb_ms, provisioned_mb_ms = provisioned_mb_ms + excluded.provisioned_mb_ms,
      init_ms = init_ms + excluded.init_ms`, this.#rec);
    for (const u of rows) up.run(u.fn, u.hour, u.requests, u.errors, u.throttles, u.coldStarts, Math.round(u.billedMbMs), Math.round(u.provisionedBilledMbMs), Math.round(u.provisionedMbMs), u.initMs);
  }

  async queryUsage(q: { sinceMs: number; untilMs?: number; fn?: string }): Promise<UsageRow[]> {
    const rows = this.#rec.prepare(`SELECT * FROM usage_hourly WHERE hour >= ? AND hour < ?${q.fn === undefined ? '' : ' AND fn = ?'} ORDER BY fn, hour`)
      .all(q.sinceMs, q.untilMs ?? Number.MAX_SAFE_INTEGER, ...(q.fn === undefined ? [] : [q.fn])) as Row[];
    return rows.map((r) => ({
      fn: String(r.fn), hour: Number(r.hour), requests: Number(r.requests), errors: Number(r.errors), throttles: Number(r.throttles), coldStarts: Number(r.cold_starts),
      billedMbMs: Number(r.billed_mb_ms), provisionedBilledMbMs: Number(r.provisioned_billed_mb_ms), provisionedMbMs: Number(r.provisioned_mb_ms), initMs: Number(r.init_ms),
    }));
  }

  async queryLogs(q: LogQuery): Promise<LogEntry[]> {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (q.fn !== undefined) { where.push('fn = ?'); params.push(q.fn); }
    if (q.requestId !== undefined) { where.push('request_id = ?'); params.push(q.requestId); }
    if (q.level !== undefined) {
      const levels = LOG_LEVELS.slice(LOG_LEVELS.indexOf(q.level));
      where.push(`level IN (${levels.map(() => '?').join(', ')})`);
      params.push(...levels);
    }
    if (q.sinceMs !== undefined) { where.push('ts >= ?'); params.push(q.sinceMs); }
    if (q.afterSeq !== undefined) { where.push('seq > ?'); params.push(q.afterSeq); }
    if (q.untilMs !== undefined) { where.push('ts < ?'); params.push(q.untilMs); }
    if (q.text !== undefined && q.text !== '') { where.push('instr(lower(message), lower(?)) > 0'); params.push(q.text); }
    const limit = Math.min(Math.max(q.limit ?? 1000, 1), 10_000);
    // Newest `limit` entries, returned oldest first; with afterSeq (following), the oldest after the cursor.
    const order = q.afterSeq !== undefined ? 'ASC' : 'DESC';
    const rows = this.#rec.prepare(`SELECT * FROM logs ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq ${order} LIMIT ${limit}`).all(...params) as Row[];
    if (order === 'DESC') rows.reverse();
    return rows.map((r) => ({
      seq: Number(r.seq), ts: Number(r.ts), fn: String(r.fn), requestId: r.request_id === null ? null : String(r.request_id),
      level: String(r.level) as LogLevel, message: String(r.message),
    }));
  }

  /**
   * Deletes from the oldest rows up, STEP_ROWS of each table at a time, each step a transaction of
   * its own with the event loop let go between steps (STEP_YIELD): one DELETE of a minute's rows at full speed
   * (~2 million log lines) held the server still for 2–3 s. Rows are taken by their place (seq), not
   * searched for by age (neither table has an index on time, which every insert would pay for): a row
   * written late (a long invocation's record) can outlive the age by as long as it was late.
   */
  async pruneRecords(opts: { maxRows: number; olderThanMs: number; signal?: AbortSignal }): Promise<number> {
    let n = 0;
    for (const [table, time] of [['logs', 'ts'], ['invocations', 'started_at']] as const) {
      await paced(() => {
        const step = this.#tx(() => this.#pruneStep(table, time, opts), this.#rec);
        n += step;
        return step;
      }, opts.signal);
    }
    return n;
  }

  /** One step of pruneRecords(): the table's oldest STEP_ROWS places, as far as they are over the count or the age. */
  #pruneStep(table: 'logs' | 'invocations', time: 'ts' | 'started_at', opts: { maxRows: number; olderThanMs: number }): number {
    // (MIN and MAX each from the end of the rowid's b-tree: asked together, SQLite would scan the table.)
    const lo = (this.#stmt(`SELECT MIN(seq) AS m FROM ${table}`, this.#rec).get() as Row).m;
    if (lo === null || lo === undefined) return 0;
    const hi = Number((this.#stmt(`SELECT MAX(seq) AS m FROM ${table}`, this.#rec).get() as Row).m);
    const end = Number(lo) + STEP_ROWS - 1;
    const overCount = Math.min(end, hi - opts.maxRows);
    let n = overCount >= Number(lo) ? Number(this.#stmt(`DELETE FROM ${table} WHERE seq <= ?`, this.#rec).run(overCount).changes) : 0;
    n += Number(this.#stmt(`DELETE FROM ${table} WHERE seq <= ? AND ${time} < ?`, this.#rec).run(end, opts.olderThanMs).changes);
    return n;
  }

  async listInvocations(q: InvocationQuery): Promise<InvocationRecord[]> {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (q.fn !== undefined) { where.push('fn = ?'); params.push(q.fn); }
    if (q.sinceMs !== undefined) { where.push('started_at >= ?'); params.push(q.sinceMs); }
    if (q.outcome !== undefined) { where.push('outcome = ?'); params.push(q.outcome); }
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 10_000);
    return (this.#rec.prepare(`SELECT * FROM invocations ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY started_at DESC LIMIT ${limit}`).all(...params) as Row[]).map((r) => ({
      requestId: String(r.request_id), fn: String(r.fn), revision: Number(r.revision), trigger: String(r.trigger) as InvocationRecord['trigger'],
      startedAt: Number(r.started_at), durationMs: Number(r.duration_ms), billedDurationMs: Number(r.billed_duration_ms),
      initDurationMs: r.init_duration_ms === null ? null : Number(r.init_duration_ms), memoryMb: Number(r.memory_mb),
      maxMemoryUsedMb: Number(r.max_memory_used_mb), cold: Number(r.cold) === 1, provisioned: Number(r.provisioned) === 1, outcome: String(r.outcome) as Outcome,
      errorType: r.error_type === null ? null : String(r.error_type), traceId: r.trace_id === null || r.trace_id === undefined ? null : String(r.trace_id),
      qualifier: r.qualifier === null || r.qualifier === undefined ? null : String(r.qualifier),
    }));
  }

  // --- durable work: queues and asynchronous invocations (work.ts) ------------------------------
  async getQueue(name: string): Promise<QueueRecord | undefined> { return this.#work.getQueue(name); }
  async listQueues(): Promise<QueueRecord[]> { return this.#work.listQueues(); }
  async listQueueTriggers(): Promise<QueueTriggerRecord[]> { return this.#work.listQueueTriggers(); }
  async sendMessages(queue: string, messages: NewMessage[], now: number, dedupWindowMs: number): Promise<SentMessage[]> { return this.#m.batched(() => this.#work.sendMessages(queue, messages, now, dedupWindowMs)); }
  async receiveMessages(queue: string, opts: { max: number; visibilityMs: number; receipt: string; maxBytes?: number }, now: number): Promise<ReceivedMessage[]> { return this.#m.batched(() => this.#work.receiveMessages(queue, opts, now)); }
  async deleteMessage(queue: string, seq: number, receipt: string): Promise<ReceiptResult> { return (await this.#m.batched(() => this.#work.deleteMessages(queue, [{ seq, receipt }])))[0]!; }
  async deleteMessages(queue: string, items: { seq: number; receipt: string }[]): Promise<ReceiptResult[]> { return this.#m.batched(() => this.#work.deleteMessages(queue, items)); }
  async changeVisibility(queue: string, seq: number, receipt: string, visibleAt: number): Promise<ReceiptResult> { return this.#m.batched(() => this.#work.changeVisibility(queue, seq, receipt, visibleAt)); }
  async purgeQueue(queue: string): Promise<number> { return this.#work.purgeQueue(queue); }
  async queueStats(queue: string, now: number): Promise<QueueStats> { return this.#work.queueStats(queue, now); }
  async nextVisibleAt(queue: string, now: number): Promise<number | undefined> { return this.#work.nextVisibleAt(queue, now); }
  async redriveMessages(dlq: string, opts: { to?: string; max: number }, now: number): Promise<number> { return this.#work.redriveMessages(dlq, opts, now); }
  /** In steps of STEP_ROWS, as pruneRecords(): a minute's expired messages can be a minute of a busy queue's sends. */
  async expireMessages(now: number, signal?: AbortSignal): Promise<number> {
    let n = 0;
    await paced(() => {
      const step = this.#work.expireMessages(now, STEP_ROWS);
      n += step.messages;
      return step.rows;
    }, signal);
    return n;
  }
  async putSecret(name: string, sealed: string, now: number): Promise<void> {
    this.#tx(() => {
      this.#run('INSERT INTO secrets(name, sealed, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at', name, sealed, now);
      // Instances hold secret values from their start: a new epoch restarts every version's instances with the new one.
      const granted = this.#all("SELECT name FROM functions WHERE EXISTS (SELECT 1 FROM json_each(functions.secrets) WHERE value = ?)", name);
      for (const f of granted) this.#run('UPDATE functions SET secrets_epoch = secrets_epoch + 1 WHERE name = ?', String(f.name));
      if (granted.length) this.#bumpGeneration();
    });
  }

  async getSecret(name: string): Promise<{ sealed: string; updatedAt: number } | undefined> {
    const r = this.#get('SELECT sealed, updated_at FROM secrets WHERE name = ?', name);
    return r ? { sealed: String(r.sealed), updatedAt: Number(r.updated_at) } : undefined;
  }

  async listSecrets(): Promise<{ name: string; updatedAt: number; grantedTo: string[] }[]> {
    const grants = new Map<string, string[]>();
    for (const f of this.#all('SELECT name, secrets FROM functions ORDER BY name')) {
      for (const s of JSON.parse(String(f.secrets)) as string[]) grants.set(s, [...(grants.get(s) ?? []), String(f.name)]);
    }
    return this.#all('SELECT name, updated_at FROM secrets ORDER BY name').map((r) => ({ name: String(r.name), updatedAt: Number(r.updated_at), grantedTo: grants.get(String(r.name)) ?? [] }));
  }

  async deleteSecret(name: string): Promise<boolean> {
    return this.#tx(() => {
      const users = this.#all("SELECT name FROM functions WHERE EXISTS (SELECT 1 FROM json_each(functions.secrets) WHERE value = ?) ORDER BY name", name).map((r) => String(r.name));
      if (users.length) throw new NimbusError('SECRET_IN_USE', `secret "${name}" is granted to ${users.join(', ')}; remove it from their manifests and deploy first`);
      return this.#run('DELETE FROM secrets WHERE name = ?', name) > 0;
    });
  }

  async listRules(): Promise<RuleRecord[]> { return this.#work.listRules(); }
  async listRuleEndpoints(): Promise<RuleEndpoint[]> { return this.#work.listRuleEndpoints(); }
  async listTopics(): Promise<TopicRecord[]> { return this.#work.listTopics(); }
  async deliver(deliveries: Delivery[], now: number): Promise<string[]> { return this.#m.batched(() => this.#work.deliver(deliveries, now)); }
  async claimWebhooks(max: number, now: number, leaseUntil: number): Promise<WebhookDelivery[]> { return this.#m.batched(() => this.#work.claimWebhooks(max, now, leaseUntil)); }
  async settleWebhook(claim: Claim, deliveries: Delivery[], now: number): Promise<void> { return this.#m.batched(() => this.#work.settleWebhook(claim, deliveries, now)); }
  async retryWebhook(claim: Claim, nextAt: number): Promise<void> { return this.#m.batched(() => this.#work.retryWebhook(claim, nextAt)); }
  async nextWebhookDue(): Promise<number | undefined> { return this.#work.nextWebhookDue(); }
  async releaseWebhookLeases(now: number): Promise<void> { this.#work.releaseWebhookLeases(now); }
  async listSchedules(): Promise<ScheduleRecord[]> { return this.#work.listSchedules(); }
  async setScheduleNext(name: string, nextAt: number | null, anchorMs?: number): Promise<void> { this.#work.setScheduleNext(name, nextAt, anchorMs); }
  async fireSchedule(name: string, dueAt: number, nextAt: number | null, firedAt: number, delivery: Delivery | undefined): Promise<boolean> { return this.#m.batched(() => this.#work.fireSchedule(name, dueAt, nextAt, firedAt, delivery)); }
  async setScheduleEnabled(name: string, enabled: boolean): Promise<boolean> { const ok = this.#work.setScheduleEnabled(name, enabled); if (ok) this.#bumpGeneration(); return ok; }
  async enqueueAsync(e: { requestId: string; fn: string; payload: string; idempotencyKey?: string }, now: number, windowMs: number): Promise<{ requestId: string; duplicate: boolean }> { return this.#m.batched(() => this.#work.enqueueAsync(e, now, windowMs)); }
  async claimAsync(max: number, now: number, leaseUntil: number, skipFns?: string[]): Promise<AsyncEvent[]> { return this.#m.batched(() => this.#work.claimAsync(max, now, leaseUntil, skipFns)); }
  async settleAsync(claim: Claim, deliveries: Delivery[], now: number): Promise<string[] | null> { return this.#m.batched(() => this.#work.settleAsync(claim, deliveries, now)); }
  async retryAsync(claim: Claim, nextAt: number, countAttempt: boolean): Promise<void> { return this.#m.batched(() => this.#work.retryAsync(claim, nextAt, countAttempt)); }
  async nextAsyncDue(): Promise<number | undefined> { return this.#work.nextAsyncDue(); }
  async releaseAsyncLeases(now: number): Promise<void> { this.#work.releaseAsyncLeases(now); }
  async asyncStats(fn: string | undefined, now: number): Promise<{ pending: number; retrying: number }> { return this.#work.asyncStats(fn, now); }
}

export const HOUR_MS = 3600_000;

/**
 * Each invocation's share of its hour's usage. Billed like Lambda: ceil(duration) ms, plus the init
 * duration of a cold start (ceil), times the memory size; throttled requests are not billed.
 */
function usageOf(records: InvocationRecord[]): UsageRow[] {
  const byKey = new Map<string, UsageRow>();
  for (const r of records) {
    const hour = Math.floor(r.startedAt / HOUR_MS) * HOUR_MS;
    const key = `${r.fn}\u0000${hour}`;
    let u = byKey.get(key);
    if (!u) byKey.set(key, (u = { fn: r.fn, hour, requests: 0, errors: 0, throttles: 0, coldStarts: 0, billedMbMs: 0, provisionedBilledMbMs: 0, provisionedMbMs: 0, initMs: 0 }));
    if (r.outcome === 'throttled') {
      u.throttles++;
      continue;
    }
    u.requests++;
    if (r.outcome !== 'success') u.errors++;
    if (r.cold) u.coldStarts++;
    const init = r.initDurationMs ?? 0;
    u.initMs += init;
    // An init-error's duration is its init: billed once.
    const mbMs = (r.billedDurationMs + (r.outcome === 'init-error' ? 0 : Math.ceil(init))) * r.memoryMb;
    if (r.provisioned) u.provisionedBilledMbMs += mbMs;
    else u.billedMbMs += mbMs;
  }
  return [...byKey.values()];
}

function changes(before: string[], after: string[]): { names: string[]; created: string[]; removed: string[] } {
  return { names: after, created: after.filter((n) => !before.includes(n)), removed: before.filter((n) => !after.includes(n)) };
}

function migrate(sql: Sql, migrations: string[]): void {
  const version = Number(sql.get('PRAGMA user_version')!.user_version);
  for (let v = version; v < migrations.length; v++) {
    sql.tx(() => {
      sql.db.exec(migrations[v]!);
      sql.db.exec(`PRAGMA user_version = ${v + 1}`);
    });
  }
}

function toFunction(row: Row): FunctionRecord {
  return {
    name: String(row.name), app: String(row.app), handler: String(row.handler), exportName: String(row.export_name),
    memoryMb: Number(row.memory_mb), timeoutMs: Number(row.timeout_ms), environment: JSON.parse(String(row.environment)) as Record<string, string>,
    concurrencyMax: Number(row.concurrency_max), queueTimeoutMs: Number(row.queue_timeout_ms), provisioned: Number(row.provisioned), perInstance: Number(row.per_instance), async: JSON.parse(String(row.async_config)) as FunctionRecord['async'], secrets: JSON.parse(String(row.secrets)) as string[], permissions: JSON.parse(String(row.permissions)) as Permissions, codeSha: String(row.code_sha), revision: Number(row.revision), updatedAt: Number(row.updated_at),
    secretsEpoch: Number(row.secrets_epoch ?? 0),
  };
}

function toRoute(row: Row): RouteRecord {
  return {
    app: String(row.app), method: String(row.method), path: String(row.path), fn: row.fn === null ? null : String(row.fn), payload: String(row.payload) as PayloadVersion,
    qualifier: row.qualifier === null ? null : String(row.qualifier), workflow: row.workflow === null ? null : String(row.workflow), syncMs: row.sync_ms === null ? null : Number(row.sync_ms),
  };
}

function sameFunction(a: FunctionRecord, b: DesiredFunction): boolean {
  return a.handler === b.handler && a.exportName === b.exportName && a.memoryMb === b.memoryMb && a.timeoutMs === b.timeoutMs
    && a.concurrencyMax === b.concurrencyMax && a.queueTimeoutMs === b.queueTimeoutMs && a.provisioned === b.provisioned && a.perInstance === b.perInstance && JSON.stringify(a.async) === JSON.stringify(b.async) && JSON.stringify(a.secrets) === JSON.stringify(b.secrets) && JSON.stringify(a.permissions) === JSON.stringify(b.permissions) && a.codeSha === b.codeSha && JSON.stringify(a.environment) === JSON.stringify(b.environment);
}

/**
 * Runs `step` until it does nothing (returns 0) or `signal` is aborted, letting the event loop go
 * between two steps for STEP_YIELD times as long as the step took: the work takes at most a quarter of it.
 */
async function paced(step: () => number, signal?: AbortSignal): Promise<void> {
  while (!signal?.aborted) {
    const t0 = performance.now();
    if (step() === 0) return;
    await new Promise((resolve) => setTimeout(resolve, STEP_YIELD * (performance.now() - t0)));
  }
}
