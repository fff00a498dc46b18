// The one place that chooses a store implementation. PostgreSQL (cluster mode) plugs in here.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NimbusError } from '../errors.ts';
import { SqliteStore } from './sqlite/index.ts';
import type { Store } from './types.ts';

export type { Store } from './types.ts';

export async function openStore(opts: { dataDir: string; database?: string }): Promise<Store> {
  if (opts.database && /^postgres(ql)?:\/\//.test(opts.database)) {
    throw new NimbusError('BAD_REQUEST', 'cluster mode (--database postgres://...) is not available in this version; omit --database to use the embedded store');
  }
  mkdirSync(opts.dataDir, { recursive: true });
  return new SqliteStore(opts.database ?? join(opts.dataDir, 'nimbus.db'));
}
