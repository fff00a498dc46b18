// ListObjectsV2 semantics over keys the metadata store yields in order: prefix, delimiter (keys that
// share the part up to the next delimiter after the prefix roll up into one CommonPrefix), max-keys
// (contents and common prefixes both count), start-after and an opaque continuation token. Pure:
// the store supplies entries, this decides what one page of the listing is.
//
// The store supplies entries in one of two ways:
// - a `PageSource`, called with { prefix, after, limit }, returns up to `limit` entries whose keys
//   start with `prefix` and sort after `after`, ascending; fewer than `limit` means there are no
//   more. Being asked again with a later `after` lets the listing jump over a rolled-up prefix
//   (a million keys under "photos/" cost one query, not a million rows);
// - or any array, iterable or async iterable of entries in ascending order (a page already read,
//   or a cursor): read from the start, stopped early (its `return()` is called) once the page is full.
// "Ascending" is compareKeys order (UTF-8 bytes), which is what SQLite's BINARY and PostgreSQL's
// COLLATE "C" give; entries out of order are a store bug and fail loudly rather than list wrong.
//
// Where S3 leaves room, Nimbus chooses: max-keys above 1000 lists 1000; max-keys 0 lists nothing
// and is not truncated; a continuation token is bound to the prefix and delimiter it was made for
// (another listing's token is a 400, not a silent skip); with both a token and start-after, the
// token decides where the page starts.
import { createHash } from 'node:crypto';
import { NimbusError } from '../../errors.ts';
import { compareKeys } from './keys.ts';

export const LIST_MAX_KEYS = 1000;
/** Above every code point: `cp + KEY_AFTER_ALL` sorts after every key that starts with `cp` but one with U+10FFFF next, which is filtered. */
const KEY_AFTER_ALL = '\u{10FFFF}';

export type Entry = string | { key: string };

export interface ListParams {
  prefix?: string;
  delimiter?: string;
  maxKeys?: number;
  continuationToken?: string;
  startAfter?: string;
}

export interface ListPage<T extends Entry> {
  contents: T[];
  commonPrefixes: string[];
  /** contents + commonPrefixes, as S3's KeyCount. */
  keyCount: number;
  isTruncated: boolean;
  /** Present when isTruncated: pass it back to get the next page. */
  nextContinuationToken?: string;
  prefix: string;
  delimiter: string;
  maxKeys: number;
}

export interface PageQuery { prefix: string; after: string | undefined; limit: number }
export type PageSource<T extends Entry> = (query: PageQuery) => Promise<readonly T[]> | readonly T[];
export type EntrySource<T extends Entry> = PageSource<T> | Iterable<T> | AsyncIterable<T>;

const keyOf = (e: Entry): string => (typeof e === 'string' ? e : e.key);
const later = (a: string | undefined, b: string | undefined): string | undefined =>
  a === undefined ? b : b === undefined ? a : compareKeys(a, b) >= 0 ? a : b;

function badRequest(rule: string, message: string): NimbusError {
  return new NimbusError('BAD_REQUEST', message, { details: { rule: `list/${rule}` } });
}

// ---- continuation tokens ------------------------------------------------------------------------

interface Resume { after: string; rolledUp: boolean }

function scope(prefix: string, delimiter: string): string {
  return createHash('sha256').update(prefix).update('\u0000').update(delimiter).digest('base64url').slice(0, 11);
}

/** An opaque token: where the next page starts, and which listing it belongs to. */
export function encodeContinuationToken(resume: Resume, prefix: string, delimiter: string): string {
  return Buffer.from(JSON.stringify({ v: 1, a: resume.after, r: resume.rolledUp ? 1 : 0, s: scope(prefix, delimiter) }), 'utf8').toString('base64url');
}

export function decodeContinuationToken(token: string, prefix: string, delimiter: string): Resume {
  let t: unknown;
  try {
    t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    t = undefined;
  }
  const o = t as { v?: unknown; a?: unknown; r?: unknown; s?: unknown } | undefined;
  if (typeof o !== 'object' || o === null || o.v !== 1 || typeof o.a !== 'string' || (o.r !== 0 && o.r !== 1) || typeof o.s !== 'string') {
    throw badRequest('continuation-token', 'the continuation token is not one a listing of this service returned');
  }
  if (o.s !== scope(prefix, delimiter)) {
    throw badRequest('continuation-token', 'the continuation token belongs to a listing with another prefix or delimiter; list again with the same ones');
  }
  return { after: o.a, rolledUp: o.r === 1 };
}

// ---- the listing --------------------------------------------------------------------------------

function checkParams(params: ListParams): { prefix: string; delimiter: string; maxKeys: number } {
  const prefix = params.prefix ?? '';
  const delimiter = params.delimiter ?? '';
  for (const [name, v] of [['prefix', prefix], ['delimiter', delimiter], ['start-after', params.startAfter ?? '']] as const) {
    if (typeof v !== 'string' || !v.isWellFormed() || Buffer.byteLength(v, 'utf8') > 1024) throw badRequest(name, `${name} must be well-formed text of at most 1024 bytes`);
  }
  const maxKeys = params.maxKeys ?? LIST_MAX_KEYS;
  if (!Number.isSafeInteger(maxKeys) || maxKeys < 0) throw badRequest('max-keys', `max-keys must be a whole number from 0, got ${maxKeys}`);
  return { prefix, delimiter, maxKeys: Math.min(maxKeys, LIST_MAX_KEYS) };
}

/** One page of a ListObjectsV2 listing over `source`. */
export async function listObjects<T extends Entry>(source: EntrySource<T>, params: ListParams = {}): Promise<ListPage<T>> {
  const { prefix, delimiter, maxKeys } = checkParams(params);
  const page: ListPage<T> = { contents: [], commonPrefixes: [], keyCount: 0, isTruncated: false, prefix, delimiter, maxKeys };
  const resume = params.continuationToken !== undefined && params.continuationToken !== ''
    ? decodeContinuationToken(params.continuationToken, prefix, delimiter)
    : undefined;
  if (maxKeys === 0) return page;

  // Keys up to `after` were listed before; keys under `rolled` were rolled up into a CommonPrefix.
  const after = resume ? resume.after : params.startAfter || undefined;
  let rolled = resume?.rolledUp ? resume.after : undefined;
  let previous: string | undefined;
  let last: Resume | undefined;

  /** Takes one entry; false once the listing is complete (page full with more to come, or past the prefix). */
  const take = (entry: T): boolean => {
    const key = keyOf(entry);
    if (previous !== undefined && compareKeys(key, previous) <= 0) {
      throw new NimbusError('INTERNAL', `the metadata store listed ${JSON.stringify(key)} after ${JSON.stringify(previous)}: keys must come in UTF-8 byte order`);
    }
    previous = key;
    if (after !== undefined && compareKeys(key, after) <= 0) return true;
    if (!key.startsWith(prefix)) return compareKeys(key, prefix) < 0; // past the prefix's keys: done
    if (rolled !== undefined && key.startsWith(rolled)) return true;
    if (page.keyCount === maxKeys) {
      page.isTruncated = true;
      return false;
    }
    const at = delimiter === '' ? -1 : key.indexOf(delimiter, prefix.length);
    if (at >= 0) {
      rolled = key.slice(0, at + delimiter.length);
      page.commonPrefixes.push(rolled);
      last = { after: rolled, rolledUp: true };
    } else {
      page.contents.push(entry);
      last = { after: key, rolledUp: false };
    }
    page.keyCount++;
    return true;
  };

  if (typeof source === 'function') {
    let cursor = after;
    for (;;) {
      const limit = Math.min(LIST_MAX_KEYS + 1, maxKeys - page.keyCount + 1);
      const from = later(cursor, rolled === undefined ? undefined : rolled + KEY_AFTER_ALL);
      const entries = await source({ prefix, after: from, limit });
      let more = entries.length >= limit;
      for (const e of entries) {
        if (!take(e)) { more = false; break; }
      }
      if (!more || entries.length === 0) break;
      cursor = keyOf(entries[entries.length - 1]!);
    }
  } else {
    // for-of / for-await-of call return() on the iterator when we break: a cursor is closed early.
    if (Symbol.asyncIterator in source) {
      for await (const e of source as AsyncIterable<T>) if (!take(e)) break;
    } else {
      for (const e of source as Iterable<T>) if (!take(e)) break;
    }
  }

  if (page.isTruncated && last) page.nextContinuationToken = encodeContinuationToken(last, prefix, delimiter);
  return page;
}

/**
 * The least string above every key that starts with `prefix` (undefined when there is none), for a
 * store's range query: `key >= prefix AND key < prefixEnd(prefix)`, in code point order.
 */
export function prefixEnd(prefix: string): string | undefined {
  const cps = [...prefix];
  while (cps.length) {
    const cp = cps.pop()!.codePointAt(0)!;
    if (cp < 0x10ffff) {
      const next = cp === 0xd7ff ? 0xe000 : cp + 1; // no code points in the surrogate block
      return cps.join('') + String.fromCodePoint(next);
    }
  }
  return undefined;
}
