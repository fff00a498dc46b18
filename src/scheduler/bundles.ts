// Bundles on the host's disk, materialised from the store on first use and kept by code hash.
// The store holds the bytes (so cluster nodes can share them); this is each node's local copy.
import { cp, rename, rm } from 'node:fs/promises';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NimbusError } from '../errors.ts';
import type { Store } from '../store/types.ts';

export class BundleCache {
  readonly #dir: string;
  readonly #store: Store;
  readonly #measures = new Map<string, CompileMeasure>();

  constructor(dataDir: string, store: Store) {
    this.#dir = join(dataDir, 'code');
    this.#store = store;
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    chmodSync(this.#dir, 0o700); // a directory that already existed keeps its mode otherwise
  }

  /**
   * How a bundle is compiled and which kept V8 code cache seeds its next instance. Only instances of
   * this code get a copy of the cache, in their own directory.
   *
   * The cache is taken right after the module compiles, before it runs; with lazy compilation it
   * holds the top level only. Compiled eagerly, it holds every function: a gain for a bundle whose
   * code runs at start, a loss for one that carries much code it never calls (deserialising it costs
   * more than compiling the few functions that run). So each bundle is measured once:
   * 1. its first instance compiles lazily and reports the bytecode its start and first invocation
   *    compiled; its (lazy) cache is kept;
   * 2. the next instance compiles eagerly, without a cache, and reports the bytecode of every
   *    function (one such trial per bundle; if it never reports, the bundle stays lazy);
   * 3. when the first figure is at least EAGER_SHARE of the second (most of the code ran), the eager
   *    cache is kept and later instances compile eagerly; otherwise they stay lazy.
   * Bundles under 64 KiB are not measured and stay lazy; bundles under COMPILE_CACHE_MIN_BYTES
   * (32 KiB) get no cache at all (undefined).
   * Measured (bench/tmp-style probes, import in a fresh node): the 1 MB bench bundle, which calls
   * every function at import, ran 100% of its bytecode and imports in ~21 ms with an eager cache
   * against ~43 ms with a lazy one; a 1.3 MB bundle of zod, yaml, pino, prom-client and the
   * OpenTelemetry API ran 24%, and imports in ~60 ms with an eager cache against ~42 ms.
   */
  compileCache(sha: string): { dir: string | undefined; eager: boolean; measure: boolean } | undefined {
    const size = statSync(join(this.#dir, `${sha}.mjs`), { throwIfNoEntry: false })?.size ?? 0;
    if (size < COMPILE_CACHE_MIN_BYTES) return undefined;
    let m = this.#measure(sha);
    // One eager trial per bundle (step 2): handed out once; starts meanwhile, and every start after a
    // trial that never reported (its instance died: eager compilation takes more memory), stay lazy.
    const trial = m.eager === undefined && m.lazyBytes !== undefined && !m.trial;
    if (trial) m = this.#saveMeasure(sha, { ...m, trial: true });
    const eager = trial || m.eager === true;
    const dir = join(this.#dir, `${sha}${eager ? '.eager' : ''}.cache`);
    const seeded = existsSync(dir);
    // Small bundles compile in a few milliseconds either way: they stay lazy, unmeasured.
    const measure = !seeded && (trial || (m.lazyBytes === undefined && size >= MEASURE_MIN_BYTES));
    return { dir: seeded ? dir : undefined, eager, measure };
  }

  /** Keeps an instance's code cache for later cold starts of the same bundle (first one wins), and records what it measured. */
  async keepCompileCache(sha: string, instanceCacheDir: string, eager: boolean, bytecodeBytes: number | undefined): Promise<void> {
    const m = this.#measure(sha);
    const bytes = treeBytes(instanceCacheDir);
    if (bytecodeBytes !== undefined) {
      if (!eager && m.lazyBytes === undefined) this.#saveMeasure(sha, { ...m, lazyBytes: bytecodeBytes });
      // An eager cache too big to keep would leave the bundle eager and uncached: the worst of both.
      else if (eager && m.eager === undefined && m.lazyBytes !== undefined) this.#saveMeasure(sha, { ...m, eagerBytes: bytecodeBytes, eager: m.lazyBytes >= EAGER_SHARE * bytecodeBytes && bytes <= MAX_COMPILE_CACHE_BYTES });
    }
    if (eager && this.#measure(sha).eager !== true) return;
    const dir = join(this.#dir, `${sha}${eager ? '.eager' : ''}.cache`);
    if (existsSync(dir) || bytes > MAX_COMPILE_CACHE_BYTES) return;
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

  /** What was measured of a bundle's compilation (kept beside it, so a restart does not measure again). */
  #measure(sha: string): CompileMeasure {
    let m = this.#measures.get(sha);
    if (!m) {
      try {
        const j = JSON.parse(readFileSync(join(this.#dir, `${sha}.compile.json`), 'utf8')) as CompileMeasure;
        m = { lazyBytes: num(j.lazyBytes), eagerBytes: num(j.eagerBytes), eager: typeof j.eager === 'boolean' ? j.eager : undefined, trial: j.trial === true };
      } catch {
        m = {};
      }
      this.#measures.set(sha, m);
    }
    return m;
  }

  #saveMeasure(sha: string, m: CompileMeasure): CompileMeasure {
    this.#measures.set(sha, m);
    const file = join(this.#dir, `${sha}.compile.json`);
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify(m), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    } catch {
      // A full or read-only disk: this process still knows; a restart measures again.
    }
    return m;
  }

  async path(sha: string): Promise<string> {
    const file = join(this.#dir, `${sha}.mjs`);
    if (existsSync(file)) return file;
    const bytes = await this.#store.getCode(sha);
    if (!bytes) throw new NimbusError('INTERNAL', `code ${sha} is missing from the store`);
    this.#write(file, bytes);
    return file;
  }

  /**
   * Writes a just-deployed bundle to disk, so that its first cold start does not read it from the
   * store and write it first (~0.3 ms of that start). Best effort: on failure, that start tries again.
   */
  keep(sha: string, bytes: Uint8Array): void {
    const file = join(this.#dir, `${sha}.mjs`);
    try {
      if (!existsSync(file)) this.#write(file, bytes);
    } catch {
      // A full or read-only disk: path() writes it at the first start, and reports the error then.
    }
  }

  /**
   * Read-only for everyone: instances under uids of their own get a hard link to this file, and
   * nobody else can reach it (this directory is 0700).
   */
  #write(file: string, bytes: Uint8Array): void {
    const tmp = `${file}.${process.pid}.tmp`;
    rmSync(tmp, { force: true }); // a read-only leftover of a crashed server with this pid could not be rewritten
    writeFileSync(tmp, bytes, { mode: 0o444 });
    chmodSync(tmp, 0o444); // whatever the umask took away
    renameSync(tmp, file);
  }
}

/** Bytecode compiled by a bundle's lazy first start, as a share of all its bytecode, from which it is compiled eagerly. */
const EAGER_SHARE = 0.6;
/** Bundles smaller than this are not measured (nor compiled eagerly). */
const MEASURE_MIN_BYTES = 64 * 1024;
/**
 * Bundles smaller than this get no code cache: V8 compiles them in well under a millisecond, less
 * than the cache costs (the runtime enabling and writing it, the host copying it after the first
 * response). Hello-world with a spare, end to end p50 over three runs of a scratch probe: 6.96 /
 * 6.26 / 7.02 ms with its cache, 5.80 / 6.20 / 5.23 ms without.
 */
export const COMPILE_CACHE_MIN_BYTES = 32 * 1024;

interface CompileMeasure { lazyBytes?: number; eagerBytes?: number; eager?: boolean; trial?: boolean }
const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
const MAX_COMPILE_CACHE_BYTES = 64 * 1024 * 1024;

/** Bytes of the files under `dir` (Infinity when it cannot be read). */
export function treeBytes(dir: string): number {
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
