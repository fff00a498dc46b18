// The workflows store seam on the embedded store: definitions replaced per deploy, an execution's
// step committed whole or refused on a stale version, work claimed with leases (and released at a
// restart), removal by task id taking its token along, heartbeats pushing the deadline.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { desiredApp } from '../src/store/desired.ts';
import { SqliteStore } from '../src/store/sqlite/index.ts';
import type { NewExecution } from '../src/store/workflows.ts';
import { tempDir } from './helpers.ts';

describe('workflows store (sqlite)', () => {
  const dir = tempDir('nimbus-wf-store-');
  const store = new SqliteStore(join(dir, 'nimbus.db'));
  after(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });

  const exec = (id: string): NewExecution => ({
    execution: id, workflow: 'wf', name: id, input: '{}', definition: '{}', startedAt: 1000, trace: null, state: '{"s":0}', status: 'RUNNING', output: null, error: null, cause: null, stoppedAt: null,
    events: [{ id: 1, previousEventId: 0, type: 'ExecutionStarted', timestamp: 1000, frameId: '', details: { input: {} } }],
    add: [{ kind: 'task', ref: 't1', dueAt: 1000, data: '{}' }, { kind: 'timeout', ref: 't1', dueAt: 5000, data: '0' }, { kind: 'heartbeat', ref: 't1', dueAt: 3000, data: '2000' }],
    tokens: [{ token: `tok-${id}`, taskId: 't1' }],
  });

  it('replaces an app\'s workflows on each apply, and refuses another app\'s name', async () => {
    await store.applyApp(desiredApp('a', { specHash: '1', workflows: [{ name: 'wf', definition: '{"v":1}' }, { name: 'old', definition: '{}' }] }), 1);
    await store.applyApp(desiredApp('a', { specHash: '2', workflows: [{ name: 'wf', definition: '{"v":2}' }] }), 2);
    assert.deepEqual((await store.workflows.listWorkflows()).map((w) => [w.name, w.definition]), [['wf', '{"v":2}']]);
    await assert.rejects(store.applyApp(desiredApp('b', { specHash: '3', workflows: [{ name: 'wf', definition: '{}' }] }), 3), { code: 'WORKFLOW_CONFLICT' });
  });

  it('a workflow removed from its app leaves with its executions, history, work and tokens; a new one of that name starts clean', async () => {
    await store.applyApp(desiredApp('gone', { specHash: '1', workflows: [{ name: 'ghost', definition: '{"v":1}' }] }), 1);
    await store.workflows.createExecution({ ...exec('ghost-e'), workflow: 'ghost' });
    await store.workflows.createExecution({ ...exec('ghost-f'), workflow: 'ghost', status: 'FAILED' });
    // A start a rule asked for, not made yet (the executor has not run it): it goes too.
    assert.deepEqual(await store.deliver([{ to: { kind: 'workflow', name: 'ghost' }, body: '{}', requestId: 'from-rule' }], 1000), []);
    await store.applyApp(desiredApp('gone', { specHash: '2', workflows: [] }), 2);
    for (const id of ['ghost-e', 'ghost-f']) {
      assert.equal(await store.workflows.getExecution(id), undefined);
      assert.deepEqual(await store.workflows.history(id, 0, 10), []);
    }
    assert.equal(await store.workflows.findToken('tok-ghost-e'), undefined);
    const left = await store.workflows.claimWork(10_000, 100_000, { tasks: 10, timers: 10 });
    assert.equal(left.some((w) => w.execution.startsWith('ghost-') || w.execution.includes(':execution:ghost:')), false, JSON.stringify(left));
    // Another app's workflow of the same name: none of the old executions, and their names are free.
    await store.applyApp(desiredApp('other', { specHash: '3', workflows: [{ name: 'ghost', definition: '{"v":2}' }] }), 3);
    assert.equal(await store.workflows.createExecution({ ...exec('ghost-e'), workflow: 'ghost' }), true);
    // Deleting the app takes its workflows' executions too.
    await store.deleteApp('other');
    assert.equal(await store.workflows.getExecution('ghost-e'), undefined);
  });

  it('creates once, commits whole steps, and refuses a stale version', async () => {
    assert.equal(await store.workflows.createExecution(exec('e1')), true);
    assert.equal(await store.workflows.createExecution(exec('e1')), false);
    assert.deepEqual(await store.workflows.findToken('tok-e1'), { execution: 'e1', taskId: 't1' });
    const step = { execution: 'e1', expectedVersion: 1, state: '{"s":1}', status: 'RUNNING' as const, output: null, error: null, cause: null, stoppedAt: null,
      events: [{ id: 2, previousEventId: 1, type: 'TaskSucceeded', timestamp: 2000, frameId: 'f0', details: {} }], add: [{ kind: 'timer' as const, ref: 'w2', dueAt: 9000, data: '0' }], remove: [{ ref: 't1' }], tokens: [] };
    assert.equal(await store.workflows.commitStep(step), true);
    assert.equal(await store.workflows.commitStep(step), false, 'version 1 is stale now');
    const row = (await store.workflows.getExecution('e1'))!;
    assert.deepEqual([row.version, row.state], [2, '{"s":1}']);
    assert.deepEqual((await store.workflows.history('e1', 0, 10)).map((e) => e.type), ['ExecutionStarted', 'TaskSucceeded']);
    assert.equal(await store.workflows.findToken('tok-e1'), undefined, 'removing the task took its token');
    assert.equal(await store.workflows.nextWorkDue(), 9000);
  });

  it('claims due work with a lease, releases leases at restart, pushes heartbeats, ends executions with their work', async () => {
    await store.workflows.createExecution(exec('e3'));
    assert.equal(await store.workflows.nextWorkDue(), 1000, 'its task');
    assert.equal(await store.workflows.nextWorkDue({ tasks: false }), 3000, 'without tasks (every slot busy): its heartbeat');
    assert.equal((await store.workflows.claimWork(1500, 100_000, { tasks: 10, timers: 0 })).some((w) => w.execution === 'e3'), true);
    assert.equal((await store.workflows.claimWork(1500, 100_000, { tasks: 10, timers: 0 })).some((w) => w.execution === 'e3'), false, 'leased');
    await store.workflows.releaseWorkLeases();
    assert.equal((await store.workflows.claimWork(1500, 100_000, { tasks: 10, timers: 0 })).some((w) => w.execution === 'e3'), true);
    assert.equal(await store.workflows.heartbeat('e3', 't1', 10_000), true);
    const due = await store.workflows.claimWork(11_000, 100_000, { tasks: 0, timers: 10 });
    assert.deepEqual(due.filter((w) => w.execution === 'e3').map((w) => w.kind), ['timeout'], 'the heartbeat moved to 12,000');
    const end = { execution: 'e3', expectedVersion: 1, state: '{}', status: 'FAILED' as const, output: null, error: 'X', cause: '', stoppedAt: 11_000, events: [], add: [], remove: [], tokens: [] };
    assert.equal(await store.workflows.commitStep(end), true);
    assert.equal(await store.workflows.findToken('tok-e3'), undefined);
    assert.deepEqual((await store.workflows.listExecutions({ workflow: 'wf', status: 'FAILED', limit: 10 })).map((e) => [e.id, e.error]), [['e3', 'X']]);
  });
});
