// Workflows survive a crash: a real `nimbus serve` process runs three executions — one in the middle
// of a Task, one in a Wait, one in a Map — and is killed with SIGKILL, then restarted on the same data
// dir. Each execution must finish with the right output, and no step that had completed before the
// kill may run again. The task in flight at the kill may run twice (at-least-once, documented).
// Every function call is counted in a KV table by the function itself.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { bundleApp, sleep, tempDir, writeApp } from './helpers.ts';
import { ServeProcess } from './serve-process.ts';

const work = (key: string, ms: number) => ({ Type: 'Task', Resource: 'work', Parameters: { key, ms } });

const TASKS = { StartAt: 'One', States: { One: { ...work('a1', 0), ResultPath: '$.one', Next: 'Two' }, Two: { ...work('a2', 4000), ResultPath: '$.two', Next: 'Three' }, Three: { ...work('a3', 0), ResultPath: '$.three', End: true } } };
const WAIT = { StartAt: 'One', States: { One: { ...work('w1', 0), ResultPath: '$.one', Next: 'Nap' }, Nap: { Type: 'Wait', Seconds: 4, Next: 'Two' }, Two: { ...work('w2', 0), ResultPath: '$.two', End: true } } };
const MAP = {
  StartAt: 'Each',
  States: { Each: { Type: 'Map', ItemsPath: '$.items', MaxConcurrency: 2, End: true, ItemProcessor: { StartAt: 'W', States: { W: { Type: 'Task', Resource: 'work', Parameters: { 'key.$': "States.Format('m{}', $.i)", ms: 300 }, End: true } } } } },
};

const MANIFEST = `app: durable-wf
tables:
  calls: { partitionKey: id }
functions:
  work:
    handler: src/work.handler
    timeout: 20
    permissions: { tables: { calls: [read, write] } }
workflows:
  tasks: { definition: ${JSON.stringify(TASKS)} }
  wait: { definition: ${JSON.stringify(WAIT)} }
  map: { definition: ${JSON.stringify(MAP)} }
`;

const SOURCES = {
  'src/work.ts': `import { kv } from 'nimbus/sdk';
export const handler = async (e: { key: string; ms: number }) => {
  await kv.table('calls').increment({ id: e.key }, 'n');
  await new Promise((r) => setTimeout(r, e.ms));
  return e.key;
};`,
};


describe('workflow durability', () => {
  const dataDir = tempDir('nimbus-wf-durable-');
  const server = new ServeProcess(dataDir);
  after(async () => {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('resumes executions killed mid-Task, mid-Wait and mid-Map without re-running completed steps', { timeout: 120_000 }, async () => {
    await server.start();
    const app = writeApp({ 'nimbus.yml': MANIFEST, ...SOURCES });
    const dep = await server.api('PUT', '/_nimbus/api/apps/durable-wf', await bundleApp(app, MANIFEST));
    rmSync(app, { recursive: true, force: true });
    assert.equal(dep.status, 200, JSON.stringify(dep.body));

    const items = Array.from({ length: 20 }, (_, i) => ({ i }));
    const ids: Record<string, string> = {};
    for (const [wf, input] of [['tasks', { x: 1 }], ['wait', { x: 2 }], ['map', { items }]] as const) {
      const r = await server.api('POST', `/_nimbus/api/workflows/${wf}/executions`, { input, name: 'run1' });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      ids[wf] = r.body.executionArn;
    }
    const history = async (wf: string): Promise<{ type: string; timestamp: string; details: any }[]> => (await server.api('GET', `/_nimbus/api/executions/${encodeURIComponent(ids[wf]!)}/history`)).body.events;
    const calls = async (key: string): Promise<number> => (await server.api('GET', `/_nimbus/api/tables/calls/items?key=${encodeURIComponent(JSON.stringify({ id: key }))}`)).body.item?.n ?? 0;

    // Until: the slow task has started, the wait has begun, and some (not all) Map iterations are done.
    let doneIndexes: number[] = [];
    for (let i = 0; ; i++) {
      assert.ok(i < 400, 'the executions reached the points to kill at');
      const [t, w, m] = [await history('tasks'), await history('wait'), await history('map')];
      doneIndexes = m.filter((e) => e.type === 'MapIterationSucceeded').map((e) => e.details.index as number);
      if (await calls('a2') === 1 && w.some((e) => e.type === 'WaitStateEntered') && doneIndexes.length >= 4 && !m.some((e) => e.type === 'ExecutionSucceeded')) break;
      assert.ok(!t.some((e) => e.type === 'ExecutionSucceeded'), 'the slow task did not finish before the kill');
      await sleep(50);
    }
    await server.kill9();
    await sleep(300);
    await server.start();

    const deadline = Date.now() + 60_000;
    const ended: Record<string, any> = {};
    for (const wf of Object.keys(ids)) {
      for (;;) {
        const r = await server.api('GET', `/_nimbus/api/executions/${encodeURIComponent(ids[wf]!)}`);
        if (r.body.status !== 'RUNNING') { ended[wf] = r.body; break; }
        assert.ok(Date.now() < deadline, `${wf} finished after the restart (${JSON.stringify(r.body)})`);
        await sleep(100);
      }
    }
    assert.deepEqual([ended.tasks.status, ended.tasks.output], ['SUCCEEDED', { x: 1, one: 'a1', two: 'a2', three: 'a3' }]);
    assert.deepEqual([ended.wait.status, ended.wait.output], ['SUCCEEDED', { x: 2, one: 'w1', two: 'w2' }]);
    assert.deepEqual([ended.map.status, ended.map.output], ['SUCCEEDED', items.map(({ i }) => `m${i}`)]);

    // Completed steps ran once; the task in flight at the kill ran once or twice.
    assert.equal(await calls('a1'), 1);
    assert.ok([1, 2].includes(await calls('a2')), `a2 ran ${await calls('a2')} times`);
    assert.equal(await calls('a3'), 1);
    assert.equal(await calls('w1'), 1);
    assert.equal(await calls('w2'), 1);
    for (const i of doneIndexes) assert.equal(await calls(`m${i}`), 1, `map item ${i} completed before the kill and ran once`);
    let twice = 0;
    for (const { i } of items) {
      const n = await calls(`m${i}`);
      assert.ok(n === 1 || n === 2, `m${i} ran ${n} times`);
      if (n === 2) twice++;
    }
    assert.ok(twice <= 2, 'only the iterations in flight at the kill (MaxConcurrency 2) ran again');
    // The Wait resumed from its stored timer: the whole execution took about its 4 s, not 4 s more after the restart.
    const wh = await history('wait');
    const entered = Date.parse(wh.find((e) => e.type === 'WaitStateEntered')!.timestamp);
    const exited = Date.parse(wh.find((e) => e.type === 'WaitStateExited')!.timestamp);
    assert.ok(exited - entered >= 4000 && exited - entered < 15_000, `the wait took ${exited - entered} ms`);
  });
});
