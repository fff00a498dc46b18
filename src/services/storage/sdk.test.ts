// The storage SDK operations as the SDK host calls them: the grants each declares (copy reads its
// source and writes its target; a presigned PUT needs write), argument checks on untrusted input,
// and round trips of bytes, listings, copies and presigned URLs.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isNimbusError } from '../../errors.ts';
import type { FunctionRecord } from '../../store/types.ts';
import { storageSdkOps } from './sdk.ts';
import { type Fixture, storageFixture } from './testing.ts';

const code = (c: string) => (err: unknown) => isNimbusError(err) && err.code === c;
const caller = { name: 'worker', app: 'files' } as FunctionRecord;

let f: Fixture;
let ops: ReturnType<typeof storageSdkOps>;
beforeEach(async () => { f = await storageFixture(); ops = storageSdkOps(f.svc); });
afterEach(async () => { await f.close(); });

describe('storage SDK operations', () => {
  it('declare the grants they need', () => {
    const g = (op: string, args: Record<string, unknown>) => ops[op]!.needs(args).map((x) => `${x.name}:${x.right}`);
    assert.deepEqual(g('storage.put', { bucket: 'photos', key: 'k' }), ['photos:write']);
    assert.deepEqual(g('storage.get', { bucket: 'photos', key: 'k' }), ['photos:read']);
    assert.deepEqual(g('storage.head', { bucket: 'photos', key: 'k' }), ['photos:read']);
    assert.deepEqual(g('storage.list', { bucket: 'photos' }), ['photos:read']);
    assert.deepEqual(g('storage.delete', { bucket: 'photos', key: 'k' }), ['photos:write']);
    assert.deepEqual(g('storage.copy', { bucket: 'photos', key: 'k', toBucket: 'archive', toKey: 'k' }), ['photos:read', 'archive:write']);
    assert.deepEqual(g('storage.copy', { bucket: 'photos', key: 'k', toKey: 'k2' }), ['photos:read', 'photos:write']);
    assert.deepEqual(g('storage.presign', { bucket: 'photos', key: 'k' }), ['photos:read']);
    assert.deepEqual(g('storage.presign', { bucket: 'photos', key: 'k', method: 'PUT' }), ['photos:write']);
    assert.ok(ops['storage.put']!.needs({ bucket: 'p', key: 'k' }).every((x) => x.kind === 'buckets'));
    assert.throws(() => ops['storage.get']!.needs({ key: 'k' }), code('BAD_REQUEST'));
    assert.throws(() => ops['storage.copy']!.needs({ bucket: 'photos', toBucket: 7 }), code('BAD_REQUEST'));
  });

  it('check what untrusted code sends', async () => {
    await assert.rejects(ops['storage.put']!.run({ bucket: 'photos', key: 'k', body: { not: 'bytes' } }, caller, {}), code('BAD_REQUEST'));
    await assert.rejects(ops['storage.put']!.run({ bucket: 'photos', key: 42, body: 'x' }, caller, {}), code('INVALID_OBJECT_KEY'));
    await assert.rejects(ops['storage.put']!.run({ bucket: 'photos', key: 'k', body: 'x', metadata: 'no' }, caller, {}), code('BAD_REQUEST'));
    await assert.rejects(ops['storage.get']!.run({ bucket: 'photos', key: 'k', range: { start: 'x' } }, caller, {}), code('BAD_REQUEST'));
    await assert.rejects(ops['storage.list']!.run({ bucket: 'photos', maxKeys: -1 }, caller, {}), code('BAD_REQUEST'));
    await assert.rejects(ops['storage.presign']!.run({ bucket: 'photos', key: 'k', method: 'POST' }, caller, {}), code('BAD_REQUEST'));
  });

  it('put, get, head, list, copy, delete and presign', async () => {
    // Bytes cross the instance's channel (JSON) as base64.
    const put = await ops['storage.put']!.run({ bucket: 'photos', key: 'notes/a.json', bodyBase64: Buffer.from('{"a":1}').toString('base64'), contentType: 'application/json', metadata: { by: 'worker' } }, caller, {}) as { etag: string; size: number };
    assert.equal(put.size, 7);
    await assert.rejects(ops['storage.put']!.run({ bucket: 'photos', key: 'notes/a.json', body: 'again', ifNoneMatch: true }, caller, {}), code('PRECONDITION_FAILED'));
    const got = await ops['storage.get']!.run({ bucket: 'photos', key: 'notes/a.json' }, caller, {}) as { bodyBase64: string; contentType: string; metadata: Record<string, string>; lastModified: string };
    assert.equal(Buffer.from(got.bodyBase64, 'base64').toString(), '{"a":1}');
    assert.deepEqual([got.contentType, got.metadata, got.lastModified], ['application/json', { by: 'worker' }, new Date(f.clock.now()).toISOString()]);
    const part = await ops['storage.get']!.run({ bucket: 'photos', key: 'notes/a.json', range: { start: 1, end: 3 } }, caller, {}) as { bodyBase64: string; range: unknown };
    assert.equal(Buffer.from(part.bodyBase64, 'base64').toString(), '"a"');
    assert.deepEqual(part.range, { start: 1, end: 3 });
    assert.equal(await ops['storage.get']!.run({ bucket: 'photos', key: 'nope' }, caller, {}), null);
    assert.equal(await ops['storage.head']!.run({ bucket: 'photos', key: 'nope' }, caller, {}), null);
    assert.equal((await ops['storage.head']!.run({ bucket: 'photos', key: 'notes/a.json' }, caller, {}) as { etag: string }).etag, put.etag);
    await ops['storage.copy']!.run({ bucket: 'photos', key: 'notes/a.json', toBucket: 'archive', toKey: 'a.json' }, caller, {});
    const list = await ops['storage.list']!.run({ bucket: 'archive' }, caller, {}) as { contents: { key: string }[]; isTruncated: boolean };
    assert.deepEqual(list.contents.map((c) => c.key), ['a.json']);
    assert.deepEqual(await ops['storage.delete']!.run({ bucket: 'photos', key: 'notes/a.json' }, caller, {}), { deleted: true });
    assert.deepEqual(await ops['storage.delete']!.run({ bucket: 'photos', key: 'notes/a.json' }, caller, {}), { deleted: false });
    const url = await ops['storage.presign']!.run({ bucket: 'archive', key: 'a.json', expiresIn: 60 }, caller, {}) as { url: string; method: string };
    assert.equal(url.method, 'GET');
    assert.match(url.url, /^http:\/\/nimbus\.test\/_nimbus\/storage\/archive\/a\.json\?/);
  });
});
