// The interpreter state by state, with expected outputs from the States Language's semantics, plus
// retries, catches, a saga with compensations, a 1,000-item Map under MaxConcurrency and replay.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redrive, start, step, validateDefinition, type InvokeTaskCommand, type Machine } from './index.ts';
import { runMachine, type TaskAnswer } from './test-executor.ts';

function machine(def: unknown): Machine {
  const v = validateDefinition(def);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return v.machine;
}
const one = (state: Record<string, unknown>, extra: Record<string, unknown> = {}) => machine({ StartAt: 'S', States: { S: { End: true, ...state } }, ...extra });
const T0 = Date.UTC(2026, 0, 1);

describe('Pass', () => {
  it('applies InputPath, Parameters ($, $$ and intrinsics), ResultPath and OutputPath', () => {
    const m = one({ Type: 'Pass', InputPath: '$.in', Parameters: { 'x.$': '$.a', 'n.$': '$$.Execution.Name', 's.$': "States.Format('{}-{}', $.a, $.b)", k: 1 }, ResultPath: '$.out', OutputPath: '$.out' });
    const r = runMachine(m, { in: { a: 'A', b: 2 } });
    assert.equal(r.state.status, 'succeeded');
    assert.deepEqual(r.state.output, { x: 'A', n: 'exec-1', s: 'A-2', k: 1 });
  });
  it('Result replaces the input by default, ResultPath null keeps the input, ResultPath writes into it', () => {
    assert.deepEqual(runMachine(one({ Type: 'Pass', Result: { r: 1 } }), { a: 1 }).state.output, { r: 1 });
    assert.deepEqual(runMachine(one({ Type: 'Pass', Result: { r: 1 }, ResultPath: null }), { a: 1 }).state.output, { a: 1 });
    assert.deepEqual(runMachine(one({ Type: 'Pass', Result: 5, ResultPath: '$.x.y' }), { a: 1 }).state.output, { a: 1, x: { y: 5 } });
  });
  it('a ResultPath through a non-object is States.ResultPathMatchFailure; a missing InputPath is States.Runtime', () => {
    const a = runMachine(one({ Type: 'Pass', Result: 5, ResultPath: '$.a.b' }), { a: 'text' });
    assert.deepEqual([a.state.status, a.state.error], ['failed', 'States.ResultPathMatchFailure']);
    const b = runMachine(one({ Type: 'Pass', InputPath: '$.nope' }), {});
    assert.deepEqual([b.state.status, b.state.error], ['failed', 'States.Runtime']);
    const c = runMachine(one({ Type: 'Pass', Parameters: { 'x.$': '$.nope' } }), {});
    assert.equal(c.state.error, 'States.ParameterPathFailure');
    const d = runMachine(one({ Type: 'Pass', Parameters: { 'x.$': 'States.ArrayGetItem($.a, 5)' } }), { a: [1] });
    assert.equal(d.state.error, 'States.IntrinsicFailure');
  });
});

describe('Task', () => {
  it('resolves a Lambda ARN with an alias and processes the result (ResultSelector, ResultPath, OutputPath)', () => {
    const m = one({ Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:123456789012:function:pay:live', Parameters: { 'amount.$': '$.amount' }, ResultSelector: { 'id.$': '$.paymentId' }, ResultPath: '$.payment', TimeoutSeconds: 30, HeartbeatSeconds: 10 });
    const r = runMachine(m, { amount: 5 }, { handler: () => ({ output: { paymentId: 'p1', extra: true } }) });
    const c = r.invocations[0];
    assert.deepEqual({ fn: c.functionName, q: c.qualifier, i: c.integration, p: c.payload, t: c.timeoutSeconds, h: c.heartbeatSeconds, at: c.timeoutAt, a: c.attempt },
      { fn: 'pay', q: 'live', i: 'direct', p: { amount: 5 }, t: 30, h: 10, at: T0 + 30_000, a: 1 });
    assert.deepEqual(r.state.output, { amount: 5, payment: { id: 'p1' } });
    assert.deepEqual(r.events.map((e) => e.type), ['ExecutionStarted', 'TaskStateEntered', 'LambdaFunctionScheduled', 'LambdaFunctionSucceeded', 'TaskStateExited', 'ExecutionSucceeded']);
    assert.deepEqual(r.events.map((e) => e.id), [1, 2, 3, 4, 5, 6]);
  });
  it('lambda:invoke takes FunctionName and Payload from Parameters and wraps the result like AWS', () => {
    const m = one({ Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: 'resize:3', 'Payload.$': '$' }, OutputPath: '$.Payload' });
    const r = runMachine(m, { img: 1 }, { handler: (c) => ({ output: { ok: c.payload } }) });
    assert.deepEqual([r.invocations[0].functionName, r.invocations[0].qualifier, r.invocations[0].integration], ['resize', '3', 'lambda:invoke']);
    assert.deepEqual(r.state.output, { ok: { img: 1 } });
    const whole = runMachine(one({ Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: 'f', Payload: {} } }), {}, { handler: () => ({ output: 7 }) });
    assert.deepEqual(whole.state.output, { ExecutedVersion: '$LATEST', Payload: 7, SdkHttpMetadata: { HttpStatusCode: 200 }, SdkResponseMetadata: {}, StatusCode: 200 });
  });
  it('waitForTaskToken gives a token in $$.Task.Token and the command, and does not wrap the result', () => {
    const m = one({ Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken', Parameters: { FunctionName: 'approve', Payload: { 'token.$': '$$.Task.Token' } } });
    const r = runMachine(m, {}, { handler: (c) => ({ output: { approved: (c.payload as { token: string }).token === c.taskToken } }) });
    assert.match(r.invocations[0].taskToken!, /^[0-9a-f-]{36}$/);
    assert.deepEqual(r.state.output, { approved: true });
  });
  it('a function error fails the execution with its errorType and cause', () => {
    const cause = JSON.stringify({ errorMessage: 'boom', errorType: 'PaymentDeclined', trace: [] });
    const r = runMachine(one({ Type: 'Task', Resource: 'pay' }), {}, { handler: () => ({ error: 'PaymentDeclined', cause }) });
    assert.deepEqual([r.state.status, r.state.error, r.state.cause], ['failed', 'PaymentDeclined', cause]);
    assert.deepEqual(r.commands.at(-1), { kind: 'fail', error: 'PaymentDeclined', cause });
  });
});

describe('Choice, Wait, Succeed, Fail', () => {
  const chooser = machine({
    StartAt: 'C',
    States: {
      C: { Type: 'Choice', Choices: [
        { And: [{ Variable: '$.n', NumericGreaterThan: 10 }, { Not: { Variable: '$.tag', StringMatches: 'skip*' } }], Next: 'Big' },
        { Or: [{ Variable: '$.n', NumericEquals: 0 }, { Variable: '$.when', TimestampLessThan: '2020-01-01T00:00:00Z' }], Next: 'Zero' },
      ], Default: 'Other' },
      Big: { Type: 'Pass', Result: 'big', End: true },
      Zero: { Type: 'Pass', Result: 'zero', End: true },
      Other: { Type: 'Fail', Error: 'NoMatch', Cause: 'none' },
    },
  });
  it('Choice follows the first matching rule, else Default', () => {
    assert.equal(runMachine(chooser, { n: 11, tag: 'x', when: '2030-01-01T00:00:00Z' }).state.output, 'big');
    assert.equal(runMachine(chooser, { n: 11, tag: 'skip-me', when: '2019-06-01T00:00:00+02:00' }).state.output, 'zero');
    const r = runMachine(chooser, { n: 5, tag: 'x', when: '2030-01-01T00:00:00Z' });
    assert.deepEqual([r.state.status, r.state.error, r.state.cause], ['failed', 'NoMatch', 'none']);
  });
  it('Choice without a match or Default fails with States.NoChoiceMatched; an absent Variable is States.Runtime', () => {
    const m = machine({ StartAt: 'C', States: { C: { Type: 'Choice', Choices: [{ Variable: '$.a', IsPresent: true, Next: 'D' }] }, D: { Type: 'Succeed' } } });
    assert.equal(runMachine(m, {}).state.error, 'States.NoChoiceMatched');
    const n = machine({ StartAt: 'C', States: { C: { Type: 'Choice', Choices: [{ Variable: '$.a', StringEquals: 'x', Next: 'D' }], Default: 'D' }, D: { Type: 'Succeed' } } });
    assert.equal(runMachine(n, {}).state.error, 'States.Runtime');
  });
  it('Wait starts a timer (Seconds, TimestampPath) and passes its input on', () => {
    const r = runMachine(one({ Type: 'Wait', Seconds: 90 }), { a: 1 });
    assert.deepEqual(r.commands[0], { kind: 'startTimer', timerId: 'w1', fireAt: T0 + 90_000 });
    assert.deepEqual([r.state.output, r.now], [{ a: 1 }, T0 + 90_000]);
    const t = runMachine(one({ Type: 'Wait', TimestampPath: '$.at', OutputPath: '$.at' }), { at: '2026-01-02T00:00:00.5Z' });
    assert.equal(t.now, Date.UTC(2026, 0, 2) + 500);
    assert.equal(runMachine(one({ Type: 'Wait', SecondsPath: '$.s' }), { s: 'x' }).state.error, 'States.Runtime');
  });
  it('Succeed applies InputPath/OutputPath; Fail takes ErrorPath and an intrinsic CausePath', () => {
    assert.deepEqual(runMachine(machine({ StartAt: 'S', States: { S: { Type: 'Succeed', InputPath: '$.a' } } }), { a: [1] }).state.output, [1]);
    const f = runMachine(machine({ StartAt: 'F', States: { F: { Type: 'Fail', ErrorPath: '$.e', CausePath: "States.Format('code {}', $.c)" } } }), { e: 'Bad', c: 4 });
    assert.deepEqual([f.state.error, f.state.cause], ['Bad', 'code 4']);
  });
});

describe('Retry and Catch', () => {
  const flaky = (failures: number, error = 'Flaky'): ((c: InvokeTaskCommand) => TaskAnswer) => {
    let n = 0;
    return () => (n++ < failures ? { error, cause: `try ${n}` } : { output: 'ok' });
  };
  it('retries with IntervalSeconds × BackoffRate^n capped by MaxDelaySeconds, then succeeds', () => {
    const m = one({ Type: 'Task', Resource: 'f', Retry: [{ ErrorEquals: ['Other'], MaxAttempts: 5 }, { ErrorEquals: ['States.TaskFailed'], IntervalSeconds: 2, BackoffRate: 3, MaxAttempts: 3, MaxDelaySeconds: 10 }] });
    const r = runMachine(m, {}, { handler: flaky(3) });
    assert.equal(r.state.output, 'ok');
    const timers = r.commands.filter((c) => c.kind === 'startTimer').map((c) => (c as { fireAt: number }).fireAt);
    assert.deepEqual(timers, [T0 + 2000, T0 + 2000 + 6000, T0 + 8000 + 10_000]);
    assert.deepEqual(r.invocations.map((c) => c.attempt), [1, 2, 3, 4]);
  });
  it('stops after MaxAttempts (0 means never), then the Catch takes over with {Error, Cause} at its ResultPath', () => {
    const m = machine({ StartAt: 'T', States: {
      T: { Type: 'Task', Resource: 'f', Retry: [{ ErrorEquals: ['Flaky'], MaxAttempts: 0 }], Catch: [{ ErrorEquals: ['Flaky'], ResultPath: '$.err', Next: 'H' }], End: true },
      H: { Type: 'Pass', End: true },
    } });
    const r = runMachine(m, { a: 1 }, { handler: flaky(9) });
    assert.equal(r.invocations.length, 1);
    assert.deepEqual(r.state.output, { a: 1, err: { Error: 'Flaky', Cause: 'try 1' } });
  });
  it('FULL jitter draws the delay in [0, backoff) from the seeded generator, the same on replay', () => {
    const m = one({ Type: 'Task', Resource: 'f', Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 100, JitterStrategy: 'FULL', MaxAttempts: 1 }] });
    const a = runMachine(m, {}, { handler: flaky(1), seed: 's1' });
    const b = runMachine(m, {}, { handler: flaky(1), seed: 's1' });
    const fire = (r: typeof a) => (r.commands.find((c) => c.kind === 'startTimer') as { fireAt: number }).fireAt - T0;
    assert.ok(fire(a) >= 0 && fire(a) < 100_000);
    assert.equal(fire(a), fire(b));
  });
  it('timeouts: States.Timeout is not matched by States.TaskFailed, States.HeartbeatTimeout is matched by States.Timeout', () => {
    const m = machine({ StartAt: 'T', States: {
      T: { Type: 'Task', Resource: 'f', TimeoutSeconds: 5, Retry: [{ ErrorEquals: ['States.TaskFailed'], MaxAttempts: 3 }], Catch: [{ ErrorEquals: ['States.Timeout'], Next: 'H' }], End: true },
      H: { Type: 'Pass', End: true },
    } });
    const t = runMachine(m, {}, { handler: () => ({ timeout: true }) });
    assert.deepEqual([t.invocations.length, t.state.output, t.now], [1, { Error: 'States.Timeout', Cause: '' }, T0 + 5000]);
    assert.ok(t.events.some((e) => e.type === 'LambdaFunctionTimedOut'));
    const h = runMachine(m, {}, { handler: () => ({ heartbeatTimeout: true }) });
    assert.deepEqual(h.state.output, { Error: 'States.HeartbeatTimeout', Cause: '' });
  });
  it('States.ALL does not catch States.Runtime', () => {
    const m = machine({ StartAt: 'T', States: {
      T: { Type: 'Task', Resource: 'f', OutputPath: '$.missing', Catch: [{ ErrorEquals: ['States.ALL'], Next: 'H' }], End: true },
      H: { Type: 'Pass', End: true },
    } });
    assert.equal(runMachine(m, {}, { handler: () => ({ output: {} }) }).state.error, 'States.Runtime');
  });
});

describe('Parallel', () => {
  it('runs branches on the same input and collects their outputs in order', () => {
    const m = one({ Type: 'Parallel', Branches: [
      { StartAt: 'A', States: { A: { Type: 'Task', Resource: 'a', End: true } } },
      { StartAt: 'B', States: { B: { Type: 'Pass', Parameters: { 'b.$': '$.x' }, End: true } } },
    ], ResultSelector: { 'first.$': '$[0]', 'second.$': '$[1].b' }, ResultPath: '$.r' });
    const r = runMachine(m, { x: 1 }, { handler: (c) => ({ output: `A:${JSON.stringify(c.payload)}`, afterMs: 100 }) });
    assert.deepEqual(r.state.output, { x: 1, r: { first: 'A:{"x":1}', second: 1 } });
    assert.ok(r.events.some((e) => e.type === 'ParallelStateStarted') && r.events.some((e) => e.type === 'ParallelStateSucceeded'));
  });
  it('a failing branch cancels the others and its error reaches the Parallel state Catch', () => {
    const m = machine({ StartAt: 'P', States: {
      P: { Type: 'Parallel', Branches: [
        { StartAt: 'Slow', States: { Slow: { Type: 'Task', Resource: 'slow', End: true } } },
        { StartAt: 'Bad', States: { Bad: { Type: 'Fail', Error: 'Nope', Cause: 'c' } } },
      ], Catch: [{ ErrorEquals: ['Nope'], Next: 'H' }], End: true },
      H: { Type: 'Pass', End: true },
    } });
    const r = runMachine(m, {}, { handler: () => ({ never: true }) });
    assert.deepEqual(r.state.output, { Error: 'Nope', Cause: 'c' });
    assert.deepEqual(r.commands.filter((c) => c.kind === 'cancelTask').length, 1);
  });
});

describe('Map', () => {
  it('ItemsPath, ItemSelector with $$.Map.Item, results in item order', () => {
    const m = one({ Type: 'Map', ItemsPath: '$.xs', ItemSelector: { 'i.$': '$$.Map.Item.Index', 'v.$': '$$.Map.Item.Value', 'k.$': '$.k' }, ItemProcessor: { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }, ResultPath: '$.out' });
    const r = runMachine(m, { k: 'K', xs: ['a', 'b'] });
    assert.deepEqual(r.state.output, { k: 'K', xs: ['a', 'b'], out: [{ i: 0, v: 'a', k: 'K' }, { i: 1, v: 'b', k: 'K' }] });
    assert.deepEqual(r.events.filter((e) => e.type.startsWith('MapIteration')).map((e) => e.type), ['MapIterationStarted', 'MapIterationStarted', 'MapIterationSucceeded', 'MapIterationSucceeded']);
  });
  it('1,000 items with MaxConcurrency 10: never more than 10 tasks in flight, every result in place', () => {
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const m = one({ Type: 'Map', MaxConcurrency: 10, ItemProcessor: { StartAt: 'Double', States: { Double: { Type: 'Task', Resource: 'double', End: true } } } });
    let i = 0;
    const r = runMachine(m, items, { handler: (c) => ({ output: (c.payload as number) * 2, afterMs: 1 + (i++ % 7) }) });
    assert.equal(r.state.status, 'succeeded');
    assert.equal(r.invocations.length, 1000);
    assert.equal(r.maxInFlight, 10);
    assert.deepEqual(r.state.output, items.map((x) => x * 2));
  });
  it('an item failure fails the Map with its error; tolerated failures put {Error, Cause} in place', () => {
    const body = { StartAt: 'T', States: { T: { Type: 'Task', Resource: 'f', End: true } } };
    const handler = (c: InvokeTaskCommand): TaskAnswer => ((c.payload as number) % 2 ? { error: 'Odd', cause: String(c.payload) } : { output: c.payload });
    assert.equal(runMachine(one({ Type: 'Map', ItemProcessor: body }), [0, 1, 2], { handler }).state.error, 'Odd');
    const ok = runMachine(one({ Type: 'Map', ItemProcessor: body, ToleratedFailureCount: 1 }), [0, 1, 2], { handler });
    assert.deepEqual(ok.state.output, [0, { Error: 'Odd', Cause: '1' }, 2]);
    const over = runMachine(one({ Type: 'Map', ItemProcessor: body, ToleratedFailurePercentage: 20 }), [0, 1, 2, 3], { handler });
    assert.equal(over.state.error, 'States.ExceedToleratedFailureThreshold');
  });
  it('an empty array gives []', () => {
    assert.deepEqual(runMachine(one({ Type: 'Map', ItemProcessor: { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } } }), []).state.output, []);
  });
});

describe('saga', () => {
  it('a failed step runs the compensations of the steps before it, then fails with the original error', () => {
    const m = machine({
      StartAt: 'ReserveFlight',
      States: {
        ReserveFlight: { Type: 'Task', Resource: 'reserve-flight', ResultPath: '$.flight', Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Failed' }], Next: 'ReserveHotel' },
        ReserveHotel: { Type: 'Task', Resource: 'reserve-hotel', ResultPath: '$.hotel', Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'CancelFlight' }], Next: 'Charge' },
        Charge: { Type: 'Task', Resource: 'charge', ResultPath: '$.payment', Retry: [{ ErrorEquals: ['Throttled'], MaxAttempts: 2 }], Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'CancelHotel' }], Next: 'Done' },
        CancelHotel: { Type: 'Task', Resource: 'cancel-hotel', ResultPath: null, Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 5 }], Next: 'CancelFlight' },
        CancelFlight: { Type: 'Task', Resource: 'cancel-flight', ResultPath: null, Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 5 }], Next: 'Failed' },
        Failed: { Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' },
        Done: { Type: 'Succeed' },
      },
    });
    const calls: string[] = [];
    const r = runMachine(m, { trip: 7 }, { handler: (c) => {
      calls.push(c.functionName);
      if (c.functionName === 'charge') return { error: 'CardDeclined', cause: '{"errorMessage":"declined","errorType":"CardDeclined","trace":[]}' };
      if (c.functionName === 'cancel-hotel' && calls.filter((x) => x === 'cancel-hotel').length === 1) return { error: 'Lambda.ServiceException', cause: 'blip' };
      return { output: `${c.functionName}-ok` };
    } });
    assert.deepEqual(calls, ['reserve-flight', 'reserve-hotel', 'charge', 'cancel-hotel', 'cancel-hotel', 'cancel-flight']);
    assert.deepEqual([r.state.status, r.state.error], ['failed', 'CardDeclined']);
    assert.match(r.state.cause!, /declined/);
    const ok = runMachine(m, { trip: 7 });
    assert.equal(ok.state.status, 'succeeded');
  });
});

describe('durability contract', () => {
  it('the state is plain JSON; replaying the same inputs from a stored state gives the same results', () => {
    const m = one({ Type: 'Map', MaxConcurrency: 2, ItemProcessor: { StartAt: 'T', States: { T: { Type: 'Task', Resource: 'f', Parameters: { 'id.$': 'States.UUID()' }, Retry: [{ ErrorEquals: ['States.ALL'], JitterStrategy: 'FULL' }], End: true } } } });
    let n = 0;
    const first = runMachine(m, [1, 2, 3], { handler: () => (n++ % 2 ? { error: 'E' } : { output: n }) });
    assert.equal(first.state.status, 'succeeded');
    let s = start(m, { input: [1, 2, 3], now: T0, executionId: 'arn:aws:states:us-east-1:111111111111:execution:sm-test:exec-1', executionName: 'exec-1', stateMachineId: 'arn:aws:states:us-east-1:111111111111:stateMachine:sm-test', stateMachineName: 'sm-test', seed: 'seed' });
    const events = [...s.events];
    for (const input of first.inputs) {
      s = step(m, JSON.parse(JSON.stringify(s.state)), input);
      events.push(...s.events);
    }
    assert.deepEqual(s.state, first.state);
    assert.deepEqual(events, first.events);
  });
  it('inputs for tasks no longer awaited are ignored; stop aborts and cancels what is open', () => {
    const m = one({ Type: 'Task', Resource: 'f', TimeoutSeconds: 10 }, { TimeoutSeconds: 60 });
    const s0 = start(m, { input: {}, now: T0, executionId: 'e', executionName: 'e', stateMachineId: 'm', stateMachineName: 'm', seed: 'x' });
    const stale = step(m, s0.state, { kind: 'taskSucceeded', taskId: 'nope', output: 1, now: T0 });
    assert.deepEqual([stale.commands, stale.events, stale.state], [[], [], s0.state]);
    const stopped = step(m, s0.state, { kind: 'stop', error: 'User', cause: 'bye', now: T0 + 1 });
    assert.equal(stopped.state.status, 'aborted');
    assert.deepEqual(stopped.commands.map((c) => c.kind).sort(), ['cancelTask', 'cancelTimer']);
    assert.equal(stopped.events.at(-1)!.type, 'ExecutionAborted');
  });
  it('the execution TimeoutSeconds fails it with States.Timeout', () => {
    const m = one({ Type: 'Wait', Seconds: 120 }, { TimeoutSeconds: 60 });
    const r = runMachine(m, {});
    assert.deepEqual([r.state.status, r.state.error, r.now], ['failed', 'States.Timeout', T0 + 60_000]);
    assert.ok(r.events.some((e) => e.type === 'ExecutionTimedOut'));
  });
  it('a Pass loop that never waits is stopped', () => {
    const m = machine({ StartAt: 'A', States: { A: { Type: 'Pass', Next: 'B' }, B: { Type: 'Choice', Choices: [{ Variable: '$.stop', IsPresent: true, Next: 'C' }], Default: 'A' }, C: { Type: 'Succeed' } } });
    const r = runMachine(m, {});
    assert.deepEqual([r.state.status, r.state.error], ['failed', 'States.Runtime']);
  });
});


describe('docs', () => {
  it('docs/workflows.md lists every States.* error name the engine uses, and nothing else', async () => {
    const { readFileSync } = await import('node:fs');
    const { STATES_ERRORS } = await import('./errors.ts');
    const doc = readFileSync(new URL('../../../docs/workflows.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| (States\.[A-Za-z]+) \|/gm)].map((m) => m[1]);
    assert.deepEqual(rows.sort(), Object.keys(STATES_ERRORS).sort());
  });
});

describe('review fixes', () => {
  it('a Map whose ItemSelector fails for a later item aborts the iterations already started (and is caught)', () => {
    const m = machine({
      StartAt: 'M',
      States: {
        M: { Type: 'Map', ItemSelector: { 'v.$': '$$.Map.Item.Value.x' }, Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Long' }], End: true, ItemProcessor: { StartAt: 'T', States: { T: { Type: 'Task', Resource: 'f', End: true } } } },
        Long: { Type: 'Wait', Seconds: 3600, End: true },
      },
    });
    const r = start(m, { input: [{ x: 1 }, { y: 2 }], now: T0, executionId: 'e', executionName: 'e', stateMachineId: 's', stateMachineName: 's', seed: '1' });
    // Before, the first iteration ran on (its task invoked) and its answer threw a TypeError.
    assert.ok(!r.commands.some((c) => c.kind === 'invokeTask'), 'the started iteration does not run on');
    assert.ok(r.events.some((e) => e.type === 'MapIterationAborted'));
    assert.deepEqual(Object.keys(r.state.frames), ['f0']);
    assert.equal(r.state.frames.f0!.stateName, 'Long');
  });
  it('a Wait of more than 99,999,999 seconds is refused at validation, and States.Runtime from SecondsPath', () => {
    assert.equal(validateDefinition({ StartAt: 'W', States: { W: { Type: 'Wait', Seconds: 1e15, End: true } } }).ok, false);
    const r = runMachine(one({ Type: 'Wait', SecondsPath: '$.s' }), { s: 1e16 });
    assert.deepEqual([r.state.status, r.state.error], ['failed', 'States.Runtime']);
  });
  it('an explicit States.Runtime or States.DataLimitExceeded is caught; States.ALL catches neither', () => {
    const m = (errs: string[]) => machine({ StartAt: 'P', States: { P: { Type: 'Task', Resource: 'f', InputPath: '$.nope', Catch: [{ ErrorEquals: errs, Next: 'C' }], End: true }, C: { Type: 'Pass', End: true } } });
    assert.equal(runMachine(m(['States.Runtime']), {}).state.status, 'succeeded');
    assert.equal(runMachine(m(['States.ALL']), {}).state.error, 'States.Runtime');
  });
  it('$$.Execution.RedriveCount counts redrives', () => {
    const m = one({ Type: 'Pass', Parameters: { 'n.$': '$$.Execution.RedriveCount' } });
    const r = runMachine(m, {});
    assert.deepEqual(r.state.output, { n: 0 });
    const again = redrive(m, { ...r.state, status: 'failed' }, { stateName: 'S', input: {}, now: T0, redriveCount: 2 });
    assert.deepEqual(again.state.output, { n: 2 });
  });
  it('a Map too wide for the history limit fails with a message that says so; 6,000 Pass iterations fit', () => {
    const m = one({ Type: 'Map', ItemProcessor: { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } } });
    const r = runMachine(m, Array.from({ length: 6_300 }, (_, i) => i));
    assert.equal(r.state.error, 'States.Runtime');
    assert.match(r.state.cause!, /25000 history events.*a Map over more items than fit/);
    assert.equal(runMachine(m, Array.from({ length: 6_000 }, (_, i) => i)).state.status, 'succeeded');
  });
});
