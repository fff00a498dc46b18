// The store conformance suite: every Store implementation runs these same tests unchanged
// (test/store.test.ts runs them against SQLite; the PostgreSQL store will run them too).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DesiredApp, DesiredFunction, Store } from '../src/store/types.ts';
import { desiredApp } from '../src/store/desired.ts';

const fn = (name: string, over: Partial<DesiredFunction> = {}): DesiredFunction => ({
  name, handler: `src/${name}.handler`, exportName: 'handler', memoryMb: 128, timeoutMs: 3000, environment: {},
  concurrencyMax: 10, queueTimeoutMs: 1000, provisioned: 0, perInstance: 1, async: { retries: 2, maxEventAgeMs: 21_600_000 }, secrets: [], permissions: { buckets: {}, tables: {}, queues: {}, topics: {}, functions: {}, bus: [] }, codeSha: 'a'.repeat(64), ...over,
});
const app = (name: string, functions: DesiredFunction[], routes: DesiredApp['routes'] = [], specHash = `${name}-${Math.random()}`): DesiredApp => desiredApp(name, { specHash, functions, routes });

/** `work`'s result, and how many turns the event loop had while it ran (other work it let in). */
async function turnsDuring<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let done = false;
  const tick = (): void => { if (!done) { turns++; setImmediate(tick); } };
  setImmediate(tick);
  try {
    return { result: await work(), turns };
  } finally {
    done = true;
  }
}

export function runStoreConformance(label: string, open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
  const withStore = (body: (s: Store) => Promise<void>) => async () => {
    const { store, cleanup } = await open();
    try { await body(store); } finally { await store.close(); await cleanup(); }
  };

  describe(`store conformance: ${label}`, () => {
    it('applies an app, then reports an identical spec as unchanged', withStore(async (s) => {
      const desired = app('shop', [fn('a'), fn('b')], [{ method: 'GET', path: '/a/{id}', fn: 'a', payload: '2.0', qualifier: null }], 'h1');
      const first = await s.applyApp(desired, 1);
      assert.equal(first.status, 'applied');
      assert.deepEqual(first.created.sort(), ['a', 'b']);
      const again = await s.applyApp(desired, 2);
      assert.equal(again.status, 'unchanged');
      assert.equal(again.routes.length, 1);
      assert.equal((await s.getFunction('a'))?.revision, 1);
    }));

    it('prunes functions and routes the new spec no longer names, and bumps revisions only on change', withStore(async (s) => {
      await s.applyApp(app('shop', [fn('a'), fn('b')], [{ method: 'GET', path: '/b', fn: 'b', payload: '2.0', qualifier: null }]), 1);
      const r = await s.applyApp(app('shop', [fn('a', { memoryMb: 256 })], [{ method: 'POST', path: '/a', fn: 'a', payload: '1.0', qualifier: null }]), 2);
      assert.deepEqual(r.updated, ['a']);
      assert.deepEqual(r.removed, ['b']);
      assert.equal(await s.getFunction('b'), undefined);
      const a = await s.getFunction('a');
      assert.equal(a?.revision, 2);
      assert.equal(a?.memoryMb, 256);
      assert.deepEqual((await s.listRoutes()).map((x) => `${x.method} ${x.path} ${x.payload}`), ['POST /a 1.0']);
    }));

    it('keeps a function\'s permissions, and a change of grants alone is a new revision (instances restart with them)', withStore(async (s) => {
      const permissions = { buckets: { up: ['read', 'write'] as ('read' | 'write')[] }, tables: { t1: ['read'] as 'read'[] }, queues: { q: ['send'] as 'send'[] }, topics: {}, functions: { g: ['invoke'] as 'invoke'[] }, bus: ['put'] as 'put'[] };
      await s.applyApp(app('shop', [fn('a')]), 1);
      assert.deepEqual((await s.getFunction('a'))?.permissions, { buckets: {}, tables: {}, queues: {}, topics: {}, functions: {}, bus: [] });
      const r = await s.applyApp(app('shop', [fn('a', { permissions })]), 2);
      assert.deepEqual(r.updated, ['a']);
      const a = await s.getFunction('a');
      assert.equal(a?.revision, 2);
      assert.deepEqual(a?.permissions, permissions);
      assert.deepEqual((await s.listFunctions())[0]?.permissions, permissions);
    }));

    it('rejects a route another app owns (ANY overlaps, param names do not matter) and changes nothing', withStore(async (s) => {
      await s.applyApp(app('one', [fn('a')], [{ method: 'ANY', path: '/x/{id}', fn: 'a', payload: '2.0', qualifier: null }]), 1);
      const gen = await s.configGeneration();
      await assert.rejects(s.applyApp(app('two', [fn('b')], [{ method: 'GET', path: '/x/{other}', fn: 'b', payload: '2.0', qualifier: null }]), 2), (e: { code: string; message: string }) => {
        assert.equal(e.code, 'ROUTE_CONFLICT');
        assert.match(e.message, /owned by app "one"/);
        return true;
      });
      assert.equal(await s.getApp('two'), undefined);
      assert.equal(await s.getFunction('b'), undefined);
      assert.equal(await s.configGeneration(), gen);
    }));

    it('rejects a function name another app owns', withStore(async (s) => {
      await s.applyApp(app('one', [fn('a')]), 1);
      await assert.rejects(s.applyApp(app('two', [fn('a')]), 2), { code: 'FUNCTION_CONFLICT' });
      assert.equal((await s.getFunction('a'))?.app, 'one');
    }));

    it('deletes apps and single functions with their routes, and bumps the config generation', withStore(async (s) => {
      await s.applyApp(app('one', [fn('a'), fn('b')], [{ method: 'GET', path: '/a', fn: 'a', payload: '2.0', qualifier: null }, { method: 'GET', path: '/b', fn: 'b', payload: '2.0', qualifier: null }]), 1);
      const g0 = await s.configGeneration();
      assert.equal(await s.deleteFunction('a'), true);
      assert.equal(await s.deleteFunction('a'), false);
      assert.deepEqual((await s.listRoutes()).map((r) => r.path), ['/b']);
      assert.ok((await s.configGeneration()) > g0);
      assert.deepEqual((await s.getApp('one'))?.functions, ['b']);
      assert.equal(await s.deleteApp('one'), true);
      assert.equal(await s.deleteApp('one'), false);
      assert.deepEqual(await s.listFunctions(), []);
      assert.deepEqual(await s.listRoutes(), []);
    }));

    it('stores code by hash and prunes code no function uses', withStore(async (s) => {
      await s.putCode('b'.repeat(64), new Uint8Array([1, 2, 3]));
      await s.putCode('a'.repeat(64), new Uint8Array([4]));
      await s.applyApp(app('one', [fn('a')]), 1);
      assert.deepEqual([...(await s.getCode('b'.repeat(64)))!], [1, 2, 3]);
      assert.equal(await s.pruneCode(), 1);
      assert.equal(await s.getCode('b'.repeat(64)), undefined);
      assert.ok(await s.getCode('a'.repeat(64)));
    }));

    it('appends and queries logs by function, request id, level, time and cursor, and prunes by rows and age', withStore(async (s) => {
      const entries = Array.from({ length: 20 }, (_, i) => ({ ts: 1000 + i, fn: i % 2 ? 'a' : 'b', requestId: `r${i % 4}`, level: i % 10 === 0 ? 'FATAL' as const : i % 5 === 0 ? 'ERROR' as const : i % 3 === 0 ? 'DEBUG' as const : 'INFO' as const, message: `m${i}` }));
      await s.appendRecords({ logs: entries, invocations: [] });
      assert.equal((await s.queryLogs({ fn: 'a' })).length, 10);
      assert.deepEqual((await s.queryLogs({ requestId: 'r1' })).map((l) => l.message), ['m1', 'm5', 'm9', 'm13', 'm17']);
      // A level is a minimum: ERROR finds the FATAL lines too.
      assert.deepEqual((await s.queryLogs({ level: 'ERROR' })).map((l) => l.message), ['m0', 'm5', 'm10', 'm15']);
      assert.deepEqual((await s.queryLogs({ level: 'FATAL' })).map((l) => l.message), ['m0', 'm10']);
      assert.equal((await s.queryLogs({ level: 'INFO' })).length, 15, 'not the 5 DEBUG lines');
      assert.equal((await s.queryLogs({ level: 'TRACE' })).length, 20);
      assert.deepEqual((await s.queryLogs({ sinceMs: 1018 })).map((l) => l.message), ['m18', 'm19']);
      const last2 = await s.queryLogs({ limit: 2 });
      assert.deepEqual(last2.map((l) => l.message), ['m18', 'm19']);
      const after = await s.queryLogs({ afterSeq: last2[0]!.seq });
      assert.deepEqual(after.map((l) => l.message), ['m19']);
      assert.equal(await s.pruneRecords({ maxRows: 5, olderThanMs: 1003 }), 15);
      assert.deepEqual((await s.queryLogs({})).map((l) => l.message), ['m15', 'm16', 'm17', 'm18', 'm19']);
    }));

    it('prunes a large backlog in steps, letting other work run between them, and stops between steps when told', withStore(async (s) => {
      const lines = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ ts: 1000 + from + i, fn: 'a', requestId: `r${from + i}`, level: 'INFO' as const, message: `m${from + i}` }));
      await s.appendRecords({ logs: lines(0, 12_000), invocations: [] });
      // Other work gets turns while it runs: a backlog is not deleted in one go.
      const pruned = await turnsDuring(() => s.pruneRecords({ maxRows: 1000, olderThanMs: 0 }));
      assert.equal(pruned.result, 11_000);
      assert.ok(pruned.turns >= 2, `${pruned.turns} turns of the event loop while 11,000 rows were pruned`);
      assert.deepEqual((await s.queryLogs({ limit: 10_000 })).map((l) => l.message), lines(11_000, 1000).map((l) => l.message));
      // Told to stop: it stops after the step it is in, and the next prune finishes the job.
      await s.appendRecords({ logs: lines(12_000, 12_000), invocations: [] });
      const stop = new AbortController();
      const running = s.pruneRecords({ maxRows: 1000, olderThanMs: 0, signal: stop.signal });
      stop.abort();
      const some = await running;
      assert.ok(some > 0 && some < 12_000, `${some} rows pruned before it stopped`);
      assert.equal(await s.pruneRecords({ maxRows: 1000, olderThanMs: 0 }), 12_000 - some);
      assert.equal((await s.queryLogs({ limit: 10_000 })).length, 1000);
    }));

    it('records invocations and lists them newest first with filters', withStore(async (s) => {
      const rec = (i: number, outcome: 'success' | 'error') => ({
        requestId: `r${i}`, fn: 'a', revision: 1, trigger: 'http' as const, startedAt: 1000 + i, durationMs: 1.5, billedDurationMs: 2,
        initDurationMs: i === 0 ? 30.5 : null, memoryMb: 128, maxMemoryUsedMb: 50, cold: i === 0, provisioned: false, outcome, errorType: outcome === 'error' ? 'Error' : null,
      });
      await s.appendRecords({ logs: [], invocations: [rec(0, 'success'), rec(1, 'error'), rec(2, 'success')] });
      const all = await s.listInvocations({ fn: 'a' });
      assert.deepEqual(all.map((r) => r.requestId), ['r2', 'r1', 'r0']);
      assert.equal(all[2]!.cold, true);
      assert.equal(all[2]!.initDurationMs, 30.5);
      assert.deepEqual((await s.listInvocations({ outcome: 'error' })).map((r) => r.requestId), ['r1']);
      assert.deepEqual((await s.listInvocations({ sinceMs: 1002 })).map((r) => r.requestId), ['r2']);
      // Retention applies to invocation records as well as logs.
      await s.appendRecords({ logs: [], invocations: [3, 4, 5, 6].map((i) => rec(i, 'success')) });
      assert.equal(await s.pruneRecords({ maxRows: 3, olderThanMs: 1001 }), 4);
      assert.deepEqual((await s.listInvocations({})).map((r) => r.requestId), ['r6', 'r5', 'r4']);
    }));

    it('meters usage per function and hour as records are written, and keeps it when records are pruned', withStore(async (s) => {
      const H = 3_600_000;
      const base = { fn: 'm', revision: 1, trigger: 'http' as const, durationMs: 1.2, maxMemoryUsedMb: 50, errorType: null };
      await s.appendRecords({ logs: [], invocations: [
        // A cold start: billed ceil(duration) + ceil(init), times the memory.
        { ...base, requestId: 'u1', startedAt: 5 * H + 10, billedDurationMs: 2, initDurationMs: 30.5, memoryMb: 256, cold: true, provisioned: false, outcome: 'success' },
        { ...base, requestId: 'u2', startedAt: 5 * H + 20, billedDurationMs: 100, initDurationMs: null, memoryMb: 256, cold: false, provisioned: false, outcome: 'error', errorType: 'E' },
        { ...base, requestId: 'u3', startedAt: 5 * H + 30, billedDurationMs: 10, initDurationMs: null, memoryMb: 256, cold: false, provisioned: true, outcome: 'success' },
        // Not billed: a throttle. Billed once: an init error (its duration is its init).
        { ...base, requestId: 'u4', startedAt: 5 * H + 40, billedDurationMs: 0, initDurationMs: null, memoryMb: 256, cold: false, provisioned: false, outcome: 'throttled' },
        { ...base, requestId: 'u5', startedAt: 6 * H + 1, billedDurationMs: 40, initDurationMs: 39.2, memoryMb: 128, cold: true, provisioned: false, outcome: 'init-error' },
      ] });
      await s.addUsage([{ fn: 'm', hour: 6 * H, requests: 0, errors: 0, throttles: 0, coldStarts: 0, billedMbMs: 0, provisionedBilledMbMs: 0, provisionedMbMs: 1000, initMs: 0 }]);
      await s.pruneRecords({ maxRows: 0, olderThanMs: Number.MAX_SAFE_INTEGER });
      assert.deepEqual(await s.queryUsage({ sinceMs: 0 }), [
        { fn: 'm', hour: 5 * H, requests: 3, errors: 1, throttles: 1, coldStarts: 1, billedMbMs: (2 + 31 + 100) * 256, provisionedBilledMbMs: 10 * 256, provisionedMbMs: 0, initMs: 30.5 },
        { fn: 'm', hour: 6 * H, requests: 1, errors: 1, throttles: 0, coldStarts: 1, billedMbMs: 40 * 128, provisionedBilledMbMs: 0, provisionedMbMs: 1000, initMs: 39.2 },
      ]);
      assert.deepEqual((await s.queryUsage({ sinceMs: 6 * H, fn: 'm' })).map((r) => r.hour), [6 * H]);
      assert.deepEqual(await s.queryUsage({ sinceMs: 0, untilMs: 5 * H }), []);
    }));

    const queue = (name: string, over: Partial<DesiredApp['queues'][number]> = {}): DesiredApp['queues'][number] => ({
      name, fifo: name.endsWith('.fifo'), visibilityTimeoutMs: 30_000, retentionMs: 3_600_000, delayMs: 0, maxMessageBytes: 262_144, contentBasedDeduplication: false, ...over,
    });
    const withQueues = (queues: DesiredApp['queues'], triggers: DesiredApp['queueTriggers'] = []): DesiredApp => ({ ...app('w', [fn('consumer')]), queues, queueTriggers: triggers });

    it('keeps queues and their messages across deploys, drops removed queues with their messages, and rejects another app\'s queue name', withStore(async (s) => {
      await s.applyApp(withQueues([queue('jobs'), queue('old')], [{ fn: 'consumer', queue: 'jobs', batchSize: 10, batchWindowMs: 0, maxConcurrency: 2 }]), 1);
      await s.sendMessages('jobs', [{ body: 'keep' }], 1, 0);
      const again = await s.applyApp(withQueues([queue('jobs', { visibilityTimeoutMs: 5000 })]), 2);
      assert.deepEqual(again.queues, { names: ['jobs'], created: [], removed: ['old'] });
      assert.equal((await s.getQueue('jobs'))?.visibilityTimeoutMs, 5000);
      assert.equal((await s.queueStats('jobs', 3)).visible, 1);
      assert.deepEqual(await s.listQueueTriggers(), []);
      await assert.rejects(s.applyApp({ ...app('x', [fn('other')]), queues: [queue('jobs')], queueTriggers: [] }, 4), (e: { code?: string }) => e.code === 'QUEUE_CONFLICT');
    }));

    it('receives, hides in flight, deletes by receipt, tells a stale receipt from a gone message', withStore(async (s) => {
      await s.applyApp(withQueues([queue('jobs')]), 1);
      await s.sendMessages('jobs', [{ body: 'a' }, { body: 'b', delayMs: 500 }], 1000, 0);
      assert.deepEqual(await s.queueStats('jobs', 1000), { visible: 1, inFlight: 0, delayed: 1, oldestAgeMs: 0 });
      const [m] = await s.receiveMessages('jobs', { max: 10, visibilityMs: 100, receipt: 'r1' }, 1000);
      assert.equal(m?.body, 'a');
      assert.equal(m?.receiveCount, 1);
      assert.equal(await s.nextVisibleAt('jobs', 1000), 1100);
      assert.deepEqual(await s.receiveMessages('jobs', { max: 10, visibilityMs: 100, receipt: 'r2' }, 1050), []);
      const [again] = await s.receiveMessages('jobs', { max: 1, visibilityMs: 100, receipt: 'r3' }, 1100);
      assert.equal(again?.receiveCount, 2);
      assert.equal(await s.deleteMessage('jobs', m!.seq, 'r1'), 'stale');
      assert.equal(await s.deleteMessage('jobs', m!.seq, 'r3'), 'ok');
      assert.equal(await s.deleteMessage('jobs', m!.seq, 'r3'), 'gone');
      assert.equal(await s.purgeQueue('jobs'), 1);
      // maxBytes caps a batch by its bodies, but always takes one message.
      await s.sendMessages('jobs', [{ body: 'x'.repeat(600) }, { body: 'y'.repeat(600) }, { body: 'z' }], 2000, 0);
      assert.equal((await s.receiveMessages('jobs', { max: 10, visibilityMs: 100, receipt: 'm1', maxBytes: 1000 }, 2000)).length, 1);
      assert.equal((await s.receiveMessages('jobs', { max: 10, visibilityMs: 100, receipt: 'm2', maxBytes: 100 }, 2000)).length, 1);
    }));

    it('moves a message past maxReceiveCount to the dead-letter queue, and redrives it back', withStore(async (s) => {
      await s.applyApp(withQueues([queue('src', { redrive: { deadLetterQueue: 'dlq', maxReceiveCount: 1 } }), queue('dlq')]), 1);
      await s.sendMessages('src', [{ body: 'poison' }], 1, 0);
      await s.receiveMessages('src', { max: 1, visibilityMs: 0, receipt: 'r1' }, 2);
      assert.deepEqual(await s.receiveMessages('src', { max: 1, visibilityMs: 0, receipt: 'r2' }, 3), []);
      const [dead] = await s.receiveMessages('dlq', { max: 1, visibilityMs: 0, receipt: 'r3' }, 4);
      assert.equal(dead?.sourceQueue, 'src');
      assert.equal(await s.redriveMessages('dlq', { max: 10 }, 5), 1);
      assert.equal((await s.queueStats('src', 6)).visible, 1);
    }));

    it('FIFO: order per group, one group in flight at a time, deduplication within the window', withStore(async (s) => {
      await s.applyApp(withQueues([queue('t.fifo')]), 1);
      const sent = await s.sendMessages('t.fifo', [{ body: 'a1', groupId: 'a', dedupId: '1' }, { body: 'b1', groupId: 'b', dedupId: '2' }, { body: 'a2', groupId: 'a', dedupId: '3' }], 10, 1000);
      const dup = await s.sendMessages('t.fifo', [{ body: 'a1 again', groupId: 'a', dedupId: '1' }], 20, 1000);
      assert.deepEqual(dup, [{ messageId: sent[0]!.messageId, sequenceNumber: sent[0]!.sequenceNumber, duplicate: true }]);
      const first = await s.receiveMessages('t.fifo', { max: 1, visibilityMs: 100, receipt: 'r' }, 30);
      assert.deepEqual(first.map((m) => m.body), ['a1']);
      assert.deepEqual((await s.receiveMessages('t.fifo', { max: 10, visibilityMs: 100, receipt: 'r2' }, 31)).map((m) => m.body), ['b1'], 'group a is locked');
      await s.deleteMessage('t.fifo', first[0]!.seq, 'r');
      assert.deepEqual((await s.receiveMessages('t.fifo', { max: 10, visibilityMs: 100, receipt: 'r3' }, 32)).map((m) => m.body), ['a2']);
      assert.equal((await s.sendMessages('t.fifo', [{ body: 'later', groupId: 'a', dedupId: '1' }], 2000, 1000))[0]!.duplicate, undefined, 'the window passed');
    }));

    it('async events: enqueue (idempotent by key), claim with a lease, retry, settle with deliveries', withStore(async (s) => {
      await s.applyApp(withQueues([queue('out')]), 1);
      assert.deepEqual(await s.enqueueAsync({ requestId: 'r1', fn: 'consumer', payload: '{}', idempotencyKey: 'k' }, 100, 1000), { requestId: 'r1', duplicate: false });
      assert.deepEqual(await s.enqueueAsync({ requestId: 'r2', fn: 'consumer', payload: '{}', idempotencyKey: 'k' }, 200, 1000), { requestId: 'r1', duplicate: true });
      const [ev] = await s.claimAsync(10, 300, 5000);
      assert.equal(ev?.attempts, 1);
      assert.deepEqual(await s.claimAsync(10, 400, 5000), [], 'leased');
      await s.retryAsync(ev!, 600, true);
      assert.equal(await s.nextAsyncDue(), 600);
      const [again] = await s.claimAsync(10, 600, 5000);
      assert.equal(again?.attempts, 2);
      await s.retryAsync(again!, 700, false);
      const [third] = await s.claimAsync(10, 700, 5000);
      assert.equal(third?.attempts, 2, 'a throttle gives the attempt back');
      assert.equal(await s.settleAsync({ seq: third!.seq, leaseUntil: 1 }, [{ to: { kind: 'queue', name: 'out' }, body: 'lost' }], 800), null, 'a claim whose lease is gone settles nothing');
      await s.settleAsync(third!, [{ to: { kind: 'queue', name: 'out' }, body: 'record' }, { to: { kind: 'function', name: 'consumer' }, body: '{"next":1}', requestId: 'r3' }], 800);
      assert.equal((await s.queueStats('out', 900)).visible, 1);
      const [next] = await s.claimAsync(10, 900, 5000);
      assert.deepEqual([next?.requestId, next?.payload], ['r3', '{"next":1}']);
      await s.releaseAsyncLeases(950);
      assert.equal((await s.claimAsync(10, 950, 5000)).length, 1, 'released leases come due at once');
    }));

    it('expires messages past their queue\'s retention, oldest first, in steps that let other work run, and stops between steps when told', withStore(async (s) => {
      await s.applyApp(withQueues([queue('short', { retentionMs: 60_000 }), queue('long')]), 1);
      for (let i = 0; i < 5; i++) await s.sendMessages('short', Array.from({ length: 1000 }, (_, j) => ({ body: `old ${i * 1000 + j}` })), 1000, 0);
      await s.sendMessages('short', [{ body: 'new' }, { body: 'later', delayMs: 20_000 }], 50_000, 0);
      await s.sendMessages('long', [{ body: 'kept' }], 1000, 0);
      assert.equal((await s.receiveMessages('short', { max: 1, visibilityMs: 100_000, receipt: 'r' }, 1000))[0]?.body, 'old 0');
      assert.deepEqual(await s.queueStats('short', 61_000), { visible: 5000, inFlight: 1, delayed: 1, oldestAgeMs: 60_000 });
      const expired = await turnsDuring(() => s.expireMessages(61_000));
      assert.equal(expired.result, 5000, 'every message sent at 1000, the one in flight too');
      assert.ok(expired.turns >= 2, `${expired.turns} turns of the event loop while 5,000 messages expired`);
      assert.deepEqual(await s.queueStats('short', 61_000), { visible: 1, inFlight: 0, delayed: 1, oldestAgeMs: 11_000 });
      assert.deepEqual(await s.queueStats('long', 61_000), { visible: 1, inFlight: 0, delayed: 0, oldestAgeMs: 60_000 }, 'another queue\'s retention');
      assert.deepEqual((await s.receiveMessages('short', { max: 10, visibilityMs: 100, receipt: 'r2' }, 70_000)).map((m) => m.body), ['new', 'later']);
      // Told to stop: it stops after the step it is in, and the next sweep finishes the job.
      for (let i = 0; i < 5000; i += 1000) await s.sendMessages('long', Array.from({ length: 1000 }, () => ({ body: 'x' })), 2000 + i, 0);
      const stop = new AbortController();
      const running = s.expireMessages(10_000_000, stop.signal);
      stop.abort();
      const some = await running;
      assert.ok(some > 0 && some < 5003, `${some} messages expired before it stopped`);
      // Queue by queue ('long' first), the oldest first: 'kept', then those sent at 2000, then at 3000.
      const oldest = 10_000_000 - (await s.queueStats('long', 10_000_000)).oldestAgeMs;
      assert.equal(oldest, 2000 + 1000 * Math.floor((some - 1) / 1000), `${some} expired, the oldest left was sent at ${oldest}`);
      assert.equal(await s.expireMessages(10_000_000), 5003 - some);
      assert.equal((await s.queueStats('long', 10_000_000)).visible, 0);
    }));

    it('a failing call does not undo the others committed with it', withStore(async (s) => {
      await s.applyApp(withQueues([queue('jobs')]), 1);
      const results = await Promise.allSettled([s.sendMessages('jobs', [{ body: 'x' }], 1, 0), s.sendMessages('missing', [{ body: 'y' }], 1, 0), s.sendMessages('jobs', [{ body: 'z' }], 1, 0)]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      assert.equal((await s.queueStats('jobs', 2)).visible, 2);
    }));

    it('schedules: a tick fires once (compare-and-set with its delivery), a redeploy keeps an unchanged schedule\'s next tick', withStore(async (s) => {
      const sched = { name: 'every', expression: 'rate(1 minute)', timezone: 'UTC', target: { kind: 'queue' as const, name: 'out' }, input: null, enabled: true, catchUp: true };
      await s.applyApp({ ...withQueues([queue('out')]), schedules: [sched] }, 1);
      assert.equal((await s.listSchedules())[0]!.nextAt, null, 'computed by the scheduler');
      await s.setScheduleNext('every', 60_000, 0);
      const delivery = { to: { kind: 'queue' as const, name: 'out' }, body: 'tick' };
      const [a, b] = await Promise.all([s.fireSchedule('every', 60_000, 120_000, 60_000, delivery), s.fireSchedule('every', 60_000, 120_000, 60_000, delivery)]);
      assert.deepEqual([a, b].sort(), [false, true], 'one of two racing fires wins');
      assert.equal((await s.queueStats('out', 70_000)).visible, 1);
      assert.deepEqual(await s.fireSchedule('every', 120_000, 180_000, 120_000, undefined), true, 'a skipped tick moves on without a delivery');
      const r = (await s.listSchedules())[0]!;
      assert.deepEqual([r.nextAt, r.lastFiredAt], [180_000, 60_000]);
      await s.applyApp({ ...withQueues([queue('out')]), schedules: [{ ...sched, input: '{"x":1}' }] }, 2);
      assert.equal((await s.listSchedules())[0]!.nextAt, 180_000, 'same expression: same next tick');
      await s.applyApp({ ...withQueues([queue('out')]), schedules: [{ ...sched, input: '{"x":1}', enabled: false }] }, 2);
      assert.equal((await s.listSchedules())[0]!.nextAt, null, 'turned off by a deploy: no next tick');
      await s.setScheduleNext('every', 180_000);
      await s.applyApp({ ...withQueues([queue('out')]), schedules: [{ ...sched, expression: 'rate(2 minutes)' }] }, 3);
      assert.equal((await s.listSchedules())[0]!.nextAt, null, 'a new expression starts afresh');
      await s.setScheduleNext('every', 240_000);
      assert.equal(await s.setScheduleEnabled('every', false), true);
      assert.equal((await s.listSchedules())[0]!.nextAt, null, 'disabling forgets the next tick');
      assert.equal(await s.setScheduleEnabled('nope', false), false);
      await s.applyApp({ ...withQueues([queue('out')]), schedules: [] }, 4);
      assert.deepEqual(await s.listSchedules(), []);
    }));

    it('topics: subscriptions keep their id and webhook secret across deploys; deliveries go to every kind at once', withStore(async (s) => {
      const sub = (kind: 'function' | 'queue' | 'webhook', target: string) => ({ kind, target, raw: false, filterPolicy: null, filterPolicyScope: 'MessageAttributes' as const, deadLetterQueue: null });
      const desired = (subs: ReturnType<typeof sub>[]) => ({ ...withQueues([queue('q')]), topics: [{ name: 'news', subscriptions: subs }] });
      await s.applyApp(desired([sub('queue', 'q'), sub('webhook', 'https://example.com/a'), sub('function', 'consumer')]), 1);
      const [first] = await s.listTopics();
      const hook = first!.subscriptions.find((x) => x.kind === 'webhook')!;
      assert.ok(hook.secret && hook.secret.length >= 32);
      assert.equal(first!.subscriptions.find((x) => x.kind === 'queue')!.secret, null);
      await s.applyApp(desired([sub('webhook', 'https://example.com/a'), sub('queue', 'q')]), 2);
      const [second] = await s.listTopics();
      assert.deepEqual(second!.subscriptions.map((x) => x.kind), ['webhook', 'queue'], 'in manifest order; the function subscription went');
      assert.deepEqual([second!.subscriptions[0]!.id, second!.subscriptions[0]!.secret], [hook.id, hook.secret]);
      const missing = await s.deliver([
        { to: { kind: 'queue', name: 'q' }, body: 'm' }, { to: { kind: 'webhook', name: hook.id }, body: 'w', requestId: 'msg-1' },
        { to: { kind: 'function', name: 'consumer' }, body: '{}' }, { to: { kind: 'webhook', name: 'gone' }, body: 'x' },
      ], 10);
      assert.deepEqual(missing, ['webhook:gone']);
      assert.equal((await s.queueStats('q', 11)).visible, 1);
      const [w] = await s.claimWebhooks(10, 11, 1000);
      assert.deepEqual([w?.subscriptionId, w?.messageId, w?.body, w?.attempts, w?.leaseUntil], [hook.id, 'msg-1', 'w', 1, 1000]);
      assert.deepEqual(await s.claimWebhooks(10, 12, 1000), [], 'leased');
      await s.retryWebhook(w!, 20);
      assert.equal(await s.nextWebhookDue(), 20);
      const [again] = await s.claimWebhooks(10, 20, 1000);
      assert.equal(again?.attempts, 2);
      await s.settleWebhook(again!, [{ to: { kind: 'queue', name: 'q' }, body: 'dead' }], 30);
      assert.equal(await s.nextWebhookDue(), undefined);
      assert.equal((await s.queueStats('q', 31)).visible, 2);
    }));

    it('rules: replaced with each deploy, unique across apps', withStore(async (s) => {
      const rule = { name: 'r1', pattern: '{"source":["shop"]}', enabled: true, targets: [{ kind: 'queue' as const, name: 'q', input: { inputPath: '$.detail' } }] };
      await s.applyApp({ ...withQueues([queue('q')]), rules: [rule] }, 1);
      assert.deepEqual(await s.listRules(), [{ ...rule, app: 'w' }]);
      await s.applyApp({ ...withQueues([queue('q')]), rules: [{ ...rule, name: 'r2', enabled: false }] }, 2);
      assert.deepEqual((await s.listRules()).map((r) => [r.name, r.enabled]), [['r2', false]]);
      await assert.rejects(s.applyApp({ ...app('x', [fn('other')]), rules: [{ ...rule, name: 'r2', targets: [] }] }, 3), (e: { code?: string }) => e.code === 'RULE_CONFLICT');
      // HTTP targets keep their endpoint id and secret across deploys while rule and URL stay.
      const http = { ...rule, name: 'h', targets: [{ kind: 'url' as const, name: 'https://example.com/x', input: null }] };
      await s.applyApp({ ...withQueues([queue('q')]), rules: [http] }, 4);
      const [e1] = await s.listRuleEndpoints();
      assert.ok(e1 && e1.secret.length >= 32 && e1.rule === 'h');
      await s.applyApp({ ...withQueues([queue('q')]), rules: [{ ...http, enabled: false }] }, 5);
      assert.deepEqual(await s.listRuleEndpoints(), [e1]);
      assert.deepEqual(await s.deliver([{ to: { kind: 'webhook', name: e1.id }, body: '{}' }], 6), []);
      await s.applyApp({ ...withQueues([queue('q')]), rules: [] }, 7);
      assert.deepEqual(await s.listRuleEndpoints(), []);
    }));
  });
}
