// The workflows seam: state machine definitions per app, executions (with the engine's ExecState),
// their history events, and the pending work that drives them — task invocations to run and timers
// to fire — claimed with leases so that a node that dies holding work lets it come due again.
// Every step of an execution is one call to commitStep (state + events + new work + work done), one
// transaction, so a crash leaves either the step or nothing. Methods are async and one transaction
// at most, because the PostgreSQL store (cluster mode) implements this too.

/** A workflow as deployed: `definition` is the validated ASL definition as JSON text. */
export interface WorkflowRecord {
  name: string;
  app: string;
  definition: string;
  updatedAt: number;
}

export interface DesiredWorkflow {
  name: string;
  /** JSON text of a definition that passed validateDefinition. */
  definition: string;
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

export interface ExecutionRecord {
  /** The execution ARN: arn:aws:states:local:000000000000:execution:WORKFLOW:NAME. */
  id: string;
  workflow: string;
  name: string;
  status: ExecutionStatus;
  /** JSON texts. */
  input: string;
  output: string | null;
  error: string | null;
  cause: string | null;
  startedAt: number;
  stoppedAt: number | null;
  redriveCount: number;
}

/** An execution with what the executor needs to step it. */
export interface ExecutionRow extends ExecutionRecord {
  /** The definition as it was when the execution started (a later deploy does not change a running execution). */
  definition: string;
  /** The engine's ExecState as JSON text. */
  state: string;
  /** The trace context the execution started with (traceContext(): a traceparent, and its tracestate): every task invocation continues it. */
  trace: string | null;
  /** Bumped by every commit: a commit naming an older version is refused (two writers). */
  version: number;
}

/**
 * What drives an execution: run a task, fire a timer, time a task out, or miss its heartbeat; or
 * `start` it — written by a rule or schedule delivery in the transaction that matched the event or
 * fired the tick (ref START_REF, data StartRequest), turned into the execution by the executor.
 */
export type WorkKind = 'task' | 'timer' | 'timeout' | 'heartbeat' | 'start';
export const START_REF = '$start';

/** The data of a `start` work item. `input` is JSON text (other text is taken as a JSON string). */
export interface StartRequest { workflow: string; name: string; input: string; trace: string | null }

export const executionArn = (workflow: string, name: string) => `arn:aws:states:local:000000000000:execution:${workflow}:${name}`;

export interface NewWork {
  kind: WorkKind;
  /** The engine's taskId or timerId. */
  ref: string;
  dueAt: number;
  /** JSON text: the invokeTask command for a task; the heartbeat interval for a heartbeat. */
  data: string;
}

export interface WorkItem extends NewWork {
  seq: number;
  execution: string;
  /**
   * When its execution started, as the item was claimed (undefined for a `start` item): what the item
   * produces is for that execution, not for a later one of the same id (its workflow removed and made again).
   */
  executionStartedAt?: number;
}

/** Work to delete: one item by seq, or every item (of a kind) for a task/timer id, with its task token. */
export type WorkRemoval = { seq: number } | { ref: string; kind?: WorkKind };

export interface HistoryRecord {
  id: number;
  previousEventId: number;
  type: string;
  timestamp: number;
  frameId: string;
  details: Record<string, unknown>;
}

export interface StepCommit {
  execution: string;
  /** The version read; the commit is refused (returns false) if another writer moved it. */
  expectedVersion: number;
  state: string;
  status: ExecutionStatus;
  output: string | null;
  error: string | null;
  cause: string | null;
  stoppedAt: number | null;
  events: HistoryRecord[];
  add: NewWork[];
  remove: WorkRemoval[];
  /** waitForTaskToken: token → the engine's taskId. */
  tokens: { token: string; taskId: string }[];
  /** Set on a redrive. */
  redriveCount?: number;
}

export interface NewExecution extends Omit<StepCommit, 'expectedVersion' | 'remove'> {
  workflow: string;
  trace: string | null;
  name: string;
  input: string;
  definition: string;
  startedAt: number;
}

export interface ExecutionQuery {
  workflow?: string;
  status?: ExecutionStatus;
  limit: number;
  /** Executions started before this (paging, newest first). */
  before?: number;
}

export interface WorkflowsStore {
  listWorkflows(app?: string): Promise<WorkflowRecord[]>;
  getWorkflow(name: string): Promise<WorkflowRecord | undefined>;
  /** Creates the execution with its first step; false when an execution of that id exists. */
  createExecution(e: NewExecution): Promise<boolean>;
  getExecution(id: string): Promise<ExecutionRow | undefined>;
  listExecutions(q: ExecutionQuery): Promise<ExecutionRecord[]>;
  history(id: string, afterId: number, limit: number): Promise<HistoryRecord[]>;
  /** One step: state, events, work added and removed, tokens — in one transaction. False on a version conflict. */
  commitStep(c: StepCommit): Promise<boolean>;
  /** Claims due work: up to `tasks` task items and `timers` of the other kinds, leased until `leaseUntil`. */
  claimWork(now: number, leaseUntil: number, limits: { tasks: number; timers: number }): Promise<WorkItem[]>;
  /**
   * The earliest time some unleased work comes due (or a lease ends); undefined when there is none.
   * `tasks: false`: leave task items out (every task slot is busy; a task ending kicks the loop).
   */
  nextWorkDue(opts?: { tasks?: boolean }): Promise<number | undefined>;
  /** Embedded store at start: nobody else can hold a lease, so every claimed item is due again. */
  releaseWorkLeases(): Promise<void>;
  /** Gives a claimed item back, due again at `dueAt` (a throttled invocation). */
  releaseWork(seq: number, dueAt: number): Promise<void>;
  /** Deletes one item (a waitForTaskToken invocation that returned; the token stays). */
  removeWork(seq: number): Promise<void>;
  /** A task token's execution and taskId, if it is still awaited. */
  findToken(token: string): Promise<{ execution: string; taskId: string } | undefined>;
  /** Pushes the task's heartbeat deadline to now + its interval; false when there is none. */
  heartbeat(execution: string, taskId: string, now: number): Promise<boolean>;
}
