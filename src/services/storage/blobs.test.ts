// DiskBlobStore against a temp directory: round trips with MD5, byte ranges (and the Range header),
// missing blobs, id checks, maxBytes and failing sources cleaned up, concurrent puts to one id,
// readers that outlive a replace, copies, listing ids, and the sweep of a crash's temp files.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { isNimbusError } from '../../errors.ts';
import { DiskBlobStore, newBlobId, type BlobStore } from './blobs.ts';
import { parseRangeHeader } from './range.ts';

const md5 = (b: Uint8Array | string): string => createHash('md5').update(b).digest('hex');

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A source that yields `data` in `chunkBytes` pieces, one per macrotask, so puts interleave. */
async function* slowly(data: Buffer, chunkBytes = 64 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += chunkBytes) {
    await new Promise((r) => setImmediate(r));
    yield data.subarray(i, i + chunkBytes);
  }
}

const rejectsWith = (code: string, rule?: string) => (err: unknown): boolean => {
  assert.ok(isNimbusError(err), `expected a NimbusError, got ${String(err)}`);
  assert.equal(err.code, code);
  if (rule) assert.equal(err.details?.rule, rule);
  return true;
};

let root: string;
let store: DiskBlobStore;
const tempFiles = async (): Promise<string[]> => readdir(join(root, 'tmp'));

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nimbus-blobs-'));
  store = await DiskBlobStore.open(root);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('DiskBlobStore', () => {
  it('puts and gets bytes, returning their size and MD5, under blobs/<2 hex>/<id>', async () => {
    const id = newBlobId();
    const data = Buffer.from('hello, storage ☃');
    const s: BlobStore = store;
    assert.deepEqual(await s.put(id, Readable.from([data])), { size: data.length, md5: md5(data) });
    assert.deepEqual(await collect(await s.get(id)), data);
    assert.equal(await s.size(id), data.length);
    assert.deepEqual(await readFile(join(root, 'blobs', id.slice(0, 2), id)), data);
    assert.deepEqual(await tempFiles(), []);
  });

  it('takes any async iterable of bytes, and strings from Readable.from', async () => {
    const id = newBlobId();
    assert.equal((await store.put(id, slowly(Buffer.alloc(300_000, 7)))).size, 300_000);
    const id2 = newBlobId();
    assert.deepEqual(await store.put(id2, Readable.from(['ab', 'c'])), { size: 3, md5: md5('abc') });
  });

  it('stores an empty object', async () => {
    const id = newBlobId();
    assert.deepEqual(await store.put(id, Readable.from([])), { size: 0, md5: 'd41d8cd98f00b204e9800998ecf8427e' });
    assert.equal((await collect(await store.get(id))).length, 0);
    await assert.rejects(store.get(id, { start: 0 }), rejectsWith('INVALID_RANGE', 'range/not-satisfiable'));
  });

  it('serves byte ranges with inclusive ends, cut to the object', async () => {
    const id = newBlobId();
    const data = Buffer.from('0123456789');
    await store.put(id, Readable.from([data]));
    const range = async (start: number, end?: number) => (await collect(await store.get(id, { start, end }))).toString();
    assert.equal(await range(0, 0), '0');
    assert.equal(await range(2, 5), '2345');
    assert.equal(await range(7), '789');
    assert.equal(await range(8, 100), '89');
    assert.equal(await range(9, 9), '9');
    await assert.rejects(store.get(id, { start: 10 }), rejectsWith('INVALID_RANGE', 'range/not-satisfiable'));
    await assert.rejects(store.get(id, { start: 5, end: 4 }), rejectsWith('BAD_REQUEST', 'range/invalid'));
    await assert.rejects(store.get(id, { start: -1 }), rejectsWith('BAD_REQUEST', 'range/invalid'));
    await assert.rejects(store.get(id, { start: 1.5 }), rejectsWith('BAD_REQUEST', 'range/invalid'));
  });

  it('answers for missing blobs: NOT_FOUND to get and copy, undefined size, false delete', async () => {
    const id = newBlobId();
    await assert.rejects(store.get(id), rejectsWith('NOT_FOUND'));
    await assert.rejects(store.copy(id, newBlobId()), rejectsWith('NOT_FOUND'));
    assert.equal(await store.size(id), undefined);
    assert.equal(await store.delete(id), false);
  });

  it('deletes', async () => {
    const id = newBlobId();
    await store.put(id, Readable.from([Buffer.from('x')]));
    assert.equal(await store.delete(id), true);
    assert.equal(await store.size(id), undefined);
    await assert.rejects(store.get(id), rejectsWith('NOT_FOUND'));
  });

  it('refuses ids that are not lowercase hex, so no id can name a path', async () => {
    for (const bad of ['../../etc/passwd', '..', '', 'ABCDEF0123456789ABCDEF0123456789', `${newBlobId()}/x`, 'a'.repeat(31), 'a'.repeat(65), `${newBlobId()}\u0000`]) {
      await assert.rejects(store.put(bad, Readable.from([Buffer.from('x')])), rejectsWith('INTERNAL'), JSON.stringify(bad));
      await assert.rejects(store.get(bad), rejectsWith('INTERNAL'));
      await assert.rejects(store.size(bad), rejectsWith('INTERNAL'));
      await assert.rejects(store.delete(bad), rejectsWith('INTERNAL'));
    }
    assert.deepEqual(await tempFiles(), []);
  });

  it('aborts a put past maxBytes, removes its temp file and keeps the blob that was there', async () => {
    const id = newBlobId();
    await store.put(id, Readable.from([Buffer.from('old')]));
    await assert.rejects(store.put(id, slowly(Buffer.alloc(1_000_000, 1)), { maxBytes: 100_000 }), rejectsWith('PAYLOAD_TOO_LARGE'));
    assert.deepEqual(await tempFiles(), []);
    assert.equal((await collect(await store.get(id))).toString(), 'old');
    assert.equal((await store.put(id, Readable.from([Buffer.alloc(100_000)]), { maxBytes: 100_000 })).size, 100_000, 'exactly maxBytes is allowed');
  });

  it('stops reading the source once past maxBytes', async () => {
    let pulled = 0;
    const endless = new Readable({ read() { pulled++; this.push(Buffer.alloc(64 * 1024)); } });
    await assert.rejects(store.put(newBlobId(), endless, { maxBytes: 1024 * 1024 }), rejectsWith('PAYLOAD_TOO_LARGE'));
    assert.ok(pulled < 64, `read ${pulled} chunks`);
    assert.ok(endless.destroyed);
  });

  it('cleans up after a source that fails midway, leaving the old blob', async () => {
    const id = newBlobId();
    await store.put(id, Readable.from([Buffer.from('old')]));
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(100_000);
      await new Promise((r) => setImmediate(r));
      throw new Error('client went away');
    }
    await assert.rejects(store.put(id, failing()), /client went away/);
    assert.deepEqual(await tempFiles(), []);
    assert.equal((await collect(await store.get(id))).toString(), 'old');
  });

  it('keeps concurrent puts to one id whole: the last rename wins, never a mix', async () => {
    const id = newBlobId();
    const bodies = Array.from({ length: 8 }, (_, i) => Buffer.alloc(512 * 1024 + i * 1000, 65 + i));
    const results = await Promise.all(bodies.map((b) => store.put(id, slowly(b, 16 * 1024))));
    results.forEach((r, i) => assert.deepEqual(r, { size: bodies[i]!.length, md5: md5(bodies[i]!) }));
    const stored = await collect(await store.get(id));
    const winner = bodies.findIndex((b) => b.equals(stored));
    assert.ok(winner >= 0, 'the stored blob is exactly one of the bodies');
    assert.equal(await store.size(id), bodies[winner]!.length);
    assert.deepEqual(await tempFiles(), []);
  });

  it('lets a reader finish the bytes it opened while the blob is replaced or deleted', async () => {
    const id = newBlobId();
    const old = Buffer.alloc(2 * 1024 * 1024, 1);
    await store.put(id, Readable.from([old]));
    const reading = await store.get(id);
    const it = reading[Symbol.asyncIterator]();
    const first = (await it.next()).value as Buffer;
    await store.put(id, Readable.from([Buffer.from('new')]));
    const rest: Buffer[] = [first];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value as Buffer);
    assert.ok(Buffer.concat(rest).equals(old));
    const again = await store.get(id);
    await store.delete(id);
    assert.equal((await collect(again)).toString(), 'new');
  });

  it('closes the file when a reader stops early (destroys the stream)', { skip: existsSync('/proc/self/fd') ? false : 'needs /proc/self/fd to count open files' }, async () => {
    const id = newBlobId();
    await store.put(id, Readable.from([Buffer.alloc(4 * 1024 * 1024)]));
    const open = async () => (await readdir('/proc/self/fd')).length;
    const before = await open();
    for (let i = 0; i < 20; i++) {
      const r = await store.get(id, { start: 1000 });
      await new Promise<void>((resolve) => { r.once('data', () => { r.destroy(); r.once('close', () => resolve()); }); });
    }
    assert.ok((await open()) <= before, 'no file left open');
  });

  it('copies: same bytes, and the copy is unchanged when the source is replaced or deleted', async () => {
    const a = newBlobId();
    const b = newBlobId();
    await store.put(a, Readable.from([Buffer.from('original')]));
    assert.deepEqual(await store.copy(a, b), { size: 8 });
    assert.equal((await collect(await store.get(b))).toString(), 'original');
    await store.put(a, Readable.from([Buffer.from('replaced')]));
    assert.equal((await collect(await store.get(b))).toString(), 'original');
    await store.delete(a);
    assert.equal((await collect(await store.get(b))).toString(), 'original');
    const c = newBlobId();
    await store.put(c, Readable.from([Buffer.from('other')]));
    await store.copy(b, c);
    assert.equal((await collect(await store.get(c))).toString(), 'original', 'a copy onto an existing blob replaces it');
    assert.deepEqual(await store.copy(c, c), { size: 8 });
    assert.deepEqual(await tempFiles(), []);
  });

  it('copies the bytes when hard links are off, with the same guarantees', async () => {
    const s = new DiskBlobStore(root, { hardLinks: false });
    const a = newBlobId();
    const b = newBlobId();
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 9);
    await s.put(a, Readable.from([data]));
    assert.deepEqual(await s.copy(a, b), { size: data.length });
    assert.equal((await stat(join(root, 'blobs', b.slice(0, 2), b))).nlink, 1, 'a separate file');
    await s.delete(a);
    assert.ok((await collect(await s.get(b))).equals(data));
    await assert.rejects(s.copy(a, newBlobId()), rejectsWith('NOT_FOUND'));
    assert.deepEqual(await tempFiles(), []);
  });

  it('lists every stored id', async () => {
    const ids = [newBlobId(), newBlobId(), newBlobId()];
    for (const id of ids) await store.put(id, Readable.from([Buffer.from(id)]));
    const listed = new Set<string>();
    for await (const id of store.ids()) listed.add(id);
    for (const id of ids) assert.ok(listed.has(id));
    await store.delete(ids[0]!);
    const after = [];
    for await (const id of store.ids()) after.push(id);
    assert.ok(!after.includes(ids[0]!));
  });

  it('init() makes its directories and sweeps temp files a crash left, not fresh ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nimbus-blobs-init-'));
    try {
      const s = new DiskBlobStore(join(dir, 'store'), { fsync: false });
      assert.deepEqual(await s.init(), { sweptTempFiles: 0 });
      const stale = join(dir, 'store', 'tmp', `${newBlobId()}.aaaaaaaaaaaa.part`);
      const fresh = join(dir, 'store', 'tmp', `${newBlobId()}.bbbbbbbbbbbb.part`);
      await writeFile(stale, 'half an object');
      await writeFile(fresh, 'a write in progress');
      const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
      await utimes(stale, twoHoursAgo, twoHoursAgo);
      assert.deepEqual(await s.init(), { sweptTempFiles: 1 });
      assert.ok(!existsSync(stale));
      assert.ok(existsSync(fresh));
      assert.ok((await stat(join(dir, 'store', 'blobs'))).isDirectory());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('works without init(): directories are made on first write', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nimbus-blobs-lazy-'));
    try {
      const s = new DiskBlobStore(dir, { fsync: false });
      const id = newBlobId();
      await s.put(id, Readable.from([Buffer.from('x')]));
      assert.equal(await s.size(id), 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('parseRangeHeader', () => {
  it('reads the three forms S3 takes', () => {
    assert.deepEqual(parseRangeHeader('bytes=0-99', 1000), { start: 0, end: 99 });
    assert.deepEqual(parseRangeHeader('bytes=100-', 1000), { start: 100, end: 999 });
    assert.deepEqual(parseRangeHeader('bytes=-500', 1000), { start: 500, end: 999 });
    assert.deepEqual(parseRangeHeader('bytes=-5000', 1000), { start: 0, end: 999 });
    assert.deepEqual(parseRangeHeader('bytes=900-5000', 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRangeHeader(' Bytes = 1 - 2 ', 10), { start: 1, end: 2 });
  });

  it('ignores what a server may ignore: no header, other units, several ranges, bad syntax', () => {
    for (const h of [undefined, 'items=0-1', 'bytes=0-1,5-6', 'bytes=a-b', 'bytes=-', 'bytes=5-1', 'bytes 0-1']) assert.equal(parseRangeHeader(h, 1000), undefined, String(h));
  });

  it('refuses a range outside the object', () => {
    assert.throws(() => parseRangeHeader('bytes=1000-', 1000), rejectsWith('INVALID_RANGE', 'range/not-satisfiable'));
    assert.throws(() => parseRangeHeader('bytes=-0', 1000), rejectsWith('INVALID_RANGE', 'range/not-satisfiable'));
    assert.throws(() => parseRangeHeader('bytes=-10', 0), rejectsWith('INVALID_RANGE', 'range/not-satisfiable'));
    assert.throws(() => parseRangeHeader('bytes=0-', 0), rejectsWith('INVALID_RANGE', 'range/not-satisfiable'));
  });
});
