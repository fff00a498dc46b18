// Bundles on the host's disk, materialised from the store on first use and kept by code hash.
// The store holds the bytes (so cluster nodes can share them); this is each node's local copy.
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NimbusError } from '../errors.ts';
import type { Store } from '../store/types.ts';

export class BundleCache {
  readonly #dir: string;
  readonly #store: Store;

  constructor(dataDir: string, store: Store) {
    this.#dir = join(dataDir, 'code');
    this.#store = store;
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
  }

  async path(sha: string): Promise<string> {
    const file = join(this.#dir, `${sha}.mjs`);
    if (existsSync(file)) return file;
    const bytes = await this.#store.getCode(sha);
    if (!bytes) throw new NimbusError('INTERNAL', `code ${sha} is missing from the store`);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes, { mode: 0o600 });
    renameSync(tmp, file);
    return file;
  }
}
