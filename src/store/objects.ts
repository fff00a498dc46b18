// The object storage metadata seam: buckets (declared by apps' manifests), one row per object
// (which blob holds its bytes, its size, ETag, content type, user metadata), and the storage
// triggers that turn object writes into function events. The bytes themselves sit in a BlobStore
// (src/services/storage/blobs.ts); nothing here reads or writes them.
//
// Every write that changes an object is one transaction that also writes the notifications it
// causes (`notify` is called inside it, and its deliveries are stored with the change), so an
// acknowledged write never loses its event and a failed one never sends one. Every change takes
// the next number of one store-wide sequence, which orders the events of one key (S3's sequencer).
import type { Delivery, StorageTriggerRecord } from './types.ts';

export interface BucketRecord {
  name: string;
  app: string;
  /** Objects in the bucket, and the sum of their sizes in bytes (kept up to date by every write). */
  objects: number;
  bytes: number;
}

export interface ObjectRecord {
  bucket: string;
  key: string;
  /** The BlobStore id holding the bytes: random, write-once, never shared by two rows. */
  blob: string;
  size: number;
  /** Hex MD5 of the bytes, unquoted. */
  etag: string;
  contentType: string;
  /** User metadata: lower-case names → printable ASCII values. */
  metadata: Record<string, string>;
  /** When the object was written (ms since the epoch). */
  lastModified: number;
  /** The store-wide sequence number of the write that made this version. */
  sequence: number;
}

/** An object version to store: everything but the sequence, which the store assigns. */
export type ObjectWrite = Omit<ObjectRecord, 'sequence' | 'lastModified'>;

/** Conditions checked inside the write's transaction; PRECONDITION_FAILED when one does not hold. */
export interface WriteConditions {
  /** Write only when no object has the key (If-None-Match: *). */
  ifNoneMatch?: boolean;
  /** Write only when the current object's ETag is this (hex, unquoted). */
  ifMatch?: string;
}

export interface PutObjectResult {
  record: ObjectRecord;
  /** The version this write replaced: its blob is the caller's to delete once this returns. */
  replaced: ObjectRecord | undefined;
  /** The notifications stored with the write (the caller wakes their consumers). */
  deliveries: Delivery[];
}

export interface DeleteObjectResult {
  /** The version deleted (its blob is the caller's to delete); undefined when there was none. */
  deleted: ObjectRecord | undefined;
  /** The delete's sequence number (0 when nothing was deleted). */
  sequence: number;
  deliveries: Delivery[];
}

/** A page query for ListObjectsV2 (listing.ts's PageSource shape). */
export interface ObjectPageQuery { prefix: string; after: string | undefined; limit: number }

/** Computes, inside the write's transaction, the notifications a change causes. Must not do I/O. */
export type PutNotifier = (record: ObjectRecord) => Delivery[];
export type DeleteNotifier = (deleted: ObjectRecord, sequence: number, now: number) => Delivery[];

export interface ObjectsStore {
  /** Every bucket with its owner and counts, by name. */
  listBuckets(): Promise<BucketRecord[]>;
  getBucket(name: string): Promise<BucketRecord | undefined>;
  listStorageTriggers(): Promise<StorageTriggerRecord[]>;

  getObject(bucket: string, key: string): Promise<ObjectRecord | undefined>;
  /**
   * Stores a version of an object, replacing any there, with its notifications, in one transaction.
   * BUCKET_NOT_FOUND when the bucket is gone; PRECONDITION_FAILED when a condition fails (nothing
   * is written then).
   */
  putObject(write: ObjectWrite, conditions: WriteConditions, now: number, notify: PutNotifier): Promise<PutObjectResult>;
  /** Deletes an object (if there is one) with its notifications, in one transaction. BUCKET_NOT_FOUND when the bucket is gone. */
  deleteObject(bucket: string, key: string, now: number, notify: DeleteNotifier): Promise<DeleteObjectResult>;
  /** Up to `limit` objects of `bucket` whose keys start with `prefix` and sort after `after`, in UTF-8 byte order. */
  listObjects(bucket: string, query: ObjectPageQuery): Promise<ObjectRecord[]>;
  /** Which of `blobs` some object row refers to (for sweeping blobs a crash left unreferenced). */
  referencedBlobs(blobs: string[]): Promise<Set<string>>;
}
