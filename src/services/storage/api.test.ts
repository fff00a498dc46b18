// The storage HTTP endpoints on a real node:http server (routed the way the admin API routes them:
// find-my-way, bearer token unless `auth: false`): streamed uploads and downloads with their
// headers, ranges and 416, copies, listings, presigned GET/PUT without a token, and an upload that
// is cut off mid-way or declared too large leaving nothing behind.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import FindMyWay from 'find-my-way';
import { NimbusError } from '../../errors.ts';
import { silentLogger } from '../../observability/logger.ts';
import { sendError } from '../../util/http.ts';
import { storageRoutes } from './api.ts';
import { type Fixture, storageFixture } from './testing.ts';

const TOKEN = 'test-token';
const md5 = (b: Uint8Array | string): string => createHash('md5').update(b).digest('hex');

let f: Fixture;
let server: Server;
let base: string;
const auth = { authorization: `Bearer ${TOKEN}` };
const obj = (key: string, bucket = 'photos') => `${base}/_nimbus/api/buckets/${bucket}/objects/${key}`;

before(async () => {
  f = await storageFixture(['photos', 'archive']);
  const router = FindMyWay({ ignoreTrailingSlash: true });
  for (const r of storageRoutes(f.svc)) router.on(r.method, r.path, () => undefined, { r });
  server = createServer((req, res) => {
    void (async () => {
      try {
        const url = new URL(req.url ?? '/', 'http://x');
        const found = router.find(req.method as FindMyWay.HTTPMethod, url.pathname);
        if (!found) throw new NimbusError('NOT_FOUND', `no route ${req.method} ${url.pathname}`);
        const { r } = found.store as { r: ReturnType<typeof storageRoutes>[number] };
        if (r.auth !== false && req.headers.authorization !== `Bearer ${TOKEN}`) throw new NimbusError('UNAUTHORIZED', 'token');
        await r.handler(req, res, found.params, url.searchParams);
      } catch (err) {
        sendError(res, err, silentLogger);
      }
    })();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((ok) => server.close(ok));
  await f.close();
});

const tempFiles = () => readdirSync(join(f.dir, 'storage', 'tmp'));

describe('storage API', () => {
  it('uploads a streamed body and serves it back with its headers, ranges and HEAD', async () => {
    const data = Buffer.from('0123456789abcdef');
    const put = await fetch(obj('dir/file%20one.txt'), { method: 'PUT', headers: { ...auth, 'content-type': 'text/plain', 'x-nimbus-meta-owner': 'ana' }, body: data });
    assert.equal(put.status, 200);
    assert.equal(put.headers.get('etag'), `"${md5(data)}"`);
    assert.deepEqual(await put.json(), { bucket: 'photos', key: 'dir/file one.txt', size: 16, etag: md5(data), contentType: 'text/plain', metadata: { owner: 'ana' }, lastModified: new Date(f.clock.now()).toISOString() });

    const get = await fetch(obj('dir/file%20one.txt'), { headers: auth });
    assert.equal(get.status, 200);
    assert.equal(await get.text(), data.toString());
    assert.equal(get.headers.get('content-type'), 'text/plain');
    assert.equal(get.headers.get('content-length'), '16');
    assert.equal(get.headers.get('accept-ranges'), 'bytes');
    assert.equal(get.headers.get('x-nimbus-meta-owner'), 'ana');
    assert.equal(get.headers.get('last-modified'), new Date(f.clock.now()).toUTCString());

    const part = await fetch(obj('dir/file%20one.txt'), { headers: { ...auth, range: 'bytes=10-' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), 'bytes 10-15/16');
    assert.equal(await part.text(), 'abcdef');
    const outside = await fetch(obj('dir/file%20one.txt'), { headers: { ...auth, range: 'bytes=16-' } });
    assert.equal(outside.status, 416);
    assert.equal(outside.headers.get('content-range'), 'bytes */16');
    assert.equal(((await outside.json()) as { error: { code: string } }).error.code, 'INVALID_RANGE');

    const head = await fetch(obj('dir/file%20one.txt'), { method: 'HEAD', headers: auth });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '16');
    assert.equal(await head.text(), '');
    const notModified = await fetch(obj('dir/file%20one.txt'), { headers: { ...auth, 'if-none-match': `"${md5(data)}"` } });
    assert.equal(notModified.status, 304);
  });

  it('answers errors with their codes: missing object and bucket, bad key, refused condition, no token', async () => {
    const status = async (url: string, init: RequestInit = {}) => {
      const r = await fetch(url, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
      return [r.status, ((await r.json()) as { error: { code: string } }).error.code];
    };
    assert.deepEqual(await status(obj('missing')), [404, 'OBJECT_NOT_FOUND']);
    assert.deepEqual(await status(obj('k', 'ghost-bucket'), { method: 'PUT', body: 'x' }), [404, 'BUCKET_NOT_FOUND']);
    assert.deepEqual(await status(obj('a%01b'), { method: 'PUT', body: 'x' }), [400, 'INVALID_OBJECT_KEY']);
    await fetch(obj('exists'), { method: 'PUT', headers: auth, body: 'x' });
    assert.deepEqual(await status(obj('exists'), { method: 'PUT', body: 'y', headers: { 'if-none-match': '*' } }), [412, 'PRECONDITION_FAILED']);
    const noToken = await fetch(obj('exists'));
    assert.equal(noToken.status, 401);
  });

  it('copies with x-nimbus-copy-source, lists, and deletes idempotently', async () => {
    await fetch(obj('list/a.txt'), { method: 'PUT', headers: { ...auth, 'content-type': 'text/plain' }, body: 'aaa' });
    await fetch(obj('list/sub/b.txt'), { method: 'PUT', headers: auth, body: 'b' });
    const copy = await fetch(obj('copied/a%20copy.txt', 'archive'), { method: 'PUT', headers: { ...auth, 'x-nimbus-copy-source': 'photos/list/a.txt' } });
    assert.equal(copy.status, 200);
    assert.deepEqual(((await copy.json()) as { etag: string; contentType: string }).contentType, 'text/plain');
    assert.equal(await (await fetch(obj('copied/a%20copy.txt', 'archive'), { headers: auth })).text(), 'aaa');

    const list = await fetch(`${base}/_nimbus/api/buckets/photos/objects?prefix=list/&delimiter=/&max-keys=10`, { headers: auth });
    const page = await list.json() as { contents: { key: string; size: number }[]; commonPrefixes: string[]; isTruncated: boolean; keyCount: number };
    assert.deepEqual(page.contents.map((c) => [c.key, c.size]), [['list/a.txt', 3]]);
    assert.deepEqual(page.commonPrefixes, ['list/sub/']);
    assert.equal(page.isTruncated, false);
    const paged = await (await fetch(`${base}/_nimbus/api/buckets/photos/objects?prefix=list/&max-keys=1`, { headers: auth })).json() as { nextContinuationToken: string };
    const next = await (await fetch(`${base}/_nimbus/api/buckets/photos/objects?prefix=list/&max-keys=1&continuation-token=${encodeURIComponent(paged.nextContinuationToken)}`, { headers: auth })).json() as { contents: { key: string }[] };
    assert.deepEqual(next.contents.map((c) => c.key), ['list/sub/b.txt']);

    assert.equal((await fetch(obj('list/a.txt'), { method: 'DELETE', headers: auth })).status, 204);
    assert.equal((await fetch(obj('list/a.txt'), { method: 'DELETE', headers: auth })).status, 204);
    const buckets = await (await fetch(`${base}/_nimbus/api/buckets`, { headers: auth })).json() as { buckets: { name: string; objects: number }[] };
    assert.deepEqual(buckets.buckets.map((b) => b.name), ['archive', 'photos']);
  });

  it('presigns URLs that GET and PUT without a token, and refuses altered ones with PRESIGNED_URL_INVALID', async () => {
    const mk = async (req: Record<string, unknown>) => {
      const r = await fetch(`${base}/_nimbus/api/buckets/photos/presign`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(req) });
      assert.equal(r.status, 200);
      return (await r.json() as { url: string; expiresAt: string }).url;
    };
    const putUrl = await mk({ method: 'PUT', key: 'up/photo 1.jpg', expiresIn: 300, contentType: 'image/jpeg' });
    assert.ok(putUrl.startsWith(base + '/_nimbus/storage/photos/up/photo%201.jpg?'));
    const wrongType = await fetch(putUrl, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: 'png' });
    assert.equal(wrongType.status, 403);
    const put = await fetch(putUrl, { method: 'PUT', headers: { 'content-type': 'image/jpeg' }, body: 'jpeg bytes' });
    assert.equal(put.status, 200);
    const getUrl = await mk({ key: 'up/photo 1.jpg' });
    const got = await fetch(getUrl);
    assert.equal(got.status, 200);
    assert.equal(await got.text(), 'jpeg bytes');
    assert.equal((await fetch(getUrl, { headers: { range: 'bytes=0-3' } })).status, 206);
    const forged = await fetch(getUrl.replace('photo%201', 'photo%202'));
    assert.equal(forged.status, 403);
    const body = await forged.json() as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'PRESIGNED_URL_INVALID');
    assert.match(body.error.message, /mismatch/);
    assert.equal((await fetch(getUrl, { method: 'PUT', body: 'x' })).status, 403, 'a GET URL does not upload');
  });

  it('leaves no object and no temp file when the client aborts mid-upload', async () => {
    await new Promise<void>((resolve, reject) => {
      const u = new URL(obj('aborted.bin'));
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'PUT', headers: { ...auth, 'content-length': String(10 * 1024 * 1024) } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(1024 * 1024), () => setTimeout(() => { req.destroy(); resolve(); }, 100));
      req.on('response', () => reject(new Error('the server answered an incomplete upload')));
    });
    for (let i = 0; i < 50 && tempFiles().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(tempFiles(), []);
    const head = await fetch(obj('aborted.bin'), { method: 'HEAD', headers: auth });
    assert.equal(head.status, 404);
  });

  it('refuses a declared size over 5 GB before reading the body', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(obj('huge.bin'));
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'PUT', headers: { ...auth, 'content-length': String(6 * 1024 ** 3) } });
      req.on('response', (r) => { let b = ''; r.on('data', (c) => { b += c; }); r.on('end', () => resolve({ status: r.statusCode!, body: b })); });
      req.on('error', reject);
      req.write(Buffer.alloc(1024));
    });
    assert.equal(res.status, 413);
    assert.match(res.body, /ENTITY_TOO_LARGE/);
    assert.deepEqual(tempFiles(), []);
  });
});
