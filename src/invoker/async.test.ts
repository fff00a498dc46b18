// The async dispatcher's lease rule, on a real embedded store with an injected clock: an event held
// in memory past the point where it could outlive its lease is not started (another claim may
// already own it); it is claimed afresh, and every event still runs exactly once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { silentLogger } from '../observability/logger.ts';
import { SqliteStore } from '../store/sqlite/index.ts';
import { ManualClock } from '../util/clock.ts';
import { AsyncInvoker } from './async.ts';
import type { Invoker, InvokeRequest, InvokeResult } from './index.ts';
import { desiredApp } from '../store/desired.ts';

const settle = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(check(), 'the dispatcher got there');
};

it('never starts a held event that could outlive its lease; each event runs once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-async-'));
  const store = new SqliteStore(join(dir, 'nimbus.db'));
  const clock = new ManualClock(Date.now());
  try {
    await store.applyApp(desiredApp('a', {
      specHash: 'x',
      functions: [{ name: 'f', handler: 'src/f.handler', exportName: 'handler', memoryMb: 128, timeoutMs: 3000, environment: {}, concurrencyMax: 1, queueTimeoutMs: 1000, provisioned: 0, perInstance: 1, async: { retries: 0, maxEventAgeMs: 6 * 3600_000 }, secrets: [], permissions: { buckets: {}, tables: {}, queues: {}, topics: {}, functions: {}, bus: [] }, codeSha: 'c' }],
    }), clock.now());
    const fn = (await store.getFunction('f'))!;
    const started: string[] = [];
    const finish: (() => void)[] = [];
    // The invoker is the platform's own: here it holds each invocation until the test lets it finish.
    const invoker = {
      invoke(req: InvokeRequest): Promise<InvokeResult> {
        started.push(req.requestId);
        return new Promise((resolve) => finish.push(() => resolve({ requestId: req.requestId, style: 'lambda', outcome: 'success', json: 'null', durationMs: 1, billedDurationMs: 1, initDurationMs: null, cold: false, maxMemoryUsedMb: 1, version: 1 })));
      },
    } as unknown as Invoker;
    const dispatcher = new AsyncInvoker({ store, invoker, functions: () => new Map([['f', fn]]), onQueueMessage: () => undefined, clock, logger: silentLogger });
    await dispatcher.start();
    for (const id of ['e1', 'e2', 'e3']) await dispatcher.enqueue(fn, '{}', undefined, id);
    await settle(() => started.length === 1);
    assert.deepEqual(started, ['e1'], 'concurrency 1: e2 and e3 are held');
    // e1 runs for 16 minutes: the held claims on e2 and e3 reach the end of their leases.
    clock.advance(16 * 60_000);
    finish.shift()!();
    await settle(() => started.length === 2);
    assert.deepEqual(started, ['e1', 'e2'], 'e2 ran once, from a fresh claim');
    finish.shift()!();
    await settle(() => started.length === 3);
    finish.shift()!();
    await settle(() => finish.length === 0 && dispatcher.stats().running === 0);
    assert.deepEqual(started, ['e1', 'e2', 'e3']);
    assert.deepEqual(await store.asyncStats('f', clock.now()), { pending: 0, retrying: 0 });
    await dispatcher.stop();
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

it('a backlog on one function does not hold up another function\'s events', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-async-'));
  const store = new SqliteStore(join(dir, 'nimbus.db'));
  const clock = new ManualClock(Date.now());
  try {
    const fnSpec = (name: string) => ({ name, handler: 'src/f.handler', exportName: 'handler', memoryMb: 128, timeoutMs: 3000, environment: {}, concurrencyMax: 1, queueTimeoutMs: 1000, provisioned: 0, perInstance: 1, async: { retries: 0, maxEventAgeMs: 6 * 3600_000 }, secrets: [], permissions: { buckets: {}, tables: {}, queues: {}, topics: {}, functions: {}, bus: [] }, codeSha: 'c' });
    await store.applyApp(desiredApp('a', { specHash: 'x', functions: [fnSpec('slow'), fnSpec('other')] }), clock.now());
    const fns = new Map([['slow', (await store.getFunction('slow'))!], ['other', (await store.getFunction('other'))!]]);
    const started: string[] = [];
    const invoker = { invoke: (req: InvokeRequest) => { started.push(req.requestId); return new Promise<InvokeResult>(() => undefined); } } as unknown as Invoker;
    const dispatcher = new AsyncInvoker({ store, invoker, functions: () => fns, onQueueMessage: () => undefined, clock, logger: silentLogger });
    await dispatcher.start();
    for (let i = 0; i < 300; i++) await store.enqueueAsync({ requestId: `s${i}`, fn: 'slow', payload: '{}' }, clock.now(), 0);
    dispatcher.kick();
    await settle(() => started.length === 1);
    await dispatcher.enqueue(fns.get('other')!, '{}', undefined, 'o1');
    await settle(() => started.includes('o1'));
    assert.deepEqual(started, ['s0', 'o1']);
    assert.ok(dispatcher.stats().held <= 16, `slow holds one claim's worth of events, not all 256 slots (${dispatcher.stats().held})`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
