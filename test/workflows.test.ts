// Workflows end to end on a real server with real sandboxes: Task (function by name and through
// lambda:invoke), Choice, Wait, Parallel and Map give the expected output and history; a custom
// error caught by Catch runs the compensations (saga); waitForTaskToken answered by SendTaskSuccess;
// stop; redrive from the failed state; a 1,000-item Map under MaxConcurrency 10.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { cli, startWithApp, tempDir, type TestServer, writeApp } from './helpers.ts';

const CHECKOUT = {
  StartAt: 'Double',
  States: {
    Double: { Type: 'Task', Resource: 'double', Next: 'Big?' },
    'Big?': { Type: 'Choice', Choices: [{ Variable: '$.n', NumericGreaterThan: 5, Next: 'Pause' }], Default: 'Small' },
    Small: { Type: 'Fail', Error: 'TooSmall', Cause: 'n was not over 5' },
    Pause: { Type: 'Wait', Seconds: 1, Next: 'Both' },
    Both: {
      Type: 'Parallel', ResultPath: '$.par', Next: 'Each',
      Branches: [
        { StartAt: 'A', States: { A: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:123456789012:function:double', OutputPath: '$.n', End: true } } },
        { StartAt: 'B', States: { B: { Type: 'Pass', Result: 'b', End: true } } },
      ],
    },
    Each: {
      Type: 'Map', ItemsPath: '$.items', MaxConcurrency: 2, ResultPath: '$.mapped', End: true,
      ItemProcessor: { StartAt: 'D', States: { D: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: 'double', 'Payload.$': '$' }, OutputPath: '$.Payload', End: true } } },
    },
  },
};

const SAGA = {
  StartAt: 'Reserve',
  States: {
    Reserve: { Type: 'Task', Resource: 'step', Parameters: { step: 'reserve' }, ResultPath: '$.reserved', Next: 'Pay' },
    Pay: { Type: 'Task', Resource: 'pay', ResultPath: null, Catch: [{ ErrorEquals: ['PaymentDeclined'], ResultPath: '$.error', Next: 'Release' }], Next: 'Done' },
    Release: { Type: 'Task', Resource: 'step', Parameters: { step: 'release' }, ResultPath: '$.released', Next: 'Failed' },
    Failed: { Type: 'Fail', Error: 'OrderFailed', Cause: 'payment declined; the reservation was released' },
    Done: { Type: 'Succeed' },
  },
};

const BIG_MAP = {
  StartAt: 'Each',
  States: { Each: { Type: 'Map', MaxConcurrency: 10, End: true, ItemProcessor: { StartAt: 'D', States: { D: { Type: 'Task', Resource: 'double', OutputPath: '$.n', End: true } } } } },
};

const CALLBACK = {
  StartAt: 'Ask',
  States: {
    Ask: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken', Parameters: { FunctionName: 'step', Payload: { step: 'ask', 'token.$': '$$.Task.Token' } }, TimeoutSeconds: 60, Next: 'After' },
    After: { Type: 'Pass', End: true },
  },
};

const WIDE = { StartAt: 'Each', States: { Each: { Type: 'Map', End: true, ItemProcessor: { StartAt: 'S', States: { S: { Type: 'Task', Resource: 'narrow', End: true } } } } } };

const SLOW = { StartAt: 'Sleep', States: { Sleep: { Type: 'Wait', Seconds: 3600, End: true } } };

const FLAKY = {
  StartAt: 'First',
  States: {
    First: { Type: 'Task', Resource: 'step', Parameters: { step: 'first' }, ResultPath: '$.first', Next: 'Flaky' },
    Flaky: { Type: 'Task', Resource: 'flaky', End: true },
  },
};

const app = {
  'nimbus.yml': `app: wf
tables:
  calls: { partitionKey: id }
  flags: { partitionKey: id }
functions:
  double:
    handler: src/double.handler
    concurrency: { max: 16 }
  pay:
    handler: src/pay.handler
  step:
    handler: src/step.handler
    permissions: { tables: { calls: [read, write] } }
  flaky:
    handler: src/flaky.handler
    permissions: { tables: { flags: [read] } }
  narrow:
    handler: src/narrow.handler
    concurrency: { max: 2, queueTimeoutMs: 50 }
workflows:
  checkout: { definition: ./checkout.asl.json }
  saga: { definition: ./saga.asl.yaml }
  bigmap: { definition: ${JSON.stringify(BIG_MAP)} }
  callback: { definition: ${JSON.stringify(CALLBACK)} }
  slow: { definition: ${JSON.stringify(SLOW)} }
  flaky: { definition: ${JSON.stringify(FLAKY)} }
  wide: { definition: ${JSON.stringify(WIDE)} }
`,
  'checkout.asl.json': JSON.stringify(CHECKOUT, null, 2),
  'saga.asl.yaml': JSON.stringify(SAGA), // JSON is YAML
  'src/narrow.ts': 'export const handler = async (e: number) => { await new Promise((r) => setTimeout(r, 100)); return e + 1; };',
  'src/double.ts': 'export const handler = async (e: { n: number }) => ({ ...e, n: e.n * 2 });',
  'src/pay.ts': `class PaymentDeclined extends Error { name = 'PaymentDeclined'; }
export const handler = async () => { throw new PaymentDeclined('card declined'); };`,
  'src/step.ts': `import { kv } from 'nimbus/sdk';
export const handler = async (e: { step: string }) => { await kv.table('calls').increment({ id: e.step }, 'n'); return e.step + ' ok'; };`,
  'src/flaky.ts': `import { kv } from 'nimbus/sdk';
export const handler = async (e: unknown) => {
  const f = await kv.table('flags').get({ id: 'fixed' });
  if (!f) throw Object.assign(new Error('not yet'), { name: 'NotYet' });
  return 'fixed';
};`,
};

// any: JSON bodies of several endpoints, read field by field.
type Body = any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('workflows', () => {
  let srv: TestServer;
  before(async () => { srv = await startWithApp(app); });
  after(async () => { await srv?.close(); });

  const startSync = async (wf: string, input: unknown) => {
    const r = await srv.api<Body>('POST', `/_nimbus/api/workflows/${wf}/executions?sync=true`, { input });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const history = async (id: string): Promise<{ type: string; details: Body }[]> => (await srv.api<Body>('GET', `/_nimbus/api/executions/${encodeURIComponent(id)}/history`)).body.events;
  const calls = async (id: string): Promise<number> => (await srv.api<Body>('GET', `/_nimbus/api/tables/calls/items?key=${encodeURIComponent(JSON.stringify({ id }))}`)).body.item?.n ?? 0;
  const waitStatus = async (id: string, status: string, ms = 20_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = await srv.api<Body>('GET', `/_nimbus/api/executions/${encodeURIComponent(id)}`);
      if (r.body.status === status) return r.body;
      if (Date.now() > deadline) throw new Error(`still ${r.body.status}: ${JSON.stringify(r.body)}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  };

  it('lists the deployed workflows, definitions read from .json and .yaml files', async () => {
    const r = await srv.api<Body>('GET', '/_nimbus/api/workflows');
    assert.deepEqual(r.body.workflows.map((w: Body) => w.name), ['bigmap', 'callback', 'checkout', 'flaky', 'saga', 'slow', 'wide']);
    assert.deepEqual(r.body.workflows.find((w: Body) => w.name === 'checkout').definition, CHECKOUT);
  });

  it('runs Task, Choice, Wait, Parallel and Map to the expected output, with the history', async () => {
    const items = [{ n: 1 }, { n: 2 }, { n: 5 }];
    const e = await startSync('checkout', { n: 3, items });
    assert.equal(e.status, 'SUCCEEDED', JSON.stringify(e));
    assert.deepEqual(e.output, { n: 6, items, par: [12, 'b'], mapped: [{ n: 2 }, { n: 4 }, { n: 10 }] });
    const types = (await history(e.executionArn)).map((h) => h.type);
    for (const t of ['ExecutionStarted', 'TaskStateEntered', 'LambdaFunctionScheduled', 'LambdaFunctionSucceeded', 'ChoiceStateEntered', 'WaitStateEntered', 'WaitStateExited',
      'ParallelStateStarted', 'ParallelStateSucceeded', 'MapStateStarted', 'MapIterationStarted', 'MapIterationSucceeded', 'TaskScheduled', 'TaskSucceeded', 'ExecutionSucceeded']) {
      assert.ok(types.includes(t), `${t} in ${types.join(',')}`);
    }
    assert.equal(types[0], 'ExecutionStarted');
    // The same execution is found by its short id; a Fail state ends an execution FAILED with its error and cause.
    const short = await srv.api<Body>('GET', `/_nimbus/api/executions/checkout:${e.name}`);
    assert.equal(short.body.status, 'SUCCEEDED');
    const small = await startSync('checkout', { n: 1, items: [] });
    assert.deepEqual([small.status, small.error, small.cause], ['FAILED', 'TooSmall', 'n was not over 5']);
    const list = await srv.api<Body>('GET', '/_nimbus/api/workflows/checkout/executions?status=FAILED');
    assert.deepEqual(list.body.executions.map((x: Body) => x.name), [small.name]);
  });

  it('catches a function\'s custom error and runs the compensation (saga)', async () => {
    const before = await calls('release');
    const e = await startSync('saga', { order: 'o-1' });
    assert.deepEqual([e.status, e.error], ['FAILED', 'OrderFailed']);
    assert.equal(await calls('release'), before + 1);
    const failed = (await history(e.executionArn)).find((h) => h.type === 'LambdaFunctionFailed')!;
    assert.equal(failed.details.error, 'PaymentDeclined');
    assert.deepEqual(Object.keys(JSON.parse(failed.details.cause)).sort(), ['errorMessage', 'errorType', 'trace']);
  });

  it('continues the caller\'s trace in every task invocation of the execution', async () => {
    const traceId = 'ab'.repeat(16);
    const res = await srv.req('/_nimbus/api/workflows/saga/executions?sync=true', { method: 'POST', body: JSON.stringify({ input: {} }), headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${'cd'.repeat(8)}-01` } });
    assert.equal(res.status, 200);
    let mine: Body[] = [];
    for (let i = 0; i < 100 && mine.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20)); // records are written behind the invocation, in batches
      const recs = (await srv.api<Body>('GET', '/_nimbus/api/functions/step/invocations?limit=100')).body;
      mine = (recs.invocations ?? recs).filter((r: Body) => r.traceId === traceId);
    }
    assert.equal(mine.length, 2, 'reserve and release');
    assert.ok(mine.every((r: Body) => r.trigger === 'workflow'));
  });

  it('waits for a task token, answered by SendTaskSuccess; an unknown token is 404', async () => {
    const r = await srv.api<Body>('POST', '/_nimbus/api/workflows/callback/executions', { input: { a: 1 } });
    assert.equal(r.status, 201);
    let token: string | undefined;
    for (let i = 0; i < 200 && !token; i++) {
      const s = (await history(r.body.executionArn)).find((h) => h.type === 'TaskScheduled');
      if (s) token = JSON.parse(s.details.parameters).Payload?.token ?? JSON.parse(s.details.parameters).token;
      if (!token) await new Promise((res) => setTimeout(res, 25));
    }
    assert.ok(token, 'the task token is in the scheduled payload');
    await new Promise((res) => setTimeout(res, 300)); // the invocation itself returns; the task still waits
    assert.equal((await srv.api<Body>('GET', `/_nimbus/api/executions/${encodeURIComponent(r.body.executionArn)}`)).body.status, 'RUNNING');
    assert.equal((await srv.api<Body>('POST', '/_nimbus/api/tasks/success', { taskToken: 'nope', output: {} })).status, 404);
    assert.equal((await srv.api<Body>('POST', '/_nimbus/api/tasks/heartbeat', { taskToken: token })).status, 200);
    assert.equal((await srv.api<Body>('POST', '/_nimbus/api/tasks/success', { taskToken: token, output: { approved: true } })).status, 200);
    const done = await waitStatus(r.body.executionArn, 'SUCCEEDED');
    assert.deepEqual(done.output, { approved: true });
    assert.equal((await srv.api<Body>('POST', '/_nimbus/api/tasks/success', { taskToken: token, output: {} })).status, 404);
  });

  it('stops a waiting execution (ABORTED), and refuses a duplicate name', async () => {
    const r = await srv.api<Body>('POST', '/_nimbus/api/workflows/slow/executions', { name: 'nap', input: {} });
    assert.equal(r.status, 201);
    assert.equal((await srv.api<Body>('POST', '/_nimbus/api/workflows/slow/executions', { name: 'nap' })).body.error.code, 'EXECUTION_ALREADY_EXISTS');
    const s = await srv.api<Body>('POST', '/_nimbus/api/executions/slow:nap/stop', { error: 'Cancelled', cause: 'by the test' });
    assert.deepEqual([s.body.status, s.body.error], ['ABORTED', 'Cancelled']);
    const types = (await history(r.body.executionArn)).map((h) => h.type);
    assert.equal(types.at(-1), 'ExecutionAborted');
    assert.equal((await srv.api<Body>('POST', '/_nimbus/api/workflows/nope/executions', {})).body.error.code, 'WORKFLOW_NOT_FOUND');
    assert.equal((await srv.api<Body>('GET', '/_nimbus/api/executions/slow:nobody')).body.error.code, 'EXECUTION_NOT_FOUND');
  });

  it('redrives a failed execution from the state that failed, without re-running the states before it', async () => {
    const firstBefore = await calls('first');
    const e = await startSync('flaky', { x: 1 });
    assert.deepEqual([e.status, e.error], ['FAILED', 'NotYet']);
    assert.equal((await srv.api<Body>('POST', `/_nimbus/api/executions/${encodeURIComponent(e.executionArn)}/redrive`)).status, 200);
    await waitStatus(e.executionArn, 'FAILED');
    assert.equal((await srv.api<Body>('PUT', '/_nimbus/api/tables/flags/items', { item: { id: 'fixed' } })).status, 200);
    const r = await srv.api<Body>('POST', `/_nimbus/api/executions/${encodeURIComponent(e.executionArn)}/redrive`);
    assert.equal(r.body.redriveCount, 2);
    const done = await waitStatus(e.executionArn, 'SUCCEEDED');
    assert.equal(done.output, 'fixed');
    assert.equal(await calls('first'), firstBefore + 1, 'the state before the failed one ran once');
    const ok = await srv.api<Body>('POST', `/_nimbus/api/executions/${encodeURIComponent(e.executionArn)}/redrive`);
    assert.equal(ok.body.error.code, 'EXECUTION_NOT_REDRIVABLE');
  });

  it('refuses an invalid definition at deploy, naming the path of the bad field', async () => {
    const deploy = (def: unknown) => srv.deploy({
      'nimbus.yml': `app: wf-bad\nfunctions:\n  f:\n    handler: src/f.handler\nworkflows:\n  bad: { definition: ${JSON.stringify(def)} }\n`,
      'src/f.ts': 'export const handler = async () => 1;',
    });
    const missingNext = await deploy({ StartAt: 'A', States: { A: { Type: 'Pass', Next: 'Nowhere' } } });
    assert.equal(missingNext.status, 400);
    assert.equal((missingNext.body as Body).error.code, 'MANIFEST_INVALID');
    assert.match((missingNext.body as Body).error.message, /workflows\.bad\.definition\.States\.A\.Next/);
    const badRetry = await deploy({ StartAt: 'A', States: { A: { Type: 'Task', Resource: 'f', Retry: [{ ErrorEquals: 'x' }], End: true } } });
    assert.match((badRetry.body as Body).error.message, /workflows\.bad\.definition\.States\.A\.Retry\[0\]\.ErrorEquals/);
    const noFn = await deploy({ StartAt: 'A', States: { A: { Type: 'Task', Resource: 'ghost', End: true } } });
    assert.equal((noFn.body as Body).error.code, 'MANIFEST_INVALID');
    assert.match((noFn.body as Body).error.message, /workflows\.bad\.definition\.States\.A\.Resource: no function "ghost"/);
    // A function of another deployed app may be named.
    const other = await deploy({ StartAt: 'A', States: { A: { Type: 'Task', Resource: 'double', End: true } } });
    assert.equal(other.status, 200, JSON.stringify(other.body));
    assert.equal((await srv.api<Body>('DELETE', '/_nimbus/api/apps/wf-bad')).status < 300, true);
  });

  it('removing a workflow takes its executions: one made again under the same name is new, and the old one\'s task in flight does not end it', async () => {
    const manifest = (withWorkflow: boolean) => ({
      'nimbus.yml': `app: wf-gone\nfunctions:\n  sleeper:\n    handler: src/sleeper.handler\n    timeout: 10\n${withWorkflow ? 'workflows:\n  reborn: { definition: { StartAt: S, States: { S: { Type: Task, Resource: sleeper, End: true } } } }\n' : ''}`,
      'src/sleeper.ts': 'export const handler = async (e: { ms: number; tag: string }) => { await new Promise((r) => setTimeout(r, e.ms)); return { tag: e.tag }; };',
    });
    assert.equal((await srv.deploy(manifest(true))).status, 200);
    const start = (input: unknown) => srv.api<Body>('POST', '/_nimbus/api/workflows/reborn/executions', { name: 'order-1', input });
    const old = await start({ ms: 1500, tag: 'OLD' });
    assert.equal(old.status, 201, JSON.stringify(old.body));
    await new Promise((r) => setTimeout(r, 400)); // its task is running
    assert.equal((await srv.deploy(manifest(false))).status, 200);
    assert.equal((await srv.api<Body>('GET', `/_nimbus/api/executions/${encodeURIComponent(old.body.executionArn)}`)).status, 404, 'gone with its workflow');
    assert.equal((await srv.deploy(manifest(true))).status, 200);
    assert.deepEqual((await srv.api<Body>('GET', '/_nimbus/api/workflows/reborn/executions')).body.executions, [], 'none of the old executions');
    const again = await start({ ms: 3000, tag: 'NEW' });
    assert.equal(again.status, 201, 'the name is free again');
    // The old task ends ~1.1 s from now: its answer is for the removed execution, not this one.
    await new Promise((r) => setTimeout(r, 1800));
    assert.equal((await srv.api<Body>('GET', `/_nimbus/api/executions/${encodeURIComponent(again.body.executionArn)}`)).body.status, 'RUNNING');
    const done = await waitStatus(again.body.executionArn, 'SUCCEEDED');
    assert.deepEqual(done.output, { tag: 'NEW' });
    assert.equal((await srv.api<Body>('DELETE', '/_nimbus/api/apps/wf-gone')).status < 300, true);
  });

  it('works from the CLI: deploy, ls, start --sync, executions, describe, history, stop', async () => {
    const work = tempDir('nimbus-wf-cli-');
    const run = cli(srv, work);
    // `nimbus deploy` names the app's workflows (a change to workflows alone creates no function).
    const app = writeApp({ 'nimbus.yml': 'app: wf-cli\nfunctions:\n  f:\n    handler: src/f.handler\nworkflows:\n  mini: { definition: { StartAt: P, States: { P: { Type: Pass, End: true } } } }\n', 'src/f.ts': 'export const handler = async () => 1;' }, join(work, 'app'));
    const deployed = await run('deploy', app);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.match(deployed.stdout, /^ {2}workflows: mini$/m);
    const ls = await run('workflows', 'ls');
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /checkout\s+wf/);
    const started = await run('workflows', 'start', 'checkout', '--input', '{"n":3,"items":[{"n":4}]}', '--name', 'from-cli', '--sync');
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, /status:\s+SUCCEEDED/);
    assert.match(started.stdout, /"mapped":\[\{"n":8\}\]/);
    const listed = await run('workflows', 'executions', 'checkout', '--status', 'succeeded');
    assert.match(listed.stdout, /from-cli\s+SUCCEEDED/);
    const described = await run('workflows', 'describe', 'checkout:from-cli', '--json');
    assert.equal(JSON.parse(described.stdout).status, 'SUCCEEDED');
    const hist = await run('workflows', 'history', 'checkout:from-cli');
    assert.match(hist.stdout, /ExecutionStarted/);
    assert.match(hist.stdout, /ExecutionSucceeded/);
    await run('workflows', 'start', 'slow', '--name', 'cli-nap');
    const stopped = await run('workflows', 'stop', 'slow:cli-nap');
    assert.match(stopped.stdout, /status:\s+ABORTED/);
    const missing = await run('workflows', 'describe', 'slow:ghost');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /EXECUTION_NOT_FOUND/);
  });

  it('runs a Map wider than its function\'s concurrency: throttled tasks wait their turn instead of failing', async () => {
    const items = Array.from({ length: 30 }, (_, i) => i);
    const e = await startSync('wide', items);
    assert.equal(e.status, 'SUCCEEDED', JSON.stringify(e).slice(0, 300));
    assert.deepEqual(e.output, items.map((i) => i + 1));
  });

  it('runs a 1,000-item Map under MaxConcurrency 10', async () => {
    const t0 = Date.now();
    const items = Array.from({ length: 1000 }, (_, i) => ({ n: i }));
    const e = await startSync('bigmap', items);
    assert.equal(e.status, 'SUCCEEDED', JSON.stringify(e).slice(0, 500));
    assert.deepEqual(e.output, items.map((x) => x.n * 2));
    assert.ok(Date.now() - t0 < 60_000);
    // Its 6,000-odd history events: the CLI pages through all of them (the API answers 1,000 at a time).
    const hist = await cli(srv, tempDir('nimbus-wf-cli-'))('workflows', 'history', e.executionArn);
    const lines = hist.stdout.trim().split('\n');
    assert.ok(lines.length > 6000, `${lines.length} lines`);
    assert.match(lines.at(-1)!, /ExecutionSucceeded/);
  });
});
