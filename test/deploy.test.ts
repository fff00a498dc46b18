// Declarative deploy end to end: prune, no-op, conflicts that change nothing, bad input that
// leaves nothing half-deployed, code updates, and persistence across a restart.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { bundleFunction } from '../src/cli/bundle.ts';
import { startTestServer, tempDir, type TestServer, writeApp } from './helpers.ts';

const app = (name: string, fns: Record<string, string>, extra = ''): Record<string, string> => ({
  'nimbus.yml': `app: ${name}\nfunctions:\n${Object.entries(fns).map(([fn, path]) => `  ${fn}:\n    handler: src/${fn}.handler\n    events:\n      - http: GET ${path}\n`).join('')}${extra}`,
  ...Object.fromEntries(Object.keys(fns).map((fn) => [`src/${fn}.ts`, `export const handler = async () => ({ fn: '${fn}', v: 1 });`])),
});

describe('declarative deploy', () => {
  let srv: TestServer;
  before(async () => { srv = await startTestServer(); });
  after(() => srv.close());

  it('applies an app, then prunes what the manifest no longer names', async () => {
    const first = await srv.deploy(app('shop', { a: '/a', b: '/b' }));
    assert.equal(first.status, 200);
    assert.equal(first.body.status, 'applied');
    assert.deepEqual(first.body.created?.sort(), ['a', 'b']);
    assert.deepEqual(await (await srv.req('/b')).json(), { fn: 'b', v: 1 });
    const second = await srv.deploy(app('shop', { a: '/a' }));
    assert.deepEqual(second.body.removed, ['b']);
    assert.equal((await srv.req('/b')).status, 404);
    assert.equal((await srv.invoke<{ error: { code: string } }>('b')).body.error.code, 'FUNCTION_NOT_FOUND');
    assert.equal((await srv.req('/a')).status, 200);
  });

  it('says an unchanged app is a no-op', async () => {
    const r = await srv.deploy(app('shop', { a: '/a' }));
    assert.equal(r.body.status, 'unchanged');
    assert.deepEqual([r.body.created, r.body.updated, r.body.removed], [[], [], []]);
  });

  it('serves new code after a redeploy that changes it', async () => {
    const files = app('shop', { a: '/a' });
    files['src/a.ts'] = "export const handler = async () => ({ fn: 'a', v: 2 });";
    const r = await srv.deploy(files);
    assert.deepEqual(r.body.updated, ['a']);
    assert.deepEqual(await (await srv.req('/a')).json(), { fn: 'a', v: 2 });
  });

  it("rejects a route another app owns, and changes nothing", async () => {
    const r = await srv.deploy(app('other', { c: '/a' }));
    assert.equal(r.status, 409);
    assert.equal(r.body.error?.code, 'ROUTE_CONFLICT');
    assert.match(r.body.error!.message, /GET \/a.*app "shop"/);
    assert.equal((await srv.api('GET', '/_nimbus/api/apps/other')).status, 404);
    assert.equal((await srv.invoke<{ error: { code: string } }>('c')).body.error.code, 'FUNCTION_NOT_FOUND');
    assert.deepEqual(await (await srv.req('/a')).json(), { fn: 'a', v: 2 });
  });

  it('rejects a function name another app owns', async () => {
    const r = await srv.deploy(app('other', { a: '/other-a' }));
    assert.equal(r.status, 409);
    assert.equal(r.body.error?.code, 'FUNCTION_CONFLICT');
  });

  it('rejects a malformed manifest with the key path, and deploys nothing', async () => {
    const r = await srv.api<{ error: { code: string; message: string } }>('PUT', '/_nimbus/api/apps/bad', {
      manifest: { app: 'bad', functions: { f: { handler: 'src/f.handler', memory: 64 } } },
      bundles: { f: { code: Buffer.from('export const handler = () => 1').toString('base64') } },
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'MANIFEST_INVALID');
    assert.match(r.body.error.message, /functions\.f\.memory/);
    assert.equal((await srv.api('GET', '/_nimbus/api/apps/bad')).status, 404);
  });

  it('rejects a deploy body without a bundle for every function, or that is not JSON', async () => {
    const r = await srv.api<{ error: { code: string; message: string } }>('PUT', '/_nimbus/api/apps/bad', { manifest: { app: 'bad', functions: { f: { handler: 'src/f.handler' } } }, bundles: {} });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /bundles\.f: missing/);
    const raw = await srv.req('/_nimbus/api/apps/bad', { method: 'PUT', body: '{not json' });
    assert.equal(raw.status, 400);
    assert.equal((await raw.json()).error.code, 'INVALID_JSON');
  });

  it('fails bundling clearly: missing handler file, missing export, syntax error', async () => {
    const dir = writeApp({ 'src/ok.ts': 'export const handler = async () => 1;', 'src/broken.ts': 'export const handler = async () => {;' });
    try {
      await assert.rejects(bundleFunction(dir, 'f', 'src/missing.handler'), (e: { code: string; message: string }) => e.code === 'HANDLER_NOT_FOUND' && /functions\.f\.handler/.test(e.message));
      await assert.rejects(bundleFunction(dir, 'f', 'src/ok.nope'), (e: { code: string; message: string }) => e.code === 'HANDLER_NOT_FOUND' && /no export named "nope".*handler/.test(e.message));
      await assert.rejects(bundleFunction(dir, 'f', 'src/broken.handler'), (e: { code: string; message: string }) => e.code === 'BUNDLE_FAILED' && /broken\.ts:1:/.test(e.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('deletes a function and an app through the API', async () => {
    await srv.deploy(app('temp', { t1: '/t1', t2: '/t2' }));
    assert.equal((await srv.api('DELETE', '/_nimbus/api/functions/t1')).status, 200);
    assert.equal((await srv.req('/t1')).status, 404);
    assert.equal((await srv.req('/t2')).status, 200);
    assert.equal((await srv.api('DELETE', '/_nimbus/api/apps/temp')).status, 200);
    assert.equal((await srv.req('/t2')).status, 404);
    assert.equal((await srv.api('DELETE', '/_nimbus/api/apps/temp')).status, 404);
  });
});

describe('restart persistence', () => {
  it('serves every deployed route again after a restart on the same data dir', async () => {
    const dataDir = tempDir();
    try {
      const one = await startTestServer({ dataDir });
      assert.equal((await one.deploy(app('keep', { k1: '/k1', k2: '/k2/{id}' }))).status, 200);
      const token = one.token;
      await one.close();
      const two = await startTestServer({ dataDir });
      try {
        assert.equal(two.token, token, 'the admin token survives');
        assert.deepEqual(await (await two.req('/k1')).json(), { fn: 'k1', v: 1 });
        assert.deepEqual(await (await two.req('/k2/9')).json(), { fn: 'k2', v: 1 });
        assert.equal((await two.deploy(app('keep', { k1: '/k1', k2: '/k2/{id}' }))).body.status, 'unchanged');
      } finally {
        await two.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
