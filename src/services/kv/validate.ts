// Validation of everything that reaches the KV service from outside (the admin API, and the SDK —
// function code, so untrusted): keys, items, write conditions, queries and cursors. Each error
// names the field and says what would be accepted.
import { NimbusError } from '../../errors.ts';
import { ITEM_MAX_BYTES, type ItemKey, type JsonObject, type KeyValue, type SortCondition, type TableRecord, type WriteCondition } from '../../store/kv.ts';

export { ITEM_MAX_BYTES };
/** As DynamoDB: partition key values up to 2048 bytes, sort key values up to 1024 bytes (UTF-8). */
export const PARTITION_KEY_MAX_BYTES = 2048;
export const SORT_KEY_MAX_BYTES = 1024;
export const BATCH_GET_MAX_KEYS = 100;
export const BATCH_WRITE_MAX_ENTRIES = 25;
export const QUERY_LIMIT_DEFAULT = 100;
export const QUERY_LIMIT_MAX = 1000;
/** Stream records are kept this long (as DynamoDB Streams). */
export const STREAM_RETENTION_MS = 24 * 3600_000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => {
  if (v === undefined) return 'nothing';
  if (typeof v === 'bigint') return `the BigInt ${v}n (use a number or a string)`;
  try {
    return JSON.stringify(v)?.slice(0, 60) ?? String(v);
  } catch {
    return `a ${typeof v} JSON cannot hold`;
  }
};

export function keyValue(v: unknown, attr: string, maxBytes: number, where: string): KeyValue {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new NimbusError('INVALID_KEY', `${where}.${attr}: a number key must be finite, got ${String(v)}`);
    return v === 0 ? 0 : v;
  }
  if (typeof v !== 'string') throw new NimbusError('INVALID_KEY', `${where}.${attr}: key attributes hold a string or a number, got ${v === undefined ? 'nothing (the attribute is missing)' : show(v)}`);
  if (v === '') throw new NimbusError('INVALID_KEY', `${where}.${attr}: a string key must not be empty`);
  if (!v.isWellFormed()) throw new NimbusError('INVALID_KEY', `${where}.${attr}: the string has a lone surrogate (not valid Unicode)`);
  const bytes = Buffer.byteLength(v);
  if (bytes > maxBytes) throw new NimbusError('INVALID_KEY', `${where}.${attr}: ${bytes} bytes is over the ${maxBytes}-byte limit for this key`);
  return v;
}

/** A key given on its own: an object holding exactly the table's key attributes. */
export function parseKey(t: TableRecord, raw: unknown, where = 'key'): ItemKey {
  if (!isObject(raw)) throw new NimbusError('INVALID_KEY', `${where}: give the key as an object, e.g. ${example(t)}; got ${show(raw)}`);
  const extra = Object.keys(raw).filter((k) => k !== t.partitionKey && k !== t.sortKey);
  if (extra.length) throw new NimbusError('INVALID_KEY', `${where}: a key of table "${t.name}" holds only ${keyNames(t)}; remove ${extra.map((k) => `"${k}"`).join(', ')}`);
  return keyOf(t, raw, where);
}

/** The key inside an item (or a key object). */
export function keyOf(t: TableRecord, obj: Record<string, unknown>, where: string): ItemKey {
  const pk = keyValue(obj[t.partitionKey], t.partitionKey, PARTITION_KEY_MAX_BYTES, where);
  const sk = t.sortKey === null ? null : keyValue(obj[t.sortKey], t.sortKey, SORT_KEY_MAX_BYTES, where);
  return { pk, sk };
}

/** An item to put: a JSON object holding the key attributes, at most 400 KB as JSON. */
export function parseItem(t: TableRecord, raw: unknown, where = 'item'): { item: JsonObject; key: ItemKey } {
  if (!isObject(raw)) throw new NimbusError('INVALID_ITEM', `${where}: an item is a JSON object, got ${show(raw)}`);
  const key = keyOf(t, raw, where);
  let text: string;
  try {
    text = JSON.stringify(raw);
  } catch (err) {
    throw new NimbusError('INVALID_ITEM', `${where}: the item cannot be written as JSON (${(err as Error).message})`);
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > ITEM_MAX_BYTES) throw new NimbusError('ITEM_TOO_LARGE', `${where}: the item is ${bytes} bytes as JSON, over the ${ITEM_MAX_BYTES}-byte (400 KB) limit; store large values in a bucket and keep their key here`);
  // Round-trip so that what is stored is plain JSON (no undefined, functions or class instances).
  return { item: JSON.parse(text) as JsonObject, key };
}

/** Write options: conditions, and whether to return the item as it was. */
export function parseWriteOptions(raw: unknown, op: 'put' | 'delete', where = 'options'): { condition: WriteCondition; returnOld: boolean } {
  if (raw === undefined || raw === null) return { condition: {}, returnOld: false };
  if (!isObject(raw)) throw new NimbusError('INVALID_ITEM', `${where}: must be an object, got ${show(raw)}`);
  const allowed = op === 'put' ? ['ifNotExists', 'expectedVersion', 'returnOld'] : ['ifExists', 'expectedVersion', 'returnOld'];
  for (const k of Object.keys(raw)) if (!allowed.includes(k)) throw new NimbusError('INVALID_ITEM', `${where}.${k}: unknown option for ${op}; use ${allowed.join(', ')}`);
  const flag = (k: string): boolean => {
    const v = raw[k];
    if (v !== undefined && typeof v !== 'boolean') throw new NimbusError('INVALID_ITEM', `${where}.${k}: must be true or false, got ${show(v)}`);
    return v === true;
  };
  const condition: WriteCondition = {};
  if (flag('ifNotExists')) condition.ifNotExists = true;
  if (flag('ifExists')) condition.ifExists = true;
  if (raw.expectedVersion !== undefined) {
    const v = raw.expectedVersion;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new NimbusError('INVALID_ITEM', `${where}.expectedVersion: must be a whole number from 1 (the version a read returned), got ${show(v)}`);
    condition.expectedVersion = v;
  }
  if (condition.ifNotExists && condition.expectedVersion !== undefined) {
    throw new NimbusError('INVALID_ITEM', `${where}: ifNotExists and expectedVersion contradict each other; give one`);
  }
  return { condition, returnOld: flag('returnOld') };
}

export interface ParsedQuery {
  pk: KeyValue;
  sort?: SortCondition;
  reverse: boolean;
  limit: number;
  cursor?: ItemKey;
}

const SORT_OPS = ['eq', 'lt', 'le', 'gt', 'ge', 'between', 'beginsWith'] as const;

/** `{ partitionKey, sortKey?: { eq | lt | le | gt | ge: v } | { between: [lo, hi] } | { beginsWith: "p" }, limit?, reverse?, cursor? }` */
export function parseQuery(t: TableRecord, raw: unknown): ParsedQuery {
  if (!isObject(raw)) throw new NimbusError('INVALID_ITEM', `query: must be an object like { partitionKey: "…", sortKey: { beginsWith: "2026-" }, limit: 50 }, got ${show(raw)}`);
  for (const k of Object.keys(raw)) {
    if (!['partitionKey', 'sortKey', 'limit', 'reverse', 'cursor'].includes(k)) throw new NimbusError('INVALID_ITEM', `query.${k}: unknown field; use partitionKey, sortKey, limit, reverse, cursor`);
  }
  const pk = keyValue(raw.partitionKey, 'partitionKey', PARTITION_KEY_MAX_BYTES, 'query');
  const out: ParsedQuery = { pk, reverse: parseReverse(raw.reverse), limit: parseLimit(raw.limit, 'query.limit') };
  if (raw.sortKey !== undefined) {
    if (t.sortKey === null) throw new NimbusError('INVALID_ITEM', `query.sortKey: table "${t.name}" has no sort key; query by partitionKey alone`);
    out.sort = parseSort(raw.sortKey);
  }
  if (raw.cursor !== undefined) out.cursor = decodeCursor(t, raw.cursor);
  return out;
}

function parseSort(raw: unknown): SortCondition {
  const where = 'query.sortKey';
  if (!isObject(raw) || Object.keys(raw).length !== 1) throw new NimbusError('INVALID_ITEM', `${where}: give one condition, e.g. { "ge": 10 }, { "between": [1, 5] } or { "beginsWith": "2026-" }; got ${show(raw)}`);
  const [op, v] = Object.entries(raw)[0]!;
  if (!(SORT_OPS as readonly string[]).includes(op)) throw new NimbusError('INVALID_ITEM', `${where}.${op}: unknown condition; use one of ${SORT_OPS.join(', ')}`);
  if (op === 'beginsWith') {
    if (typeof v !== 'string' || v === '') throw new NimbusError('INVALID_ITEM', `${where}.beginsWith: a non-empty string prefix (beginsWith applies to string sort keys), got ${show(v)}`);
    keyValue(v, 'beginsWith', SORT_KEY_MAX_BYTES, where);
    return { op: 'beginsWith', prefix: v };
  }
  if (op === 'between') {
    if (!Array.isArray(v) || v.length !== 2) throw new NimbusError('INVALID_ITEM', `${where}.between: a list of two values [low, high], got ${show(v)}`);
    const low = keyValue(v[0], 'between[0]', SORT_KEY_MAX_BYTES, where);
    const high = keyValue(v[1], 'between[1]', SORT_KEY_MAX_BYTES, where);
    if (typeof low !== typeof high) throw new NimbusError('INVALID_ITEM', `${where}.between: both bounds must be strings or both numbers`);
    if (typeof low === 'number' ? low > (high as number) : Buffer.compare(Buffer.from(low), Buffer.from(high as string)) > 0) {
      throw new NimbusError('INVALID_ITEM', `${where}.between: the low bound ${show(low)} is above the high bound ${show(high)}`);
    }
    return { op: 'between', low, high };
  }
  return { op: op as 'eq' | 'lt' | 'le' | 'gt' | 'ge', value: keyValue(v, op, SORT_KEY_MAX_BYTES, where) };
}

export function parseLimit(v: unknown, where: string): number {
  if (v === undefined || v === null) return QUERY_LIMIT_DEFAULT;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > QUERY_LIMIT_MAX) throw new NimbusError('INVALID_ITEM', `${where}: a whole number from 1 to ${QUERY_LIMIT_MAX}, got ${show(v)}`);
  return v;
}

function parseReverse(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new NimbusError('INVALID_ITEM', `query.reverse: true or false, got ${show(v)}`);
  return v;
}

/** The name, increment attribute and amount of an increment. */
export function parseIncrement(t: TableRecord, attribute: unknown, by: unknown): { attribute: string; by: number } {
  if (typeof attribute !== 'string' || attribute === '') throw new NimbusError('INVALID_ITEM', `attribute: the name of a number attribute to increment, got ${show(attribute)}`);
  if (attribute === t.partitionKey || attribute === t.sortKey) throw new NimbusError('INVALID_ITEM', `attribute: "${attribute}" is a key attribute of table "${t.name}"; keys cannot be incremented`);
  if (attribute === '__proto__') throw new NimbusError('INVALID_ITEM', 'attribute: "__proto__" is not a usable attribute name');
  const amount = by === undefined ? 1 : by;
  if (typeof amount !== 'number' || !Number.isFinite(amount)) throw new NimbusError('INVALID_ITEM', `by: a finite number (negative to decrement), got ${show(by)}`);
  return { attribute, by: amount };
}

// --- cursors: opaque to callers, checked on the way back in -------------------------------------

export function encodeCursor(table: string, key: ItemKey): string {
  return Buffer.from(JSON.stringify([table, key.pk, key.sk])).toString('base64url');
}

export function decodeCursor(t: TableRecord, raw: unknown, where = 'cursor'): ItemKey {
  const bad = (why: string) => new NimbusError('INVALID_ITEM', `${where}: ${why}; pass back the cursor a previous page returned, unchanged`);
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 8192) throw bad('not a cursor');
  let parts: unknown;
  try { parts = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')); } catch { throw bad('not a cursor'); }
  if (!Array.isArray(parts) || parts.length !== 3) throw bad('not a cursor');
  if (parts[0] !== t.name) throw bad(`the cursor is from table ${show(parts[0])}, not "${t.name}"`);
  try {
    const pk = keyValue(parts[1], t.partitionKey, PARTITION_KEY_MAX_BYTES, where);
    const sk = t.sortKey === null ? null : keyValue(parts[2], t.sortKey, SORT_KEY_MAX_BYTES, where);
    return { pk, sk };
  } catch {
    throw bad('the cursor does not match the table\'s keys');
  }
}

function keyNames(t: TableRecord): string {
  return t.sortKey === null ? `"${t.partitionKey}"` : `"${t.partitionKey}" and "${t.sortKey}"`;
}

function example(t: TableRecord): string {
  return t.sortKey === null ? `{ "${t.partitionKey}": "…" }` : `{ "${t.partitionKey}": "…", "${t.sortKey}": … }`;
}
