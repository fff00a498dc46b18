// Names in object storage: bucket names (S3's rules) and object keys (S3's rules, plus two of our
// own), each check naming the rule it breaks, and the order keys sort in.
//
// ## Keys never become paths
//
// A key is never used to build a file name. Object bytes live in the blob store (blobs.ts) under a
// random, content-independent id (`newBlobId()`: 128 random bits, lowercase hex) that the metadata
// row of the object points to; the blob store refuses any id that is not such a string. So no key —
// "../../etc/passwd", "a/../../b", "C:\\x", a NUL, 1024 bytes of "/" — can name a file outside the
// store, whatever the file system. Buckets have no directory of their own either.
//
// Why not the sha256 of the key as the file name (also safe)? Because a random id per write makes
// blobs write-once: an overwrite writes a new blob and then switches the metadata row to it in one
// transaction, so a reader that got the old row still streams the old bytes to the end (its ETag and
// Content-Length stay true), two concurrent puts to one key cannot interleave on disk, and a crash
// between the blob write and the metadata commit leaves an unreferenced blob to sweep, never a row
// whose bytes are another write's. A copy can then be a hard link. The cost is a sweep of
// unreferenced blobs (`BlobStore.ids()` against the metadata), which a crash makes necessary anyway.
//
// ## Rules beyond S3's
//
// S3 accepts any UTF-8 key of 1 to 1024 bytes. Nimbus also refuses:
// - control characters (U+0000–U+001F, U+007F–U+009F): they break logs, headers and the event's
//   URL-encoded key, and S3 itself advises against them;
// - "." and ".." as a path segment (between "/" or "\" separators): browsers and `fetch` resolve
//   them (even as %2E%2E) before a request leaves, so such a key could not be reached through a
//   presigned or gateway URL, and tools that mirror a bucket to a disk would write outside it.
// Keys must also be well-formed Unicode (no lone surrogates), since they are stored as UTF-8.
import { NimbusError } from '../../errors.ts';

export const BUCKET_NAME_MIN_CHARS = 3;
export const BUCKET_NAME_MAX_CHARS = 63;
export const OBJECT_KEY_MAX_BYTES = 1024;

export type BucketNameRule =
  | 'length' | 'characters' | 'start-end' | 'adjacent-periods' | 'label' | 'ip-address' | 'reserved-prefix' | 'reserved-suffix';
export type ObjectKeyRule = 'empty' | 'too-long' | 'not-well-formed' | 'control-character' | 'dot-segment';
export interface Problem<R extends string> { rule: R; message: string }

/** Prefixes and suffixes S3 keeps for its own bucket kinds (access points, directory buckets, ...). */
const RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
const RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];

/** What is wrong with a bucket name, or undefined when S3 would accept it. */
export function bucketNameProblem(name: string): Problem<BucketNameRule> | undefined {
  if (typeof name !== 'string') return { rule: 'characters', message: 'the bucket name must be a string' };
  const q = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
  const p = (rule: BucketNameRule, why: string): Problem<BucketNameRule> => ({ rule, message: `bucket name ${q} ${why}` });
  if (name.length < BUCKET_NAME_MIN_CHARS || name.length > BUCKET_NAME_MAX_CHARS) {
    return p('length', `is ${name.length} characters; bucket names are ${BUCKET_NAME_MIN_CHARS} to ${BUCKET_NAME_MAX_CHARS} characters`);
  }
  const bad = /[^a-z0-9.-]/.exec(name);
  if (bad) return p('characters', `contains ${JSON.stringify(bad[0])}; bucket names use lower-case letters, digits, "." and "-"`);
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return p('start-end', 'must begin and end with a lower-case letter or a digit');
  if (name.includes('..')) return p('adjacent-periods', 'has two periods in a row');
  // Each dot-separated label is a DNS label, so the name works as a host name (virtual-hosted URLs).
  if (name.includes('.-') || name.includes('-.')) return p('label', 'has a "-" next to a "."; each part between periods must begin and end with a letter or a digit');
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return p('ip-address', 'is formatted as an IP address');
  const prefix = RESERVED_PREFIXES.find((x) => name.startsWith(x));
  if (prefix) return p('reserved-prefix', `begins with "${prefix}", which S3 reserves`);
  const suffix = RESERVED_SUFFIXES.find((x) => name.endsWith(x));
  if (suffix) return p('reserved-suffix', `ends with "${suffix}", which S3 reserves`);
  return undefined;
}

/** What is wrong with an object key, or undefined when it is a valid key. */
export function objectKeyProblem(key: string): Problem<ObjectKeyRule> | undefined {
  if (typeof key !== 'string' || key.length === 0) return { rule: 'empty', message: 'the object key is empty; keys are 1 to 1024 bytes of UTF-8' };
  const shown = JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key);
  if (!key.isWellFormed()) return { rule: 'not-well-formed', message: `object key ${shown} has a lone UTF-16 surrogate, which has no UTF-8 form` };
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > OBJECT_KEY_MAX_BYTES) return { rule: 'too-long', message: `object key ${shown} is ${bytes} bytes in UTF-8; keys are 1 to ${OBJECT_KEY_MAX_BYTES} bytes` };
  const control = /\p{Cc}/u.exec(key);
  if (control) {
    const cp = `U+${control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    return { rule: 'control-character', message: `object key ${shown} has the control character ${cp} at index ${control.index}; keys may not hold control characters` };
  }
  for (const segment of key.split(/[/\\]/)) {
    if (segment === '.' || segment === '..') {
      return { rule: 'dot-segment', message: `object key ${shown} has "${segment}" as a path segment; URLs resolve those, so the key could not be reached` };
    }
  }
  return undefined;
}

/** Throws INVALID_BUCKET_NAME naming the rule (details.rule) when the bucket name is not valid. */
export function assertBucketName(name: string): void {
  const p = bucketNameProblem(name);
  if (p) throw new NimbusError('INVALID_BUCKET_NAME', p.message, { details: { rule: `bucket-name/${p.rule}` } });
}

/** Throws INVALID_OBJECT_KEY naming the rule (details.rule) when the object key is not valid. */
export function assertObjectKey(key: string): void {
  const p = objectKeyProblem(key);
  if (p) throw new NimbusError('INVALID_OBJECT_KEY', p.message, { details: { rule: `object-key/${p.rule}` } });
}

/**
 * Orders keys as S3 lists them: by their UTF-8 bytes, which is code point order. JavaScript's `<`
 * compares UTF-16 code units, which differs when a character above U+FFFF meets one in
 * U+E000–U+FFFF. SQLite (BINARY) and PostgreSQL (COLLATE "C") compare UTF-8 bytes, so this is the
 * order the stores return keys in.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (D800–DFFF) encode code points above FFFF: move them above E000–FFFF.
    if (x >= 0xd800) x += x <= 0xdfff ? 0x2000 : -0x800;
    if (y >= 0xd800) y += y <= 0xdfff ? 0x2000 : -0x800;
    return x - y;
  }
  return a.length - b.length;
}
