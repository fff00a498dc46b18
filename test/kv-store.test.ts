// Runs the KV conformance suite against the embedded SQLite store, plus what only it has (dropApp).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { SqliteStore } from '../src/store/sqlite/index.ts';
import { runKvConformance } from './kv-conformance.ts';
import { desiredApp } from '../src/store/desired.ts';

const open = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-kv-'));
  return { store: new SqliteStore(join(dir, 'nimbus.db')), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
};

runKvConformance('sqlite', open);

it('sqlite: dropApp refuses an app whose tables have items, else removes its tables', async () => {
  const { store, cleanup } = await open();
  try {
    await store.applyApp(desiredApp('a', { specHash: 'x', tables: [{ name: 't', partitionKey: 'id', sortKey: null, ttlAttribute: null }] }), 1);
    await store.kv.writeItems('t', [{ op: 'put', key: { pk: 'x', sk: null }, item: { id: 'x' } }], 1);
    assert.throws(() => store.kv.dropApp('a', 1), { code: 'TABLE_NOT_EMPTY' });
    await store.kv.purge('t');
    store.kv.dropApp('a', 1);
    assert.deepEqual(await store.kv.listTables(), []);
  } finally {
    await store.close();
    await cleanup();
  }
});
