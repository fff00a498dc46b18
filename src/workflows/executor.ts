// The durable workflow executor: starts executions, and drives them with the pure engine
// (src/workflows/asl/) from work stored in the store — task invocations to run, timers to fire.
//   - Every step (engine state + history events + new work + the work it consumed) is one store
//     transaction; a caller (API, SDK) is answered after the commit.
//   - A loop claims due work with leases and sleeps on a Waker until the next due time or a kick
//     (no busy polling, no sleeping promises per Wait: timers are rows with a due time).
//   - Inputs to one execution are applied one batch at a time, in order; a burst (Map iterations
//     finishing together) folds into one commit.
//   - A crash loses nothing committed: at restart the embedded store releases every lease, so the
//     task that was running is invoked again (at least once) and due timers fire.
import { randomUUID } from 'node:crypto';
import { isNimbusError, NimbusError } from '../errors.ts';
import type { Invoker } from '../invoker/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { FunctionRecord, Store } from '../store/types.ts';
import { type ExecutionRecord, type ExecutionRow, executionArn, type StartRequest, type WorkItem, type WorkRemoval } from '../store/workflows.ts';
import type { Clock } from '../util/clock.ts';
import { Waker } from '../util/waker.ts';
import { joinTraceContext, parseTraceContext } from '../observability/trace-context.ts';
import { newTraceparent, type Tracing } from '../observability/tracing.ts';
import { createHash } from 'node:crypto';
import { type ExecState, failExecution, type InvokeTaskCommand, type Json, type Machine, MAX_PAYLOAD_BYTES, redrive, start, step, type StepInput, validateDefinition } from './asl/index.ts';
import { CommitBuilder } from './commit.ts';
import { runTask } from './tasks.ts';

/** Task invocations running at once on this server, over all executions (a 1,000-item Map cannot fork-bomb it). */
export const MAX_RUNNING_TASKS = 64;
/** Timer-like work claimed per pass. */
const CLAIM_TIMERS = 256;
/** A claimed item comes due again after this if its node dies holding it (cluster mode); covers the longest function timeout. */
const LEASE_MS = 20 * 60 * 1000;
const IDLE_WAIT_MS = 30_000;
/** Inputs folded into one commit at most. */
const BATCH_MAX = 500;
/** An execution's input, a task's output sent back, a state's output: AWS's 256 KB. */
export { MAX_PAYLOAD_BYTES };
/** The cache of running executions' states: at most this many, and this many bytes (as JSON) in all. */
const STATE_CACHE_ENTRIES = 1000;
const STATE_CACHE_BYTES = 64 * 1024 * 1024;
const NAME = /^[A-Za-z0-9_-]{1,80}$/;
const THROTTLE_RETRY_MAX_MS = 5000;

export { executionArn };
export const stateMachineArn = (workflow: string) => `arn:aws:states:local:000000000000:stateMachine:${workflow}`;
/** Accepts the ARN or its short form `workflow:name`. */
export const toExecutionId = (id: string) => (id.startsWith('arn:') ? id : `arn:aws:states:local:000000000000:execution:${id}`);

type Input = StepInput extends infer S ? S extends unknown ? Omit<S, 'now'> : never : never;
/** `token`: an answer to a task token (SendTask*), refused when the task no longer waits on it. */
/** `startedAt`: the execution the input is for (claimed work); dropped when the execution of that id now is a later one. */
interface Pending { input: Input | null; remove: WorkRemoval[]; token?: boolean; startedAt?: number; resolve: () => void; reject: (e: unknown) => void }

export interface ExecutorDeps {
  store: Store;
  invoker: Invoker;
  /** Records each execution's own span (start to end), the parent of its task invocations' spans. */
  tracing?: Tracing;
  functions: () => Map<string, FunctionRecord>;
  clock: Clock;
  logger: Logger;
  maxRunningTasks?: number;
}

export class WorkflowExecutor {
  readonly #d: ExecutorDeps;
  readonly #waker: Waker;
  readonly #maxTasks: number;
  readonly #machines = new Map<string, Machine>();
  readonly #inbox = new Map<string, Pending[]>();
  readonly #runs = new Set<Promise<unknown>>();
  readonly #ended = new Map<string, Set<() => void>>();
  /** Throttles per claimed task item (by seq), for its back-off. */
  readonly #throttles = new Map<number, number>();
  /** Running executions' states as last committed (by version): no parse per step, and the engine steps this copy in place. */
  readonly #states = new Map<string, { version: number; state: ExecState; bytes: number }>();
  #stateBytes = 0;
  #running = 0;
  #stopped = false;
  #loop: Promise<void> | undefined;

  constructor(deps: ExecutorDeps) {
    this.#d = deps;
    this.#waker = new Waker(deps.clock);
    this.#maxTasks = deps.maxRunningTasks ?? MAX_RUNNING_TASKS;
  }

  async start(): Promise<void> {
    await this.#d.store.workflows.releaseWorkLeases();
    this.#loop = this.#run();
  }

  get runningTasks(): number { return this.#running; }

  /** Starts an execution; it is stored (committed) before this returns. */
  /** `trace`: the caller's trace context (traceContext(); a new trace without): every task invocation of the execution continues it. */
  async startExecution(workflow: string, input: unknown, name: string = randomUUID(), trace: string = newTraceparent()): Promise<ExecutionRecord> {
    const { store, clock } = this.#d;
    const wf = await store.workflows.getWorkflow(workflow);
    if (!wf) throw new NimbusError('WORKFLOW_NOT_FOUND', `no workflow named "${workflow}"`);
    if (!NAME.test(name)) throw new NimbusError('BAD_REQUEST', `name: 1 to 80 letters, digits, - and _ (got "${name.slice(0, 100)}")`);
    const inputText = checkPayload(input === undefined ? {} : input, 'input');
    const id = executionArn(workflow, name);
    const now = clock.now();
    const r = start(this.#machine(wf.definition), { input: JSON.parse(inputText) as Json, now, executionId: id, executionName: name, stateMachineId: stateMachineArn(workflow), stateMachineName: workflow, seed: randomUUID() });
    const b = new CommitBuilder();
    b.take(r, now, runTrace(trace, id, 0));
    const c = b.build(id, 0, r.state, now);
    const created = await store.workflows.createExecution({ ...c, workflow, name, input: inputText, definition: wf.definition, startedAt: now, trace });
    if (!created) throw new NimbusError('EXECUTION_ALREADY_EXISTS', `workflow "${workflow}" already has an execution named "${name}"`);
    // A state kept for an execution of this id that went with its removed workflow is not this one's.
    this.#take(id);
    this.#after(id, c.status, b);
    this.#endSpan({ id, workflow, trace, redriveCount: 0, startedAt: now }, c);
    return (await this.describe(id));
  }

  async describe(id: string): Promise<ExecutionRecord> {
    const row = await this.#d.store.workflows.getExecution(toExecutionId(id));
    if (!row) throw new NimbusError('EXECUTION_NOT_FOUND', `no execution "${id}"`);
    const { definition: _d, state: _s, version: _v, trace: _t, ...rec } = row;
    return rec;
  }

  /** Resolves when the execution has ended, or after `ms`. */
  async waitForEnd(id: string, ms: number): Promise<void> {
    id = toExecutionId(id);
    let done!: () => void;
    const ended = new Promise<void>((r) => { done = r; });
    let set = this.#ended.get(id);
    if (!set) this.#ended.set(id, (set = new Set()));
    set.add(done);
    const timer = this.#d.clock.setTimeout(done, ms);
    try {
      const row = await this.#d.store.workflows.getExecution(id);
      if (row && row.status === 'RUNNING') await ended;
    } finally {
      timer.cancel();
      set.delete(done);
      if (set.size === 0) this.#ended.delete(id);
    }
  }

  async stopExecution(id: string, error?: string, cause?: string): Promise<ExecutionRecord> {
    const rec = await this.describe(id);
    if (rec.status === 'RUNNING') await this.#submit(rec.id, { kind: 'stop', error, cause }, []);
    return this.describe(rec.id);
  }

  /** Re-enters the top-level state that was running when a FAILED/TIMED_OUT/ABORTED execution ended. */
  async redrive(id: string): Promise<ExecutionRecord> {
    const { store, clock } = this.#d;
    const row = await store.workflows.getExecution(toExecutionId(id));
    if (!row) throw new NimbusError('EXECUTION_NOT_FOUND', `no execution "${id}"`);
    if (row.status === 'RUNNING' || row.status === 'SUCCEEDED') throw new NimbusError('EXECUTION_NOT_REDRIVABLE', `execution "${row.name}" is ${row.status}; only FAILED, TIMED_OUT or ABORTED executions can be redriven`);
    let last: { name: string; input: Json } | undefined;
    for (let after = 0; ;) {
      const page = await store.workflows.history(row.id, after, 1000);
      if (page.length === 0) break;
      for (const e of page) if (e.frameId === 'f0' && e.type.endsWith('StateEntered')) last = { name: String(e.details.name), input: e.details.input as Json };
      after = page[page.length - 1]!.id;
    }
    if (!last) throw new NimbusError('EXECUTION_NOT_REDRIVABLE', `execution "${row.name}" never entered a state`);
    const now = clock.now();
    const r = redrive(this.#machine(row.definition), JSON.parse(row.state) as ExecState, { stateName: last.name, input: last.input, now, redriveCount: row.redriveCount + 1 });
    const b = new CommitBuilder();
    b.take(r, now, runTrace(row.trace, row.id, row.redriveCount + 1));
    const c = { ...b.build(row.id, row.version, r.state, now), redriveCount: row.redriveCount + 1 };
    if (!(await store.workflows.commitStep(c))) throw new NimbusError('EXECUTION_NOT_REDRIVABLE', `execution "${row.name}" changed while being redriven; try again`);
    this.#runStarts.set(row.id, now);
    this.#after(row.id, c.status, b);
    this.#endSpan({ ...row, redriveCount: c.redriveCount }, c);
    return this.describe(row.id);
  }

  async sendTaskSuccess(token: string, output: unknown): Promise<void> {
    const t = await this.#token(token);
    const text = checkPayload(output === undefined ? {} : output, 'output');
    await this.#submit(t.execution, { kind: 'taskSucceeded', taskId: t.taskId, output: JSON.parse(text) as Json }, [{ ref: t.taskId }], true);
  }

  async sendTaskFailure(token: string, error = '', cause = ''): Promise<void> {
    const t = await this.#token(token);
    await this.#submit(t.execution, { kind: 'taskFailed', taskId: t.taskId, error, cause }, [{ ref: t.taskId }], true);
  }

  async sendTaskHeartbeat(token: string): Promise<void> {
    const t = await this.#token(token);
    await this.#d.store.workflows.heartbeat(t.execution, t.taskId, this.#d.clock.now());
  }

  /** The workflow whose execution awaits `token` (for the SDK's grant check); undefined when nothing awaits it. */
  async tokenWorkflow(token: unknown): Promise<string | undefined> {
    const t = typeof token === 'string' && token ? await this.#d.store.workflows.findToken(token) : undefined;
    return t ? (await this.#d.store.workflows.getExecution(t.execution))?.workflow : undefined;
  }

  async #token(token: string): Promise<{ execution: string; taskId: string }> {
    const t = typeof token === 'string' && token ? await this.#d.store.workflows.findToken(token) : undefined;
    if (!t) throw new NimbusError('TASK_TOKEN_NOT_FOUND', 'no task waits on that token (it ended, timed out, or its execution stopped)');
    return t;
  }

  #machine(definition: string): Machine {
    let m = this.#machines.get(definition);
    if (m) return m;
    const v = validateDefinition(JSON.parse(definition));
    if (!v.ok) throw new NimbusError('INTERNAL', `a stored workflow definition does not validate: ${v.errors[0]?.message}`);
    if (this.#machines.size >= 100) this.#machines.delete(this.#machines.keys().next().value!);
    this.#machines.set(definition, (m = v.machine));
    return m;
  }

  /** Queues an input for an execution; resolves once it is committed. */
  #submit(execution: string, input: Input | null, remove: WorkRemoval[], token = false, startedAt?: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let list = this.#inbox.get(execution);
      const idle = !list;
      if (!list) this.#inbox.set(execution, (list = []));
      list.push({ input, remove, token, startedAt, resolve, reject });
      if (idle) this.#track(this.#drain(execution));
    });
  }

  #track(p: Promise<unknown>): void {
    this.#runs.add(p);
    void p.finally(() => this.#runs.delete(p));
  }

  async #drain(execution: string): Promise<void> {
    // The inbox entry stays while draining, so later inputs join the next batch instead of a second drain.
    for (;;) {
      const list = this.#inbox.get(execution)!;
      if (list.length === 0) { this.#inbox.delete(execution); return; }
      const batch = list.splice(0, BATCH_MAX);
      try {
        const refused = await this.#apply(execution, batch);
        for (const p of batch) {
          if (refused.has(p)) p.reject(new NimbusError('TASK_TOKEN_NOT_FOUND', 'no task waits on that token (it was answered already, timed out, or its execution ended)'));
          else p.resolve();
        }
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
  }

  /**
   * Steps the batch's inputs in order and commits them as one step. Returns the token answers it
   * refused (their task no longer waits: answered already, timed out, or the execution ended).
   * An exception that is not an execution error (an engine bug, a value it cannot handle) fails the
   * execution with States.Runtime instead of leaving its work leased and the execution stuck.
   */
  async #apply(execution: string, batch: Pending[]): Promise<Set<Pending>> {
    const { store, clock, logger } = this.#d;
    let broken: { at: number; cause: string } | undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      const refused = new Set<Pending>();
      const row: ExecutionRow | undefined = await store.workflows.getExecution(execution);
      // Ended: its work was deleted with the last step; an answer arriving now is stale.
      if (!row || row.status !== 'RUNNING') return new Set(batch.filter((p) => p.token));
      // Answers for an earlier execution of this id (its workflow was removed, and made again): neither
      // stepped nor allowed to remove this execution's work.
      if (batch.some((p) => p.startedAt !== undefined && p.startedAt !== row.startedAt)) {
        batch = batch.filter((p) => p.startedAt === undefined || p.startedAt === row.startedAt);
        if (batch.length === 0) return new Set();
      }
      const machine = this.#machine(row.definition);
      const now = clock.now();
      const cached = this.#take(execution);
      // Stepped in place below: dropped unless the commit succeeds.
      let state = !broken && cached?.version === row.version ? cached.state : JSON.parse(row.state) as ExecState;
      const b = new CommitBuilder();
      let i = 0;
      try {
        for (; i < batch.length; i++) {
          const p = batch[i]!;
          if (p.token && p.input && 'taskId' in p.input && (state.status !== 'running' || state.waits[p.input.taskId] === undefined)) refused.add(p);
          else if (broken?.at === i) {
            const r = failExecution(machine, state, { error: 'States.Runtime', cause: broken.cause, now }, { inPlace: true });
            state = r.state;
            b.take(r, now, runTrace(row.trace, row.id, row.redriveCount));
          } else if (p.input) {
            const r = step(machine, state, { ...p.input, now } as StepInput, { inPlace: true });
            state = r.state;
            b.take(r, now, runTrace(row.trace, row.id, row.redriveCount));
          }
          b.remove.push(...p.remove);
        }
      } catch (err) {
        if (broken) throw err; // failing it threw too: leave it leased for a later try
        logger.error({ err, execution }, 'the workflow engine threw on an input; the execution fails with States.Runtime');
        broken = { at: i, cause: `The workflow engine could not process an input: ${err instanceof Error ? err.message : String(err)}` };
        attempt--;
        continue;
      }
      const c = b.build(execution, row.version, state, now);
      if (await store.workflows.commitStep(c)) {
        if (c.status === 'RUNNING') this.#remember(execution, row.version + 1, state, c.state.length);
        this.#after(execution, c.status, b);
        this.#endSpan(row, c);
        return refused;
      }
    }
    throw new NimbusError('INTERNAL', `execution ${execution}: could not commit a step (another writer kept moving it)`);
  }

  #take(execution: string): { version: number; state: ExecState } | undefined {
    const e = this.#states.get(execution);
    if (!e) return undefined;
    this.#states.delete(execution);
    this.#stateBytes -= e.bytes;
    return e;
  }

  /** `bytes`: the state's size as JSON (its length, near enough), so a few huge Map states cannot fill the memory. */
  #remember(execution: string, version: number, state: ExecState, bytes: number): void {
    if (bytes > STATE_CACHE_BYTES / 4) return;
    while (this.#states.size && (this.#states.size >= STATE_CACHE_ENTRIES || this.#stateBytes + bytes > STATE_CACHE_BYTES)) this.#take(this.#states.keys().next().value!);
    this.#states.set(execution, { version, state, bytes });
    this.#stateBytes += bytes;
  }

  /**
   * When a commit ended a run of an execution (its start, or a redrive), that run's span: from the
   * run's start to the commit, with what the commit wrote. Best effort: a crash between the commit
   * and this loses the span, and a redrive's start is known only to the node that redrove it (after
   * a restart the span starts where the execution first did).
   */
  #endSpan(run: { id: string; workflow: string; trace: string | null; redriveCount: number; startedAt: number }, c: { status: string; error: string | null; stoppedAt: number | null }): void {
    if (c.status === 'RUNNING' || !this.#d.tracing || !run.trace) return;
    const startedAt = this.#runStarts.get(run.id) ?? run.startedAt;
    this.#runStarts.delete(run.id);
    this.#d.tracing.finished(`workflow ${run.workflow}`, run.trace, runSpanId(run.id, run.redriveCount), 'internal', startedAt, c.stoppedAt ?? this.#d.clock.now(),
      { 'nimbus.workflow': run.workflow, 'nimbus.execution': run.id, 'nimbus.execution.status': c.status, 'nimbus.redrive_count': run.redriveCount },
      c.status === 'SUCCEEDED' ? undefined : c.error ?? c.status);
  }

  /** When each redriven run began (this node's redrives), for its span. */
  readonly #runStarts = new Map<string, number>();

  #after(execution: string, status: string, b: CommitBuilder): void {
    if (b.add.length) this.#waker.kick();
    if (status !== 'RUNNING') for (const done of this.#ended.get(execution) ?? []) done();
  }

  async #run(): Promise<void> {
    const { store, clock, logger } = this.#d;
    while (!this.#stopped) {
      // Yield to the event loop on every pass: a loop through Waits that end at once would otherwise
      // run claim → step → commit → kick as promise callbacks only and starve timers and HTTP.
      await new Promise<void>((r) => setImmediate(r));
      if (this.#stopped) return;
      this.#waker.reset();
      const room = this.#maxTasks - this.#running;
      let items: WorkItem[] = [];
      const now = clock.now();
      try {
        items = await store.workflows.claimWork(now, now + LEASE_MS, { tasks: room, timers: CLAIM_TIMERS });
      } catch (err) {
        if (this.#stopped) return;
        logger.error({ err }, 'could not claim workflow work; pausing');
      }
      for (const w of items) this.#handle(w);
      if (items.length && (this.#maxTasks - this.#running > 0 || items.some((w) => w.kind !== 'task'))) continue;
      if (this.#waker.kicked || this.#stopped) continue;
      let waitMs = IDLE_WAIT_MS;
      // All task slots busy: tasks wait for a kick (a task ending), but timers, timeouts, heartbeats
      // and retries still wake the loop when they come due.
      const next = await store.workflows.nextWorkDue({ tasks: this.#maxTasks - this.#running > 0 }).catch(() => undefined);
      if (next !== undefined) waitMs = Math.min(IDLE_WAIT_MS, Math.max(1, next - clock.now()));
      await this.#waker.wait(waitMs);
    }
  }

  #handle(w: WorkItem): void {
    const log = (err: unknown) => this.#d.logger.error({ err, execution: w.execution, kind: w.kind, ref: w.ref }, 'workflow step failed; it runs again when its lease ends');
    if (w.kind === 'start') this.#track(this.#startFromWork(w).catch(log));
    else if (w.kind === 'timer') this.#submit(w.execution, { kind: 'timerFired', timerId: w.ref }, [{ seq: w.seq }], false, w.executionStartedAt).catch(log);
    else if (w.kind === 'timeout') this.#submit(w.execution, { kind: 'taskTimedOut', taskId: w.ref }, [{ ref: w.ref }], false, w.executionStartedAt).catch(log);
    else if (w.kind === 'heartbeat') this.#submit(w.execution, { kind: 'heartbeatTimedOut', taskId: w.ref }, [{ ref: w.ref }], false, w.executionStartedAt).catch(log);
    else {
      this.#running++;
      this.#track(this.#task(w).catch(log).finally(() => { this.#running--; this.#waker.kick(); }));
    }
  }

  /** Wakes the loop: a rule or schedule delivery wrote a `start` item. */
  kick(): void {
    this.#waker.kick();
  }

  /** A `start` item: creates the execution (named by the delivery, so a second run after a crash finds it exists) and drops the item. */
  async #startFromWork(w: WorkItem): Promise<void> {
    const r = JSON.parse(w.data) as StartRequest;
    let input: unknown;
    try { input = JSON.parse(r.input); } catch { input = r.input; }
    try {
      await this.startExecution(r.workflow, input, r.name, r.trace ?? undefined);
    } catch (err) {
      if (!isNimbusError(err)) {
        await this.#d.store.workflows.releaseWork(w.seq, this.#d.clock.now() + 1000);
        throw err;
      }
      // Exists: started before a crash. Anything else (the workflow was removed, the input is too big) cannot succeed later.
      if (err.code !== 'EXECUTION_ALREADY_EXISTS') this.#d.logger.warn({ workflow: r.workflow, execution: r.name, code: err.code, message: err.message }, 'could not start a workflow execution for a rule or schedule; dropped');
    }
    await this.#d.store.workflows.removeWork(w.seq);
  }

  async #task(w: WorkItem): Promise<void> {
    const cmd = JSON.parse(w.data) as InvokeTaskCommand;
    const out = await runTask(this.#d.invoker, this.#d.functions(), cmd);
    if ('throttled' in out) {
      // Not a failure (Lambda's throttles are not the state's error here): try again after a back-off.
      if (this.#throttles.size > 10_000) this.#throttles.clear(); // entries of executions that ended meanwhile
      const n = (this.#throttles.get(w.seq) ?? 0) + 1;
      this.#throttles.set(w.seq, n);
      const full = Math.min(THROTTLE_RETRY_MAX_MS, 100 * 2 ** (n - 1));
      return this.#d.store.workflows.releaseWork(w.seq, this.#d.clock.now() + Math.round(full / 2 + Math.random() * (full / 2)));
    }
    this.#throttles.delete(w.seq);
    // Stopping under it: not an answer. The item stays leased and runs again at the next start.
    if (this.#stopped && (!out.ok && out.interrupted)) return;
    if (out.ok && cmd.taskToken !== null) return this.#d.store.workflows.removeWork(w.seq); // now it waits for SendTask*
    const input: Input = out.ok ? { kind: 'taskSucceeded', taskId: cmd.taskId, output: out.output, executedVersion: out.executedVersion } : { kind: 'taskFailed', taskId: cmd.taskId, error: out.error, cause: out.cause };
    await this.#submit(w.execution, input, [{ ref: cmd.taskId }], false, w.executionStartedAt);
  }

  /** Stops claiming; invocations in flight end (instances stop) and are answered or left for the next start. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#waker.kick();
    await this.#loop;
  }

  async drained(): Promise<void> {
    while (this.#runs.size) await Promise.all(this.#runs);
  }
}

function checkPayload(value: unknown, what: string): string {
  let text: string | undefined;
  try { text = JSON.stringify(value); } catch { /* below */ }
  if (text === undefined) throw new NimbusError('INVALID_EXECUTION_INPUT', `${what}: not JSON`);
  if (Buffer.byteLength(text) > MAX_PAYLOAD_BYTES) throw new NimbusError('INVALID_EXECUTION_INPUT', `${what}: ${Buffer.byteLength(text)} bytes, over the limit of ${MAX_PAYLOAD_BYTES}`);
  return text;
}

/** The span id of one run of an execution (its start, or a redrive): the same on every node and after a restart. */
function runSpanId(execution: string, run: number): string {
  return createHash('sha256').update(`${execution}#${run}`).digest('hex').slice(0, 16);
}

/** The context an execution's task invocations continue: the caller's trace and tracestate, the execution's span as parent. */
function runTrace(trace: string | null, execution: string, run: number): string | null {
  const p = parseTraceContext(trace);
  return p ? joinTraceContext(`00-${p.traceId}-${runSpanId(execution, run)}-${p.flags}`, p.tracestate) : trace;
}
