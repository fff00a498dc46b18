// Presigned URLs: a capability to GET (download) or PUT (upload) one object, until a set time,
// handed to a client that holds no credentials (a browser uploading straight to storage through the
// gateway). The URL carries its own expiry and an HMAC over everything it grants; the server keeps
// no state per URL.
//
// ## Format
//
//   /_nimbus/storage/<bucket>/<key, percent-encoded, "/" kept>?X-Nimbus-Date=<t>&X-Nimbus-Expires=<s>
//     [&X-Nimbus-Content-Type=<type>]&X-Nimbus-Signature=<hex>
//
// `<t>` is when it was signed (whole seconds since the Unix epoch), `<s>` how many seconds it is
// valid from then (1 to 604800, seven days, as S3). `<hex>` is the lowercase hex HMAC-SHA256, keyed
// with the secret's UTF-8 bytes, of the UTF-8 text
//
//   JSON.stringify(["nimbus-presign-v1", method, bucket, key, t, s, contentType])
//
// where method is "GET" or "PUT", key is the object key as stored (not encoded), t and s are
// numbers and contentType is the bound content type or null. Test vector: secret `presign_test`,
// GET of `photos/cat 1.jpg` in `my-bucket`, t=1700000000, s=3600, no content type, gives
// `X-Nimbus-Signature=1779f7e74cfd42b5d365b5e89115721f8a32fdde22974f688286ca2882393a58`.
//
// ## Checks, in order
//
// 1. All parameters present and well-formed; `<s>` at most seven days.
// 2. The signature, compared in constant time, for the request's method (HEAD counts as GET: it
//    reveals less than the GET the URL allows), bucket and key. A URL signed for the other method
//    fails with reason "method".
// 3. Not before `<t>` (less 300 s of clock skew between signer and server), not at or after `<t> + <s>`.
// 4. A PUT URL with a bound content type only accepts a request whose Content-Type is exactly it.
//
// With several secrets (rotation), a signature made with any of them verifies.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { NimbusError } from '../../errors.ts';
import { assertBucketName, assertObjectKey } from './keys.ts';

export const PRESIGN_MAX_EXPIRY_S = 7 * 24 * 3600;
export const PRESIGN_CLOCK_SKEW_S = 300;
export const OBJECT_PATH_PREFIX = '/_nimbus/storage/';
export const PRESIGN_PARAMS = {
  date: 'X-Nimbus-Date',
  expires: 'X-Nimbus-Expires',
  contentType: 'X-Nimbus-Content-Type',
  signature: 'X-Nimbus-Signature',
} as const;

export type PresignMethod = 'GET' | 'PUT';

export interface PresignInput {
  secret: string;
  method: PresignMethod;
  bucket: string;
  key: string;
  /** When the URL stops working; at most seven days after `nowMs`. */
  expiresAtMs: number;
  /** PUT only: the upload must send exactly this Content-Type. */
  contentType?: string;
  nowMs?: number;
}

export interface Presigned {
  /** The object's path on the gateway. */
  path: string;
  query: Record<string, string>;
  /** path?query: prefix it with the server's origin. */
  url: string;
  /** When it expires: the requested time, down to the whole second. */
  expiresAtMs: number;
}

/** The path of an object on the gateway: each key segment percent-encoded, "/" kept as it is. */
export function objectPath(bucket: string, key: string): string {
  return `${OBJECT_PATH_PREFIX}${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** The bucket and key a gateway path names, or undefined when it names no object. */
export function parseObjectPath(pathname: string): { bucket: string; key: string } | undefined {
  if (!pathname.startsWith(OBJECT_PATH_PREFIX)) return undefined;
  const rest = pathname.slice(OBJECT_PATH_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  try {
    return { bucket: decodeURIComponent(rest.slice(0, slash)), key: decodeURIComponent(rest.slice(slash + 1)) };
  } catch {
    return undefined; // a malformed %-escape
  }
}

function sign(secret: string, method: PresignMethod, bucket: string, key: string, t: number, s: number, contentType: string | null): string {
  return createHmac('sha256', secret).update(JSON.stringify(['nimbus-presign-v1', method, bucket, key, t, s, contentType]), 'utf8').digest('hex');
}

/** Signs a URL for one method on one object until `expiresAtMs`. */
export function presign(input: PresignInput): Presigned {
  const { secret, method, bucket, key, contentType } = input;
  const nowMs = input.nowMs ?? Date.now();
  if (typeof secret !== 'string' || secret === '') throw new TypeError('presign: the secret must be a non-empty string');
  if (method !== 'GET' && method !== 'PUT') throw new NimbusError('BAD_REQUEST', `a presigned URL is for GET or PUT, not ${JSON.stringify(method)}`, { details: { rule: 'presign/method' } });
  assertBucketName(bucket);
  assertObjectKey(key);
  if (contentType !== undefined && (method !== 'PUT' || contentType === '' || /[\u0000-\u001f\u007f]/.test(contentType))) {
    throw new NimbusError('BAD_REQUEST', 'a content type can be bound to a PUT URL only, and must be non-empty text without control characters', { details: { rule: 'presign/content-type' } });
  }
  const t = Math.floor(nowMs / 1000);
  const s = Math.floor(input.expiresAtMs / 1000) - t;
  if (!Number.isFinite(input.expiresAtMs) || s < 1 || s > PRESIGN_MAX_EXPIRY_S) {
    throw new NimbusError('BAD_REQUEST', `a presigned URL expires 1 s to ${PRESIGN_MAX_EXPIRY_S} s (seven days) from now; asked for ${Number.isFinite(s) ? `${s} s` : String(input.expiresAtMs)}`, { details: { rule: 'presign/expiry' } });
  }
  const query: Record<string, string> = { [PRESIGN_PARAMS.date]: String(t), [PRESIGN_PARAMS.expires]: String(s) };
  if (contentType !== undefined) query[PRESIGN_PARAMS.contentType] = contentType;
  query[PRESIGN_PARAMS.signature] = sign(secret, method, bucket, key, t, s, contentType ?? null);
  const path = objectPath(bucket, key);
  return { path, query, url: `${path}?${new URLSearchParams(query).toString()}`, expiresAtMs: (t + s) * 1000 };
}

export interface VerifyInput {
  secret: string | readonly string[];
  /** The request's method: GET, HEAD or PUT. */
  method: string;
  bucket: string;
  key: string;
  /** The request's query: a URLSearchParams, or a parsed record (Node's querystring shape). */
  query: URLSearchParams | Record<string, string | string[] | undefined>;
  /** The request's Content-Type header, for a PUT. */
  contentType?: string | undefined;
  nowMs?: number;
}

export type VerifyFailure = 'missing' | 'malformed' | 'mismatch' | 'method' | 'expired' | 'not-yet-valid' | 'content-type';
export type VerifyResult =
  | { ok: true; method: PresignMethod; expiresAtMs: number }
  | { ok: false; reason: VerifyFailure; message: string };

function param(query: VerifyInput['query'], name: string): string | string[] | undefined {
  return query instanceof URLSearchParams ? (query.getAll(name).length > 1 ? query.getAll(name) : query.get(name) ?? undefined) : query[name];
}

/** Checks a presigned request (see the header for the order of checks). Never throws on bad input. */
export function verifyPresigned(input: VerifyInput): VerifyResult {
  const fail = (reason: VerifyFailure, message: string): VerifyResult => ({ ok: false, reason, message });
  const raw = {
    t: param(input.query, PRESIGN_PARAMS.date),
    s: param(input.query, PRESIGN_PARAMS.expires),
    ct: param(input.query, PRESIGN_PARAMS.contentType),
    sig: param(input.query, PRESIGN_PARAMS.signature),
  };
  if (raw.sig === undefined || raw.t === undefined || raw.s === undefined) {
    return fail('missing', `a presigned URL needs ${PRESIGN_PARAMS.date}, ${PRESIGN_PARAMS.expires} and ${PRESIGN_PARAMS.signature}`);
  }
  if (Array.isArray(raw.sig) || Array.isArray(raw.t) || Array.isArray(raw.s) || Array.isArray(raw.ct)) return fail('malformed', 'a presigned URL parameter appears twice');
  if (!/^[0-9a-f]{64}$/.test(raw.sig)) return fail('malformed', `${PRESIGN_PARAMS.signature} must be 64 lowercase hex digits`);
  if (!/^\d{1,12}$/.test(raw.t)) return fail('malformed', `${PRESIGN_PARAMS.date} must be whole seconds since the epoch`);
  if (!/^\d{1,7}$/.test(raw.s) || Number(raw.s) < 1 || Number(raw.s) > PRESIGN_MAX_EXPIRY_S) {
    return fail('malformed', `${PRESIGN_PARAMS.expires} must be 1 to ${PRESIGN_MAX_EXPIRY_S} seconds (seven days)`);
  }
  const t = Number(raw.t);
  const s = Number(raw.s);
  const ct = raw.ct ?? null;
  const asked = input.method.toUpperCase();
  const method: PresignMethod | undefined = asked === 'GET' || asked === 'HEAD' ? 'GET' : asked === 'PUT' ? 'PUT' : undefined;
  if (method === undefined) return fail('method', `a presigned URL allows GET, HEAD or PUT, not ${asked}`);

  const given = Buffer.from(raw.sig, 'hex');
  const secrets = (typeof input.secret === 'string' ? [input.secret] : [...input.secret]).filter((x) => typeof x === 'string' && x !== '');
  const matches = (m: PresignMethod): boolean => {
    // Compare against every secret, so the time taken does not say which one matched.
    let ok = false;
    for (const secret of secrets) ok = timingSafeEqual(Buffer.from(sign(secret, m, input.bucket, input.key, t, s, ct), 'hex'), given) || ok;
    return ok;
  };
  if (!matches(method)) {
    const other: PresignMethod = method === 'GET' ? 'PUT' : 'GET';
    if (matches(other)) return fail('method', `this URL is signed for ${other}, not ${asked}`);
    return fail('mismatch', 'the signature does not match this object and these parameters');
  }
  const nowS = (input.nowMs ?? Date.now()) / 1000;
  if (nowS < t - PRESIGN_CLOCK_SKEW_S) return fail('not-yet-valid', `signed ${Math.round(t - nowS)} s in the future; clocks may differ by at most ${PRESIGN_CLOCK_SKEW_S} s`);
  if (nowS >= t + s) return fail('expired', `expired ${Math.round(nowS - t - s)} s ago`);
  if (method === 'PUT' && ct !== null && (input.contentType ?? '').trim() !== ct) {
    return fail('content-type', `this URL uploads Content-Type ${JSON.stringify(ct)} only; the request sent ${input.contentType === undefined ? 'none' : JSON.stringify(input.contentType)}`);
  }
  return { ok: true, method, expiresAtMs: (t + s) * 1000 };
}

/** verifyPresigned, throwing PRESIGNED_URL_INVALID (403, as S3) with the reason when the request fails. */
export function assertPresigned(input: VerifyInput): { method: PresignMethod; expiresAtMs: number } {
  const r = verifyPresigned(input);
  if (!r.ok) throw new NimbusError('PRESIGNED_URL_INVALID', `presigned URL refused: ${r.message}`, { details: { rule: `presign/${r.reason}` } });
  return { method: r.method, expiresAtMs: r.expiresAtMs };
}
