// Object storage end to end on a real server with real sandboxes: a manifest declaring a bucket,
// the admin API streaming objects in and out, functions using the SDK within their grants (and
// denied outside them), S3 events delivered to a `storage:` trigger, presigned URLs made by a
// function and used without a token, and a deploy that may not drop a bucket holding objects.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sleep, startWithApp, type TestServer } from './helpers.ts';

const MANIFEST = `app: files
buckets:
  uploads: {}
functions:
  writer:
    handler: src/writer.handler
    permissions:
      buckets:
        uploads: [read, write]
  reader:
    handler: src/reader.handler
    permissions:
      buckets:
        uploads: [read]
  notify:
    handler: src/notify.handler
    permissions:
      buckets:
        uploads: [write]
    events:
      - storage: { bucket: uploads, events: [created, removed], prefix: in/, suffix: .txt }
`;
const SOURCES = {
  'src/writer.ts': `import { storage } from 'nimbus/sdk';
const b = storage.bucket('uploads');
export const handler = async (e: { op: string }) => {
  if (e.op === 'roundtrip') {
    const put = await b.put('sdk/hello.json', JSON.stringify({ hi: 1 }), { contentType: 'application/json', metadata: { by: 'writer' } });
    const got = await b.get('sdk/hello.json');
    const part = await b.get('sdk/hello.json', { range: { start: 1, end: 4 } });
    const copy = await b.copy('sdk/hello.json', 'sdk/copy.json');
    const list = await b.list({ prefix: 'sdk/' });
    const missing = await b.get('sdk/none');
    let refused = '';
    try { await b.put('sdk/hello.json', 'x', { ifNoneMatch: true }); } catch (err) { refused = (err as Error).name; }
    // Every byte value, from a Uint8Array and from a Buffer, whole and in a range.
    const all = new Uint8Array(256).map((_, i) => i);
    const binPut = await b.put('bin/all.bin', all);
    await b.put('bin/buf.bin', Buffer.from(all.subarray(250)));
    const bin = (await b.get('bin/all.bin'))!;
    const binPart = (await b.get('bin/all.bin', { range: { start: 254 } }))!;
    const buf = (await b.get('bin/buf.bin'))!;
    const binary = { size: binPut.size, isBytes: bin.body instanceof Uint8Array, same: bin.body.length === 256 && bin.body.every((v, i) => v === i), part: [...binPart.body], buf: [...buf.body] };
    return { etag: put.etag, json: got!.json(), text: part!.text(), meta: got!.metadata, copyEtag: copy.etag, keys: list.contents.map((c) => c.key), missing, refused, isDate: got!.lastModified instanceof Date, binary };
  }
  if (e.op === 'presign') return (await b.presign('sdk/hello.json', { expiresIn: 60 })).url;
  return null;
};`,
  'src/reader.ts': `import { storage } from 'nimbus/sdk';
export const handler = async () => {
  const b = storage.bucket('uploads');
  const read = (await b.head('sdk/hello.json'))?.size;
  const errors: string[] = [];
  for (const f of [() => b.put('x', 'y'), () => b.delete('sdk/hello.json'), () => storage.bucket('other-bucket').get('k')]) {
    try { await f(); errors.push('allowed'); } catch (err) { errors.push((err as Error).name); }
  }
  return { read, errors };
};`,
  'src/notify.ts': `import { storage } from 'nimbus/sdk';
export const handler = async (event: { Records: { eventName: string; s3: { object: { key: string; size?: number } } }[] }) => {
  for (const r of event.Records) {
    const key = decodeURIComponent(r.s3.object.key.replace(/\\+/g, ' '));
    await storage.bucket('uploads').put('seen/' + r.eventName + '/' + key, JSON.stringify(r));
  }
};`,
};

describe('object storage end to end', () => {
  let srv: TestServer;
  before(async () => { srv = await startWithApp({ 'nimbus.yml': MANIFEST, ...SOURCES }); });
  after(() => srv.close());
  const obj = (key: string) => `/_nimbus/api/buckets/uploads/objects/${key}`;

  it('streams objects in and out through the admin API and counts them per bucket', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024, 7);
    const put = await srv.req(obj('api/blob.bin'), { method: 'PUT', body: data, headers: { 'content-type': 'application/x-test' } });
    assert.equal(put.status, 200);
    const got = await srv.req(obj('api/blob.bin'));
    assert.equal(got.headers.get('content-type'), 'application/x-test');
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), data);
    const range = await srv.req(obj('api/blob.bin'), { headers: { range: 'bytes=-10' } });
    assert.equal(range.status, 206);
    const buckets = await srv.api<{ buckets: { name: string; app: string; objects: number; bytes: number }[] }>('GET', '/_nimbus/api/buckets');
    assert.deepEqual(buckets.body.buckets.find((b) => b.name === 'uploads')?.app, 'files');
    assert.equal((await srv.req(obj('api/blob.bin'), { method: 'DELETE' })).status, 204);
  });

  it('lets a function use the bucket through the SDK within its grants, and denies the rest', async () => {
    const r = await srv.invoke<Record<string, unknown>>('writer', { op: 'roundtrip' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, {
      etag: r.body.etag, json: { hi: 1 }, text: '"hi"', meta: { by: 'writer' }, copyEtag: r.body.etag, keys: ['sdk/copy.json', 'sdk/hello.json'],
      missing: null, refused: 'PRECONDITION_FAILED', isDate: true,
      binary: { size: 256, isBytes: true, same: true, part: [254, 255], buf: [250, 251, 252, 253, 254, 255] },
    });
    const denied = await srv.invoke<{ read: number; errors: string[] }>('reader');
    assert.deepEqual(denied.body, { read: Buffer.byteLength('{"hi":1}'), errors: ['ACCESS_DENIED', 'ACCESS_DENIED', 'ACCESS_DENIED'] });
  });

  it('hands a presigned URL made by a function to a client without a token', async () => {
    const { body: url } = await srv.invoke<string>('writer', { op: 'presign' });
    const res = await fetch(new URL(new URL(url).pathname + new URL(url).search, srv.url));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { hi: 1 });
    const forged = await fetch(new URL(new URL(url).pathname.replace('hello', 'copy') + new URL(url).search, srv.url));
    assert.equal(forged.status, 403);
  });

  it('never lets a browser run an uploaded object; a bound upload type is the one a client can send', async () => {
    const made = await srv.api<{ url: string }>('POST', '/_nimbus/api/buckets/uploads/presign', { key: 'page.html', method: 'PUT', contentType: ' text/html ' });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const path = (u: string) => new URL(u).pathname + new URL(u).search;
    const put = await fetch(new URL(path(made.body.url), srv.url), { method: 'PUT', headers: { 'content-type': 'text/html' }, body: '<script>alert(1)</script>' });
    assert.equal(put.status, 200, await put.text());
    const { body: get } = await srv.api<{ url: string }>('POST', '/_nimbus/api/buckets/uploads/presign', { key: 'page.html' });
    const res = await fetch(new URL(path(get.url), srv.url));
    assert.equal(res.headers.get('content-type'), 'text/html');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('content-security-policy'), "sandbox; default-src 'none'");
    assert.equal(res.headers.get('content-disposition'), 'attachment');
  });

  it('honours If-Range: a resumed download of a changed object gets the whole new object', async () => {
    await srv.req(obj('resume.bin'), { method: 'PUT', body: '0123456789' });
    const etag = (await srv.req(obj('resume.bin'), { method: 'HEAD' })).headers.get('etag')!;
    const same = await srv.req(obj('resume.bin'), { headers: { range: 'bytes=5-', 'if-range': etag } });
    assert.deepEqual([same.status, await same.text()], [206, '56789']);
    await srv.req(obj('resume.bin'), { method: 'PUT', body: 'abcdefghij' });
    const changed = await srv.req(obj('resume.bin'), { headers: { range: 'bytes=5-', 'if-range': etag } });
    assert.deepEqual([changed.status, await changed.text()], [200, 'abcdefghij']);
  });

  it('delivers S3 events for matching writes and deletes to the storage trigger', async () => {
    await srv.req(obj('in/a%20b.txt'), { method: 'PUT', body: 'hello' });
    await srv.req(obj('in/skip.bin'), { method: 'PUT', body: 'not matched' });
    await srv.req(obj('in/a%20b.txt'), { method: 'DELETE' });
    const seen = async () => (await srv.api<{ contents: { key: string }[] }>('GET', '/_nimbus/api/buckets/uploads/objects?prefix=seen/')).body.contents.map((c) => c.key);
    const deadline = Date.now() + 20_000;
    while ((await seen()).length < 2 && Date.now() < deadline) await sleep(100);
    assert.deepEqual(await seen(), ['seen/ObjectCreated:Put/in/a b.txt', 'seen/ObjectRemoved:Delete/in/a b.txt']);
    const rec = await (await srv.req(obj('seen/ObjectCreated:Put/in/a%20b.txt'))).json() as { eventSource: string; s3: { bucket: { name: string }; object: { size: number } } };
    assert.deepEqual([rec.eventSource, rec.s3.bucket.name, rec.s3.object.size], ['aws:s3', 'uploads', 5]);
  });

  it('refuses a deploy that would drop a bucket holding objects', async () => {
    const without = MANIFEST.replace('buckets:\n  uploads: {}\n', '').replace(/    permissions:\n      buckets:\n        uploads: \[[a-z, ]+\]\n/g, '').replace(/    events:\n.*\n$/s, '');
    const d = await srv.deploy({ 'nimbus.yml': without, ...SOURCES });
    assert.equal(d.status, 409, JSON.stringify(d.body));
    assert.equal(d.body.error?.code, 'BUCKET_NOT_EMPTY');
    assert.match(d.body.error?.message ?? '', /"uploads"/);
  });
});
