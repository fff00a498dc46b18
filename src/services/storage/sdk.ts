// Object storage for function code (`storage.bucket(name)` in nimbus/sdk): the operations the SDK
// host runs once it has checked the grants each declares. Arguments come from untrusted code over
// the instance's IPC channel (JSON: bytes travel as base64, `bodyBase64`), so every one
// is checked here; bodies are capped at SDK_MAX_OBJECT_BYTES (bigger objects go by presigned URL).
import { NimbusError } from '../../errors.ts';
import { objectView as view } from './api.ts';
import type { Grant, SdkOp } from '../../invoker/sdk-op.ts';
import type { ByteRange } from './range.ts';
import type { StorageService } from './service.ts';

type Args = Record<string, unknown>;

function bad(message: string): NimbusError {
  return new NimbusError('BAD_REQUEST', message);
}

function bucketArg(a: Args, field = 'bucket'): string {
  const v = a[field];
  if (typeof v !== 'string' || v === '') throw bad(`${field}: a bucket name is required, e.g. storage.bucket('uploads')`);
  return v;
}

function keyArg(a: Args, field = 'key'): string {
  const v = a[field];
  if (typeof v !== 'string') throw new NimbusError('INVALID_OBJECT_KEY', `${field}: an object key (a string of 1 to 1024 bytes) is required`);
  return v;
}

function optString(a: Args, field: string): string | undefined {
  const v = a[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`${field}: must be a string`);
  return v;
}

function rangeArg(v: unknown): ByteRange | undefined {
  if (v === undefined || v === null) return undefined;
  const r = v as { start?: unknown; end?: unknown };
  if (typeof v !== 'object' || typeof r.start !== 'number' || (r.end !== undefined && typeof r.end !== 'number')) {
    throw bad('range: use { start, end } in bytes, end inclusive and optional, e.g. { start: 0, end: 1023 }');
  }
  return { start: r.start, end: r.end as number | undefined };
}

function optInt(a: Args, field: string): number | undefined {
  const v = a[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`${field}: must be a whole number from 0`);
  return v;
}

const read = (name: string): Grant => ({ kind: 'buckets', name, right: 'read' });
const write = (name: string): Grant => ({ kind: 'buckets', name, right: 'write' });

/** An object as the SDK returns it (lastModified as ISO text; the SDK makes it a Date). */
export function storageSdkOps(svc: StorageService): Record<string, SdkOp> {
  return {
    'storage.put': {
      needs: (a) => [write(bucketArg(a))],
      run: async (a, fn, call) => {
        const body = typeof a.bodyBase64 === 'string' ? Buffer.from(a.bodyBase64, 'base64') : a.body;
        if (typeof body !== 'string' && !(body instanceof Uint8Array)) throw bad('body: must be a string or a Uint8Array (a Buffer is one)');
        const inm = a.ifNoneMatch;
        if (inm !== undefined && inm !== null && inm !== true && inm !== false && inm !== '*') throw bad('ifNoneMatch: true (or "*") writes only when the key is free');
        const info = await svc.putBytes(bucketArg(a), keyArg(a), body, {
          contentType: a.contentType, metadata: a.metadata, ifNoneMatch: inm === true || inm === '*', ifMatch: optString(a, 'ifMatch'), principal: fn.name, trace: call.trace,
        });
        return view(info);
      },
    },
    'storage.get': {
      needs: (a) => [read(bucketArg(a))],
      run: async (a) => {
        const got = await svc.getBytes(bucketArg(a), keyArg(a), rangeArg(a.range));
        if (!got) return null;
        return { ...view(got.info), bodyBase64: Buffer.from(got.body.buffer, got.body.byteOffset, got.body.byteLength).toString('base64'), ...(got.range ? { range: got.range } : {}) };
      },
    },
    'storage.head': {
      needs: (a) => [read(bucketArg(a))],
      run: async (a) => {
        try {
          return view(await svc.head(bucketArg(a), keyArg(a)));
        } catch (err) {
          if ((err as { code?: string }).code === 'OBJECT_NOT_FOUND') return null;
          throw err;
        }
      },
    },
    'storage.delete': {
      needs: (a) => [write(bucketArg(a))],
      run: async (a, fn, call) => ({ deleted: await svc.delete(bucketArg(a), keyArg(a), { principal: fn.name, trace: call.trace }) }),
    },
    'storage.list': {
      needs: (a) => [read(bucketArg(a))],
      run: async (a) => {
        const page = await svc.list(bucketArg(a), {
          prefix: optString(a, 'prefix'), delimiter: optString(a, 'delimiter'), maxKeys: optInt(a, 'maxKeys'),
          continuationToken: optString(a, 'continuationToken'), startAfter: optString(a, 'startAfter'),
        });
        return {
          contents: page.contents.map((o) => ({ key: o.key, size: o.size, etag: o.etag, lastModified: new Date(o.lastModified).toISOString() })),
          commonPrefixes: page.commonPrefixes, keyCount: page.keyCount, isTruncated: page.isTruncated,
          ...(page.nextContinuationToken ? { nextContinuationToken: page.nextContinuationToken } : {}),
        };
      },
    },
    'storage.copy': {
      // Reads the source, writes the target.
      needs: (a) => [read(bucketArg(a)), write(a.toBucket === undefined || a.toBucket === null ? bucketArg(a) : bucketArg(a, 'toBucket'))],
      run: async (a, fn, call) => {
        const bucket = bucketArg(a);
        const toBucket = a.toBucket === undefined || a.toBucket === null ? bucket : bucketArg(a, 'toBucket');
        const replace = a.contentType !== undefined || a.metadata !== undefined ? { contentType: a.contentType, metadata: a.metadata } : undefined;
        const info = await svc.copy({ bucket, key: keyArg(a) }, { bucket: toBucket, key: keyArg(a, 'toKey') }, { replace, ifSourceMatch: optString(a, 'ifMatch'), principal: fn.name, trace: call.trace });
        return view(info);
      },
    },
    'storage.presign': {
      // A URL hands the right on to whoever holds it: the caller must hold that right itself.
      needs: (a) => [a.method === 'PUT' ? write(bucketArg(a)) : read(bucketArg(a))],
      run: async (a) => svc.presign(bucketArg(a), keyArg(a), { method: a.method ?? 'GET', expiresIn: a.expiresIn, contentType: a.contentType }),
    },
  };
}
