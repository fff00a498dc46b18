// Types of object storage in the Nimbus runtime SDK (`import { storage } from 'nimbus/sdk'`).

/** What an object is, without its bytes. */
export interface ObjectInfo {
  bucket: string;
  key: string;
  /** Bytes. */
  size: number;
  /** Hex MD5 of the bytes (unquoted). */
  etag: string;
  contentType: string;
  /** User metadata: lower-case names, printable ASCII values. */
  metadata: Record<string, string>;
  lastModified: Date;
}

/** An object with its bytes (or the range asked for). */
export interface StoredObject extends ObjectInfo {
  body: Uint8Array;
  /** Present when a range was asked for: the bytes returned, both ends inclusive. */
  range?: { start: number; end: number };
  /** The body decoded as UTF-8. */
  text(): string;
  /** The body parsed as JSON. */
  json<T = unknown>(): T;
}

export interface PutOptions {
  /** Default application/octet-stream. */
  contentType?: string;
  /** Names of letters, digits, ".", "_" and "-"; printable ASCII values; 2 KB in all. */
  metadata?: Record<string, string>;
  /** Write only when the key is free (PRECONDITION_FAILED otherwise). */
  ifNoneMatch?: boolean;
  /** Write only when the current object's ETag is this (optimistic concurrency). */
  ifMatch?: string;
}

export interface ListOptions {
  prefix?: string;
  /** Keys sharing the part up to the next delimiter roll up into `commonPrefixes` ("/" lists one level). */
  delimiter?: string;
  /** 1 to 1000 (default 1000). */
  maxKeys?: number;
  continuationToken?: string;
  startAfter?: string;
}

export interface ListedObject { key: string; size: number; etag: string; lastModified: Date }

export interface ListResult {
  contents: ListedObject[];
  commonPrefixes: string[];
  keyCount: number;
  isTruncated: boolean;
  /** Present when isTruncated: pass it back as continuationToken. */
  nextContinuationToken?: string;
}

export interface CopyOptions {
  /** Copy into another bucket (needs write there; read on this one). */
  toBucket?: string;
  /** Giving contentType or metadata replaces both; otherwise the source's are kept. */
  contentType?: string;
  metadata?: Record<string, string>;
  /** Copy only when the source's ETag is this. */
  ifMatch?: string;
}

export interface PresignOptions {
  /** GET (download, needs read) or PUT (upload, needs write). Default GET. */
  method?: 'GET' | 'PUT';
  /** Seconds, 1 to 604800 (seven days). Default 3600. */
  expiresIn?: number;
  /** PUT only: the upload must send exactly this Content-Type. */
  contentType?: string;
}

export interface Bucket {
  readonly name: string;
  put(key: string, body: string | Uint8Array, options?: PutOptions): Promise<ObjectInfo>;
  get(key: string, options?: { range?: { start: number; end?: number } }): Promise<StoredObject | null>;
  head(key: string): Promise<ObjectInfo | null>;
  delete(key: string): Promise<boolean>;
  list(options?: ListOptions): Promise<ListResult>;
  all(options?: { prefix?: string }): AsyncGenerator<ListedObject>;
  copy(key: string, toKey: string, options?: CopyOptions): Promise<ObjectInfo>;
  presign(key: string, options?: PresignOptions): Promise<{ url: string; method: 'GET' | 'PUT'; expiresAt: Date }>;
}

export declare const storage: {
  /** A bucket declared under `buckets:` in a manifest. */
  bucket(name: string): Bucket;
};
