// StorageService over a real SQLite store and disk blob store: round trips with content type and
// metadata, overwrites (old blob gone, a reader keeps its version), ranges, conditions, deletes,
// copies, listings, notifications (checked with S3Schema), the crash sweep, the SDK's byte limits
// and presigned URLs.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { S3Schema } from '@aws-lambda-powertools/parser/schemas/s3';
import { isNimbusError } from '../../errors.ts';
import { newBlobId } from './blobs.ts';
import { SDK_MAX_OBJECT_BYTES, type StorageService } from './service.ts';
import { type Fixture, storageFixture } from './testing.ts';

const md5 = (b: Uint8Array | string): string => createHash('md5').update(b).digest('hex');
const body = (s: string | Buffer) => Readable.from([Buffer.from(s)]);
const code = (c: string) => (err: unknown) => isNimbusError(err) && err.code === c;

async function text(svc: StorageService, bucket: string, key: string, range?: string): Promise<string> {
  const got = await svc.get(bucket, key, { range });
  assert.ok(!got.notModified);
  const chunks: Buffer[] = [];
  for await (const c of got.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

function blobFiles(dir: string): string[] {
  const root = join(dir, 'storage', 'blobs');
  return readdirSync(root).flatMap((fan) => readdirSync(join(root, fan)));
}

let f: Fixture;
afterEach(async () => { await f.close(); });

describe('StorageService objects', () => {
  beforeEach(async () => { f = await storageFixture(); });

  it('puts and gets an object with its content type, metadata, ETag and size, and counts it in the bucket', async () => {
    const info = await f.svc.put('photos', 'cats/tom.txt', body('meow'), { contentType: 'text/plain', metadata: { Author: 'ana' } });
    assert.deepEqual(info, { bucket: 'photos', key: 'cats/tom.txt', size: 4, etag: md5('meow'), contentType: 'text/plain', metadata: { author: 'ana' }, lastModified: f.clock.now() });
    assert.equal(await text(f.svc, 'photos', 'cats/tom.txt'), 'meow');
    assert.deepEqual(await f.svc.head('photos', 'cats/tom.txt'), info);
    assert.deepEqual(await f.svc.bucket('photos'), { name: 'photos', app: 'files', objects: 1, bytes: 4 });
    const untyped = await f.svc.put('photos', 'raw', body(''));
    assert.equal(untyped.contentType, 'application/octet-stream');
    assert.equal(untyped.etag, 'd41d8cd98f00b204e9800998ecf8427e');
  });

  it('replaces an object whole: the old blob is deleted, a reader that opened it still reads the old bytes', async () => {
    await f.svc.put('photos', 'k', body('old bytes'));
    const reading = await f.svc.get('photos', 'k');
    await f.svc.put('photos', 'k', body('new'));
    assert.equal(blobFiles(f.dir).length, 1, 'one blob on disk: the old one was deleted');
    assert.ok(!reading.notModified);
    const chunks: Buffer[] = [];
    for await (const c of reading.body) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'old bytes');
    assert.equal(await text(f.svc, 'photos', 'k'), 'new');
    assert.deepEqual(await f.svc.bucket('photos'), { name: 'photos', app: 'files', objects: 1, bytes: 3 });
  });

  it('serves byte ranges, and INVALID_RANGE (416) for one past the end', async () => {
    await f.svc.put('photos', 'digits', body('0123456789'));
    assert.equal(await text(f.svc, 'photos', 'digits', 'bytes=2-4'), '234');
    assert.equal(await text(f.svc, 'photos', 'digits', 'bytes=-3'), '789');
    assert.equal(await text(f.svc, 'photos', 'digits', 'bytes=8-100'), '89');
    assert.equal(await text(f.svc, 'photos', 'digits', 'bytes=oops'), '0123456789', 'a malformed Range is ignored, as HTTP allows');
    await assert.rejects(f.svc.get('photos', 'digits', { range: 'bytes=10-' }), (err) => code('INVALID_RANGE')(err) && (err as { status: number }).status === 416);
  });

  it('honours If-None-Match: * and If-Match, storing no bytes when refused', async () => {
    const first = await f.svc.put('photos', 'once', body('a'), { ifNoneMatch: true });
    await assert.rejects(f.svc.put('photos', 'once', body('b'), { ifNoneMatch: true }), code('PRECONDITION_FAILED'));
    await assert.rejects(f.svc.put('photos', 'once', body('b'), { ifMatch: '"0000"' }), code('PRECONDITION_FAILED'));
    assert.equal(blobFiles(f.dir).length, 1);
    const second = await f.svc.put('photos', 'once', body('b'), { ifMatch: `"${first.etag}"` });
    assert.equal(second.etag, md5('b'));
    const cached = await f.svc.get('photos', 'once', { ifNoneMatch: `"${second.etag}"` });
    assert.equal(cached.notModified, true);
    await assert.rejects(f.svc.get('photos', 'once', { ifMatch: '"nope"' }), code('PRECONDITION_FAILED'));
  });

  it('deletes idempotently, and names what is wrong with a bucket or key', async () => {
    await f.svc.put('photos', 'k', body('x'));
    assert.equal(await f.svc.delete('photos', 'k'), true);
    assert.equal(await f.svc.delete('photos', 'k'), false);
    assert.deepEqual(blobFiles(f.dir), []);
    await assert.rejects(f.svc.head('photos', 'k'), code('OBJECT_NOT_FOUND'));
    await assert.rejects(f.svc.put('nope-bucket', 'k', body('x')), (err) => code('BUCKET_NOT_FOUND')(err) && /declare it under `buckets:`/.test((err as Error).message));
    await assert.rejects(f.svc.put('Bad_Bucket', 'k', body('x')), code('INVALID_BUCKET_NAME'));
    await assert.rejects(f.svc.put('photos', '../etc/passwd', body('x')), code('INVALID_OBJECT_KEY'));
    await assert.rejects(f.svc.put('photos', 'k', body('x'), { metadata: { 'bad name': 'x' } }), code('BAD_REQUEST'));
    await assert.rejects(f.svc.put('photos', 'k', body('x'), { metadata: { note: 'naïve' } }), (err) => code('BAD_REQUEST')(err) && /printable ASCII/.test((err as Error).message));
  });

  it('leaves nothing behind when the upload fails or is over the limit', async () => {
    async function* failing(): AsyncGenerator<Buffer> { yield Buffer.alloc(1000); throw new Error('client went away'); }
    await assert.rejects(f.svc.put('photos', 'k', failing()), /client went away/);
    await assert.rejects(f.svc.put('photos', 'k', body(Buffer.alloc(2000)), { maxBytes: 1000, tooLargeHint: 'split it' }), (err) => code('ENTITY_TOO_LARGE')(err) && /split it/.test((err as Error).message));
    await assert.rejects(f.svc.head('photos', 'k'), code('OBJECT_NOT_FOUND'));
    assert.deepEqual(blobFiles(f.dir), []);
    assert.deepEqual(readdirSync(join(f.dir, 'storage', 'tmp')), []);
  });

  it('copies with the source\'s metadata or new metadata, across buckets', async () => {
    const src = await f.svc.put('photos', 'a.txt', body('hello'), { contentType: 'text/plain', metadata: { v: '1' } });
    const same = await f.svc.copy({ bucket: 'photos', key: 'a.txt' }, { bucket: 'archive', key: 'b.txt' });
    assert.deepEqual({ ...same, bucket: 'photos', key: 'a.txt' }, src);
    const replaced = await f.svc.copy({ bucket: 'photos', key: 'a.txt' }, { bucket: 'photos', key: 'c.txt' }, { replace: { contentType: 'text/markdown' } });
    assert.deepEqual([replaced.contentType, replaced.metadata, replaced.etag], ['text/markdown', {}, src.etag]);
    await f.svc.delete('photos', 'a.txt');
    assert.equal(await text(f.svc, 'archive', 'b.txt'), 'hello', 'a copy outlives its source');
    await assert.rejects(f.svc.copy({ bucket: 'photos', key: 'missing' }, { bucket: 'photos', key: 'x' }), code('OBJECT_NOT_FOUND'));
    await assert.rejects(f.svc.copy({ bucket: 'photos', key: 'c.txt' }, { bucket: 'photos', key: 'x' }, { ifSourceMatch: 'abc' }), code('PRECONDITION_FAILED'));
  });

  it('lists with prefix, delimiter and continuation tokens', async () => {
    for (const k of ['a/1', 'a/2', 'b/1', 'c', 'd']) await f.svc.put('photos', k, body(k));
    const p1 = await f.svc.list('photos', { delimiter: '/', maxKeys: 3 });
    assert.deepEqual([p1.commonPrefixes, p1.contents.map((o) => o.key), p1.isTruncated], [['a/', 'b/'], ['c'], true]);
    const p2 = await f.svc.list('photos', { delimiter: '/', maxKeys: 3, continuationToken: p1.nextContinuationToken });
    assert.deepEqual([p2.commonPrefixes, p2.contents.map((o) => o.key), p2.isTruncated], [[], ['d'], false]);
    const under = await f.svc.list('photos', { prefix: 'a/' });
    assert.deepEqual(under.contents.map((o) => [o.key, o.size, o.etag]), [['a/1', 3, md5('a/1')], ['a/2', 3, md5('a/2')]]);
    await assert.rejects(f.svc.list('photos', { prefix: 'b/', continuationToken: p1.nextContinuationToken }), code('BAD_REQUEST'));
  });

  it('start() sweeps temp files and blobs no object refers to, and keeps the rest', async () => {
    await f.svc.put('photos', 'kept', body('kept'));
    const stray = newBlobId();
    await f.svc.blobs.put(stray, body('never committed'));
    writeFileSync(join(f.dir, 'storage', 'tmp', `${newBlobId()}.abc.part`), 'half');
    // One whose mtime reads later than the clock (written within the millisecond Date.now() reads, or a
    // clock set back): at start every temp file is a dead process's, whatever its time.
    const ahead = join(f.dir, 'storage', 'tmp', `${newBlobId()}.def.part`);
    writeFileSync(ahead, 'half');
    utimesSync(ahead, new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
    assert.deepEqual(await f.svc.start(), { sweptTempFiles: 2, sweptBlobs: 1 });
    assert.equal(blobFiles(f.dir).length, 1);
    assert.equal(await text(f.svc, 'photos', 'kept'), 'kept');
  });

  it('moves at most 6 MB per SDK call, and says to use ranges or a presigned URL above it', async () => {
    const big = Buffer.alloc(SDK_MAX_OBJECT_BYTES + 1, 1);
    await assert.rejects(f.svc.putBytes('photos', 'big', big), (err) => code('ENTITY_TOO_LARGE')(err) && /presigned URL/.test((err as Error).message));
    await f.svc.put('photos', 'big', body(big));
    await assert.rejects(f.svc.getBytes('photos', 'big'), (err) => code('ENTITY_TOO_LARGE')(err) && /range/.test((err as Error).message));
    const part = await f.svc.getBytes('photos', 'big', { start: SDK_MAX_OBJECT_BYTES - 9 });
    assert.equal(part?.body.length, 10);
    assert.deepEqual(part?.range, { start: SDK_MAX_OBJECT_BYTES - 9, end: SDK_MAX_OBJECT_BYTES });
    const small = await f.svc.putBytes('photos', 'small', 'héllo', { contentType: 'text/plain' });
    assert.equal(small.size, 6);
    assert.equal((await f.svc.getBytes('photos', 'small'))?.body.toString(), 'héllo');
    assert.equal(await f.svc.getBytes('photos', 'absent'), undefined);
  });

  it('signs presigned URLs that verify until they expire, for their method only', async () => {
    await f.svc.put('photos', 'cat 1.jpg', body('x'));
    const p = await f.svc.presign('photos', 'cat 1.jpg', { expiresIn: 60 });
    assert.equal(p.method, 'GET');
    assert.match(p.url, /^http:\/\/nimbus\.test\/_nimbus\/storage\/photos\/cat%201\.jpg\?X-Nimbus-Date=/);
    const query = new URL(p.url).searchParams;
    assert.equal(f.svc.verifyPresigned({ method: 'GET', bucket: 'photos', key: 'cat 1.jpg', query }), 'GET');
    assert.equal(f.svc.verifyPresigned({ method: 'HEAD', bucket: 'photos', key: 'cat 1.jpg', query }), 'GET');
    assert.throws(() => f.svc.verifyPresigned({ method: 'PUT', bucket: 'photos', key: 'cat 1.jpg', query }), (err) => code('PRESIGNED_URL_INVALID')(err) && (err as { status: number }).status === 403);
    assert.throws(() => f.svc.verifyPresigned({ method: 'GET', bucket: 'photos', key: 'cat 2.jpg', query }), code('PRESIGNED_URL_INVALID'));
    f.clock.advance(61_000);
    assert.throws(() => f.svc.verifyPresigned({ method: 'GET', bucket: 'photos', key: 'cat 1.jpg', query }), (err) => code('PRESIGNED_URL_INVALID')(err) && /expired/.test((err as Error).message));
    await assert.rejects(f.svc.presign('photos', 'k', { expiresIn: 0 }), code('BAD_REQUEST'));
    await assert.rejects(f.svc.presign('photos', 'k', { method: 'DELETE' }), code('BAD_REQUEST'));
    await assert.rejects(f.svc.presign('ghost', 'k'), code('BUCKET_NOT_FOUND'));
  });
});

describe('StorageService notifications', () => {
  beforeEach(async () => {
    f = await storageFixture(['photos'], [
      { fn: 'on-upload', bucket: 'photos', events: ['created'], prefix: 'in/', suffix: '.jpg' },
      { fn: 'on-delete', bucket: 'photos', events: ['removed'], prefix: '', suffix: '' },
    ]);
  });

  it('writes S3 events for matching triggers with the write, and wakes the invoker after the commit', async () => {
    await f.svc.put('photos', 'in/a b.jpg', body('jpeg'), { principal: 'admin', sourceIp: '::ffff:10.0.0.7', requestId: 'req-1' });
    await f.svc.put('photos', 'in/a.png', body('png'));
    await f.svc.copy({ bucket: 'photos', key: 'in/a b.jpg' }, { bucket: 'photos', key: 'in/copy.jpg' });
    await f.svc.delete('photos', 'in/a.png');
    await f.svc.delete('photos', 'never-there');
    assert.deepEqual(f.delivered.map((d) => d.to.name), ['on-upload', 'on-upload', 'on-delete']);
    const events = await f.store.claimAsync(10, f.clock.now() + 1, f.clock.now() + 60_000);
    assert.equal(events.length, 3);
    const records = events.map((e) => S3Schema.parse(JSON.parse(e.payload)).Records[0]!);
    assert.deepEqual(records.map((r) => [r.eventName, r.s3.object.key]), [['ObjectCreated:Put', 'in/a+b.jpg'], ['ObjectCreated:Copy', 'in/copy.jpg'], ['ObjectRemoved:Delete', 'in/a.png']]);
    assert.equal(records[0]!.s3.object.eTag, md5('jpeg'));
    assert.equal(records[0]!.s3.object.size, 4);
    assert.equal(records[0]!.requestParameters.sourceIPAddress, '10.0.0.7');
    assert.equal(records[0]!.s3.bucket.ownerIdentity.principalId, 'files');
    assert.ok(records[2]!.s3.object.sequencer! > records[1]!.s3.object.sequencer!);
  });
});
