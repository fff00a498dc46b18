// The durable executor with the real SQLite store and a fake invoker (no sandboxes, so fast): a loop
// through zero-length Waits yields to the event loop and stops at the history limit; an exception
// the engine does not expect fails the execution instead of leaving it stuck; timers fire on time
// while every task slot is busy; payload limits; RedriveCount; a second SendTaskSuccess is refused.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { isNimbusError } from '../src/errors.ts';
import type { Invoker } from '../src/invoker/index.ts';
import { createLogger } from '../src/observability/logger.ts';
import { desiredApp } from '../src/store/desired.ts';
import { SqliteStore } from '../src/store/sqlite/index.ts';
import type { FunctionRecord } from '../src/store/types.ts';
import { systemClock } from '../src/util/clock.ts';
import { WorkflowExecutor } from '../src/workflows/executor.ts';

type Handler = (payload: unknown) => Promise<unknown>;

async function setup(workflows: Record<string, object>, handlers: Record<string, Handler>, opts: { maxRunningTasks?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-wfexec-'));
  const store = new SqliteStore(join(dir, 'nimbus.db'));
  await store.applyApp(desiredApp('a', { specHash: '1', workflows: Object.entries(workflows).map(([name, d]) => ({ name, definition: JSON.stringify(d) })) }), Date.now());
  const invoker = {
    async invoke(req: { fn: FunctionRecord; requestId: string; prepare: () => { payload: unknown } }) {
      const out = await handlers[req.fn.name]!(req.prepare().payload);
      return { requestId: req.requestId, style: 'lambda', outcome: 'success', json: JSON.stringify(out), durationMs: 1, billedDurationMs: 1, initDurationMs: null, cold: false, maxMemoryUsedMb: 1, version: 1 };
    },
  } as unknown as Invoker;
  const fns = new Map(Object.keys(handlers).map((n) => [n, { name: n } as FunctionRecord]));
  const logger = createLogger({ level: 'fatal', destination: { write: () => true } as unknown as NodeJS.WritableStream });
  const exec = new WorkflowExecutor({ store, invoker, functions: () => fns, clock: systemClock, logger, maxRunningTasks: opts.maxRunningTasks });
  await exec.start();
  return {
    store, exec, dir,
    async close() { await exec.stop(); await exec.drained(); await store.close(); rmSync(dir, { recursive: true, force: true }); },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('workflow executor', () => {
  it('yields to the event loop in a loop of zero-length Waits, and fails it at 25,000 history events', { timeout: 120_000 }, async () => {
    const h = await setup({
      l: { StartAt: 'W', States: { W: { Type: 'Wait', Seconds: 0, Next: 'C' }, C: { Type: 'Choice', Choices: [{ Variable: '$.done', IsPresent: true, Next: 'E' }], Default: 'W' }, E: { Type: 'Succeed' } } },
    }, {});
    try {
      await h.exec.startExecution('l', {}, 'a');
      const t0 = Date.now();
      await sleep(50);
      assert.ok(Date.now() - t0 < 1000, `a 50 ms timer fired after ${Date.now() - t0} ms`);
      await h.exec.waitForEnd('l:a', 100_000);
      const rec = await h.exec.describe('l:a');
      assert.equal(rec.status, 'FAILED');
      assert.equal(rec.error, 'States.Runtime');
      assert.match(rec.cause!, /25000 history events/);
      const last = await h.store.workflows.history(rec.id, 24_990, 100);
      assert.ok(last.at(-1)!.id <= 25_001 && last.at(-1)!.type === 'ExecutionFailed');
    } finally { await h.close(); }
  });

  it('fails a Map whose ItemSelector fails after iterations started, and ends the iterations instead of getting stuck', async () => {
    const h = await setup({
      m: {
        StartAt: 'M',
        States: {
          M: {
            Type: 'Map', ItemSelector: { 'v.$': '$$.Map.Item.Value.x' }, Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }], End: true,
            ItemProcessor: { StartAt: 'T', States: { T: { Type: 'Task', Resource: 'slow', End: true } } },
          },
          Caught: { Type: 'Pass', End: true },
        },
      },
    }, { slow: async () => { await sleep(100); return 1; } });
    try {
      await h.exec.startExecution('m', [{ x: 1 }, { y: 2 }], 'a');
      await h.exec.waitForEnd('m:a', 5000);
      await sleep(300); // the first iteration's answer arrives for a Map that moved on
      const rec = await h.exec.describe('m:a');
      assert.equal(rec.status, 'SUCCEEDED');
      assert.match(rec.output!, /States.ParameterPathFailure/);
      const types = (await h.store.workflows.history(rec.id, 0, 1000)).map((e) => e.type);
      assert.ok(types.includes('MapIterationAborted'));
    } finally { await h.close(); }
  });

  it('fails an execution with States.Runtime when the engine throws something unexpected, its work cleaned up', async () => {
    const h = await setup({ w: { StartAt: 'W', States: { W: { Type: 'Wait', Seconds: 1, End: true } } } }, {});
    try {
      const rec = await h.exec.startExecution('w', {}, 'a');
      // A state the engine cannot make sense of (its frame names a state the machine lacks), as a bug would leave it.
      const db = new DatabaseSync(join(h.dir, 'nimbus.db'));
      const row = db.prepare('SELECT state FROM wf_executions WHERE id = ?').get(rec.id) as { state: string };
      const state = JSON.parse(row.state);
      state.frames.f0.stateName = 'Nope';
      db.prepare('UPDATE wf_executions SET state = ?, version = version + 1 WHERE id = ?').run(JSON.stringify(state), rec.id);
      db.close();
      await h.exec.waitForEnd('w:a', 5000);
      const after = await h.exec.describe('w:a');
      assert.equal(after.status, 'FAILED');
      assert.equal(after.error, 'States.Runtime');
      assert.match(after.cause!, /could not process an input/);
      assert.equal(await h.store.workflows.nextWorkDue(), undefined, 'no work left behind');
    } finally { await h.close(); }
  });

  it('refuses a Wait over 99,999,999 seconds (States.Runtime for SecondsPath) instead of throwing', async () => {
    const h = await setup({ w: { StartAt: 'W', States: { W: { Type: 'Wait', SecondsPath: '$.s', End: true } } } }, {});
    try {
      await h.exec.startExecution('w', { s: 1e16 }, 'a');
      await h.exec.waitForEnd('w:a', 5000);
      const rec = await h.exec.describe('w:a');
      assert.equal(rec.status, 'FAILED');
      assert.equal(rec.error, 'States.Runtime');
    } finally { await h.close(); }
  });

  it('fires a Wait on time while every task slot is busy', async () => {
    const h = await setup({
      slow: { StartAt: 'T', States: { T: { Type: 'Task', Resource: 'slow', End: true } } },
      wait: { StartAt: 'W', States: { W: { Type: 'Wait', Seconds: 1, End: true } } },
    }, { slow: async () => { await sleep(4000); return 1; } }, { maxRunningTasks: 1 });
    try {
      await h.exec.startExecution('slow', {}, 'a');
      await sleep(100);
      assert.equal(h.exec.runningTasks, 1);
      const t0 = Date.now();
      await h.exec.startExecution('wait', {}, 'b');
      await h.exec.waitForEnd('wait:b', 5000);
      assert.equal((await h.exec.describe('wait:b')).status, 'SUCCEEDED');
      const took = Date.now() - t0;
      assert.ok(took < 2000, `the 1 s Wait took ${took} ms`);
    } finally { await h.close(); }
  });

  it('fails a task whose result is over 256 KB with States.DataLimitExceeded, which a Catch naming it catches', async () => {
    const h = await setup({
      big: {
        StartAt: 'T',
        States: {
          T: { Type: 'Task', Resource: 'big', Catch: [{ ErrorEquals: ['States.DataLimitExceeded'], ResultPath: '$.err', Next: 'Caught' }], End: true },
          Caught: { Type: 'Pass', End: true },
        },
      },
      all: { StartAt: 'T', States: { T: { Type: 'Task', Resource: 'big', Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }], End: true }, Caught: { Type: 'Pass', End: true } } },
      pass: { StartAt: 'P', States: { P: { Type: 'Pass', Parameters: { 'a.$': '$.s', 'b.$': '$.s' }, End: true } } },
    }, { big: async () => 'x'.repeat(300 * 1024) });
    try {
      await h.exec.startExecution('big', {}, 'a');
      await h.exec.waitForEnd('big:a', 5000);
      const rec = await h.exec.describe('big:a');
      assert.equal(rec.status, 'SUCCEEDED');
      assert.equal(JSON.parse(rec.output!).err.Error, 'States.DataLimitExceeded');
      await h.exec.startExecution('all', {}, 'a');
      await h.exec.waitForEnd('all:a', 5000);
      assert.equal((await h.exec.describe('all:a')).error, 'States.DataLimitExceeded', 'States.ALL does not catch it, as on AWS');
      await h.exec.startExecution('pass', { s: 'é'.repeat(70_000) }, 'a');
      await h.exec.waitForEnd('pass:a', 5000);
      assert.equal((await h.exec.describe('pass:a')).error, 'States.DataLimitExceeded', 'a state output over 256 KB');
    } finally { await h.close(); }
  });

  it('gives $$.Execution.RedriveCount, and refuses a second SendTaskSuccess for one token', async () => {
    let token = '';
    const h = await setup({
      r: { StartAt: 'T', States: { T: { Type: 'Task', Resource: 'once', Parameters: { 'n.$': '$$.Execution.RedriveCount' }, End: true } } },
      cb: { StartAt: 'T', States: { T: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken', Parameters: { FunctionName: 'ask', Payload: { 't.$': '$$.Task.Token' } }, End: true } } },
    }, {
      ask: async (p) => { token = (p as { t: string }).t; return null; },
      once: async (p) => { if ((p as { n: number }).n === 0) throw new Error('first run'); return p; },
    });
    try {
      await h.exec.startExecution('r', {}, 'a');
      await h.exec.waitForEnd('r:a', 5000);
      assert.equal((await h.exec.describe('r:a')).status, 'FAILED');
      await h.exec.redrive('r:a');
      await h.exec.waitForEnd('r:a', 5000);
      const rec = await h.exec.describe('r:a');
      assert.equal(rec.status, 'SUCCEEDED');
      assert.deepEqual(JSON.parse(rec.output!), { n: 1 });

      await h.exec.startExecution('cb', {}, 'a');
      for (let i = 0; i < 100 && !token; i++) await sleep(10);
      const answers = await Promise.allSettled([h.exec.sendTaskSuccess(token, { ok: 1 }), h.exec.sendTaskSuccess(token, { ok: 2 })]);
      assert.equal(answers[0].status, 'fulfilled');
      assert.equal(answers[1].status, 'rejected');
      assert.ok(answers[1].status === 'rejected' && isNimbusError(answers[1].reason) && answers[1].reason.code === 'TASK_TOKEN_NOT_FOUND');
      assert.deepEqual(JSON.parse((await h.exec.describe('cb:a')).output!), { ok: 1 });
    } finally { await h.close(); }
  });
});
