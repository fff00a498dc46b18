// Runs the object storage conformance suite against the embedded SQLite store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite/index.ts';
import { runObjectsConformance } from './objects-conformance.ts';

runObjectsConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-objects-'));
  return { store: new SqliteStore(join(dir, 'nimbus.db')), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});
