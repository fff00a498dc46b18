// @ts-check
// Object storage for function code: `storage.bucket(name)` from `nimbus/sdk`. Each call goes to the
// host over the runtime's bridge; the host checks the function's `permissions: { buckets: ... }`
// (read for get/head/list and GET URLs, write for put/delete/copy targets and PUT URLs) and answers
// ACCESS_DENIED otherwise. Errors carry the platform's code as `name` and `code`.
//
// One call moves at most 6 MB of object bytes (they cross the instance's IPC channel whole); read
// bigger objects in ranges, and hand out presigned URLs to upload or download them directly.

import { Buffer } from 'node:buffer';
import { bridge } from './bridge.mjs';

const SDK_MAX_BYTES = 6 * 1024 * 1024;

/** @param {any} o */
function info(o) {
  return { ...o, lastModified: new Date(o.lastModified) };
}

const decoder = new TextDecoder();

/**
 * @param {any} o
 * @returns {import('./storage.d.ts').StoredObject}
 */
function withBody(o) {
  // Bytes cross the runtime's channel (JSON) as base64.
  const { bodyBase64, ...rest } = o;
  const raw = typeof bodyBase64 === 'string' ? Buffer.from(bodyBase64, 'base64') : undefined;
  const body = raw ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) : new Uint8Array(0);
  return {
    ...info(rest),
    body,
    text() { return decoder.decode(body); },
    json() { return JSON.parse(decoder.decode(body)); },
  };
}

class Bucket {
  /** @param {string} name */
  constructor(name) {
    /** The bucket's name. */
    this.name = name;
  }

  /**
   * Stores an object (at most 6 MB through the SDK); resolves once it is durable.
   * @param {string} key
   * @param {string | Uint8Array} body a string is stored as its UTF-8 bytes
   * @param {import('./storage.d.ts').PutOptions} [options]
   * @returns {Promise<import('./storage.d.ts').ObjectInfo>}
   */
  async put(key, body, options = {}) {
    const { contentType, metadata, ifNoneMatch, ifMatch } = options;
    // Refused here, before the bytes cross the channel (the host refuses them too).
    const size = typeof body === 'string' ? new TextEncoder().encode(body).byteLength : body?.byteLength;
    if (typeof size === 'number' && size > SDK_MAX_BYTES) {
      throw Object.assign(new Error(`the object is ${size} bytes; one SDK call moves at most ${SDK_MAX_BYTES} (6 MB): hand out a presigned PUT URL for bigger objects`), { name: 'ENTITY_TOO_LARGE', code: 'ENTITY_TOO_LARGE' });
    }
    // Bytes cross the runtime's channel (JSON) as base64; a string goes as it is.
    const bytes = body instanceof Uint8Array ? { bodyBase64: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64') } : { body };
    return info(await bridge().call('storage.put', { bucket: this.name, key, ...bytes, contentType, metadata, ifNoneMatch, ifMatch }));
  }

  /**
   * The object's bytes (or a range of them) with its metadata; null when there is no such key.
   * @param {string} key
   * @param {{ range?: { start: number, end?: number } }} [options] end inclusive, as in HTTP
   * @returns {Promise<import('./storage.d.ts').StoredObject | null>}
   */
  async get(key, options = {}) {
    const o = await bridge().call('storage.get', { bucket: this.name, key, range: options.range });
    return o === null ? null : withBody(o);
  }

  /**
   * The object's size, ETag, content type and metadata without its bytes; null when missing.
   * @param {string} key
   * @returns {Promise<import('./storage.d.ts').ObjectInfo | null>}
   */
  async head(key) {
    const o = await bridge().call('storage.head', { bucket: this.name, key });
    return o === null ? null : info(o);
  }

  /**
   * Deletes the object; true when there was one (a missing key is not an error, as in S3).
   * @param {string} key
   * @returns {Promise<boolean>}
   */
  async delete(key) {
    return (await bridge().call('storage.delete', { bucket: this.name, key })).deleted;
  }

  /**
   * One page of keys (up to 1000), in UTF-8 byte order; pass nextContinuationToken back for more.
   * @param {import('./storage.d.ts').ListOptions} [options]
   * @returns {Promise<import('./storage.d.ts').ListResult>}
   */
  async list(options = {}) {
    const { prefix, delimiter, maxKeys, continuationToken, startAfter } = options;
    const page = await bridge().call('storage.list', { bucket: this.name, prefix, delimiter, maxKeys, continuationToken, startAfter });
    return { ...page, contents: page.contents.map(info) };
  }

  /**
   * Every object under a prefix, page after page.
   * @param {{ prefix?: string }} [options]
   * @returns {AsyncGenerator<import('./storage.d.ts').ListedObject>}
   */
  async *all(options = {}) {
    let continuationToken;
    do {
      const page = await this.list({ prefix: options.prefix, continuationToken });
      yield* page.contents;
      continuationToken = page.nextContinuationToken;
    } while (continuationToken);
  }

  /**
   * Copies `key` to `toKey` (in this bucket, or in `toBucket`), without moving bytes through the
   * function. The copy keeps the source's content type and metadata unless you give new ones.
   * @param {string} key
   * @param {string} toKey
   * @param {import('./storage.d.ts').CopyOptions} [options]
   * @returns {Promise<import('./storage.d.ts').ObjectInfo>}
   */
  async copy(key, toKey, options = {}) {
    const { toBucket, contentType, metadata, ifMatch } = options;
    return info(await bridge().call('storage.copy', { bucket: this.name, key, toBucket, toKey, contentType, metadata, ifMatch }));
  }

  /**
   * A URL that lets anyone holding it download (GET, the default) or upload (PUT) this one key
   * until it expires (expiresIn seconds, default 3600, at most 604800).
   * @param {string} key
   * @param {import('./storage.d.ts').PresignOptions} [options]
   * @returns {Promise<{ url: string, method: 'GET' | 'PUT', expiresAt: Date }>}
   */
  async presign(key, options = {}) {
    const { method, expiresIn, contentType } = options;
    const p = await bridge().call('storage.presign', { bucket: this.name, key, method, expiresIn, contentType });
    return { ...p, expiresAt: new Date(p.expiresAt) };
  }
}

export const storage = {
  /**
   * A bucket declared under `buckets:` in a manifest; nothing is checked until the first call.
   * @param {string} name
   * @returns {Bucket}
   */
  bucket(name) {
    return new Bucket(name);
  },
};
