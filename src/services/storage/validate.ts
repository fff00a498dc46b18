// What callers may send along with object bytes — content type, user metadata, ETag conditions,
// expiry of presigned URLs — checked the same way for the admin API, presigned URLs and the SDK,
// each failure naming the field and what to send instead.
import { NimbusError } from '../../errors.ts';
import { PRESIGN_MAX_EXPIRY_S } from './presign.ts';

export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
export const CONTENT_TYPE_MAX_CHARS = 256;
/** S3's limit: user metadata names and values together, in bytes. */
export const METADATA_MAX_BYTES = 2048;
export const METADATA_HEADER_PREFIX = 'x-nimbus-meta-';
const METADATA_NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;
/** Values travel as HTTP header values, so they are printable ASCII (URL-encode anything else). */
const METADATA_VALUE = /^[\x20-\x7e]*$/;

function bad(message: string, rule: string): NimbusError {
  return new NimbusError('BAD_REQUEST', message, { details: { rule } });
}

/** The content type to store: the given one, or application/octet-stream when none is given. */
export function checkContentType(value: unknown): string {
  if (value === undefined || value === null || value === '') return DEFAULT_CONTENT_TYPE;
  if (typeof value !== 'string') throw bad('contentType: must be a string such as "image/png"', 'object/content-type');
  const v = value.trim();
  if (v.length > CONTENT_TYPE_MAX_CHARS) throw bad(`contentType: ${v.length} characters; at most ${CONTENT_TYPE_MAX_CHARS}`, 'object/content-type');
  if (!/^[\x20-\x7e]+$/.test(v)) throw bad('contentType: use printable ASCII only, such as "text/plain; charset=utf-8"', 'object/content-type');
  return v;
}

/** User metadata as stored: names lower-cased (HTTP headers ignore case), values printable ASCII, 2 KB in all. */
export function checkMetadata(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw bad('metadata: must be an object of names to string values, e.g. { "author": "ana" }', 'object/metadata');
  const out: Record<string, string> = {};
  let bytes = 0;
  for (const [rawName, v] of Object.entries(value as Record<string, unknown>)) {
    const name = rawName.toLowerCase();
    if (!METADATA_NAME.test(name)) {
      throw bad(`metadata: name ${JSON.stringify(rawName.slice(0, 64))} is not valid; use 1 to 128 letters, digits, ".", "_" and "-", starting with a letter or digit`, 'object/metadata');
    }
    if (Object.hasOwn(out, name)) throw bad(`metadata: "${name}" is given twice (names are not case-sensitive)`, 'object/metadata');
    if (typeof v !== 'string') throw bad(`metadata.${name}: must be a string, got ${v === null ? 'null' : typeof v}`, 'object/metadata');
    if (!METADATA_VALUE.test(v)) throw bad(`metadata.${name}: use printable ASCII only (metadata travels in HTTP headers); URL-encode other text, e.g. with encodeURIComponent`, 'object/metadata');
    out[name] = v;
    bytes += name.length + v.length;
  }
  if (bytes > METADATA_MAX_BYTES) throw bad(`metadata: ${bytes} bytes of names and values; the limit is ${METADATA_MAX_BYTES} bytes (2 KB)`, 'object/metadata');
  return out;
}

/** User metadata from `x-nimbus-meta-<name>` request headers. */
export function metadataFromHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const [name, v] of Object.entries(headers)) {
    if (!name.startsWith(METADATA_HEADER_PREFIX) || v === undefined) continue;
    meta[name.slice(METADATA_HEADER_PREFIX.length)] = Array.isArray(v) ? v.join(', ') : v;
  }
  return checkMetadata(meta);
}

/** An ETag as a caller may write it (`"abc"`, `abc`, `W/"abc"`), reduced to its hex. */
export function normalizeEtag(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw bad(`${field}: must be an ETag, such as "9a0364b9e99bb480dd25e1f0284c8555"`, 'object/etag');
  return value.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/** Does an If-Match / If-None-Match header (a list of ETags, or `*`) name `etag`? */
export function etagListMatches(header: string, etag: string): boolean {
  return header.split(',').some((t) => {
    const v = t.trim();
    return v === '*' || normalizeEtag(v, 'ETag') === etag;
  });
}

/** Seconds a presigned URL stays valid: whole seconds from 1 to seven days; 3600 when not given. */
export function checkExpiresIn(value: unknown): number {
  if (value === undefined || value === null) return 3600;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > PRESIGN_MAX_EXPIRY_S) {
    throw bad(`expiresIn: must be whole seconds from 1 to ${PRESIGN_MAX_EXPIRY_S} (seven days), got ${JSON.stringify(value)}`, 'presign/expiry');
  }
  return value;
}
