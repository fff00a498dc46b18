// The interpreter as a pure step function: start() and step() take the state machine, the execution
// state (plain JSON) and one input, and return the next state, the commands for the executor
// (invoke a task, start a timer, cancel, succeed, fail) and the history events to store. No I/O, no
// clock, no Math.random: time comes with each input and randomness from the seeded generator in the
// state. Parallel branches and Map iterations are child frames inside the same state.
import { chooseNext, parseTimestamp } from './choice.ts';
import { errorMatches, isStatesError, StatesError } from './errors.ts';
import type { Command, ExecState, Frame, FrameWait, HistoryEvent, StartInput, StepInput, StepResult } from './exec-types.ts';
import { evalIntrinsic, type IntrinsicEnv } from './intrinsics.ts';
import { applyPath, applyResultPath, evalTemplate, stateOutput } from './io.ts';
import { readPath } from './jsonpath.ts';
import { parseFunctionRef, resolveResource } from './resource.ts';
import { nextFloat, nextUuid, seedRng } from './rng.ts';
import type { Json, JsonObject, Machine, StateDef } from './types.ts';

/** States one step may run without waiting on anything: a guard against Pass/Choice loops (and too-wide Maps). */
export const MAX_TRANSITIONS_PER_STEP = 25_000;
/** History events per execution, as on AWS: a loop through Waits that end at once (Seconds 0, a past time) stops here. */
export const MAX_HISTORY_EVENTS = 25_000;
/** The longest Wait, as on AWS (about 3 years). */
export const MAX_WAIT_SECONDS = 99_999_999;
/** A state's output (so the next state's input), a task's result: AWS's 256 KB, as UTF-8 JSON. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;
const EXECUTION_TIMER = 'execution-timeout';
const iso = (ms: number) => new Date(ms).toISOString();

/** Start an execution. The machine must have passed validateDefinition(). */
export function start(machine: Machine, init: StartInput): StepResult {
  const st: ExecState = {
    v: 1,
    status: 'running',
    execution: { id: init.executionId, name: init.executionName, input: init.input, startTime: init.now, roleArn: init.roleArn ?? '', stateMachineId: init.stateMachineId, stateMachineName: init.stateMachineName },
    rng: seedRng(init.seed),
    seq: 0,
    lastEventId: 0,
    frames: {},
    waits: {},
  };
  const run = new Run(machine, st, init.now);
  run.begin();
  return run.finish();
}

/**
 * Apply one input. Inputs for tasks or timers that are no longer awaited are ignored (no commands, no events).
 * `inPlace` updates `state` itself instead of a copy: for an executor that owns its copy (a large
 * Map's state would otherwise be cloned on every step); after a throw, that copy must be dropped.
 */
export function step(machine: Machine, state: ExecState, input: StepInput, opts: { inPlace?: boolean } = {}): StepResult {
  const run = new Run(machine, opts.inPlace ? state : structuredClone(state), input.now);
  run.apply(input);
  return run.finish();
}

/**
 * Redrive an ended (failed, timed out or aborted) execution: the top level re-enters `stateName` with
 * `input` (what that state was entered with, from the history); nothing before it runs again. A
 * Parallel or Map state runs again whole. The execution's TimeoutSeconds is not re-armed.
 */
export function redrive(machine: Machine, state: ExecState, r: { stateName: string; input: Json; now: number; redriveCount: number }): StepResult {
  const st = structuredClone(state);
  st.status = 'running';
  delete st.output; delete st.error; delete st.cause;
  st.frames = {};
  st.waits = {};
  const run = new Run(machine, st, r.now);
  st.execution.redriveCount = r.redriveCount;
  run.emit('ExecutionRedriven', '', { redriveCount: r.redriveCount });
  const root: Frame = { id: 'f0', parent: null, scope: [], key: 0, mapItem: null, stateName: '', input: null, enteredTime: r.now, retries: [], wait: null };
  st.frames.f0 = root;
  run.enter(root, r.stateName, r.input);
  run.drain();
  return run.finish();
}

/**
 * Fail a running execution with `error`/`cause` (its open tasks and timers cancelled): for an
 * executor whose step() threw something that is not an execution error (a bug, a value the engine
 * could not handle), so the execution ends instead of staying stuck.
 */
export function failExecution(machine: Machine, state: ExecState, f: { error: string; cause: string; now: number }, opts: { inPlace?: boolean } = {}): StepResult {
  const run = new Run(machine, opts.inPlace ? state : structuredClone(state), f.now);
  if (run.st.status === 'running') run.endExecution('failed', null, f.error, f.cause, true);
  return run.finish();
}

class Run {
  readonly machine: Machine;
  readonly st: ExecState;
  readonly now: number;
  commands: Command[] = [];
  events: HistoryEvent[] = [];
  ready: string[] = [];
  transitions = 0;
  readonly env: IntrinsicEnv;

  constructor(machine: Machine, st: ExecState, now: number) {
    this.machine = machine;
    this.st = st;
    this.now = now;
    this.env = { random: () => nextFloat(st.rng), uuid: () => nextUuid(st.rng) };
  }

  finish(): StepResult {
    this.historyGuard();
    return { state: this.st, commands: this.commands, events: this.events };
  }

  /** True (and the execution failed) once the history reached its limit. */
  historyGuard(): boolean {
    if (this.st.status !== 'running' || this.st.lastEventId < MAX_HISTORY_EVENTS) return false;
    this.endExecution('failed', null, 'States.Runtime', `The execution reached ${MAX_HISTORY_EVENTS} history events, the most one execution may have (as on AWS): a loop that does not end (through a Wait that ends at once?), or a Map over more items than fit (each iteration takes 4 or more events)`, true);
    return true;
  }

  emit(type: string, frameId: string, details: JsonObject = {}): void {
    const id = this.st.lastEventId + 1;
    this.events.push({ id, previousEventId: this.st.lastEventId, type, timestamp: this.now, frameId, details });
    this.st.lastEventId = id;
  }

  nextId(prefix: string): string { return `${prefix}${++this.st.seq}`; }

  begin(): void {
    const e = this.st.execution;
    this.emit('ExecutionStarted', '', { input: e.input, roleArn: e.roleArn });
    if (this.machine.TimeoutSeconds) {
      this.st.waits[EXECUTION_TIMER] = '';
      this.commands.push({ kind: 'startTimer', timerId: EXECUTION_TIMER, fireAt: this.now + this.machine.TimeoutSeconds * 1000 });
    }
    const root: Frame = { id: 'f0', parent: null, scope: [], key: 0, mapItem: null, stateName: '', input: null, enteredTime: this.now, retries: [], wait: null };
    this.st.frames.f0 = root;
    this.enter(root, this.machine.StartAt, e.input);
    this.drain();
  }

  apply(input: StepInput): void {
    if (this.st.status !== 'running') return;
    if (input.kind === 'stop') {
      this.abortAll();
      this.st.status = 'aborted';
      this.st.error = input.error ?? '';
      this.st.cause = input.cause ?? '';
      this.emit('ExecutionAborted', '', { error: this.st.error, cause: this.st.cause });
      return;
    }
    const id = input.kind === 'timerFired' ? input.timerId : input.taskId;
    const frameId = this.st.waits[id];
    if (frameId === undefined) return;
    if (id === EXECUTION_TIMER) {
      delete this.st.waits[id];
      this.emit('ExecutionTimedOut', '', { error: 'States.Timeout', cause: 'The execution ran longer than its TimeoutSeconds' });
      this.endExecution('failed', null, 'States.Timeout', 'The execution ran longer than its TimeoutSeconds', false);
      return;
    }
    const frame = this.st.frames[frameId];
    const wait = frame?.wait;
    if (!frame || !wait || wait.kind === 'children' || wait.id !== id) return;
    if ((input.kind === 'timerFired') !== (wait.kind === 'timer')) return;
    delete this.st.waits[id];
    frame.wait = null;
    if (wait.kind === 'timer') {
      if (wait.purpose === 'retry') this.ready.push(frame.id);
      else this.guard(frame, () => this.exit(frame, applyPath('OutputPath', this.def(frame).OutputPath, wait.effective, this.ctx(frame))));
    } else {
      const lambda = wait.integration === 'direct';
      if (input.kind === 'taskSucceeded') {
        this.emit(lambda ? 'LambdaFunctionSucceeded' : 'TaskSucceeded', frame.id, { output: input.output });
        let result = input.output;
        if (wait.integration === 'lambda:invoke' && !wait.waitForTaskToken) {
          // The lambda:invoke integration hands back the Invoke API's response, not the bare result.
          result = { ExecutedVersion: input.executedVersion ?? wait.qualifier ?? '$LATEST', Payload: input.output, SdkHttpMetadata: { HttpStatusCode: 200 }, SdkResponseMetadata: {}, StatusCode: 200 };
        }
        this.guard(frame, () => this.exit(frame, stateOutput(this.def(frame), frame.input, result, this.ctx(frame), this.env)));
      } else if (input.kind === 'taskFailed') {
        this.emit(lambda ? 'LambdaFunctionFailed' : 'TaskFailed', frame.id, { error: input.error, cause: input.cause });
        this.stateError(frame, input.error || 'States.TaskFailed', input.cause ?? '');
      } else if (input.kind === 'taskTimedOut' || input.kind === 'heartbeatTimedOut') {
        const error = input.kind === 'taskTimedOut' ? 'States.Timeout' : 'States.HeartbeatTimeout';
        this.emit(lambda ? 'LambdaFunctionTimedOut' : 'TaskTimedOut', frame.id, { error, cause: '' });
        this.stateError(frame, error, '');
      }
    }
    this.drain();
  }

  drain(): void {
    while (this.ready.length && this.st.status === 'running') {
      const frame = this.st.frames[this.ready.shift()!];
      if (!frame) continue;
      if (++this.transitions > MAX_TRANSITIONS_PER_STEP) {
        this.endExecution('failed', null, 'States.Runtime', `More than ${MAX_TRANSITIONS_PER_STEP} states ran in one step without waiting on a task or timer: a Pass/Choice loop, or a Map or Parallel starting more iterations at once than that (set MaxConcurrency)`, true);
        return;
      }
      if (this.historyGuard()) return;
      this.guard(frame, () => this.execute(frame));
    }
  }

  /** Run `fn` for a frame's current state; a StatesError becomes that state's failure. */
  guard(frame: Frame, fn: () => void): void {
    try { fn(); } catch (e) {
      if (!isStatesError(e)) throw e;
      this.stateError(frame, e.error, e.causeText);
    }
  }

  scopeStates(scope: (string | number)[]): Machine {
    let m: Machine = this.machine;
    for (let i = 0; i < scope.length; i++) {
      const s = m.States[scope[i] as string];
      if (s.Type === 'Parallel') m = s.Branches![scope[++i] as number];
      else m = (s.ItemProcessor ?? s.Iterator)!;
    }
    return m;
  }

  def(frame: Frame): StateDef { return this.scopeStates(frame.scope).States[frame.stateName]; }

  ctx(frame: Frame, extra: JsonObject = {}): Json {
    const e = this.st.execution;
    const c: JsonObject = {
      Execution: { Id: e.id, Input: e.input, Name: e.name, RoleArn: e.roleArn, StartTime: iso(e.startTime), RedriveCount: e.redriveCount ?? 0 },
      State: { Name: frame.stateName, EnteredTime: iso(frame.enteredTime), RetryCount: frame.retries.reduce((a, b) => a + b, 0) },
      StateMachine: { Id: e.stateMachineId, Name: e.stateMachineName },
      ...extra,
    };
    if (frame.mapItem && !c.Map) c.Map = { Item: { Index: frame.mapItem.index, Value: frame.mapItem.value } };
    return c;
  }

  enter(frame: Frame, name: string, input: Json): void {
    frame.stateName = name;
    frame.input = input;
    frame.enteredTime = this.now;
    frame.retries = [];
    frame.wait = null;
    this.emit(`${this.def(frame).Type}StateEntered`, frame.id, { name, input });
    this.ready.push(frame.id);
  }

  /** The state finished with `output`: go to Next, or end the frame. */
  exit(frame: Frame, output: Json, next?: string): void {
    checkSize(output, `The state '${frame.stateName}' produced an output`);
    const def = this.def(frame);
    this.emit(`${def.Type}StateExited`, frame.id, { name: frame.stateName, output });
    const target = next ?? def.Next;
    if (target !== undefined && (next !== undefined || !def.End)) this.enter(frame, target, output);
    else this.frameSucceeded(frame, output);
  }

  execute(frame: Frame): void {
    const def = this.def(frame);
    const ctx = this.ctx(frame);
    switch (def.Type) {
      case 'Pass': {
        const input = applyPath('InputPath', def.InputPath, frame.input, ctx);
        const result = def.Result !== undefined ? def.Result : def.Parameters !== undefined ? evalTemplate(def.Parameters, input, ctx, this.env) : input;
        return this.exit(frame, stateOutput({ ResultPath: def.ResultPath, OutputPath: def.OutputPath }, frame.input, result, ctx, this.env));
      }
      case 'Succeed': {
        const out = applyPath('OutputPath', def.OutputPath, applyPath('InputPath', def.InputPath, frame.input, ctx), ctx);
        return this.exit(frame, out);
      }
      case 'Fail': {
        const text = (v: string | undefined, path: string | undefined) => {
          if (path === undefined) return v ?? '';
          const r = path.startsWith('$') ? readPath(path, frame.input, ctx) : { found: true as const, value: evalIntrinsic(path, frame.input, ctx, this.env) };
          if (!r.found || typeof r.value !== 'string') throw new StatesError('States.Runtime', `${path} did not give a string`);
          return r.value;
        };
        let error: string, cause: string;
        try { error = text(def.Error, def.ErrorPath); cause = text(def.Cause, def.CausePath); } catch (e) {
          if (!isStatesError(e)) throw e;
          error = e.error; cause = e.causeText;
        }
        return this.frameFailed(frame, error, cause);
      }
      case 'Choice': {
        const input = applyPath('InputPath', def.InputPath, frame.input, ctx);
        const next = chooseNext(def.Choices!, def.Default, input, ctx);
        if (next === null) throw new StatesError('States.NoChoiceMatched', `No Choice rule matched and no Default is set in state '${frame.stateName}'`);
        return this.exit(frame, applyPath('OutputPath', def.OutputPath, input, ctx), next);
      }
      case 'Wait': return this.startWait(frame, def, ctx);
      case 'Task': return this.startTask(frame, def, ctx);
      case 'Parallel':
      case 'Map': return this.startChildren(frame, def, ctx);
    }
  }

  startWait(frame: Frame, def: StateDef, ctx: Json): void {
    const input = applyPath('InputPath', def.InputPath, frame.input, ctx);
    let fireAt: number;
    const fromPath = (p: string) => { const r = readPath(p, input, ctx); if (!r.found) throw new StatesError('States.Runtime', `Wait: path '${p}' is not in the input`); return r.value; };
    if (def.Seconds !== undefined) fireAt = this.now + def.Seconds * 1000;
    else if (def.SecondsPath !== undefined) {
      const s = fromPath(def.SecondsPath);
      if (typeof s !== 'number' || !Number.isInteger(s) || s < 0 || s > MAX_WAIT_SECONDS) throw new StatesError('States.Runtime', `Wait: SecondsPath '${def.SecondsPath}' gave ${JSON.stringify(s)}, not an integer from 0 to ${MAX_WAIT_SECONDS}`);
      fireAt = this.now + s * 1000;
    } else {
      const t = def.Timestamp ?? fromPath(def.TimestampPath!);
      const ts = parseTimestamp(t);
      if (!ts) throw new StatesError('States.Runtime', `Wait: ${JSON.stringify(t)} is not an RFC 3339 timestamp`);
      fireAt = Math.round(ts.seconds * 1000 + Number(`0.${ts.fraction || '0'}`) * 1000);
    }
    if (!Number.isFinite(new Date(fireAt).getTime())) throw new StatesError('States.Runtime', `Wait: ${fireAt} ms is not a time`);
    const id = this.nextId('w');
    frame.wait = { kind: 'timer', id, purpose: 'wait', effective: input };
    this.st.waits[id] = frame.id;
    this.emit('WaitStateStarted', frame.id, { name: frame.stateName, fireAt: iso(fireAt) });
    this.commands.push({ kind: 'startTimer', timerId: id, fireAt });
  }

  startTask(frame: Frame, def: StateDef, ctx0: Json): void {
    const res = resolveResource(def.Resource!);
    if (!res.ok) throw new StatesError('States.Runtime', res.message);
    const r = res.resource;
    const taskToken = r.waitForTaskToken ? nextUuid(this.st.rng) : null;
    const ctx = taskToken ? { ...(ctx0 as JsonObject), Task: { Token: taskToken } } : ctx0;
    const input = applyPath('InputPath', def.InputPath, frame.input, ctx);
    const params = def.Parameters === undefined ? input : evalTemplate(def.Parameters, input, ctx, this.env);
    let functionName = r.functionName, qualifier = r.qualifier, payload = params;
    if (r.integration === 'lambda:invoke') {
      const p = (params ?? {}) as JsonObject;
      const ref = typeof p.FunctionName === 'string' ? parseFunctionRef(p.FunctionName) : null;
      if (!ref) throw new StatesError('States.Runtime', `lambda:invoke: FunctionName ${JSON.stringify(p.FunctionName)} is not a function name or ARN`);
      functionName = ref.functionName;
      qualifier = typeof p.Qualifier === 'string' ? p.Qualifier : ref.qualifier;
      payload = p.Payload === undefined ? {} : p.Payload;
    }
    const seconds = (v: number | undefined, path: string | undefined, field: string): number | null => {
      if (v !== undefined) return v;
      if (path === undefined) return null;
      const x = readPath(path, input, ctx);
      if (!x.found || typeof x.value !== 'number' || !Number.isInteger(x.value) || x.value <= 0) throw new StatesError('States.Runtime', `${field} '${path}' did not give a positive integer`);
      return x.value;
    };
    const timeoutSeconds = seconds(def.TimeoutSeconds, def.TimeoutSecondsPath, 'TimeoutSecondsPath');
    const heartbeatSeconds = seconds(def.HeartbeatSeconds, def.HeartbeatSecondsPath, 'HeartbeatSecondsPath');
    const taskId = this.nextId('t');
    frame.wait = { kind: 'task', id: taskId, integration: r.integration, qualifier, waitForTaskToken: r.waitForTaskToken };
    this.st.waits[taskId] = frame.id;
    const attempt = 1 + frame.retries.reduce((a, b) => a + b, 0);
    this.emit(r.integration === 'direct' ? 'LambdaFunctionScheduled' : 'TaskScheduled', frame.id, {
      resource: def.Resource!, functionName: functionName!, qualifier, parameters: JSON.stringify(payload), timeoutInSeconds: timeoutSeconds, heartbeatInSeconds: heartbeatSeconds, attempt,
    });
    this.commands.push({
      kind: 'invokeTask', taskId, frameId: frame.id, stateName: frame.stateName, resource: def.Resource!, integration: r.integration, functionName: functionName!, qualifier,
      waitForTaskToken: r.waitForTaskToken, taskToken, payload, timeoutSeconds, heartbeatSeconds, timeoutAt: timeoutSeconds === null ? null : this.now + timeoutSeconds * 1000, attempt,
    });
  }

  startChildren(frame: Frame, def: StateDef, ctx: Json): void {
    const input = applyPath('InputPath', def.InputPath, frame.input, ctx);
    const type = def.Type as 'Parallel' | 'Map';
    let items: Json[], effective: Json, maxConcurrency = 0, toleratedCount: number | null = null, toleratedPercentage: number | null = null;
    if (type === 'Parallel') {
      effective = def.Parameters === undefined ? input : evalTemplate(def.Parameters, input, ctx, this.env);
      items = def.Branches!.map(() => effective);
    } else {
      effective = input;
      const list = applyPath('ItemsPath', def.ItemsPath, input, ctx);
      if (!Array.isArray(list)) throw new StatesError('States.Runtime', `Map: ItemsPath '${def.ItemsPath ?? '$'}' did not give an array`);
      items = list;
      const num = (v: number | undefined, path: string | undefined, field: string, check: (n: number) => boolean) => {
        if (v !== undefined) return v;
        if (path === undefined) return null;
        const x = readPath(path, input, ctx);
        if (!x.found || typeof x.value !== 'number' || !check(x.value)) throw new StatesError('States.Runtime', `Map: ${field} '${path}' did not give a valid number`);
        return x.value;
      };
      const nonNegInt = (n: number) => Number.isInteger(n) && n >= 0;
      maxConcurrency = num(def.MaxConcurrency, def.MaxConcurrencyPath, 'MaxConcurrencyPath', nonNegInt) ?? 0;
      toleratedCount = num(def.ToleratedFailureCount, def.ToleratedFailureCountPath, 'ToleratedFailureCountPath', nonNegInt);
      toleratedPercentage = num(def.ToleratedFailurePercentage, def.ToleratedFailurePercentagePath, 'ToleratedFailurePercentagePath', (n) => n >= 0 && n <= 100);
    }
    frame.wait = { kind: 'children', type, total: items.length, launched: 0, done: 0, failures: 0, running: [], results: new Array(items.length).fill(null), items: type === 'Map' ? items : [], effective, maxConcurrency, toleratedCount, toleratedPercentage };
    this.emit(`${type}StateStarted`, frame.id, type === 'Map' ? { length: items.length } : {});
    if (items.length === 0) return this.childrenDone(frame);
    this.launchMore(frame);
  }

  launchMore(frame: Frame): void {
    const w = frame.wait as FrameWait & { kind: 'children' };
    const def = this.def(frame);
    while (w.launched < w.total && (w.maxConcurrency === 0 || w.running.length < w.maxConcurrency)) {
      const index = w.launched++;
      const id = this.nextId('f');
      if (w.type === 'Parallel') {
        const child: Frame = { id, parent: frame.id, scope: [...frame.scope, frame.stateName, index], key: index, mapItem: frame.mapItem, stateName: '', input: null, enteredTime: this.now, retries: [], wait: null };
        this.st.frames[id] = child;
        w.running.push(id);
        this.enter(child, def.Branches![index].StartAt, w.effective);
      } else {
        const value = w.items[index];
        const mapItem = { index, value };
        const selector = def.ItemSelector ?? def.Parameters;
        const itemInput = selector === undefined ? value : evalTemplate(selector, w.effective, this.ctx(frame, { Map: { Item: { Index: index, Value: value } } }), this.env);
        const child: Frame = { id, parent: frame.id, scope: [...frame.scope, frame.stateName], key: index, mapItem, stateName: '', input: null, enteredTime: this.now, retries: [], wait: null };
        this.st.frames[id] = child;
        w.running.push(id);
        this.emit('MapIterationStarted', id, { name: frame.stateName, index });
        this.enter(child, (def.ItemProcessor ?? def.Iterator)!.StartAt, itemInput);
      }
    }
  }

  childrenDone(frame: Frame): void {
    const w = frame.wait as FrameWait & { kind: 'children' };
    frame.wait = null;
    this.emit(`${w.type}StateSucceeded`, frame.id, {});
    this.exit(frame, stateOutput(this.def(frame), frame.input, w.results, this.ctx(frame), this.env));
  }

  frameSucceeded(frame: Frame, output: Json): void {
    if (frame.parent === null) return this.endExecution('succeeded', output, '', '', false);
    const parent = this.st.frames[frame.parent];
    const w = parent.wait as FrameWait & { kind: 'children' };
    delete this.st.frames[frame.id];
    w.running = w.running.filter((x) => x !== frame.id);
    w.results[frame.key] = output;
    w.done++;
    if (w.type === 'Map') this.emit('MapIterationSucceeded', frame.id, { name: parent.stateName, index: frame.key });
    this.guard(parent, () => {
      if (w.done === w.total) this.childrenDone(parent);
      else this.launchMore(parent);
    });
  }

  frameFailed(frame: Frame, error: string, cause: string): void {
    if (frame.parent === null) return this.endExecution('failed', null, error, cause, true);
    const parent = this.st.frames[frame.parent];
    const w = parent.wait as FrameWait & { kind: 'children' };
    delete this.st.frames[frame.id];
    w.running = w.running.filter((x) => x !== frame.id);
    if (w.type === 'Map') {
      this.emit('MapIterationFailed', frame.id, { name: parent.stateName, index: frame.key, error, cause });
      w.failures++;
      w.done++;
      const tolerant = w.toleratedCount !== null || w.toleratedPercentage !== null;
      const exceeded = !tolerant
        || (w.toleratedCount !== null && w.failures > w.toleratedCount)
        || (w.toleratedPercentage !== null && (w.failures * 100) / w.total > w.toleratedPercentage);
      if (!exceeded) {
        w.results[frame.key] = { Error: error, Cause: cause };
        return this.guard(parent, () => { if (w.done === w.total) this.childrenDone(parent); else this.launchMore(parent); });
      }
      if (tolerant) { cause = `Map state '${parent.stateName}': ${w.failures} of ${w.total} iterations failed, over the tolerated threshold`; error = 'States.ExceedToleratedFailureThreshold'; }
    }
    this.abortChildren(parent);
    parent.wait = null;
    this.emit(`${w.type}StateFailed`, parent.id, { error, cause });
    this.stateError(parent, error || 'States.BranchFailed', cause);
  }

  /** A state failed: retry it, or catch it, or fail its frame. */
  stateError(frame: Frame, error: string, cause: string): void {
    // A Map/Parallel failing while it waits on children (an ItemSelector failing for item k): the
    // iterations already running stop, or their answers would arrive for a state that moved on.
    if (frame.wait?.kind === 'children') {
      this.abortChildren(frame);
      frame.wait = null;
    }
    const def = this.def(frame);
    const retriers = def.Retry ?? [];
    const ri = retriers.findIndex((r) => errorMatches(r.ErrorEquals, error));
    if (ri >= 0) {
      const r = retriers[ri];
      const used = frame.retries[ri] ?? 0;
      if (used < (r.MaxAttempts ?? 3)) {
        let delay = (r.IntervalSeconds ?? 1) * (r.BackoffRate ?? 2) ** used;
        if (r.MaxDelaySeconds !== undefined) delay = Math.min(delay, r.MaxDelaySeconds);
        if (r.JitterStrategy === 'FULL') delay *= nextFloat(this.st.rng);
        delay = Math.min(delay, MAX_WAIT_SECONDS);
        frame.retries[ri] = used + 1;
        for (let i = 0; i < ri; i++) frame.retries[i] ??= 0;
        const id = this.nextId('r');
        frame.wait = { kind: 'timer', id, purpose: 'retry', effective: null };
        this.st.waits[id] = frame.id;
        this.commands.push({ kind: 'startTimer', timerId: id, fireAt: this.now + Math.round(delay * 1000) });
        return;
      }
    }
    const catcher = (def.Catch ?? []).find((c) => errorMatches(c.ErrorEquals, error));
    if (catcher) {
      let output: Json;
      try {
        output = applyResultPath(catcher.ResultPath, frame.input, { Error: error, Cause: cause });
        checkSize(output, `The state '${frame.stateName}' produced an output`);
      } catch (e) {
        if (!isStatesError(e)) throw e;
        return this.frameFailed(frame, e.error, e.causeText);
      }
      return this.exit(frame, output, catcher.Next);
    }
    this.frameFailed(frame, error, cause);
  }

  abortChildren(frame: Frame): void {
    const w = frame.wait;
    if (w?.kind !== 'children') return;
    for (const id of w.running) {
      const child = this.st.frames[id];
      if (!child) continue;
      this.abortFrame(child);
      if (w.type === 'Map') this.emit('MapIterationAborted', id, { name: frame.stateName, index: child.key });
    }
    w.running = [];
  }

  abortFrame(frame: Frame): void {
    const w = frame.wait;
    if (w?.kind === 'children') this.abortChildren(frame);
    else if (w) {
      delete this.st.waits[w.id];
      this.commands.push(w.kind === 'task' ? { kind: 'cancelTask', taskId: w.id } : { kind: 'cancelTimer', timerId: w.id });
    }
    frame.wait = null;
    delete this.st.frames[frame.id];
  }

  abortAll(): void {
    const root = this.st.frames.f0;
    if (root) this.abortFrame(root);
    if (this.st.waits[EXECUTION_TIMER] !== undefined) {
      delete this.st.waits[EXECUTION_TIMER];
      this.commands.push({ kind: 'cancelTimer', timerId: EXECUTION_TIMER });
    }
    this.st.frames = {};
    this.ready = [];
  }

  endExecution(status: 'succeeded' | 'failed', output: Json, error: string, cause: string, emitFailed: boolean): void {
    this.abortAll();
    this.st.status = status;
    if (status === 'succeeded') {
      this.st.output = output;
      this.emit('ExecutionSucceeded', '', { output });
      this.commands.push({ kind: 'succeed', output });
    } else {
      this.st.error = error;
      this.st.cause = cause;
      if (emitFailed) this.emit('ExecutionFailed', '', { error, cause });
      this.commands.push({ kind: 'fail', error, cause });
    }
  }
}

/** Throws States.DataLimitExceeded when `value` is over MAX_PAYLOAD_BYTES as UTF-8 JSON. */
export function checkSize(value: Json, what: string): void {
  const text = JSON.stringify(value) ?? 'null';
  // A UTF-16 unit is 1 to 3 UTF-8 bytes: count only when the length alone does not decide.
  if (text.length * 3 <= MAX_PAYLOAD_BYTES) return;
  const bytes = text.length > MAX_PAYLOAD_BYTES ? text.length : utf8Length(text);
  if (bytes > MAX_PAYLOAD_BYTES) throw new StatesError('States.DataLimitExceeded', `${what} of ${bytes > text.length ? bytes : `at least ${bytes}`} bytes, over the limit of ${MAX_PAYLOAD_BYTES} bytes`);
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) { n += 4; i++; } // a surrogate pair: one 4-byte character
    else n += 3;
  }
  return n;
}
