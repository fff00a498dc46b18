// Object storage: one service for the admin API, presigned URLs and the runtime SDK, so the rules
// are the same for all. Metadata lives in the store (`store.objects`), bytes in a BlobStore.
//
// A write streams the bytes into a fresh blob (random id, fsynced, renamed into place), then
// switches the object's metadata row to it in one store transaction that also stores the storage
// notifications the write causes; the blob the row pointed to before is deleted after the commit.
// So a reader holds one version whole, an acknowledged write has its events, and a crash leaves at
// worst an unreferenced blob, which `start()` sweeps (as it sweeps temp files of unfinished writes).
import { hkdfSync, randomUUID } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isNimbusError, NimbusError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { BucketRecord, DeleteNotifier, ObjectRecord, PutNotifier, WriteConditions } from '../../store/objects.ts';
import type { Delivery, StorageTriggerRecord, Store } from '../../store/types.ts';
import type { Clock } from '../../util/clock.ts';
import { loadMasterKey } from '../secrets/vault.ts';
import { type BlobStore, DiskBlobStore, newBlobId } from './blobs.ts';
import { notificationMatches, type S3EventName, s3Event } from './event.ts';
import { assertBucketName, assertObjectKey } from './keys.ts';
import { type ListPage, type ListParams, listObjects } from './listing.ts';
import { presign, type PresignMethod, verifyPresigned, type VerifyInput } from './presign.ts';
import { type ByteRange, parseRangeHeader, resolveRange, type ResolvedRange } from './range.ts';
import { checkContentType, checkExpiresIn, checkMetadata, etagListMatches, normalizeEtag } from './validate.ts';

/** Largest object through the admin API or a presigned URL (S3's single-PUT limit). */
export const MAX_OBJECT_BYTES = 5 * 1024 ** 3;
/** Largest body the SDK moves in one call (it crosses the instance's IPC channel whole). */
export const SDK_MAX_OBJECT_BYTES = 6 * 1024 * 1024;
/** Blobs checked against the metadata per query when sweeping. */
const SWEEP_BATCH = 1000;
/** Attempts to open an object whose blob a concurrent overwrite deleted between read and open. */
const READ_ATTEMPTS = 3;

export interface StorageDeps {
  store: Store;
  /** Blobs live under `<dataDir>/storage` (mode 0700) unless `blobs` is given. */
  dataDir: string;
  clock: Clock;
  logger: Logger;
  /** Called after commit for every notification stored (wake the async invoker). */
  onDelivered: (d: Delivery) => void;
  /** The server's origin, for absolute presigned URLs (a path alone when absent). */
  baseUrl?: () => string;
  /** Another blob backend (cluster mode, tests). */
  blobs?: BlobStore;
  /** HMAC key for presigned URLs; by default derived from the secrets master key (HKDF, "nimbus/storage/presign/v1"). */
  presignSecret?: string;
  /** fsync blob writes (default true). */
  fsync?: boolean;
}

/** What callers see of an object. */
export interface ObjectInfo {
  bucket: string;
  key: string;
  size: number;
  /** Hex MD5, unquoted. */
  etag: string;
  contentType: string;
  metadata: Record<string, string>;
  lastModified: number;
}

/** Who wrote, for the events: the function, `admin` or `presigned`, and the client's address. */
export interface WriteContext { principal?: string; sourceIp?: string; requestId?: string; /** The writer's trace context: its notifications continue it. */ trace?: string }

export interface PutOptions extends WriteContext {
  contentType?: unknown;
  metadata?: unknown;
  /** Only when no object has the key. */
  ifNoneMatch?: boolean;
  /** Only when the current object's ETag is this. */
  ifMatch?: string;
  /** Default MAX_OBJECT_BYTES. */
  maxBytes?: number;
  /** What ENTITY_TOO_LARGE says to do instead. */
  tooLargeHint?: string;
}

export interface GetOptions {
  /** A Range header (ignored when malformed, as HTTP allows), or a range already parsed. */
  range?: string | ByteRange;
  /** If-Range header: the range applies only while the object still has this (quoted) ETag; otherwise the whole object. */
  ifRange?: string;
  /** If-Match header: PRECONDITION_FAILED unless it names the object's ETag. */
  ifMatch?: string;
  /** If-None-Match header: `notModified` when it names the object's ETag. */
  ifNoneMatch?: string;
}

export type GetResult =
  | { info: ObjectInfo; notModified: true }
  | { info: ObjectInfo; notModified?: false; body: Readable; range: ResolvedRange | undefined };

export interface CopyOptions extends WriteContext {
  /** Replace the metadata (content type and user metadata) instead of copying the source's. */
  replace?: { contentType?: unknown; metadata?: unknown };
  /** Copy only when the source's ETag is this. */
  ifSourceMatch?: string;
}

export interface BucketView { name: string; app: string; objects: number; bytes: number }

export const infoOf = (r: ObjectRecord): ObjectInfo => ({
  bucket: r.bucket, key: r.key, size: r.size, etag: r.etag, contentType: r.contentType, metadata: r.metadata, lastModified: r.lastModified,
});

export class StorageService {
  readonly #deps: StorageDeps;
  readonly #blobs: BlobStore;
  /** Blobs being written and not yet committed: the sweep leaves them alone. */
  readonly #inflight = new Set<string>();
  #triggers: StorageTriggerRecord[] | undefined;
  #secret: string | undefined;

  constructor(deps: StorageDeps) {
    this.#deps = deps;
    this.#secret = deps.presignSecret;
    this.#blobs = deps.blobs ?? new DiskBlobStore(join(deps.dataDir, 'storage'), { fsync: deps.fsync ?? true });
  }

  get blobs(): BlobStore {
    return this.#blobs;
  }

  /**
   * Call once before serving: makes the blob directories (0700: no instance uid may enter), removes
   * temp files of writes a crash interrupted, and deletes blobs no object refers to.
   */
  async start(): Promise<{ sweptTempFiles: number; sweptBlobs: number }> {
    let sweptTempFiles = 0;
    if (this.#blobs instanceof DiskBlobStore) {
      await mkdir(this.#blobs.root, { recursive: true, mode: 0o700 });
      await chmod(this.#blobs.root, 0o700);
      // At start no write of this process is in flight: every temp file is a dead process's.
      ({ sweptTempFiles } = await this.#blobs.init(0));
    }
    const sweptBlobs = await this.sweep();
    if (sweptTempFiles + sweptBlobs > 0) this.#deps.logger.info({ sweptTempFiles, sweptBlobs }, 'storage: removed what interrupted writes left behind');
    return { sweptTempFiles, sweptBlobs };
  }

  /** Deletes blobs no object refers to (left by a crash between a blob write and its commit, or before an old blob's delete). */
  async sweep(): Promise<number> {
    let swept = 0;
    let batch: string[] = [];
    const flush = async (): Promise<void> => {
      // A blob not in flight now was finished before now: committed (so referenced) or abandoned.
      const candidates = batch.filter((id) => !this.#inflight.has(id));
      batch = [];
      const referenced = await this.#deps.store.objects.referencedBlobs(candidates);
      for (const id of candidates) if (!referenced.has(id) && await this.#blobs.delete(id)) swept++;
    };
    for await (const id of this.#blobs.ids()) {
      batch.push(id);
      if (batch.length >= SWEEP_BATCH) await flush();
    }
    if (batch.length) await flush();
    return swept;
  }

  /** Forgets the cached storage triggers: call after every deploy or delete. */
  invalidate(): void {
    this.#triggers = undefined;
  }

  async #allTriggers(): Promise<StorageTriggerRecord[]> {
    this.#triggers ??= await this.#deps.store.objects.listStorageTriggers();
    return this.#triggers;
  }

  // --- buckets -----------------------------------------------------------------------------------

  async listBuckets(): Promise<BucketView[]> {
    return (await this.#deps.store.objects.listBuckets()).map(bucketView);
  }

  async bucket(name: string): Promise<BucketView> {
    return bucketView(await this.#bucket(name));
  }

  async #bucket(name: unknown): Promise<BucketRecord> {
    if (typeof name !== 'string' || name === '') throw new NimbusError('INVALID_BUCKET_NAME', 'bucket: a bucket name is required');
    assertBucketName(name);
    const b = await this.#deps.store.objects.getBucket(name);
    if (!b) throw new NimbusError('BUCKET_NOT_FOUND', `no bucket named "${name}"; declare it under \`buckets:\` in nimbus.yml and deploy (\`nimbus storage buckets\` lists them)`);
    return b;
  }

  // --- objects -----------------------------------------------------------------------------------

  /** Streams `body` into the object `bucket`/`key`; resolves once it is durable, with what was stored. */
  async put(bucket: string, key: string, body: Readable | AsyncIterable<Uint8Array>, opts: PutOptions = {}): Promise<ObjectInfo> {
    checkKey(key);
    const b = await this.#bucket(bucket);
    const contentType = checkContentType(opts.contentType);
    const metadata = checkMetadata(opts.metadata);
    const conditions: WriteConditions = { ifNoneMatch: opts.ifNoneMatch === true, ifMatch: opts.ifMatch === undefined ? undefined : normalizeEtag(opts.ifMatch, 'ifMatch') };
    // Checked again in the commit; checked here too so a refused write does not store its bytes first.
    await this.#checkConditions(bucket, key, conditions);
    const maxBytes = opts.maxBytes ?? MAX_OBJECT_BYTES;
    return this.#write(b, key, 'ObjectCreated:Put', conditions, opts, async (id) => {
      try {
        const r = await this.#blobs.put(id, body, { maxBytes });
        return { size: r.size, etag: r.md5, contentType, metadata };
      } catch (err) {
        if (isNimbusError(err) && err.code === 'PAYLOAD_TOO_LARGE') {
          throw new NimbusError('ENTITY_TOO_LARGE', `the object is over the limit of ${maxBytes} bytes (${formatBytes(maxBytes)})${opts.tooLargeHint ? `; ${opts.tooLargeHint}` : ''}; nothing was stored`, { details: { maxBytes } });
        }
        throw err;
      }
    });
  }

  /** The SDK's put: a whole body in memory, at most SDK_MAX_OBJECT_BYTES. */
  async putBytes(bucket: string, key: string, body: Uint8Array | string, opts: PutOptions = {}): Promise<ObjectInfo> {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    if (bytes.byteLength > SDK_MAX_OBJECT_BYTES) throw sdkTooLarge(bytes.byteLength, 'put');
    return this.put(bucket, key, Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]), { ...opts, maxBytes: SDK_MAX_OBJECT_BYTES });
  }

  async #checkConditions(bucket: string, key: string, c: WriteConditions): Promise<void> {
    if (!c.ifNoneMatch && c.ifMatch === undefined) return;
    const cur = await this.#deps.store.objects.getObject(bucket, key);
    if (c.ifNoneMatch && cur) throw new NimbusError('PRECONDITION_FAILED', `object "${key}" already exists in bucket "${bucket}" (If-None-Match: *); nothing was written`);
    if (c.ifMatch !== undefined && cur?.etag !== c.ifMatch) {
      throw new NimbusError('PRECONDITION_FAILED', cur
        ? `object "${key}" has ETag "${cur.etag}", not "${c.ifMatch}" (If-Match); it changed since you read it — read it again`
        : `object "${key}" does not exist in bucket "${bucket}" (If-Match: "${c.ifMatch}"); nothing was written`);
    }
  }

  /**
   * Writes a new blob with `fill`, then commits the row pointing to it with its notifications; the
   * blob is removed again if the commit fails, and the replaced version's blob once it succeeds.
   */
  async #write(
    b: BucketRecord, key: string, eventName: S3EventName, conditions: WriteConditions, ctx: WriteContext,
    fill: (id: string) => Promise<{ size: number; etag: string; contentType: string; metadata: Record<string, string> }>,
  ): Promise<ObjectInfo> {
    const triggers = await this.#matching(b.name, eventName, key);
    const id = newBlobId();
    this.#inflight.add(id);
    try {
      const v = await fill(id);
      const notify: PutNotifier = (rec) => triggers.map((t) => this.#delivery(t, ctx.trace, s3Event({
        eventName: eventName as 'ObjectCreated:Put', bucket: rec.bucket, key: rec.key, size: rec.size, etag: rec.etag, sequence: rec.sequence, timeMs: rec.lastModified,
        ...this.#eventContext(t, b, ctx),
      })));
      let result;
      try {
        result = await this.#deps.store.objects.putObject({ bucket: b.name, key, blob: id, ...v }, conditions, this.#deps.clock.now(), notify);
      } catch (err) {
        await this.#blobs.delete(id).catch(() => false);
        throw err;
      }
      if (result.replaced) await this.#dropBlob(result.replaced.blob);
      for (const d of result.deliveries) this.#deps.onDelivered(d);
      return infoOf(result.record);
    } finally {
      this.#inflight.delete(id);
    }
  }

  async #dropBlob(id: string): Promise<void> {
    try {
      await this.#blobs.delete(id);
    } catch (err) {
      // The next start's sweep removes it.
      this.#deps.logger.warn({ err, blob: id }, 'storage: could not delete a replaced blob');
    }
  }

  /** The triggers an event on `bucket`/`key` goes to. */
  async #matching(bucket: string, eventName: S3EventName, key: string): Promise<StorageTriggerRecord[]> {
    return (await this.#allTriggers()).filter((t) => notificationMatches(t, bucket, eventName, key));
  }

  #eventContext(t: StorageTriggerRecord, b: BucketRecord, ctx: WriteContext): { configurationId: string; requestId: string; sourceIp?: string; principalId?: string; ownerId: string } {
    return { configurationId: `${t.fn}-${t.bucket}`, requestId: ctx.requestId ?? randomUUID(), sourceIp: ctx.sourceIp, principalId: ctx.principal, ownerId: b.app };
  }

  #delivery(t: StorageTriggerRecord, trace: string | undefined, event: unknown): Delivery {
    return { to: { kind: 'function', name: t.fn }, body: JSON.stringify(event), requestId: randomUUID(), ...(trace ? { trace } : {}) };
  }

  async head(bucket: string, key: string): Promise<ObjectInfo> {
    checkKey(key);
    await this.#bucket(bucket);
    const r = await this.#deps.store.objects.getObject(bucket, key);
    if (!r) throw notFound(bucket, key);
    return infoOf(r);
  }

  /** The object's bytes (or a range of them) as a stream the caller must consume or destroy. */
  async get(bucket: string, key: string, opts: GetOptions = {}): Promise<GetResult> {
    checkKey(key);
    await this.#bucket(bucket);
    for (let attempt = 1; ; attempt++) {
      const r = await this.#deps.store.objects.getObject(bucket, key);
      if (!r) throw notFound(bucket, key);
      const info = infoOf(r);
      if (opts.ifMatch !== undefined && !etagListMatches(opts.ifMatch, r.etag)) {
        throw new NimbusError('PRECONDITION_FAILED', `object "${key}" has ETag "${r.etag}", which If-Match does not name`);
      }
      if (opts.ifNoneMatch !== undefined && etagListMatches(opts.ifNoneMatch, r.etag)) return { info, notModified: true };
      // If-Range (RFC 9110): a resumed download whose object changed gets the whole new object, never a splice.
      const rangeHolds = opts.ifRange === undefined || opts.ifRange.trim() === `"${r.etag}"`;
      const range = opts.range === undefined || !rangeHolds ? undefined
        : typeof opts.range === 'string' ? parseRangeHeader(opts.range, r.size) : resolveRange(opts.range, r.size);
      try {
        return { info, body: await this.#blobs.get(r.blob, range), range };
      } catch (err) {
        // Overwritten or deleted between reading the row and opening the blob: read the row again.
        if (!(isNimbusError(err) && err.code === 'NOT_FOUND') || attempt >= READ_ATTEMPTS) throw err;
      }
    }
  }

  /** The SDK's get: the bytes in memory (at most SDK_MAX_OBJECT_BYTES); undefined for a missing object. */
  async getBytes(bucket: string, key: string, range?: ByteRange): Promise<{ info: ObjectInfo; body: Buffer; range: ResolvedRange | undefined } | undefined> {
    checkKey(key);
    await this.#bucket(bucket);
    const head = await this.#deps.store.objects.getObject(bucket, key);
    if (!head) return undefined;
    const wanted = range ? resolveRange(range, head.size) : { start: 0, end: head.size - 1 };
    if (wanted.end - wanted.start + 1 > SDK_MAX_OBJECT_BYTES) throw sdkTooLarge(wanted.end - wanted.start + 1, 'get');
    let got: GetResult;
    try {
      got = await this.get(bucket, key, { range });
    } catch (err) {
      if (isNimbusError(err) && err.code === 'OBJECT_NOT_FOUND') return undefined;
      throw err;
    }
    if (got.notModified) throw new NimbusError('INTERNAL', 'unexpected not-modified answer');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of got.body) {
      size += (c as Buffer).length;
      // Replaced meanwhile by something larger than the limit: stop reading.
      if (size > SDK_MAX_OBJECT_BYTES) { got.body.destroy(); throw sdkTooLarge(size, 'get'); }
      chunks.push(c as Buffer);
    }
    return { info: got.info, body: Buffer.concat(chunks), range: got.range };
  }

  /** Deletes the object; true when there was one (deleting a missing key succeeds, as in S3). */
  async delete(bucket: string, key: string, ctx: WriteContext = {}): Promise<boolean> {
    checkKey(key);
    const b = await this.#bucket(bucket);
    const triggers = await this.#matching(bucket, 'ObjectRemoved:Delete', key);
    const notify: DeleteNotifier = (old, sequence, now) => triggers.map((t) => this.#delivery(t, ctx.trace, s3Event({
      eventName: 'ObjectRemoved:Delete', bucket, key: old.key, sequence, timeMs: now, ...this.#eventContext(t, b, ctx),
    })));
    const r = await this.#deps.store.objects.deleteObject(bucket, key, this.#deps.clock.now(), notify);
    if (!r.deleted) return false;
    await this.#dropBlob(r.deleted.blob);
    for (const d of r.deliveries) this.#deps.onDelivered(d);
    return true;
  }

  /** Copies an object (a hard link of its blob: no bytes move), with its metadata or with `replace`'s. */
  async copy(from: { bucket: string; key: string }, to: { bucket: string; key: string }, opts: CopyOptions = {}): Promise<ObjectInfo> {
    checkKey(from.key);
    checkKey(to.key);
    await this.#bucket(from.bucket);
    const target = await this.#bucket(to.bucket);
    const replace = opts.replace ? { contentType: checkContentType(opts.replace.contentType), metadata: checkMetadata(opts.replace.metadata) } : undefined;
    const ifSource = opts.ifSourceMatch === undefined ? undefined : normalizeEtag(opts.ifSourceMatch, 'ifSourceMatch');
    return this.#write(target, to.key, 'ObjectCreated:Copy', {}, opts, async (id) => {
      for (let attempt = 1; ; attempt++) {
        const src = await this.#deps.store.objects.getObject(from.bucket, from.key);
        if (!src) throw notFound(from.bucket, from.key, 'the copy source');
        if (ifSource !== undefined && src.etag !== ifSource) {
          throw new NimbusError('PRECONDITION_FAILED', `the copy source "${from.key}" has ETag "${src.etag}", not "${ifSource}"; nothing was copied`);
        }
        try {
          await this.#blobs.copy(src.blob, id);
        } catch (err) {
          if (isNimbusError(err) && err.code === 'NOT_FOUND' && attempt < READ_ATTEMPTS) continue; // the source was just replaced
          throw err;
        }
        return { size: src.size, etag: src.etag, contentType: replace?.contentType ?? src.contentType, metadata: replace?.metadata ?? src.metadata };
      }
    });
  }

  /** One page of a ListObjectsV2 listing. */
  async list(bucket: string, params: ListParams = {}): Promise<ListPage<ObjectInfo>> {
    await this.#bucket(bucket);
    const page = await listObjects((q) => this.#deps.store.objects.listObjects(bucket, q), params);
    return { ...page, contents: page.contents.map(infoOf) };
  }

  // --- presigned URLs ----------------------------------------------------------------------------

  /** The HMAC key: given, or derived from the master key so it needs no file of its own and survives restarts. */
  #presignSecret(): string {
    this.#secret ??= Buffer.from(hkdfSync('sha256', loadMasterKey(this.#deps.dataDir).key, Buffer.alloc(0), 'nimbus/storage/presign/v1', 32)).toString('hex');
    return this.#secret;
  }

  /** A URL that lets anyone GET (or PUT) one object until it expires. */
  async presign(bucket: string, key: string, opts: { method?: unknown; expiresIn?: unknown; contentType?: unknown; origin?: string } = {}): Promise<{ url: string; method: PresignMethod; expiresAt: string }> {
    checkKey(key);
    await this.#bucket(bucket);
    const method = opts.method === undefined ? 'GET' : opts.method;
    if (method !== 'GET' && method !== 'PUT') throw new NimbusError('BAD_REQUEST', `method: a presigned URL is for "GET" or "PUT", got ${typeof method === 'string' ? JSON.stringify(method.slice(0, 20)) : `a ${typeof method}`}`, { details: { rule: 'presign/method' } });
    const expiresIn = checkExpiresIn(opts.expiresIn);
    // Bound exactly as an upload's type will be stored and compared (trimmed, printable ASCII), so the URL can be used.
    const bound = opts.contentType === undefined || opts.contentType === null || opts.contentType === '' ? undefined : checkContentType(opts.contentType);
    const nowMs = this.#deps.clock.now();
    const p = presign({ secret: this.#presignSecret(), method, bucket, key, nowMs, expiresAtMs: nowMs + expiresIn * 1000, contentType: bound });
    return { url: (opts.origin ?? this.#deps.baseUrl?.() ?? '') + p.url, method, expiresAt: new Date(p.expiresAtMs).toISOString() };
  }

  /** Checks a presigned request; PRESIGNED_URL_INVALID with the reason when it fails. */
  verifyPresigned(input: Omit<VerifyInput, 'secret' | 'nowMs'>): PresignMethod {
    const r = verifyPresigned({ ...input, secret: this.#presignSecret(), nowMs: this.#deps.clock.now() });
    if (!r.ok) throw new NimbusError('PRESIGNED_URL_INVALID', `presigned URL refused (${r.reason}): ${r.message}; ask for a new URL`, { details: { reason: r.reason } });
    return r.method;
  }
}

function bucketView(b: BucketRecord): BucketView {
  return { name: b.name, app: b.app, objects: b.objects, bytes: b.bytes };
}

function checkKey(key: unknown): void {
  if (typeof key !== 'string') throw new NimbusError('INVALID_OBJECT_KEY', 'key: an object key (a string of 1 to 1024 bytes) is required');
  assertObjectKey(key);
}

function notFound(bucket: string, key: string, what = 'the object'): NimbusError {
  return new NimbusError('OBJECT_NOT_FOUND', `${what} "${key}" does not exist in bucket "${bucket}"`);
}

function sdkTooLarge(bytes: number, op: 'put' | 'get'): NimbusError {
  const fix = op === 'get'
    ? 'read it in ranges (get(key, { range: { start, end } })) or hand out a presigned URL (bucket.presign(key))'
    : "upload it through a presigned URL instead (bucket.presign(key, { method: 'PUT' }))";
  return new NimbusError('ENTITY_TOO_LARGE', `${formatBytes(bytes)} is over the SDK's limit of ${formatBytes(SDK_MAX_OBJECT_BYTES)} per call; ${fix}`, { details: { maxBytes: SDK_MAX_OBJECT_BYTES } });
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${+(n / 1024 ** 3).toFixed(2)} GB`;
  if (n >= 1024 ** 2) return `${+(n / 1024 ** 2).toFixed(2)} MB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}
