// Workflows in the embedded store: definitions per app (replaced by each deploy), executions with
// the engine's state, history events, pending work (tasks and timers, leased when claimed) and task
// tokens. Everything lives in the main file (synchronous=FULL): a step is acknowledged only after
// its commit. Executions keep running when their workflow is redeployed (each carries a copy of the
// definition it started with); a workflow removed takes its executions with it.
import { NimbusError } from '../../errors.ts';
import type { DesiredApp } from '../types.ts';
import {
  executionArn, type ExecutionQuery, type ExecutionRecord, type ExecutionRow, type ExecutionStatus, type HistoryRecord, type NewExecution, type NewWork, type StepCommit,
  type WorkflowRecord, type WorkflowsStore, type WorkItem, type WorkKind, type WorkRemoval,
} from '../workflows.ts';
import { type Row, type Sql, num, str } from './sql.ts';

export class SqliteWorkflows implements WorkflowsStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Inside applyApp's transaction: the app's workflows become the manifest's. */
  applyWorkflows(desired: DesiredApp, now: number): void {
    const sql = this.#sql;
    const wanted = desired.workflows ?? [];
    for (const w of wanted) {
      const owner = sql.get('SELECT app FROM wf_definitions WHERE name = ? AND app != ?', w.name, desired.name);
      if (owner) throw new NimbusError('WORKFLOW_CONFLICT', `workflow "${w.name}" already belongs to app "${String(owner.app)}"; workflow names are unique across apps`);
    }
    const before = new Map(sql.all('SELECT name, definition FROM wf_definitions WHERE app = ?', desired.name).map((r) => [String(r.name), String(r.definition)]));
    for (const w of wanted) {
      if (before.get(w.name) !== w.definition) {
        sql.run('INSERT INTO wf_definitions(name, app, definition, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at', w.name, desired.name, w.definition, now);
      }
      before.delete(w.name);
    }
    for (const name of before.keys()) this.#drop(name);
  }

  dropApp(app: string): void {
    for (const r of this.#sql.all('SELECT name FROM wf_definitions WHERE app = ?', app)) this.#drop(String(r.name));
  }

  /**
   * A workflow leaves with its executions, their history, work and tokens: running ones stop where
   * they are. (Execution ids are the workflow's name and the execution's: kept, they would pass to
   * the next workflow of that name, whatever its app.)
   */
  #drop(workflow: string): void {
    const sql = this.#sql;
    const ids = 'SELECT id FROM wf_executions WHERE workflow = ?';
    sql.run(`DELETE FROM wf_history WHERE execution IN (${ids})`, workflow);
    sql.run(`DELETE FROM wf_tokens WHERE execution IN (${ids})`, workflow);
    sql.run(`DELETE FROM wf_work WHERE execution IN (${ids})`, workflow);
    // Starts a rule or schedule asked for and not made yet (no execution row): they would start the next workflow of this name.
    const prefix = executionArn(workflow, '');
    sql.run("DELETE FROM wf_work WHERE kind = 'start' AND substr(execution, 1, length(?)) = ?", prefix, prefix);
    sql.run('DELETE FROM wf_executions WHERE workflow = ?', workflow);
    sql.run('DELETE FROM wf_definitions WHERE name = ?', workflow);
  }

  async listWorkflows(app?: string): Promise<WorkflowRecord[]> {
    const rows = app === undefined ? this.#sql.all('SELECT * FROM wf_definitions ORDER BY name') : this.#sql.all('SELECT * FROM wf_definitions WHERE app = ? ORDER BY name', app);
    return rows.map(toWorkflow);
  }

  async getWorkflow(name: string): Promise<WorkflowRecord | undefined> {
    const r = this.#sql.get('SELECT * FROM wf_definitions WHERE name = ?', name);
    return r ? toWorkflow(r) : undefined;
  }

  async createExecution(e: NewExecution): Promise<boolean> {
    return this.#sql.tx(() => {
      const inserted = this.#sql.run(
        `INSERT INTO wf_executions(id, workflow, name, status, input, output, error, cause, definition, state, version, started_at, stopped_at, redrive_count, trace)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, 0, ?) ON CONFLICT(id) DO NOTHING`,
        e.execution, e.workflow, e.name, e.status, e.input, e.output, e.error, e.cause, e.definition, e.state, e.startedAt, e.stoppedAt, e.trace,
      );
      if (inserted === 0) return false;
      this.#writeStep(e.execution, e.status, e.events, e.add, [], e.tokens);
      return true;
    });
  }

  async getExecution(id: string): Promise<ExecutionRow | undefined> {
    const r = this.#sql.get('SELECT * FROM wf_executions WHERE id = ?', id);
    return r ? { ...toExecution(r), definition: String(r.definition), state: String(r.state), version: Number(r.version), trace: str(r.trace) } : undefined;
  }

  async listExecutions(q: ExecutionQuery): Promise<ExecutionRecord[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.workflow !== undefined) { where.push('workflow = ?'); params.push(q.workflow); }
    if (q.status !== undefined) { where.push('status = ?'); params.push(q.status); }
    if (q.before !== undefined) { where.push('started_at < ?'); params.push(q.before); }
    const sql = `SELECT id, workflow, name, status, input, output, error, cause, started_at, stopped_at, redrive_count FROM wf_executions
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id LIMIT ?`;
    return this.#sql.all(sql, ...params, q.limit).map(toExecution);
  }

  async history(id: string, afterId: number, limit: number): Promise<HistoryRecord[]> {
    return this.#sql.all('SELECT * FROM wf_history WHERE execution = ? AND id > ? ORDER BY id LIMIT ?', id, afterId, limit).map((r) => ({
      id: Number(r.id), previousEventId: Number(r.previous_id), type: String(r.type), timestamp: Number(r.ts), frameId: String(r.frame), details: JSON.parse(String(r.details)) as Record<string, unknown>,
    }));
  }

  async commitStep(c: StepCommit): Promise<boolean> {
    return this.#sql.tx(() => {
      const moved = this.#sql.run(
        `UPDATE wf_executions SET state = ?, status = ?, output = ?, error = ?, cause = ?, stopped_at = ?, version = version + 1, redrive_count = COALESCE(?, redrive_count)
         WHERE id = ? AND version = ?`,
        c.state, c.status, c.output, c.error, c.cause, c.stoppedAt, c.redriveCount ?? null, c.execution, c.expectedVersion,
      );
      if (moved === 0) return false;
      this.#writeStep(c.execution, c.status, c.events, c.add, c.remove, c.tokens);
      return true;
    });
  }

  #writeStep(execution: string, status: ExecutionStatus, events: HistoryRecord[], add: NewWork[], remove: WorkRemoval[], tokens: { token: string; taskId: string }[]): void {
    const sql = this.#sql;
    for (const e of events) {
      sql.run('INSERT INTO wf_history(execution, id, previous_id, type, ts, frame, details) VALUES (?, ?, ?, ?, ?, ?, ?)', execution, e.id, e.previousEventId, e.type, e.timestamp, e.frameId, JSON.stringify(e.details));
    }
    for (const r of remove) {
      if ('seq' in r) sql.run('DELETE FROM wf_work WHERE seq = ?', r.seq);
      else if (r.kind) sql.run('DELETE FROM wf_work WHERE execution = ? AND ref = ? AND kind = ?', execution, r.ref, r.kind);
      else {
        sql.run('DELETE FROM wf_work WHERE execution = ? AND ref = ?', execution, r.ref);
        sql.run('DELETE FROM wf_tokens WHERE execution = ? AND task_id = ?', execution, r.ref);
      }
    }
    if (status !== 'RUNNING') {
      // An ended execution awaits nothing: whatever is left (a task in flight) is dropped with it.
      sql.run('DELETE FROM wf_work WHERE execution = ?', execution);
      sql.run('DELETE FROM wf_tokens WHERE execution = ?', execution);
      return;
    }
    for (const w of add) sql.run('INSERT INTO wf_work(execution, kind, ref, due_at, lease_until, data) VALUES (?, ?, ?, ?, NULL, ?)', execution, w.kind, w.ref, w.dueAt, w.data);
    for (const t of tokens) sql.run('INSERT INTO wf_tokens(token, execution, task_id) VALUES (?, ?, ?)', t.token, execution, t.taskId);
  }

  async claimWork(now: number, leaseUntil: number, limits: { tasks: number; timers: number }): Promise<WorkItem[]> {
    return this.#sql.tx(() => {
      const pick = (kinds: string, limit: number) => limit <= 0 ? [] : this.#sql.all(
        `SELECT w.*, (SELECT started_at FROM wf_executions e WHERE e.id = w.execution) AS execution_started_at FROM wf_work w
         WHERE w.kind ${kinds} AND w.due_at <= ? AND (w.lease_until IS NULL OR w.lease_until <= ?) ORDER BY w.due_at, w.seq LIMIT ?`, now, now, limit);
      const rows = [...pick("= 'task'", limits.tasks), ...pick("!= 'task'", limits.timers)];
      for (const r of rows) this.#sql.run('UPDATE wf_work SET lease_until = ? WHERE seq = ?', leaseUntil, Number(r.seq));
      return rows.map((r) => ({
        seq: Number(r.seq), execution: String(r.execution), kind: String(r.kind) as WorkKind, ref: String(r.ref), dueAt: Number(r.due_at), data: String(r.data),
        ...(r.execution_started_at === null ? {} : { executionStartedAt: Number(r.execution_started_at) }),
      }));
    });
  }

  async nextWorkDue(opts: { tasks?: boolean } = {}): Promise<number | undefined> {
    // Each query reads one partial index (migration wf_work_free...): no scan of wf_work per loop pass.
    const free = opts.tasks === false
      ? this.#sql.get("SELECT MIN(due_at) AS at FROM wf_work WHERE lease_until IS NULL AND kind != 'task'")
      : this.#sql.get('SELECT MIN(due_at) AS at FROM wf_work WHERE lease_until IS NULL');
    // Leased items are few (running tasks, timers being applied): reading them all is cheap.
    const leased = this.#sql.get(`SELECT MIN(MAX(due_at, lease_until)) AS at FROM wf_work WHERE lease_until IS NOT NULL${opts.tasks === false ? " AND kind != 'task'" : ''}`);
    const times = [num(free?.at), num(leased?.at)].filter((t): t is number => t !== null && t !== undefined);
    return times.length ? Math.min(...times) : undefined;
  }

  async releaseWorkLeases(): Promise<void> {
    this.#sql.run('UPDATE wf_work SET lease_until = NULL WHERE lease_until IS NOT NULL');
  }

  async releaseWork(seq: number, dueAt: number): Promise<void> {
    this.#sql.run('UPDATE wf_work SET due_at = ?, lease_until = NULL WHERE seq = ?', dueAt, seq);
  }

  async removeWork(seq: number): Promise<void> {
    this.#sql.run('DELETE FROM wf_work WHERE seq = ?', seq);
  }

  async findToken(token: string): Promise<{ execution: string; taskId: string } | undefined> {
    const r = this.#sql.get('SELECT execution, task_id FROM wf_tokens WHERE token = ?', token);
    return r ? { execution: String(r.execution), taskId: String(r.task_id) } : undefined;
  }

  async heartbeat(execution: string, taskId: string, now: number): Promise<boolean> {
    return this.#sql.run("UPDATE wf_work SET due_at = ? + CAST(data AS INTEGER) WHERE execution = ? AND ref = ? AND kind = 'heartbeat'", now, execution, taskId) > 0;
  }
}

function toWorkflow(r: Row): WorkflowRecord {
  return { name: String(r.name), app: String(r.app), definition: String(r.definition), updatedAt: Number(r.updated_at) };
}

function toExecution(r: Row): ExecutionRecord {
  return {
    id: String(r.id), workflow: String(r.workflow), name: String(r.name), status: String(r.status) as ExecutionStatus, input: String(r.input),
    output: str(r.output), error: str(r.error), cause: str(r.cause), startedAt: Number(r.started_at), stoppedAt: num(r.stopped_at), redriveCount: Number(r.redrive_count),
  };
}
