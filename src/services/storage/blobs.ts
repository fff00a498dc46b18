// Object bytes behind one seam. `BlobStore` holds opaque, write-once blobs under ids it is given
// (`newBlobId()`); what a blob means — bucket, key, content type, ETag — lives in the metadata store.
// `DiskBlobStore` keeps them on local disk; a shared backend for cluster mode implements the same
// interface later. Bytes are streamed both ways and never held whole in memory.
//
// On disk, under `root`:
//   blobs/<first 2 hex digits of the id>/<id>   one file per blob (256 fan-out directories)
//   tmp/<id>.<random>.part                      writes in progress (same file system, for rename)
// An id must match BLOB_ID (lowercase hex), so no caller can name a path; object keys never reach
// the file system at all (keys.ts says why ids are random rather than derived from keys).
//
// A put streams into a temp file while counting bytes and computing the MD5, fsyncs it, renames it
// over the blob's name (atomic), then fsyncs the directory: after a crash the id holds the old blob
// or the new one, never part of one. Concurrent puts to one id each write their own temp file; the
// last rename wins whole. A put past `maxBytes`, or whose source fails, removes its temp file and
// leaves any existing blob as it was. Temp files left by a crash are swept by `init()`.
//
// Blobs are never modified in place (every write renames a new file over the name), so a reader
// that opened a blob keeps streaming those bytes even if the blob is replaced or deleted meanwhile,
// and `copy` can be a hard link.
import { createHash, randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NimbusError } from '../../errors.ts';
import { resolveRange, type ByteRange } from './range.ts';

export type { ByteRange } from './range.ts';

/** A blob id: what `newBlobId()` makes (32 hex digits), up to a sha256 in hex. */
export const BLOB_ID = /^[0-9a-f]{32,64}$/;
/** Temp files older than this are left over from a crash (no write takes an hour between chunks). */
export const STALE_TEMP_MS = 60 * 60 * 1000;
const STREAM_CHUNK_BYTES = 1024 * 1024;

export interface PutOptions {
  /** Abort the put (PAYLOAD_TOO_LARGE) as soon as the source passes this many bytes. */
  maxBytes?: number;
}

export interface PutResult {
  size: number;
  /** Hex MD5 of the bytes written: the ETag of a single-part object. */
  md5: string;
}

export interface BlobStore {
  /** Streams `source` into the blob `id`, replacing any blob there only once all of it is stored. */
  put(id: string, source: Readable | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<PutResult>;
  /**
   * A stream of the blob's bytes, or of `range` (inclusive end, cut to the blob's size). Rejects with
   * NOT_FOUND for a missing blob, INVALID_RANGE for a range outside it (BAD_REQUEST for a malformed one). The
   * caller must consume or destroy the stream: it holds the file open.
   */
  get(id: string, range?: ByteRange): Promise<Readable>;
  /** The blob's size in bytes, or undefined when there is no such blob. */
  size(id: string): Promise<number | undefined>;
  /** Removes the blob; false when there was none. */
  delete(id: string): Promise<boolean>;
  /** Makes `to` a blob with the bytes of `from` (NOT_FOUND when `from` is missing). */
  copy(from: string, to: string): Promise<{ size: number }>;
  /** Every stored blob id, in no particular order: for sweeping blobs no object refers to. */
  ids(): AsyncIterable<string>;
}

/** A fresh blob id: 128 random bits in hex, independent of the key and of the content. */
export function newBlobId(): string {
  return randomBytes(16).toString('hex');
}

function checkId(id: string): string {
  if (typeof id !== 'string' || !BLOB_ID.test(id)) throw new NimbusError('INTERNAL', `invalid blob id ${JSON.stringify(String(id).slice(0, 80))}`);
  return id;
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as { code?: string }).code ?? '');
}

function notFound(id: string): NimbusError {
  return new NimbusError('NOT_FOUND', `no blob ${id}`, { details: { rule: 'blob/not-found' } });
}

function tooLarge(maxBytes: number): NimbusError {
  return new NimbusError('PAYLOAD_TOO_LARGE', `the object is over the limit of ${maxBytes} bytes`, { details: { maxBytes } });
}

/** Counts and hashes the bytes going through, failing once there are more than `maxBytes`. */
class Meter extends Transform {
  readonly hash = createHash('md5');
  size = 0;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    super();
    this.#maxBytes = maxBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.size += chunk.length;
    if (this.size > this.#maxBytes) return done(tooLarge(this.#maxBytes));
    this.hash.update(chunk);
    done(null, chunk);
  }
}

export interface DiskBlobStoreOptions {
  /** fsync files and directories on every write (default true). Off only for tests and scratch data. */
  fsync?: boolean;
  /** Copy by hard link (default true); false copies the bytes (a reflink where the file system can). */
  hardLinks?: boolean;
}

export class DiskBlobStore implements BlobStore {
  readonly root: string;
  readonly #fsync: boolean;
  readonly #hardLinks: boolean;
  readonly #blobs: string;
  readonly #tmp: string;
  readonly #dirs = new Set<string>();

  constructor(root: string, opts: DiskBlobStoreOptions = {}) {
    this.root = root;
    this.#fsync = opts.fsync ?? true;
    this.#hardLinks = opts.hardLinks ?? true;
    this.#blobs = join(root, 'blobs');
    this.#tmp = join(root, 'tmp');
  }

  /** A store at `root`, its directories made and temp files left by a crash removed. */
  static async open(root: string, opts: DiskBlobStoreOptions = {}): Promise<DiskBlobStore> {
    const store = new DiskBlobStore(root, opts);
    await store.init();
    return store;
  }

  /**
   * Makes the directories and removes temp files older than `staleMs` (a crashed process's); with 0,
   * every temp file (a file's mtime has sub-millisecond parts: one written within the millisecond
   * Date.now() reads would otherwise look not yet written).
   */
  async init(staleMs = STALE_TEMP_MS, nowMs = Date.now()): Promise<{ sweptTempFiles: number }> {
    await mkdir(this.#blobs, { recursive: true });
    await mkdir(this.#tmp, { recursive: true });
    let sweptTempFiles = 0;
    for (const name of await readdir(this.#tmp)) {
      const path = join(this.#tmp, name);
      const st = await stat(path).catch(() => undefined);
      if (st && (staleMs <= 0 || nowMs - st.mtimeMs >= staleMs)) {
        await rm(path, { force: true });
        sweptTempFiles++;
      }
    }
    return { sweptTempFiles };
  }

  #path(id: string): { dir: string; file: string } {
    checkId(id);
    const dir = join(this.#blobs, id.slice(0, 2));
    return { dir, file: join(dir, id) };
  }

  #tempPath(id: string): string {
    return join(this.#tmp, `${id}.${randomBytes(6).toString('hex')}.part`);
  }

  async #ensureDir(dir: string): Promise<void> {
    if (this.#dirs.has(dir)) return;
    // A directory made now must itself survive a power cut: its parent's entry is synced too.
    if (await mkdir(dir, { recursive: true }) !== undefined) await this.#syncDir(dirname(dir));
    this.#dirs.add(dir);
  }

  async #syncDir(dir: string): Promise<void> {
    if (!this.#fsync) return;
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } catch (err) {
      if (!isCode(err, 'EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP')) throw err; // file systems that cannot sync a directory
    } finally {
      await fh.close();
    }
  }

  /** Moves a complete, synced temp file over the blob's name. */
  async #commit(tmp: string, dir: string, file: string): Promise<void> {
    try {
      await this.#ensureDir(dir);
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    await this.#syncDir(dir);
  }

  async put(id: string, source: Readable | AsyncIterable<Uint8Array>, opts: PutOptions = {}): Promise<PutResult> {
    const { dir, file } = this.#path(id);
    const maxBytes = opts.maxBytes ?? Infinity;
    const tmp = this.#tempPath(id);
    const meter = new Meter(maxBytes);
    await this.#ensureDir(this.#tmp);
    const fh = await open(tmp, 'wx');
    // The stream owns the handle: it fsyncs (flush) and closes it before the pipeline settles, and
    // closes it when the pipeline fails.
    const out = fh.createWriteStream({ flush: this.#fsync, highWaterMark: STREAM_CHUNK_BYTES });
    try {
      await pipeline(source, meter, out);
    } catch (err) {
      if (!out.closed) await new Promise<void>((r) => out.once('close', () => r()));
      await rm(tmp, { force: true });
      throw err;
    }
    await this.#commit(tmp, dir, file);
    return { size: meter.size, md5: meter.hash.digest('hex') };
  }

  async get(id: string, range?: ByteRange): Promise<Readable> {
    const { file } = this.#path(id);
    let fh;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      if (isCode(err, 'ENOENT')) throw notFound(id);
      throw err;
    }
    if (range === undefined) return fh.createReadStream({ highWaterMark: STREAM_CHUNK_BYTES });
    try {
      const { start, end } = resolveRange(range, (await fh.stat()).size);
      return fh.createReadStream({ start, end, highWaterMark: STREAM_CHUNK_BYTES });
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async size(id: string): Promise<number | undefined> {
    let st: Stats;
    try {
      st = await stat(this.#path(id).file);
    } catch (err) {
      if (isCode(err, 'ENOENT')) return undefined;
      throw err;
    }
    return st.size;
  }

  async delete(id: string): Promise<boolean> {
    try {
      await unlink(this.#path(id).file);
      return true;
    } catch (err) {
      if (isCode(err, 'ENOENT')) return false;
      throw err;
    }
  }

  async copy(from: string, to: string): Promise<{ size: number }> {
    const src = this.#path(from).file;
    const { dir, file } = this.#path(to);
    if (from === to) {
      const size = await this.size(from);
      if (size === undefined) throw notFound(from);
      return { size };
    }
    const tmp = this.#tempPath(to);
    await this.#ensureDir(this.#tmp);
    let linked = false;
    if (this.#hardLinks) {
      try {
        // Blobs are write-once, so two names for one file are safe and take no time or space.
        await link(src, tmp);
        linked = true;
      } catch (err) {
        if (isCode(err, 'ENOENT')) throw notFound(from);
        if (!isCode(err, 'EPERM', 'ENOTSUP', 'EXDEV', 'EMLINK', 'ENOSYS')) throw err;
      }
    }
    if (!linked) {
      // A copy (a reflink where the file system can), synced like a put.
      try {
        await copyFile(src, tmp, constants.COPYFILE_FICLONE);
        if (this.#fsync) {
          const fh = await open(tmp, 'r+');
          try { await fh.sync(); } finally { await fh.close(); }
        }
      } catch (copyErr) {
        await rm(tmp, { force: true });
        if (isCode(copyErr, 'ENOENT')) throw notFound(from);
        throw copyErr;
      }
    }
    const { size } = await stat(tmp);
    await this.#commit(tmp, dir, file);
    return { size };
  }

  async *ids(): AsyncGenerator<string> {
    for (const fan of await readdir(this.#blobs).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{2}$/.test(fan)) continue;
      for (const name of await readdir(join(this.#blobs, fan)).catch(() => [] as string[])) {
        if (BLOB_ID.test(name) && name.startsWith(fan)) yield name;
      }
    }
  }
}
