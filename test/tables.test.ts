// KV tables end to end on a real server with real sandboxes: the SDK from function code (grants
// enforced), the admin API, and a change stream driving a function that sees each key's changes in order.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rmSync } from 'node:fs';
import { startTestServer, startWithApp, tempDir, type TestServer } from './helpers.ts';

const app = {
  'nimbus.yml': `app: kvapp
tables:
  users: { partitionKey: id, ttl: expiresAt }
  audit: { partitionKey: user, sortKey: seq }
functions:
  store:
    handler: src/store.handler
    permissions: { tables: { users: [read, write] } }
  peek:
    handler: src/peek.handler
    permissions: { tables: { users: [read] } }
  audit:
    handler: src/audit.handler
    permissions: { tables: { audit: [write] } }
    events:
      - table: { name: users, batchSize: 5, startingPosition: trim_horizon }
`,
  'src/store.ts': `import { kv } from 'nimbus/sdk';
const users = kv.table('users');
export const handler = async (e: { op: string; args: unknown[] }) => {
  try {
    return { ok: await (users as any)[e.op](...e.args) };
  } catch (err) {
    return { error: (err as Error).name, message: (err as Error).message };
  }
};
`,
  'src/peek.ts': `import { kv } from 'nimbus/sdk';
export const handler = async (e: { write?: boolean }) => {
  try {
    const users = kv.table('users');
    return { ok: e.write ? await users.put({ id: 'sneaky' }) : await users.get({ id: 'u1' }) };
  } catch (err) {
    return { error: (err as Error).name, message: (err as Error).message };
  }
};
`,
  'src/audit.ts': `import { kv } from 'nimbus/sdk';
const audit = kv.table('audit');
export const handler = async (event: { Records: any[] }) => {
  await audit.batchWrite(event.Records.map((r) => ({ put: {
    user: r.dynamodb.Keys.id, seq: Number(r.dynamodb.SequenceNumber), name: r.eventName,
    n: r.dynamodb.NewImage?.n ?? null, old: r.dynamodb.OldImage?.n ?? null, source: r.eventSource,
  } })));
};
`,
};

describe('KV tables end to end', () => {
  let srv: TestServer;
  before(async () => { srv = await startWithApp(app); });
  after(async () => { await srv?.close(); });

  const call = async (op: string, ...args: unknown[]) => (await srv.invoke<{ ok?: unknown; error?: string; message?: string }>('store', { op, args })).body;

  it('puts, gets, conditions and increments from function code', async () => {
    assert.deepEqual(await call('put', { id: 'u1', n: 1 }), { ok: { version: 1 } });
    assert.deepEqual(await call('get', { id: 'u1' }), { ok: { item: { id: 'u1', n: 1 }, version: 1 } });
    assert.equal((await call('put', { id: 'u1', n: 9 }, { ifNotExists: true })).error, 'CONDITION_FAILED');
    assert.deepEqual(await call('put', { id: 'u1', n: 2 }, { expectedVersion: 1 }), { ok: { version: 2 } });
    assert.deepEqual(await call('increment', { id: 'u1' }, 'n', 3), { ok: { value: 5, version: 3 } });
    assert.equal((await call('get', { id: { bad: 1 } })).error, 'INVALID_KEY');
    assert.equal((await call('put', { id: 'big', pad: 'x'.repeat(410_000) })).error, 'ITEM_TOO_LARGE');
  });

  it('enforces grants: read-only may not write; no grant, no access', async () => {
    assert.equal((await srv.invoke<{ error?: string }>('peek', { write: true })).body.error, 'ACCESS_DENIED');
    assert.ok('ok' in (await srv.invoke<{ ok?: unknown }>('peek', {})).body);
  });

  it('streams every change to the trigger, in order per key, and shows its checkpoint', async () => {
    for (let n = 1; n <= 5; n++) for (const id of ['a', 'b']) await call('put', { id, n });
    await call('delete', { id: 'a' });
    const deadline = Date.now() + 15_000;
    let items: { item: { user: string; name: string; n: number | null; old: number | null; source: string } }[] = [];
    while (Date.now() < deadline) {
      items = (await srv.api<{ items: typeof items }>('POST', '/_nimbus/api/tables/audit/query', { partitionKey: 'a', limit: 100 })).body.items;
      if (items.at(-1)?.item.name === 'REMOVE') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(items.map((x) => `${x.item.name}:${x.item.old}->${x.item.n}`), ['INSERT:null->1', 'MODIFY:1->2', 'MODIFY:2->3', 'MODIFY:3->4', 'MODIFY:4->5', 'REMOVE:5->null']);
    assert.equal(items[0]!.item.source, 'nimbus:kv');
    const view = (await srv.api<{ stats: { triggers: { fn: string; lag: number }[] } }>('GET', '/_nimbus/api/tables/users')).body;
    assert.equal(view.stats.triggers[0]!.fn, 'audit');
  });

  it('serves the admin API for items, query and scan', async () => {
    assert.equal((await srv.api('PUT', '/_nimbus/api/tables/users/items', { item: { id: 'api', n: 1 } })).status, 200);
    const got = await srv.api<{ item: unknown; version: number }>('GET', `/_nimbus/api/tables/users/items?key=${encodeURIComponent('{"id":"api"}')}`);
    assert.deepEqual(got.body, { item: { id: 'api', n: 1 }, version: 1 });
    const scan = await srv.api<{ items: unknown[] }>('GET', '/_nimbus/api/tables/users/scan?limit=1000');
    assert.ok(scan.body.items.length >= 2);
    assert.equal((await srv.api<{ error: { code: string } }>('GET', '/_nimbus/api/tables/nope')).body.error.code, 'TABLE_NOT_FOUND');
  });
});

describe('a table trigger across a restart', () => {
  it('runs a batch cut short by shutdown again, even with maxRetries: 0 (shutdown is not the function failing)', async () => {
    const dataDir = tempDir('nimbus-kv-restart-');
    const files = {
      'nimbus.yml': `app: kvrestart
tables:
  jobs: { partitionKey: id }
  marks: { partitionKey: id }
functions:
  slow:
    handler: src/slow.handler
    permissions: { tables: { marks: [read, write] } }
    events:
      - table: { name: jobs, maxRetries: 0, startingPosition: trim_horizon }
`,
      'src/slow.ts': `import { kv } from 'nimbus/sdk';
const marks = kv.table('marks');
export const handler = async () => {
  await marks.increment({ id: 'starts' }, 'n');
  await new Promise((r) => setTimeout(r, 1500));
  await marks.increment({ id: 'done' }, 'n');
};`,
    };
    const mark = async (srv: TestServer, id: string) => (await srv.api<{ item: { n: number } | null }>('GET', `/_nimbus/api/tables/marks/items?key=${encodeURIComponent(JSON.stringify({ id }))}`)).body.item?.n ?? 0;
    const until = async (check: () => Promise<boolean>, what: string) => {
      const deadline = Date.now() + 15_000;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      let srv = await startWithApp(files, { dataDir });
      await srv.api('PUT', '/_nimbus/api/tables/jobs/items', { item: { id: 'job-1' } });
      await until(async () => (await mark(srv, 'starts')) === 1, 'the first start');
      await srv.close(); // mid-invocation
      srv = await startTestServer({ dataDir });
      try {
        await until(async () => (await mark(srv, 'done')) === 1, 'the batch to run again and finish');
        assert.equal(await mark(srv, 'starts'), 2);
      } finally {
        await srv.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
