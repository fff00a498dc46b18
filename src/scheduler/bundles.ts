// Bundles on the host's disk, materialised from the store on first use and kept by code hash.
// The store holds the bytes (so cluster nodes can share them); this is each node's local copy.
import { cp, rename, rm } from 'node:fs/promises';
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
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

  /**
   * The V8 code cache kept for a bundle (written by its first instance after init), if any. Only
   * instances of this code get a copy of it, in their own directory.
   */
  compileCache(sha: string): string | undefined {
    const dir = join(this.#dir, `${sha}.cache`);
    return existsSync(dir) ? dir : undefined;
  }

  /** Keeps an instance's code cache for later cold starts of the same bundle (first one wins). */
  async keepCompileCache(sha: string, instanceCacheDir: string): Promise<void> {
    const dir = join(this.#dir, `${sha}.cache`);
    if (existsSync(dir) || treeBytes(instanceCacheDir) > MAX_COMPILE_CACHE_BYTES) return;
    const tmp = `${dir}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      // The instance wrote this directory: take plain files and directories only, never a symlink.
      await cp(instanceCacheDir, tmp, { recursive: true, filter: (src) => { const s = lstatSync(src, { throwIfNoEntry: false }); return Boolean(s && (s.isDirectory() || s.isFile())); } });
      await rename(tmp, dir);
    } catch {
      // The instance went away mid-copy, or another instance won the race: nothing is lost.
      await rm(tmp, { recursive: true, force: true });
    }
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

const MAX_COMPILE_CACHE_BYTES = 64 * 1024 * 1024;

function treeBytes(dir: string): number {
  let n = 0;
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) n += treeBytes(p);
      else if (e.isFile()) n += statSync(p).size;
    }
  } catch {
    return Infinity;
  }
  return n;
}
