// The KV conformance suite: every store's KvStore runs these same tests unchanged (test/kv-store.test.ts
// runs them against SQLite; the PostgreSQL store will run them too). Tables come and go through
// applyApp, as a deploy makes them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ItemKey, JsonObject } from '../src/store/kv.ts';
import type { DesiredApp, DesiredFunction, DesiredTable, Store } from '../src/store/types.ts';
import { desiredApp } from '../src/store/desired.ts';

const fn = (name: string): DesiredFunction => ({
  name, handler: `src/${name}.handler`, exportName: 'handler', memoryMb: 128, timeoutMs: 3000, environment: {},
  concurrencyMax: 10, queueTimeoutMs: 1000, provisioned: 0, perInstance: 1, async: { retries: 2, maxEventAgeMs: 21_600_000 }, secrets: [],
  permissions: { buckets: {}, tables: {}, queues: {}, topics: {}, functions: {}, bus: [] }, codeSha: 'a'.repeat(64),
});
const table = (name: string, over: Partial<DesiredTable> = {}): DesiredTable => ({ name, partitionKey: 'id', sortKey: null, ttlAttribute: null, ...over });
const app = (name: string, tables: DesiredTable[], over: Partial<DesiredApp> = {}): DesiredApp => desiredApp(name, { specHash: `${name}-${Math.random()}`, functions: [fn(`${name}-fn`)], tables, ...over });
const trigger = (fnName: string, tbl: string, startingPosition: 'latest' | 'trim_horizon' = 'trim_horizon') => ({ fn: fnName, table: tbl, batchSize: 10, batchWindowMs: 0, startingPosition, maxRetries: -1 });
const k = (pk: string | number, sk: string | number | null = null): ItemKey => ({ pk, sk });
const NOW = 1_800_000_000_000;

export function runKvConformance(label: string, open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
  const withStore = (body: (s: Store) => Promise<void>) => async () => {
    const { store, cleanup } = await open();
    try { await body(store); } finally { await store.close(); await cleanup(); }
  };
  const code = (c: string) => (e: { code?: string }) => { assert.equal(e.code, c); return true; };

  describe(`kv conformance: ${label}`, () => {
    it('deploys tables, refuses a name another app owns, and lists them', withStore(async (s) => {
      await s.applyApp(app('one', [table('users', { sortKey: 'at', ttlAttribute: 'exp' })]), NOW);
      await assert.rejects(s.applyApp(app('two', [table('users')]), NOW), (e: { code: string; message: string }) => {
        assert.equal(e.code, 'TABLE_CONFLICT');
        assert.match(e.message, /belongs to app "one"/);
        return true;
      });
      assert.equal(await s.getApp('two'), undefined);
      assert.deepEqual(await s.kv.listTables(), [{ name: 'users', app: 'one', partitionKey: 'id', sortKey: 'at', ttlAttribute: 'exp' }]);
      await assert.rejects(s.kv.getItem('nope', k('a'), NOW), code('TABLE_NOT_FOUND'));
    }));

    it('puts and gets items with versions; conditions hold or nothing is written', withStore(async (s) => {
      await s.applyApp(app('a', [table('t')]), NOW);
      const put = (item: JsonObject, condition = {}) => s.kv.writeItems('t', [{ op: 'put', key: k(item.id as string), item, condition }], NOW);
      assert.equal((await put({ id: 'x', n: 1 }))[0]!.version, 1);
      const [second] = await put({ id: 'x', n: 2 });
      assert.deepEqual(second, { version: 2, old: { item: { id: 'x', n: 1 }, version: 1 } });
      assert.deepEqual(await s.kv.getItem('t', k('x'), NOW), { item: { id: 'x', n: 2 }, version: 2 });
      await assert.rejects(put({ id: 'x', n: 3 }, { ifNotExists: true }), code('CONDITION_FAILED'));
      await assert.rejects(put({ id: 'x', n: 3 }, { expectedVersion: 1 }), code('CONDITION_FAILED'));
      await assert.rejects(put({ id: 'new', n: 3 }, { expectedVersion: 1 }), code('CONDITION_FAILED'));
      assert.equal(await s.kv.getItem('t', k('new'), NOW), null);
      assert.equal((await put({ id: 'x', n: 3 }, { expectedVersion: 2 }))[0]!.version, 3);
      assert.equal((await put({ id: 'y' }, { ifNotExists: true }))[0]!.version, 1);
      assert.deepEqual((await s.kv.getItems('t', [k('y'), k('zz'), k('x')], NOW)).map((r) => r?.version ?? null), [1, null, 3]);
    }));

    it('deletes idempotently, with conditions and the old item', withStore(async (s) => {
      await s.applyApp(app('a', [table('t')]), NOW);
      await s.kv.writeItems('t', [{ op: 'put', key: k('x'), item: { id: 'x', v: 1 } }], NOW);
      await assert.rejects(s.kv.writeItems('t', [{ op: 'delete', key: k('x'), condition: { expectedVersion: 7 } }], NOW), code('CONDITION_FAILED'));
      assert.deepEqual((await s.kv.writeItems('t', [{ op: 'delete', key: k('x') }], NOW))[0], { version: null, old: { item: { id: 'x', v: 1 }, version: 1 } });
      assert.deepEqual((await s.kv.writeItems('t', [{ op: 'delete', key: k('x') }], NOW))[0], { version: null, old: null });
      await assert.rejects(s.kv.writeItems('t', [{ op: 'delete', key: k('x'), condition: { ifExists: true } }], NOW), code('CONDITION_FAILED'));
    }));

    it('writes a batch all or nothing', withStore(async (s) => {
      await s.applyApp(app('a', [table('t')]), NOW);
      await s.kv.writeItems('t', [{ op: 'put', key: k('taken'), item: { id: 'taken' } }], NOW);
      await assert.rejects(s.kv.writeItems('t', [
        { op: 'put', key: k('a'), item: { id: 'a' } },
        { op: 'put', key: k('taken'), item: { id: 'taken', v: 2 }, condition: { ifNotExists: true } },
      ], NOW), (e: { code: string; details?: { index: number } }) => { assert.equal(e.code, 'CONDITION_FAILED'); assert.equal(e.details?.index, 1); return true; });
      assert.equal(await s.kv.getItem('t', k('a'), NOW), null);
      assert.equal((await s.kv.readStream('t', 0, 100)).length, 1);
      const r = await s.kv.writeItems('t', [{ op: 'put', key: k('a'), item: { id: 'a' } }, { op: 'delete', key: k('taken') }], NOW);
      assert.deepEqual(r.map((x) => x.version), [1, null]);
    }));

    it('increments a number attribute, creating the item and the attribute at 0', withStore(async (s) => {
      await s.applyApp(app('a', [table('t', { sortKey: 'day' })]), NOW);
      assert.deepEqual(await s.kv.increment('t', k('page', '2026-01-01'), 'hits', 1, NOW), { value: 1, version: 1 });
      assert.deepEqual(await s.kv.increment('t', k('page', '2026-01-01'), 'hits', 41, NOW), { value: 42, version: 2 });
      assert.deepEqual(await s.kv.increment('t', k('page', '2026-01-01'), 'other', -2.5, NOW), { value: -2.5, version: 3 });
      assert.deepEqual((await s.kv.getItem('t', k('page', '2026-01-01'), NOW))!.item, { id: 'page', day: '2026-01-01', hits: 42, other: -2.5 });
      await s.kv.writeItems('t', [{ op: 'put', key: k('s', 1), item: { id: 's', day: 1, name: 'x' } }], NOW);
      await assert.rejects(s.kv.increment('t', k('s', 1), 'name', 1, NOW), code('INVALID_ITEM'));
    }));

    it('queries by partition key in sort-key order, with conditions, reverse and pages', withStore(async (s) => {
      await s.applyApp(app('a', [table('t', { sortKey: 'sk' })]), NOW);
      const sks: (string | number)[] = [10, -3, 2.5, 100, 'b', 'a', 'ab', 'é', 'Z', 0];
      await s.kv.writeItems('t', sks.map((sk) => ({ op: 'put' as const, key: k('p', sk), item: { id: 'p', sk } })), NOW);
      await s.kv.writeItems('t', [{ op: 'put', key: k('other', 1), item: { id: 'other', sk: 1 } }], NOW);
      const q = async (over: Partial<Parameters<Store['kv']['query']>[1]> = {}) =>
        (await s.kv.query('t', { pk: 'p', reverse: false, limit: 100, ...over }, NOW)).items.map((x) => x.item.sk);
      // Numbers numerically, before strings; strings by UTF-8 bytes (Z < a < ab < b < é).
      assert.deepEqual(await q(), [-3, 0, 2.5, 10, 100, 'Z', 'a', 'ab', 'b', 'é']);
      assert.deepEqual(await q({ reverse: true }), [-3, 0, 2.5, 10, 100, 'Z', 'a', 'ab', 'b', 'é'].reverse());
      assert.deepEqual(await q({ sort: { op: 'lt', value: 10 } }), [-3, 0, 2.5]);
      assert.deepEqual(await q({ sort: { op: 'ge', value: 10 } }), [10, 100]);
      assert.deepEqual(await q({ sort: { op: 'gt', value: 'a' } }), ['ab', 'b', 'é']);
      assert.deepEqual(await q({ sort: { op: 'le', value: 'a' } }), ['Z', 'a']);
      assert.deepEqual(await q({ sort: { op: 'eq', value: 2.5 } }), [2.5]);
      assert.deepEqual(await q({ sort: { op: 'between', low: 0, high: 10 } }), [0, 2.5, 10]);
      assert.deepEqual(await q({ sort: { op: 'beginsWith', prefix: 'a' } }), ['a', 'ab']);
      const pages: unknown[][] = [];
      let after: ItemKey | undefined;
      for (;;) {
        const page = await s.kv.query('t', { pk: 'p', reverse: true, limit: 3, after }, NOW);
        pages.push(page.items.map((x) => x.item.sk));
        if (!page.last) break;
        after = page.last;
      }
      assert.deepEqual(pages, [['é', 'b', 'ab'], ['a', 'Z', 100], [10, 2.5, 0], [-3]]);
    }));

    it('scans every item in key order, a page at a time', withStore(async (s) => {
      await s.applyApp(app('a', [table('t')]), NOW);
      const ids = Array.from({ length: 25 }, (_, i) => `k${String(i).padStart(2, '0')}`);
      await s.kv.writeItems('t', ids.map((id) => ({ op: 'put' as const, key: k(id), item: { id } })), NOW);
      const seen: string[] = [];
      let after: ItemKey | undefined;
      do {
        const page = await s.kv.scan('t', { limit: 10, after }, NOW);
        seen.push(...page.items.map((x) => x.item.id as string));
        after = page.last ?? undefined;
      } while (after);
      assert.deepEqual(seen, ids);
    }));

    it('hides items past their TTL at once, and the sweep removes them with an expiry REMOVE record', withStore(async (s) => {
      await s.applyApp(app('a', [table('t', { ttlAttribute: 'exp' })]), NOW);
      const expS = NOW / 1000 + 60;
      await s.kv.writeItems('t', [
        { op: 'put', key: k('soon'), item: { id: 'soon', exp: expS } },
        { op: 'put', key: k('never'), item: { id: 'never', exp: 'not a number' } },
      ], NOW);
      assert.ok(await s.kv.getItem('t', k('soon'), NOW + 59_999));
      assert.equal(await s.kv.getItem('t', k('soon'), NOW + 60_000), null);
      assert.equal((await s.kv.scan('t', { limit: 10 }, NOW + 60_000)).items.length, 1);
      assert.equal((await s.kv.tableStats('t', NOW + 60_000)).items, 1);
      const r = await s.kv.sweep(NOW + 60_000, 100, 0);
      assert.deepEqual([r.expired, r.tables], [1, ['t']]);
      const last = (await s.kv.readStream('t', 0, 100)).at(-1)!;
      assert.equal(last.eventName, 'REMOVE');
      assert.equal(last.expired, true);
      assert.deepEqual(last.oldImage, { id: 'soon', exp: expS });
      assert.equal((await s.kv.sweep(NOW + 60_000, 100, 0)).expired, 0);
    }));

    it('treats an expired item as absent on writes: its expiry REMOVE comes first', withStore(async (s) => {
      await s.applyApp(app('a', [table('t', { ttlAttribute: 'exp' })]), NOW);
      await s.kv.writeItems('t', [{ op: 'put', key: k('x'), item: { id: 'x', exp: NOW / 1000 } }], NOW - 1000);
      const [r] = await s.kv.writeItems('t', [{ op: 'put', key: k('x'), item: { id: 'x' }, condition: { ifNotExists: true } }], NOW);
      assert.deepEqual(r, { version: 1, old: null });
      assert.deepEqual((await s.kv.readStream('t', 0, 10)).map((x) => `${x.eventName}${x.expired ? ' (ttl)' : ''}`), ['INSERT', 'REMOVE (ttl)', 'INSERT']);
    }));

    it('records every change in order with keys and images; purge records nothing', withStore(async (s) => {
      await s.applyApp(app('a', [table('t', { sortKey: 'n' })]), NOW);
      await s.kv.writeItems('t', [{ op: 'put', key: k('a', 1), item: { id: 'a', n: 1, v: 'one' } }], NOW);
      await s.kv.writeItems('t', [{ op: 'put', key: k('a', 1), item: { id: 'a', n: 1, v: 'two' } }], NOW + 1);
      await s.kv.increment('t', k('a', 1), 'count', 5, NOW + 2);
      await s.kv.writeItems('t', [{ op: 'delete', key: k('a', 1) }], NOW + 3);
      await s.kv.writeItems('t', [{ op: 'delete', key: k('a', 1) }], NOW + 4); // nothing to delete: no record
      const recs = await s.kv.readStream('t', 0, 100);
      assert.deepEqual(recs.map((r) => [r.eventName, r.keys, r.oldImage?.v ?? null, r.newImage?.v ?? null, r.createdAt - NOW]), [
        ['INSERT', { id: 'a', n: 1 }, null, 'one', 0],
        ['MODIFY', { id: 'a', n: 1 }, 'one', 'two', 1],
        ['MODIFY', { id: 'a', n: 1 }, 'two', 'two', 2],
        ['REMOVE', { id: 'a', n: 1 }, 'two', null, 3],
      ]);
      assert.deepEqual(recs[2]!.newImage, { id: 'a', n: 1, v: 'two', count: 5 });
      assert.ok(recs.every((r, i) => r.sizeBytes > 0 && (i === 0 || r.seq > recs[i - 1]!.seq)));
      assert.deepEqual(await s.kv.readStream('t', recs[1]!.seq, 1), [recs[2]]);
      await s.kv.writeItems('t', [{ op: 'put', key: k('b', 1), item: { id: 'b', n: 1 } }], NOW);
      assert.equal(await s.kv.purge('t'), 1);
      assert.equal((await s.kv.readStream('t', 0, 100)).length, 5);
      assert.equal((await s.kv.scan('t', { limit: 10 }, NOW)).items.length, 0);
      const trimmed = await s.kv.sweep(NOW, 10, NOW + 2);
      assert.equal(trimmed.trimmed, 3); // the two at NOW and the one at NOW + 1
    }));

    it('keeps a table with items: no drop, no key change (the deploy rolls back); ttl may change', withStore(async (s) => {
      await s.applyApp(app('a', [table('t'), table('empty')]), NOW);
      await s.kv.writeItems('t', [{ op: 'put', key: k('x'), item: { id: 'x', exp: NOW / 1000 + 10 } }], NOW);
      await assert.rejects(s.applyApp(app('a', [table('empty')]), NOW), (e: { code: string; message: string }) => {
        assert.equal(e.code, 'TABLE_NOT_EMPTY');
        assert.match(e.message, /"t"/);
        return true;
      });
      await assert.rejects(s.applyApp(app('a', [table('t', { partitionKey: 'other' }), table('empty')]), NOW), code('TABLE_NOT_EMPTY'));
      await assert.rejects(s.applyApp(app('a', [table('t', { sortKey: 'sk' }), table('empty')]), NOW), code('TABLE_NOT_EMPTY'));
      assert.deepEqual((await s.kv.listTables()).map((t) => t.name), ['empty', 't']);
      // A new TTL attribute applies to the items already there.
      await s.applyApp(app('a', [table('t', { ttlAttribute: 'exp' }), table('empty', { partitionKey: 'pk' })]), NOW);
      assert.equal(await s.kv.getItem('t', k('x'), NOW + 10_000), null);
      assert.equal((await s.kv.getTable('empty'))?.partitionKey, 'pk');
      // Only expired items left: it may go.
      await s.applyApp(app('a', []), NOW + 10_000);
      assert.deepEqual(await s.kv.listTables(), []);
    }));

    it('starts a trigger at latest or trim_horizon, keeps its checkpoint across deploys, forgets it when removed', withStore(async (s) => {
      const tables = [table('t')];
      await s.applyApp(app('a', tables), NOW);
      await s.kv.writeItems('t', [{ op: 'put', key: k('x'), item: { id: 'x' } }], NOW);
      const [first] = await s.kv.readStream('t', 0, 1);
      await s.applyApp(app('a', tables, { tableTriggers: [trigger('a-fn', 't', 'latest')] }), NOW);
      assert.equal(await s.kv.getCheckpoint('a-fn', 't'), first!.seq);
      assert.deepEqual(await s.kv.listTableTriggers(), [{ app: 'a', fn: 'a-fn', table: 't', batchSize: 10, batchWindowMs: 0, startingPosition: 'latest', maxRetries: -1 }]);
      // A trigger reads its own app's tables only.
      await assert.rejects(s.applyApp(app('b', [], { tableTriggers: [trigger('b-fn', 't', 'trim_horizon')] }), NOW), code('TABLE_NOT_FOUND'));
      const two = [fn('a-fn'), fn('b-fn')];
      await s.applyApp(app('a', tables, { functions: two, tableTriggers: [trigger('a-fn', 't', 'latest'), trigger('b-fn', 't', 'trim_horizon')] }), NOW);
      assert.equal(await s.kv.getCheckpoint('a-fn', 't'), first!.seq);
      assert.equal(await s.kv.getCheckpoint('b-fn', 't'), 0);
      await s.kv.writeItems('t', [{ op: 'put', key: k('y'), item: { id: 'y' } }], NOW);
      const [, second] = await s.kv.readStream('t', 0, 2);
      assert.equal(await s.kv.setCheckpoint('a-fn', 't', second!.seq), true);
      assert.equal(await s.kv.setCheckpoint('a-fn', 't', first!.seq), true); // never backwards
      assert.equal(await s.kv.getCheckpoint('a-fn', 't'), second!.seq);
      await s.applyApp(app('a', tables, { functions: two, tableTriggers: [{ ...trigger('a-fn', 't', 'trim_horizon'), batchSize: 50 }, trigger('b-fn', 't', 'trim_horizon')] }), NOW);
      assert.equal(await s.kv.getCheckpoint('a-fn', 't'), second!.seq);
      const stats = await s.kv.tableStats('t', NOW);
      assert.deepEqual(stats.triggers.map((x) => [x.fn, x.lag]), [['a-fn', 0], ['b-fn', 2]]);
      await s.applyApp(app('a', tables), NOW);
      assert.equal(await s.kv.getCheckpoint('a-fn', 't'), undefined);
      assert.equal(await s.kv.setCheckpoint('a-fn', 't', 99), false);
      await assert.rejects(s.applyApp(app('c', [], { tableTriggers: [trigger('c-fn', 'missing')] }), NOW), code('TABLE_NOT_FOUND'));
    }));

    it('shares one transaction among concurrent writes and loses none', withStore(async (s) => {
      await s.applyApp(app('a', [table('t')]), NOW);
      await Promise.all(Array.from({ length: 200 }, (_, i) => s.kv.writeItems('t', [{ op: 'put', key: k(i), item: { id: i } }], NOW)));
      await Promise.all(Array.from({ length: 50 }, () => s.kv.increment('t', k('counter'), 'n', 1, NOW)));
      assert.equal((await s.kv.tableStats('t', NOW)).items, 201);
      assert.equal((await s.kv.getItem('t', k('counter'), NOW))!.item.n, 50);
    }));
  });
}
