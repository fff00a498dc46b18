// The runtime SDK's workflows: start, sendTaskSuccess, sendTaskFailure and sendTaskHeartbeat, each
// tried without its grant, with the wrong right (or the right on another workflow) and with it.
// Task answers are checked against the workflow whose execution awaits the token. Grants naming no
// workflow are refused at deploy.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sleep, startWithApp, type TestServer } from './helpers.ts';

const CALLBACK = {
  StartAt: 'Ask',
  States: {
    Ask: {
      Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken', TimeoutSeconds: 120,
      Parameters: { FunctionName: 'noter', Payload: { 'token.$': '$$.Task.Token', 'name.$': '$$.Execution.Name' } }, End: true,
    },
  },
};
const ECHO = { StartAt: 'Echo', States: { Echo: { Type: 'Pass', End: true } } };

const caller = (name: string, permissions?: string) => `  ${name}:
    handler: src/caller.handler
${permissions ? `    permissions: ${permissions}\n` : ''}`;

const app = {
  'nimbus.yml': `app: wfsdk
tables:
  tokens: { partitionKey: id }
functions:
  noter:
    handler: src/noter.handler
    permissions: { tables: { tokens: [write] } }
${caller('none')}${caller('responder', '{ workflows: { cb: [respond] } }')}${caller('starter', '{ workflows: { echo: [start] } }')}${caller('otherwf', '{ workflows: { echo: [respond, start] } }')}workflows:
  cb: { definition: ${JSON.stringify(CALLBACK)} }
  echo: { definition: ${JSON.stringify(ECHO)} }
`,
  'src/noter.ts': `import { kv } from 'nimbus/sdk';
export const handler = async (e: { token: string; name: string }) => { await kv.table('tokens').put({ id: e.name, token: e.token }); return null; };`,
  'src/caller.ts': `import { workflows } from 'nimbus/sdk';
export const handler = async (e: { op: string; args: unknown[] }) => {
  try {
    // any: the op is chosen by the test.
    const value = await (workflows as any)[e.op](...e.args); // eslint-disable-line @typescript-eslint/no-explicit-any
    return { ok: true, value: value ?? null };
  } catch (err) {
    return { ok: false, name: (err as Error).name, message: (err as Error).message };
  }
};`,
};

// any: JSON bodies of several endpoints, read field by field.
type Body = any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('workflows through the SDK', () => {
  let srv: TestServer;
  before(async () => { srv = await startWithApp(app); });
  after(async () => { await srv?.close(); });

  const call = async (fn: string, op: string, ...args: unknown[]): Promise<Body> => {
    const r = await srv.invoke<Body>(fn, { op, args });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  /** Starts a cb execution and waits for the token its task hands to noter. */
  const waiting = async (name: string): Promise<string> => {
    const r = await srv.api<Body>('POST', '/_nimbus/api/workflows/cb/executions', { name });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const deadline = Date.now() + 10_000;
    for (;;) {
      const got = await srv.api<Body>('GET', `/_nimbus/api/tables/tokens/items?key=${encodeURIComponent(JSON.stringify({ id: name }))}`);
      if (got.body?.item?.token) return got.body.item.token;
      if (Date.now() > deadline) throw new Error('no token came');
      await sleep(50);
    }
  };
  const execution = async (id: string): Promise<Body> => (await srv.api<Body>('GET', `/_nimbus/api/executions/${encodeURIComponent(id)}`)).body;

  it('workflows.start: denied without a grant and with only respond, allowed with start', async () => {
    const none = await call('none', 'start', 'echo', { a: 1 });
    assert.deepEqual([none.ok, none.name], [false, 'ACCESS_DENIED']);
    assert.match(none.message, /may not start workflow "echo"; grant it with permissions: \{ workflows: \{ echo: \[start\] \} \}/);
    const wrong = await call('responder', 'start', 'cb', {});
    assert.deepEqual([wrong.ok, wrong.name], [false, 'ACCESS_DENIED']);
    assert.match(wrong.message, /may not start workflow "cb" \(it holds respond\); grant it with permissions: \{ workflows: \{ cb: \[respond, start\] \} \}/);
    const notThis = await call('starter', 'start', 'cb', {});
    assert.deepEqual([notThis.ok, notThis.name], [false, 'ACCESS_DENIED']);
    const ok = await call('starter', 'start', 'echo', { a: 1 }, { name: 'from-sdk' });
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.equal(ok.value.executionArn, 'arn:aws:states:local:000000000000:execution:echo:from-sdk');
    const e = await execution(ok.value.executionArn);
    assert.deepEqual([e.status, e.input, e.output], ['SUCCEEDED', { a: 1 }, { a: 1 }]);
    const dup = await call('starter', 'start', 'echo', {}, { name: 'from-sdk' });
    assert.deepEqual([dup.ok, dup.name], [false, 'EXECUTION_ALREADY_EXISTS']);
  });

  it('sendTaskSuccess: denied without respond, with start only and with respond on another workflow; allowed with respond on the token\'s workflow', async () => {
    const token = await waiting('s1');
    const none = await call('none', 'sendTaskSuccess', token, { done: 1 });
    assert.deepEqual([none.ok, none.name], [false, 'ACCESS_DENIED']);
    assert.match(none.message, /grant it with permissions: \{ workflows: \{ cb: \[respond\] \} \}/);
    const startOnly = await call('starter', 'sendTaskSuccess', token, { done: 1 });
    assert.deepEqual([startOnly.ok, startOnly.name], [false, 'ACCESS_DENIED']);
    const other = await call('otherwf', 'sendTaskSuccess', token, { done: 1 });
    assert.deepEqual([other.ok, other.name], [false, 'ACCESS_DENIED']);
    assert.match(other.message, /may not respond to tasks of workflow "cb"/);
    assert.equal((await execution('cb:s1')).status, 'RUNNING');
    const ok = await call('responder', 'sendTaskSuccess', token, { done: 1 });
    assert.equal(ok.ok, true, JSON.stringify(ok));
    const e = await execution('cb:s1');
    assert.deepEqual([e.status, e.output], ['SUCCEEDED', { done: 1 }]);
    const again = await call('responder', 'sendTaskSuccess', token, {});
    assert.deepEqual([again.ok, again.name], [false, 'TASK_TOKEN_NOT_FOUND']);
  });

  it('sendTaskHeartbeat and sendTaskFailure: denied without respond, allowed with it', async () => {
    const token = await waiting('f1');
    for (const fn of ['none', 'starter', 'otherwf']) {
      const hb = await call(fn, 'sendTaskHeartbeat', token);
      assert.deepEqual([hb.ok, hb.name], [false, 'ACCESS_DENIED'], fn);
      const fail = await call(fn, 'sendTaskFailure', token, 'Nope', 'because');
      assert.deepEqual([fail.ok, fail.name], [false, 'ACCESS_DENIED'], fn);
    }
    assert.equal((await execution('cb:f1')).status, 'RUNNING');
    const hb = await call('responder', 'sendTaskHeartbeat', token);
    assert.equal(hb.ok, true, JSON.stringify(hb));
    const fail = await call('responder', 'sendTaskFailure', token, 'Nope', 'because');
    assert.equal(fail.ok, true, JSON.stringify(fail));
    const e = await execution('cb:f1');
    assert.deepEqual([e.status, e.error, e.cause], ['FAILED', 'Nope', 'because']);
  });

  it('refuses grants that name no workflow at deploy', async () => {
    const d = await srv.deploy({
      'nimbus.yml': `app: wfsdk2
functions:
  f: { handler: src/f.handler, permissions: { workflows: { nope: [start] } } }
`,
      'src/f.ts': 'export const handler = async () => 1;',
    });
    assert.equal(d.status, 404);
    assert.equal(d.body.error?.code, 'WORKFLOW_NOT_FOUND');
    assert.match(d.body.error!.message, /functions\.f\.permissions\.workflows: no workflow "nope"/);
  });
});
