// The object storage conformance suite: every Store implementation runs these same tests against
// its `objects` seam (test/objects-store.test.ts runs them on SQLite; the PostgreSQL store will run
// them too). Buckets come and go with deploys; object writes are atomic with their conditions,
// counts and notifications.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ObjectWrite } from '../src/store/objects.ts';
import type { Delivery, DesiredApp, DesiredFunction, Store } from '../src/store/types.ts';
import { desiredApp } from '../src/store/desired.ts';

const fn = (name: string): DesiredFunction => ({
  name, handler: `src/${name}.handler`, exportName: 'handler', memoryMb: 128, timeoutMs: 3000, environment: {}, concurrencyMax: 10, queueTimeoutMs: 1000,
  provisioned: 0, perInstance: 1, async: { retries: 2, maxEventAgeMs: 21_600_000 }, secrets: [],
  permissions: { buckets: {}, tables: {}, queues: {}, topics: {}, functions: {}, bus: [] }, codeSha: 'a'.repeat(64),
});
const app = (name: string, over: Partial<DesiredApp> = {}): DesiredApp => desiredApp(name, { specHash: `${name}-${Math.random()}`, functions: [fn(`${name}-fn`)], ...over });
let blobs = 0;
const obj = (bucket: string, key: string, over: Partial<ObjectWrite> = {}): ObjectWrite => ({
  bucket, key, blob: (++blobs).toString(16).padStart(32, '0'), size: 10, etag: 'e'.repeat(32), contentType: 'text/plain', metadata: {}, ...over,
});
const none = (): Delivery[] => [];
const code = (c: string) => (e: { code?: string }) => e.code === c;

export function runObjectsConformance(label: string, open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
  const withStore = (body: (s: Store) => Promise<void>) => async () => {
    const { store, cleanup } = await open();
    try { await body(store); } finally { await store.close(); await cleanup(); }
  };

  describe(`objects conformance: ${label}`, () => {
    it('creates the buckets a deploy names, with zero counts, and refuses another app\'s bucket name', withStore(async (s) => {
      await s.applyApp(app('one', { buckets: [{ name: 'photos' }, { name: 'docs' }] }), 1);
      assert.deepEqual(await s.objects.listBuckets(), [
        { name: 'docs', app: 'one', objects: 0, bytes: 0 }, { name: 'photos', app: 'one', objects: 0, bytes: 0 },
      ]);
      await assert.rejects(s.applyApp(app('two', { buckets: [{ name: 'photos' }] }), 2), (e: { code: string; message: string }) => {
        assert.equal(e.code, 'BUCKET_CONFLICT');
        assert.match(e.message, /"photos" already belongs to app "one"/);
        return true;
      });
      assert.equal(await s.getApp('two'), undefined);
      assert.equal((await s.objects.getBucket('photos'))?.app, 'one');
      assert.equal(await s.objects.getBucket('nope'), undefined);
    }));

    it('puts, replaces and reads objects, keeping counts and a growing sequence', withStore(async (s) => {
      await s.applyApp(app('one', { buckets: [{ name: 'photos' }] }), 1);
      const first = await s.objects.putObject(obj('photos', 'a.jpg', { size: 100, metadata: { author: 'ana' } }), {}, 1000, none);
      assert.equal(first.replaced, undefined);
      assert.equal(first.record.lastModified, 1000);
      assert.deepEqual(await s.objects.getObject('photos', 'a.jpg'), first.record);
      const second = await s.objects.putObject(obj('photos', 'a.jpg', { size: 40, etag: 'f'.repeat(32) }), {}, 2000, none);
      assert.equal(second.replaced?.blob, first.record.blob, 'the replaced version is returned, so its blob can be deleted');
      assert.ok(second.record.sequence > first.record.sequence);
      await s.objects.putObject(obj('photos', 'b.jpg', { size: 2 }), {}, 3000, none);
      assert.deepEqual(await s.objects.getBucket('photos'), { name: 'photos', app: 'one', objects: 2, bytes: 42 });
      assert.equal(await s.objects.getObject('photos', 'zzz'), undefined);
    }));

    it('checks If-None-Match and If-Match inside the write, changing nothing when they fail', withStore(async (s) => {
      await s.applyApp(app('one', { buckets: [{ name: 'photos' }] }), 1);
      await s.objects.putObject(obj('photos', 'k', { etag: '1'.repeat(32) }), { ifNoneMatch: true }, 1, none);
      await assert.rejects(s.objects.putObject(obj('photos', 'k'), { ifNoneMatch: true }, 2, none), code('PRECONDITION_FAILED'));
      await assert.rejects(s.objects.putObject(obj('photos', 'k'), { ifMatch: '2'.repeat(32) }, 2, none), code('PRECONDITION_FAILED'));
      await assert.rejects(s.objects.putObject(obj('photos', 'new'), { ifMatch: '1'.repeat(32) }, 2, none), code('PRECONDITION_FAILED'));
      const ok = await s.objects.putObject(obj('photos', 'k', { etag: '3'.repeat(32) }), { ifMatch: '1'.repeat(32) }, 3, none);
      assert.equal(ok.record.etag, '3'.repeat(32));
      assert.deepEqual(await s.objects.getBucket('photos'), { name: 'photos', app: 'one', objects: 1, bytes: 10 });
    }));

    it('refuses writes and deletes in a bucket that does not exist', withStore(async (s) => {
      await assert.rejects(s.objects.putObject(obj('ghost', 'k'), {}, 1, none), code('BUCKET_NOT_FOUND'));
      await assert.rejects(s.objects.deleteObject('ghost', 'k', 1, none), code('BUCKET_NOT_FOUND'));
    }));

    it('deletes objects (a missing key deletes nothing), with a sequence after the write it removes', withStore(async (s) => {
      await s.applyApp(app('one', { buckets: [{ name: 'photos' }] }), 1);
      const put = await s.objects.putObject(obj('photos', 'k', { size: 7 }), {}, 1, none);
      const del = await s.objects.deleteObject('photos', 'k', 2, none);
      assert.equal(del.deleted?.blob, put.record.blob);
      assert.ok(del.sequence > put.record.sequence);
      assert.equal(await s.objects.getObject('photos', 'k'), undefined);
      assert.deepEqual(await s.objects.getBucket('photos'), { name: 'photos', app: 'one', objects: 0, bytes: 0 });
      const again = await s.objects.deleteObject('photos', 'k', 3, none);
      assert.equal(again.deleted, undefined);
      assert.deepEqual(again.deliveries, []);
    }));

    it('lists keys in UTF-8 byte order, by prefix, after a key, up to a limit', withStore(async (s) => {
      await s.applyApp(app('one', { buckets: [{ name: 'b1' }, { name: 'b2' }] }), 1);
      // U+FFFD sorts before U+1F600 in UTF-8 (EF BF BD < F0 9F 98 80) but after it in UTF-16.
      const keys = ['a/1', 'a/2', 'a/\u{1F600}', 'a/\uFFFD', 'a0', 'b', 'a/10'];
      for (const k of keys) await s.objects.putObject(obj('b1', k), {}, 1, none);
      await s.objects.putObject(obj('b2', 'a/9'), {}, 1, none);
      const list = async (q: { prefix: string; after?: string; limit: number }) => (await s.objects.listObjects('b1', { after: undefined, ...q })).map((o) => o.key);
      assert.deepEqual(await list({ prefix: '', limit: 100 }), ['a/1', 'a/10', 'a/2', 'a/\uFFFD', 'a/\u{1F600}', 'a0', 'b']);
      assert.deepEqual(await list({ prefix: 'a/', limit: 100 }), ['a/1', 'a/10', 'a/2', 'a/\uFFFD', 'a/\u{1F600}']);
      assert.deepEqual(await list({ prefix: 'a/', after: 'a/10', limit: 2 }), ['a/2', 'a/\uFFFD']);
      assert.deepEqual(await list({ prefix: 'a/', after: 'a', limit: 1 }), ['a/1'], 'an `after` before the prefix does not reach outside it');
      assert.deepEqual(await list({ prefix: 'a/', after: 'a/\u{1F600}', limit: 5 }), []);
    }));

    it('never drops a bucket that has objects: the deploy fails whole with BUCKET_NOT_EMPTY', withStore(async (s) => {
      await s.applyApp(app('one', { buckets: [{ name: 'keep' }, { name: 'full' }, { name: 'empty' }] }), 1);
      await s.objects.putObject(obj('full', 'k'), {}, 1, none);
      await assert.rejects(s.applyApp(app('one', { buckets: [{ name: 'keep' }], functions: [fn('one-fn'), fn('added')] }), 2), (e: { code: string; message: string }) => {
        assert.equal(e.code, 'BUCKET_NOT_EMPTY');
        assert.match(e.message, /"full".*1 object/);
        return true;
      });
      assert.equal(await s.getFunction('added'), undefined, 'nothing of the failed deploy was applied');
      assert.deepEqual((await s.objects.listBuckets()).map((b) => b.name), ['empty', 'full', 'keep']);
      await s.objects.deleteObject('full', 'k', 3, none);
      await s.applyApp(app('one', { buckets: [{ name: 'keep' }] }), 4);
      assert.deepEqual((await s.objects.listBuckets()).map((b) => b.name), ['keep']);
    }));

    it('replaces an app\'s storage triggers on each deploy', withStore(async (s) => {
      await s.applyApp(app('one', {
        buckets: [{ name: 'up' }],
        storageTriggers: [{ fn: 'one-fn', bucket: 'up', events: ['created'], prefix: 'in/', suffix: '.jpg' }],
      }), 1);
      assert.deepEqual(await s.objects.listStorageTriggers(), [{ app: 'one', fn: 'one-fn', bucket: 'up', events: ['created'], prefix: 'in/', suffix: '.jpg' }]);
      await s.applyApp(app('one', { buckets: [{ name: 'up' }], storageTriggers: [{ fn: 'one-fn', bucket: 'up', events: ['created', 'removed'], prefix: '', suffix: '' }] }), 2);
      assert.deepEqual((await s.objects.listStorageTriggers()).map((t) => t.events), [['created', 'removed']]);
      await s.applyApp(app('one', { buckets: [{ name: 'up' }] }), 3);
      assert.deepEqual(await s.objects.listStorageTriggers(), []);
    }));

    it('stores a write\'s notifications in its transaction, and none for a write that fails', withStore(async (s) => {
      await s.applyApp(app('one', { buckets: [{ name: 'up' }] }), 1);
      const to = { kind: 'function' as const, name: 'one-fn' };
      const put = await s.objects.putObject(obj('up', 'k'), {}, 10, (rec) => [{ to, body: JSON.stringify({ put: rec.key, seq: rec.sequence }) }]);
      assert.equal(put.deliveries.length, 1);
      await assert.rejects(s.objects.putObject(obj('up', 'k'), { ifNoneMatch: true }, 11, () => [{ to, body: '"refused"' }]), code('PRECONDITION_FAILED'));
      const del = await s.objects.deleteObject('up', 'k', 12, (old, seq) => [{ to, body: JSON.stringify({ deleted: old.key, seq }) }]);
      // A function that no longer exists gets nothing (as for every delivery).
      await s.objects.putObject(obj('up', 'k2'), {}, 13, () => [{ to: { kind: 'function', name: 'gone' }, body: '"x"' }]);
      const events = await s.claimAsync(10, 100, 1000);
      assert.deepEqual(events.map((e) => JSON.parse(e.payload)), [{ put: 'k', seq: put.record.sequence }, { deleted: 'k', seq: del.sequence }]);
      assert.ok(events.every((e) => e.fn === 'one-fn'));
    }));

    it('says which blobs an object refers to', withStore(async (s) => {
      await s.applyApp(app('one', { buckets: [{ name: 'up' }] }), 1);
      const a = await s.objects.putObject(obj('up', 'a'), {}, 1, none);
      const b = await s.objects.putObject(obj('up', 'b'), {}, 1, none);
      await s.objects.putObject(obj('up', 'b'), {}, 2, none);
      const found = await s.objects.referencedBlobs([a.record.blob, b.record.blob, 'f'.repeat(32)]);
      assert.deepEqual([...found], [a.record.blob]);
    }));

    it('deleting an app drops its empty buckets and refuses while one has objects', withStore(async (s) => {
      await s.applyApp(app('one', { buckets: [{ name: 'full' }, { name: 'empty' }] }), 1);
      await s.objects.putObject(obj('full', 'k'), {}, 1, none);
      await assert.rejects(s.deleteApp('one'), code('BUCKET_NOT_EMPTY'));
      assert.ok(await s.getApp('one'));
      await s.objects.deleteObject('full', 'k', 2, none);
      assert.equal(await s.deleteApp('one'), true);
      assert.deepEqual(await s.objects.listBuckets(), []);
      await s.applyApp(app('two', { buckets: [{ name: 'full' }] }), 3);
    }));
  });
}
