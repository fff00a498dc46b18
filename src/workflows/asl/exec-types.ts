// The interpreter's contract with a durable executor: what goes in (StartInput, StepInput), what
// comes out (Command, HistoryEvent) and the execution state in between. ExecState is plain JSON: the
// executor stores it (or rebuilds it by replaying the inputs) and hands it back with the next input.
// Every input carries `now` (epoch ms); all randomness derives from the `seed` given at start, so a
// replay of the same inputs yields the same state, commands and events.
import type { ResolvedResource } from './resource.ts';
import type { Json, JsonObject } from './types.ts';

export interface StartInput {
  input: Json;
  now: number;
  executionId: string;
  executionName: string;
  stateMachineId: string;
  stateMachineName: string;
  roleArn?: string;
  /** Any string; jitter, States.UUID, States.MathRandom and task tokens derive from it. */
  seed: string;
}

export type StepInput =
  | { kind: 'taskSucceeded'; taskId: string; output: Json; now: number; executedVersion?: string }
  | { kind: 'taskFailed'; taskId: string; error: string; cause: string; now: number }
  | { kind: 'taskTimedOut'; taskId: string; now: number }
  | { kind: 'heartbeatTimedOut'; taskId: string; now: number }
  | { kind: 'timerFired'; timerId: string; now: number }
  | { kind: 'stop'; error?: string; cause?: string; now: number };

export interface InvokeTaskCommand extends ResolvedResource {
  kind: 'invokeTask';
  /** Names this invocation in later inputs (taskSucceeded/taskFailed/...). New for every attempt. */
  taskId: string;
  frameId: string;
  stateName: string;
  /** The Resource string as written in the definition. */
  resource: string;
  functionName: string;
  /** For waitForTaskToken: the token the function must send back (the executor maps it to taskId). */
  taskToken: string | null;
  /** The function's event (for lambda:invoke: Parameters.Payload). */
  payload: Json;
  timeoutSeconds: number | null;
  heartbeatSeconds: number | null;
  /** now + timeoutSeconds: when the executor should send taskTimedOut. */
  timeoutAt: number | null;
  /** 1 for the first try, then 2, 3, ... on retries. */
  attempt: number;
}

export type Command =
  | InvokeTaskCommand
  | { kind: 'cancelTask'; taskId: string }
  | { kind: 'startTimer'; timerId: string; fireAt: number }
  | { kind: 'cancelTimer'; timerId: string }
  | { kind: 'succeed'; output: Json }
  | { kind: 'fail'; error: string; cause: string };

export interface HistoryEvent {
  id: number;
  previousEventId: number;
  /** AWS's names: ExecutionStarted, TaskStateEntered, TaskScheduled, MapIterationStarted, ... */
  type: string;
  timestamp: number;
  /** Which running sequence of states (the execution, a Parallel branch, a Map iteration) it belongs to. */
  frameId: string;
  details: JsonObject;
}

export interface StepResult {
  state: ExecState;
  commands: Command[];
  events: HistoryEvent[];
}

export type FrameWait =
  | { kind: 'task'; id: string; integration: 'direct' | 'lambda:invoke'; qualifier: string | null; waitForTaskToken: boolean }
  | { kind: 'timer'; id: string; purpose: 'wait' | 'retry'; effective: Json }
  | {
      kind: 'children';
      type: 'Parallel' | 'Map';
      total: number;
      launched: number;
      done: number;
      failures: number;
      running: string[];
      results: Json[];
      items: Json[];
      effective: Json;
      maxConcurrency: number;
      toleratedCount: number | null;
      toleratedPercentage: number | null;
    };

/** One running sequence of states: the execution itself, a Parallel branch or a Map iteration. */
export interface Frame {
  id: string;
  parent: string | null;
  /** Where its states are: [] for the top level, then [mapState] or [parallelState, branchIndex] per level. */
  scope: (string | number)[];
  /** Branch index or item index in the parent. */
  key: number;
  mapItem: { index: number; value: Json } | null;
  stateName: string;
  /** The current state's raw input. */
  input: Json;
  enteredTime: number;
  /** Attempts used per Retrier of the current state. */
  retries: number[];
  wait: FrameWait | null;
}

export interface ExecState {
  v: 1;
  status: 'running' | 'succeeded' | 'failed' | 'aborted';
  execution: { id: string; name: string; input: Json; startTime: number; roleArn: string; stateMachineId: string; stateMachineName: string; /** Set by redrive(); absent before the first. */ redriveCount?: number };
  rng: [number, number, number, number];
  seq: number;
  lastEventId: number;
  frames: Record<string, Frame>;
  /** Open task and timer ids → the frame waiting on them ('' for the execution timeout). */
  waits: Record<string, string>;
  output?: Json;
  error?: string;
  cause?: string;
}
