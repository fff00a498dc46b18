// The examples deploy as they are and answer as their comments say.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from './helpers.ts';

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));

function filesOf(dir: string, root = dir): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) Object.assign(out, filesOf(p, root));
    else out[relative(root, p)] = readFileSync(p, 'utf8');
  }
  return out;
}

describe('examples/shop', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
    const d = await srv.deploy(filesOf(join(EXAMPLES, 'shop')));
    assert.equal(d.status, 200, JSON.stringify(d.body));
  });
  after(() => srv.close());

  it('creates a user with POST and reads it back through the REST-style route', async () => {
    const created = await srv.req('/users', { method: 'POST', body: JSON.stringify({ name: 'Ada' }), headers: { 'content-type': 'application/json' } });
    assert.equal(created.status, 201);
    const user = await created.json();
    assert.equal(created.headers.get('location'), `/users/${user.id}`);
    const got = await srv.req(`/users/${user.id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(await got.json(), { id: user.id, name: 'Ada', table: 'users' });
    assert.equal((await srv.req('/users', { method: 'POST', body: '{}' })).status, 400);
  });

  it('serves the fetch-style site under /site/{proxy+}', async () => {
    const page = await srv.req('/site/products/42');
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /You asked for \/site\/products\/42/);
    assert.deepEqual(await (await srv.req('/site/health')).json(), { ok: true });
  });
});
