// A tiny in-memory executor for tests: drives start()/step() with a virtual clock, answers
// invokeTask commands through a handler, fires timers in time order, and records what a real executor
// would store. It checks the contract as it goes (every input it sends names something awaited).
import { start, step } from './interpreter.ts';
import type { Command, ExecState, HistoryEvent, InvokeTaskCommand, StepInput } from './exec-types.ts';
import type { Json, Machine } from './types.ts';

export type TaskAnswer =
  | { output: Json; afterMs?: number; executedVersion?: string }
  | { error: string; cause?: string; afterMs?: number }
  | { timeout: true }
  | { heartbeatTimeout: true }
  | { never: true };

export interface RunResult {
  state: ExecState;
  events: HistoryEvent[];
  invocations: InvokeTaskCommand[];
  commands: Command[];
  inputs: StepInput[];
  maxInFlight: number;
  now: number;
}

export function runMachine(machine: Machine, input: Json, opts: {
  handler?: (cmd: InvokeTaskCommand) => TaskAnswer;
  now?: number;
  seed?: string;
  /** Stop after this many inputs (the execution may still be running). */
  maxInputs?: number;
  /** Inputs the test injects at given times, e.g. a stop. */
  inject?: { at: number; input: (now: number) => StepInput }[];
} = {}): RunResult {
  let now = opts.now ?? Date.UTC(2026, 0, 1);
  const handler = opts.handler ?? ((c: InvokeTaskCommand): TaskAnswer => ({ output: c.payload }));
  const queue: { at: number; order: number; make: () => StepInput }[] = [];
  let order = 0;
  const inFlight = new Set<string>();
  const out: RunResult = { state: null as unknown as ExecState, events: [], invocations: [], commands: [], inputs: [], maxInFlight: 0, now };
  const handle = (commands: Command[]) => {
    for (const c of commands) {
      out.commands.push(c);
      if (c.kind === 'invokeTask') {
        out.invocations.push(c);
        inFlight.add(c.taskId);
        out.maxInFlight = Math.max(out.maxInFlight, inFlight.size);
        const a = handler(c);
        const at = now + ('afterMs' in a && a.afterMs ? a.afterMs : 0);
        if ('output' in a) queue.push({ at, order: order++, make: () => ({ kind: 'taskSucceeded', taskId: c.taskId, output: a.output, now, executedVersion: a.executedVersion }) });
        else if ('error' in a) queue.push({ at, order: order++, make: () => ({ kind: 'taskFailed', taskId: c.taskId, error: a.error, cause: a.cause ?? '', now }) });
        else if ('timeout' in a) queue.push({ at: c.timeoutAt ?? now, order: order++, make: () => ({ kind: 'taskTimedOut', taskId: c.taskId, now }) });
        else if ('heartbeatTimeout' in a) queue.push({ at: now + (c.heartbeatSeconds ?? 0) * 1000, order: order++, make: () => ({ kind: 'heartbeatTimedOut', taskId: c.taskId, now }) });
      } else if (c.kind === 'cancelTask') inFlight.delete(c.taskId);
      else if (c.kind === 'startTimer') queue.push({ at: c.fireAt, order: order++, make: () => ({ kind: 'timerFired', timerId: c.timerId, now }) });
    }
  };
  for (const j of opts.inject ?? []) queue.push({ at: j.at, order: order++, make: () => j.input(now) });
  const first = start(machine, { input, now, executionId: 'arn:aws:states:us-east-1:111111111111:execution:sm-test:exec-1', executionName: 'exec-1', stateMachineId: 'arn:aws:states:us-east-1:111111111111:stateMachine:sm-test', stateMachineName: 'sm-test', seed: opts.seed ?? 'seed' });
  let state = first.state;
  out.events.push(...first.events);
  handle(first.commands);
  let steps = 0;
  while (state.status === 'running' && queue.length && steps < (opts.maxInputs ?? 1_000_000)) {
    queue.sort((a, b) => a.at - b.at || a.order - b.order);
    const next = queue.shift()!;
    now = Math.max(now, next.at);
    const inp = next.make();
    if ('taskId' in inp) inFlight.delete(inp.taskId);
    out.inputs.push(inp);
    const r = step(machine, state, inp);
    state = r.state;
    out.events.push(...r.events);
    handle(r.commands);
    steps++;
  }
  out.state = state;
  out.now = now;
  return out;
}
