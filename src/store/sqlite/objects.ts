// Object storage metadata in the embedded store: buckets with their running counts, one row per
// object, storage triggers. Keys are TEXT compared BINARY (memcmp of UTF-8), which is the order S3
// lists keys in (keys.ts compareKeys). Object writes go through the group commit (`batched`), each
// in its own savepoint, with the notifications they cause written by WorkStore.deliver in the same
// transaction.
import { NimbusError } from '../../errors.ts';
import { compareKeys } from '../../services/storage/keys.ts';
import { prefixEnd } from '../../services/storage/listing.ts';
import type {
  BucketRecord, DeleteNotifier, DeleteObjectResult, ObjectPageQuery, ObjectRecord, ObjectsStore, ObjectWrite, PutNotifier, PutObjectResult, WriteConditions,
} from '../objects.ts';
import type { Delivery, DesiredApp, StorageTriggerRecord } from '../types.ts';
import type { Row, Sql } from './sql.ts';
import type { WorkStore } from './work.ts';

export const OBJECTS_MIGRATION = `
  -- No ON DELETE CASCADE from apps: deleting an app goes through dropApp, which refuses while a bucket has objects.
  CREATE TABLE buckets (
    name TEXT PRIMARY KEY,
    app TEXT NOT NULL REFERENCES apps(name),
    objects INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX buckets_app ON buckets(app);
  -- No ON DELETE CASCADE from buckets either: a bucket with objects is never dropped.
  CREATE TABLE objects (
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    content_type TEXT NOT NULL,
    metadata TEXT NOT NULL,
    last_modified INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
  ) WITHOUT ROWID;
  CREATE INDEX objects_blob ON objects(blob);
  CREATE TABLE storage_triggers (
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    fn TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    bucket TEXT NOT NULL,
    events TEXT NOT NULL,
    prefix TEXT NOT NULL,
    suffix TEXT NOT NULL,
    position INTEGER NOT NULL
  );
  CREATE INDEX storage_triggers_app ON storage_triggers(app);
  INSERT INTO meta(key, value) VALUES ('object_sequence', '0');
`;

/** Blob ids per IN (...) query when checking which blobs are referenced. */
const BLOB_BATCH = 500;

export class SqliteObjects implements ObjectsStore {
  readonly #sql: Sql;
  readonly #work: WorkStore;

  constructor(sql: Sql, work: WorkStore) {
    this.#sql = sql;
    this.#work = work;
  }

  /**
   * Inside applyApp's transaction: creates the app's new buckets, drops the ones it no longer names
   * (BUCKET_NOT_EMPTY, and the whole deploy rolls back, while one has objects), and replaces the
   * app's storage triggers. BUCKET_CONFLICT for a name another app owns.
   */
  applyBuckets(desired: DesiredApp): void {
    const sql = this.#sql;
    // A trigger watches its own app's buckets only (the manifest checks this; the store holds to it too).
    for (const t of desired.storageTriggers) {
      if (!desired.buckets.some((b) => b.name === t.bucket)) throw new NimbusError('BUCKET_NOT_FOUND', `functions.${t.fn}: a storage event names bucket "${t.bucket}", which this app does not declare`);
    }
    for (const b of desired.buckets) {
      const owner = sql.get('SELECT app FROM buckets WHERE name = ? AND app != ?', b.name, desired.name);
      if (owner) {
        throw new NimbusError('BUCKET_CONFLICT', `bucket "${b.name}" already belongs to app "${String(owner.app)}"; bucket names are unique across apps — rename it, or remove it from "${String(owner.app)}" first`);
      }
    }
    const keep = new Set(desired.buckets.map((b) => b.name));
    const gone = sql.all('SELECT name, objects FROM buckets WHERE app = ? ORDER BY name', desired.name).filter((r) => !keep.has(String(r.name)));
    this.#refuseNonEmpty(gone, `the deploy would remove`, 'keep it in the manifest, or delete its objects first');
    for (const r of gone) sql.run('DELETE FROM buckets WHERE name = ?', String(r.name));
    for (const b of desired.buckets) sql.run('INSERT INTO buckets(name, app) VALUES (?, ?) ON CONFLICT(name) DO NOTHING', b.name, desired.name);
    sql.run('DELETE FROM storage_triggers WHERE app = ?', desired.name);
    desired.storageTriggers.forEach((t, position) => {
      sql.run('INSERT INTO storage_triggers(app, fn, bucket, events, prefix, suffix, position) VALUES (?, ?, ?, ?, ?, ?, ?)',
        desired.name, t.fn, t.bucket, JSON.stringify(t.events), t.prefix, t.suffix, position);
    });
  }

  /**
   * Inside deleteApp's transaction, before the app's row goes: drops its buckets and storage
   * triggers; BUCKET_NOT_EMPTY (nothing deleted) while one of its buckets has objects.
   */
  dropApp(app: string): void {
    const sql = this.#sql;
    const buckets = sql.all('SELECT name, objects FROM buckets WHERE app = ? ORDER BY name', app);
    this.#refuseNonEmpty(buckets, `deleting app "${app}" would remove`, 'delete its objects first');
    sql.run('DELETE FROM storage_triggers WHERE app = ?', app);
    sql.run('DELETE FROM buckets WHERE app = ?', app);
  }

  #refuseNonEmpty(rows: Row[], doing: string, fix: string): void {
    const full = rows.filter((r) => Number(r.objects) > 0);
    if (full.length === 0) return;
    const first = full[0]!;
    const name = String(first.name);
    const more = full.length > 1 ? ` (and ${full.length - 1} more non-empty bucket${full.length > 2 ? 's' : ''}: ${full.slice(1).map((r) => String(r.name)).join(', ')})` : '';
    throw new NimbusError('BUCKET_NOT_EMPTY', `${doing} bucket "${name}", which still has ${Number(first.objects)} object${Number(first.objects) === 1 ? '' : 's'}${more}; ${fix} (\`nimbus storage rm --recursive ${name}/\`)`, { details: { bucket: name } });
  }

  async listBuckets(): Promise<BucketRecord[]> {
    return this.#sql.all('SELECT * FROM buckets ORDER BY name').map(toBucket);
  }

  async getBucket(name: string): Promise<BucketRecord | undefined> {
    const r = this.#sql.get('SELECT * FROM buckets WHERE name = ?', name);
    return r ? toBucket(r) : undefined;
  }

  async listStorageTriggers(): Promise<StorageTriggerRecord[]> {
    return this.#sql.all('SELECT * FROM storage_triggers ORDER BY bucket, app, position').map((r) => ({
      app: String(r.app), fn: String(r.fn), bucket: String(r.bucket), events: JSON.parse(String(r.events)) as StorageTriggerRecord['events'],
      prefix: String(r.prefix), suffix: String(r.suffix),
    }));
  }

  async getObject(bucket: string, key: string): Promise<ObjectRecord | undefined> {
    return this.#get(bucket, key);
  }

  #get(bucket: string, key: string): ObjectRecord | undefined {
    const r = this.#sql.get('SELECT * FROM objects WHERE bucket = ? AND key = ?', bucket, key);
    return r ? toObject(r) : undefined;
  }

  #bucketOrThrow(bucket: string): void {
    if (!this.#sql.get('SELECT 1 FROM buckets WHERE name = ?', bucket)) {
      throw new NimbusError('BUCKET_NOT_FOUND', `no bucket named "${bucket}"; declare it under \`buckets:\` in nimbus.yml and deploy`);
    }
  }

  #nextSequence(): number {
    return Number(this.#sql.get("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'object_sequence' RETURNING value")!.value);
  }

  /** Writes the deliveries; keeps the ones whose function still exists (the others are dropped, as for any delivery). */
  #deliver(deliveries: Delivery[], now: number): Delivery[] {
    if (deliveries.length === 0) return deliveries;
    const gone = new Set(this.#work.deliver(deliveries, now));
    return deliveries.filter((d) => !gone.has(`${d.to.kind}:${d.to.name}`));
  }

  async putObject(write: ObjectWrite, conditions: WriteConditions, now: number, notify: PutNotifier): Promise<PutObjectResult> {
    const sql = this.#sql;
    return sql.batched(() => {
      this.#bucketOrThrow(write.bucket);
      const old = this.#get(write.bucket, write.key);
      if (conditions.ifNoneMatch && old) {
        throw new NimbusError('PRECONDITION_FAILED', `object "${write.key}" already exists in bucket "${write.bucket}" (If-None-Match: *); nothing was written`);
      }
      if (conditions.ifMatch !== undefined && (!old || old.etag !== conditions.ifMatch)) {
        throw new NimbusError('PRECONDITION_FAILED', old
          ? `object "${write.key}" has ETag "${old.etag}", not "${conditions.ifMatch}" (If-Match); it changed since you read it — read it again`
          : `object "${write.key}" does not exist in bucket "${write.bucket}" (If-Match: "${conditions.ifMatch}"); nothing was written`);
      }
      const record: ObjectRecord = { ...write, lastModified: now, sequence: this.#nextSequence() };
      sql.run(`INSERT INTO objects(bucket, key, blob, size, etag, content_type, metadata, last_modified, sequence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(bucket, key) DO UPDATE SET blob = excluded.blob, size = excluded.size, etag = excluded.etag, content_type = excluded.content_type,
        metadata = excluded.metadata, last_modified = excluded.last_modified, sequence = excluded.sequence`,
      record.bucket, record.key, record.blob, record.size, record.etag, record.contentType, JSON.stringify(record.metadata), record.lastModified, record.sequence);
      sql.run('UPDATE buckets SET objects = objects + ?, bytes = bytes + ? WHERE name = ?', old ? 0 : 1, record.size - (old?.size ?? 0), record.bucket);
      return { record, replaced: old, deliveries: this.#deliver(notify(record), now) };
    });
  }

  async deleteObject(bucket: string, key: string, now: number, notify: DeleteNotifier): Promise<DeleteObjectResult> {
    const sql = this.#sql;
    return sql.batched(() => {
      this.#bucketOrThrow(bucket);
      const old = this.#get(bucket, key);
      if (!old) return { deleted: undefined, sequence: 0, deliveries: [] };
      sql.run('DELETE FROM objects WHERE bucket = ? AND key = ?', bucket, key);
      sql.run('UPDATE buckets SET objects = objects - 1, bytes = bytes - ? WHERE name = ?', old.size, bucket);
      const sequence = this.#nextSequence();
      return { deleted: old, sequence, deliveries: this.#deliver(notify(old, sequence, now), now) };
    });
  }

  async listObjects(bucket: string, q: ObjectPageQuery): Promise<ObjectRecord[]> {
    const limit = Math.max(0, Math.min(Math.floor(q.limit), 10_000));
    const end = q.prefix === '' ? undefined : prefixEnd(q.prefix);
    // The larger of the prefix and `after` is the lower bound; exclusive only when it is `after`.
    const from = q.after !== undefined && compareKeys(q.after, q.prefix) >= 0 ? q.after : q.prefix;
    const op = from === q.after ? '>' : '>=';
    const rows = end === undefined
      ? this.#sql.all(`SELECT * FROM objects WHERE bucket = ? AND key ${op} ? ORDER BY key LIMIT ?`, bucket, from, limit)
      : this.#sql.all(`SELECT * FROM objects WHERE bucket = ? AND key ${op} ? AND key < ? ORDER BY key LIMIT ?`, bucket, from, end, limit);
    return rows.map(toObject);
  }

  async referencedBlobs(blobs: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < blobs.length; i += BLOB_BATCH) {
      const part = blobs.slice(i, i + BLOB_BATCH);
      for (const r of this.#sql.db.prepare(`SELECT blob FROM objects WHERE blob IN (${part.map(() => '?').join(', ')})`).all(...part) as Row[]) found.add(String(r.blob));
    }
    return found;
  }
}

function toBucket(r: Row): BucketRecord {
  return { name: String(r.name), app: String(r.app), objects: Number(r.objects), bytes: Number(r.bytes) };
}

function toObject(r: Row): ObjectRecord {
  return {
    bucket: String(r.bucket), key: String(r.key), blob: String(r.blob), size: Number(r.size), etag: String(r.etag), contentType: String(r.content_type),
    metadata: JSON.parse(String(r.metadata)) as Record<string, string>, lastModified: Number(r.last_modified), sequence: Number(r.sequence),
  };
}
