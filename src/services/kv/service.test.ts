// KvService on the real embedded store: validation at the boundary, TTL by the injected clock
// (reads at once, the sweeper on its timer), cursors, and the admin API handlers over HTTP.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import FindMyWay from 'find-my-way';
import { silentLogger } from '../../observability/logger.ts';
import { SqliteStore } from '../../store/sqlite/index.ts';
import type { DesiredTable } from '../../store/types.ts';
import { ManualClock } from '../../util/clock.ts';
import { sendError } from '../../util/http.ts';
import { kvRoutes } from './api.ts';
import { KvService, SWEEP_EVERY_MS } from './service.ts';
import { streamRecord } from './stream.ts';
import { desiredApp } from '../../store/desired.ts';

async function setup(tables: DesiredTable[], sweepEveryMs = 0) {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-kvsvc-'));
  const store = new SqliteStore(join(dir, 'nimbus.db'));
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  await store.applyApp(desiredApp('a', { specHash: 'x', tables }), clock.now());
  const svc = new KvService(store.kv, clock, silentLogger, { sweepEveryMs });
  return { store, svc, clock, async close() { svc.close(); await store.close(); rmSync(dir, { recursive: true, force: true }); } };
}
const users: DesiredTable = { name: 'users', partitionKey: 'id', sortKey: null, ttlAttribute: 'expiresAt' };
const events: DesiredTable = { name: 'events', partitionKey: 'user', sortKey: 'at', ttlAttribute: null };
const code = (c: string, msg?: RegExp) => (e: { code?: string; message: string }) => { assert.equal(e.code, c); if (msg) assert.match(e.message, msg); return true; };

it('refuses bad keys, items, options and queries with a message that says what to fix', async () => {
  const s = await setup([users, events]);
  try {
    await assert.rejects(s.svc.get('users', { id: { nested: 1 } }), code('INVALID_KEY', /string or a number/));
    await assert.rejects(s.svc.get('users', { id: true }), code('INVALID_KEY'));
    await assert.rejects(s.svc.get('users', { id: '' }), code('INVALID_KEY', /empty/));
    await assert.rejects(s.svc.get('users', { id: 'x'.repeat(2049) }), code('INVALID_KEY', /2048-byte/));
    await assert.rejects(s.svc.get('users', { id: 'a', name: 'b' }), code('INVALID_KEY', /remove "name"/));
    await assert.rejects(s.svc.get('users', 'a'), code('INVALID_KEY', /as an object/));
    await assert.rejects(s.svc.put('events', { user: 'u', at: 'x'.repeat(1025) }), code('INVALID_KEY', /1024-byte/));
    await assert.rejects(s.svc.put('events', { user: 'u' }), code('INVALID_KEY', /at: .*missing/));
    await assert.rejects(s.svc.put('users', [1]), code('INVALID_ITEM'));
    await assert.rejects(s.svc.put('users', { id: 'big', blob: 'x'.repeat(400 * 1024) }), code('ITEM_TOO_LARGE', /400 KB/));
    await assert.rejects(s.svc.put('users', { id: 'a' }, { ifNotExists: true, expectedVersion: 2 }), code('INVALID_ITEM', /contradict/));
    await assert.rejects(s.svc.put('users', { id: 'a' }, { ifNotExist: true }), code('INVALID_ITEM', /unknown option/));
    await assert.rejects(s.svc.put('nope', { id: 'a' }), code('TABLE_NOT_FOUND', /tables:/));
    await assert.rejects(s.svc.query('users', { partitionKey: 'a', sortKey: { eq: 1 } }), code('INVALID_ITEM', /no sort key/));
    await assert.rejects(s.svc.query('events', { partitionKey: 'a', sortKey: { near: 1 } }), code('INVALID_ITEM', /unknown condition/));
    await assert.rejects(s.svc.query('events', { partitionKey: 'a', sortKey: { between: [5, 1] } }), code('INVALID_ITEM', /above/));
    await assert.rejects(s.svc.query('events', { partitionKey: 'a', limit: 5000 }), code('INVALID_ITEM', /1 to 1000/));
    await assert.rejects(s.svc.batchGet('users', []), code('TOO_MANY_ENTRIES'));
    await assert.rejects(s.svc.batchWrite('users', Array.from({ length: 26 }, (_, i) => ({ put: { id: `k${i}` } }))), code('TOO_MANY_ENTRIES', /1 to 25/));
    await assert.rejects(s.svc.batchWrite('users', [{ put: { id: 'a' } }, { delete: { id: 'a' } }]), code('INVALID_KEY', /same key as entries\[0\]/));
    await assert.rejects(s.svc.increment('users', { id: 'a' }, 'id', 1), code('INVALID_ITEM', /key attribute/));
    await assert.rejects(s.svc.increment('users', { id: 'a' }, 'n', 'one'), code('INVALID_ITEM', /finite number/));
  } finally { await s.close(); }
});

it('pages a query with an opaque cursor that only fits its own table', async () => {
  const s = await setup([users, events]);
  try {
    await s.svc.batchWrite('events', Array.from({ length: 5 }, (_, i) => ({ put: { user: 'u', at: i } })));
    const p1 = await s.svc.query('events', { partitionKey: 'u', limit: 2, reverse: true });
    assert.deepEqual(p1.items.map((x) => x.item.at), [4, 3]);
    const p2 = await s.svc.query('events', { partitionKey: 'u', limit: 2, reverse: true, cursor: p1.cursor });
    assert.deepEqual(p2.items.map((x) => x.item.at), [2, 1]);
    const p3 = await s.svc.query('events', { partitionKey: 'u', limit: 2, reverse: true, cursor: p2.cursor });
    assert.deepEqual([p3.items.map((x) => x.item.at), p3.cursor], [[0], null]);
    await assert.rejects(s.svc.scan('users', { cursor: p1.cursor }), code('INVALID_ITEM', /from table "events"/));
    await assert.rejects(s.svc.query('events', { partitionKey: 'u', cursor: 'garbage' }), code('INVALID_ITEM', /not a cursor/));
  } finally { await s.close(); }
});

it('TTL: an item is invisible once its time passes, and the sweeper deletes it on the injected clock', async () => {
  const s = await setup([users], SWEEP_EVERY_MS);
  try {
    const nowS = s.clock.now() / 1000;
    await s.svc.put('users', { id: 'temp', expiresAt: nowS + 30 });
    await s.svc.put('users', { id: 'keep', expiresAt: nowS + 3600 });
    await s.svc.put('users', { id: 'plain' });
    assert.equal((await s.svc.get('users', { id: 'temp' }))?.version, 1);
    s.clock.advance(30_000);
    assert.equal(await s.svc.get('users', { id: 'temp' }), null);
    assert.deepEqual((await s.svc.scan('users')).items.map((x) => x.item.id), ['keep', 'plain']);
    // Invisible but not yet swept: still one physical row more than visible items.
    const before = (await s.store.kv.readStream('users', 0, 100)).length;
    await new Promise((r) => setTimeout(r, 20)); // the sweep that ran at +5 s (nothing due then) finishes and sets its next timer
    s.clock.advance(SWEEP_EVERY_MS);
    for (let i = 0; i < 50 && (await s.store.kv.readStream('users', 0, 100)).length === before; i++) await new Promise((r) => setTimeout(r, 5));
    const removal = (await s.store.kv.readStream('users', 0, 100)).at(-1)!;
    const rec = streamRecord(removal);
    assert.equal(rec.eventName, 'REMOVE');
    assert.deepEqual(rec.dynamodb.Keys, { id: 'temp' });
    assert.deepEqual(rec.userIdentity, { type: 'Service', principalId: 'nimbus.kv.ttl' });
    assert.equal(rec.dynamodb.NewImage, undefined);
    assert.equal(rec.dynamodb.ApproximateCreationDateTime, Math.floor(s.clock.now() / 1000)); // swept at +35 s
    assert.equal(await s.svc.sweep(), 0);
  } finally { await s.close(); }
});

it('serves the admin API: put, get, conditional failure as 409, query, scan, batch, increment, purge, describe', async () => {
  const s = await setup([users, events]);
  const router = FindMyWay();
  for (const r of kvRoutes(s.svc)) router.on(r.method, r.path, (req, res, params) => void r.handler(req, res, params, new URL(req.url!, 'http://x').searchParams).catch((err: unknown) => sendError(res, err, silentLogger)));
  const server = createServer((req, res) => router.lookup(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/_nimbus/api/tables`;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: await res.json() as Record<string, unknown> & { error?: { code: string } } };
  };
  try {
    assert.deepEqual((await call('PUT', '/users/items', { item: { id: 'a', n: 1 } })).body, { version: 1 });
    assert.deepEqual((await call('GET', `/users/items?key=${encodeURIComponent('{"id":"a"}')}`)).body, { item: { id: 'a', n: 1 }, version: 1 });
    assert.deepEqual((await call('GET', `/users/items?key=${encodeURIComponent('{"id":"zz"}')}`)).body, { item: null, version: null });
    const conflict = await call('PUT', '/users/items', { item: { id: 'a' }, ifNotExists: true });
    assert.deepEqual([conflict.status, conflict.body.error?.code], [409, 'CONDITION_FAILED']);
    assert.equal((await call('GET', '/users/items?key=nope')).body.error?.code, 'INVALID_KEY');
    assert.deepEqual((await call('POST', '/users/increment', { key: { id: 'a' }, attribute: 'n', by: 2 })).body, { value: 3, version: 2 });
    assert.deepEqual((await call('POST', '/events/batch-write', { entries: [{ put: { user: 'u', at: 1 } }, { put: { user: 'u', at: 2 } }] })).body, { results: [{ version: 1 }, { version: 1 }] });
    assert.deepEqual((await call('POST', '/events/batch-get', { keys: [{ user: 'u', at: 2 }, { user: 'u', at: 9 }] })).body.items, [{ item: { user: 'u', at: 2 }, version: 1 }, null]);
    assert.deepEqual(((await call('POST', '/events/query', { partitionKey: 'u', sortKey: { gt: 1 } })).body.items as { item: unknown }[]).map((x) => x.item), [{ user: 'u', at: 2 }]);
    const scan = await call('GET', '/events/scan?limit=1');
    assert.equal((scan.body.items as unknown[]).length, 1);
    assert.equal(typeof scan.body.cursor, 'string');
    assert.deepEqual((await call('DELETE', `/users/items?key=${encodeURIComponent('{"id":"a"}')}&returnOld=true`)).body, { deleted: true, old: { item: { id: 'a', n: 3 }, version: 2 } });
    const view = (await call('GET', '/events')).body as { partitionKey: string; sortKey: string; stats: { items: number; stream: { records: number } } };
    assert.deepEqual([view.partitionKey, view.sortKey, view.stats.items, view.stats.stream.records], ['user', 'at', 2, 2]);
    assert.deepEqual((await call('POST', '/events/purge')).body, { purged: 2 });
    assert.deepEqual(((await call('GET', '')).body.tables as { name: string }[]).map((t) => t.name), ['events', 'users']);
    assert.equal((await call('GET', '/nope')).status, 404);
  } finally {
    server.close();
    await s.close();
  }
});
