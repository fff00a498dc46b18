// The KV tables seam: tables, their items and their change streams. Every method is async and one
// transaction at most, because the PostgreSQL store (cluster mode) implements it too; both run
// test/kv-conformance.ts. Callers (src/services/kv/) validate keys, items and queries first; the
// store trusts what it is given and enforces only what needs the transaction: conditions,
// versions, TTL visibility, and the stream record written with each change.
import type { DesiredTable, TableTriggerRecord } from './types.ts';

/** An item's JSON text at most (DynamoDB's 400 KB). */
export const ITEM_MAX_BYTES = 400 * 1024;

/** A key attribute's value: DynamoDB's S or N (JSON string or number). */
export type KeyValue = string | number;
/** A JSON object (an item, an image). */
export type JsonObject = { [k: string]: unknown };

/** An item's primary key as values: the partition key's, and the sort key's (null when the table has none). */
export interface ItemKey {
  pk: KeyValue;
  sk: KeyValue | null;
}

export interface TableRecord extends DesiredTable {
  app: string;
}

/** An item as read: the JSON object and its version (1 on insert, +1 on every write). */
export interface StoredItem {
  item: JsonObject;
  version: number;
}

/** What must hold for a write to happen; an item past its TTL counts as absent. */
export interface WriteCondition {
  /** Only when no item has the key. */
  ifNotExists?: boolean;
  /** Only when the item exists (deletes). */
  ifExists?: boolean;
  /** Only when the item exists with this version. */
  expectedVersion?: number;
}

export type KvWrite =
  | { op: 'put'; key: ItemKey; item: JsonObject; condition?: WriteCondition }
  | { op: 'delete'; key: ItemKey; condition?: WriteCondition };

export interface WriteResult {
  /** The item's version after the write; null after a delete. */
  version: number | null;
  /** The item before the write, or null when there was none (or it had expired). */
  old: StoredItem | null;
}

/** A sort-key condition: values of another type than the operand never match. */
export type SortCondition =
  | { op: 'eq' | 'lt' | 'le' | 'gt' | 'ge'; value: KeyValue }
  | { op: 'between'; low: KeyValue; high: KeyValue }
  | { op: 'beginsWith'; prefix: string };

export interface QueryInput {
  pk: KeyValue;
  sort?: SortCondition;
  /** Descending sort-key order. */
  reverse: boolean;
  limit: number;
  /** Continue after this key (from the previous page). */
  after?: ItemKey;
}

export interface ItemPage {
  items: StoredItem[];
  /** The key of the last item returned, when there may be more. */
  last: ItemKey | null;
}

export type StreamEventName = 'INSERT' | 'MODIFY' | 'REMOVE';

/** One change, as the store keeps it for 24 h. */
export interface StreamRecord {
  /** Increases with commit order across every table. */
  seq: number;
  table: string;
  eventName: StreamEventName;
  keys: JsonObject;
  newImage: JsonObject | null;
  oldImage: JsonObject | null;
  createdAt: number;
  /** Bytes of keys and images as JSON. */
  sizeBytes: number;
  /** A REMOVE done by TTL expiry (not by a caller). */
  expired: boolean;
  /** The writer's trace context, when it had one. */
  trace?: string;
}

export interface TableStats {
  /** Items not past their TTL. */
  items: number;
  /** Bytes of their JSON. */
  bytes: number;
  stream: { records: number; firstSeq: number | null; lastSeq: number | null; oldestAt: number | null };
  triggers: { fn: string; app: string; checkpoint: number; lag: number }[];
}

export interface KvStore {
  listTables(): Promise<TableRecord[]>;
  getTable(name: string): Promise<TableRecord | undefined>;
  listTableTriggers(): Promise<TableTriggerRecord[]>;
  tableStats(table: string, now: number): Promise<TableStats>;

  getItem(table: string, key: ItemKey, now: number): Promise<StoredItem | null>;
  /** In the order of `keys`; null for a missing (or expired) item. */
  getItems(table: string, keys: ItemKey[], now: number): Promise<(StoredItem | null)[]>;
  /**
   * Applies the writes in one transaction, each with its stream record. All or nothing: when a
   * condition fails, throws CONDITION_FAILED naming the entry (details.index) and writes nothing.
   */
  /** `trace`: the writer's trace context, kept on the stream records (their trigger's invocation continues it). */
  writeItems(table: string, writes: KvWrite[], now: number, trace?: string): Promise<WriteResult[]>;
  /** Adds `by` to a number attribute, creating the item or the attribute at 0 first; INVALID_ITEM when it holds a non-number. */
  increment(table: string, key: ItemKey, attribute: string, by: number, now: number, trace?: string): Promise<{ value: number; version: number }>;
  query(table: string, q: QueryInput, now: number): Promise<ItemPage>;
  /** Every item in key order, a page at a time. */
  scan(table: string, opts: { limit: number; after?: ItemKey }, now: number): Promise<ItemPage>;
  /** Deletes every item without stream records; returns how many went. */
  purge(table: string): Promise<number>;
  /**
   * Deletes up to `max` items past their TTL, each with a REMOVE record marked as an expiry, and
   * stream records created before `streamBefore`. Returns the tables that had items expire.
   */
  sweep(now: number, max: number, streamBefore: number): Promise<{ expired: number; tables: string[]; trimmed: number }>;

  /** Stream records of the table after `afterSeq`, oldest first. */
  readStream(table: string, afterSeq: number, limit: number): Promise<StreamRecord[]>;
  /** The trigger's checkpoint (the last record it is done with), or undefined when the trigger is gone. */
  getCheckpoint(fn: string, table: string): Promise<number | undefined>;
  /** Moves the checkpoint forward (never back); false when the trigger is gone. */
  setCheckpoint(fn: string, table: string, seq: number): Promise<boolean>;
}

// --- key encoding ----------------------------------------------------------------------------
// Keys are stored as bytes whose memcmp order is the key order: numbers (0x01 + the IEEE-754 bits,
// sign-flipped so that they sort numerically) before strings (0x02 + UTF-8, which sorts by byte).

const NUMBER_TAG = 0x01;
const STRING_TAG = 0x02;

export function encodeKeyValue(v: KeyValue): Uint8Array {
  if (typeof v === 'string') {
    const s = Buffer.from(v, 'utf8');
    const out = new Uint8Array(s.length + 1);
    out[0] = STRING_TAG;
    out.set(s, 1);
    return out;
  }
  const out = new Uint8Array(9);
  out[0] = NUMBER_TAG;
  const view = new DataView(out.buffer);
  view.setFloat64(1, v === 0 ? 0 : v); // -0 is 0
  if (out[1]! & 0x80) for (let i = 1; i < 9; i++) out[i] = ~out[i]! & 0xff;
  else out[1] = out[1]! | 0x80;
  return out;
}

export function decodeKeyValue(b: Uint8Array): KeyValue {
  if (b[0] === STRING_TAG) return Buffer.from(b.buffer, b.byteOffset + 1, b.length - 1).toString('utf8');
  const c = Uint8Array.from(b.subarray(1));
  if (c[0]! & 0x80) c[0] = c[0]! & 0x7f;
  else for (let i = 0; i < 8; i++) c[i] = ~c[i]! & 0xff;
  return new DataView(c.buffer).getFloat64(0);
}

/** The smallest encoding above every value of the type of `v` (the end of its type's range). */
export function typeEnd(v: KeyValue): Uint8Array {
  return Uint8Array.of(typeof v === 'string' ? STRING_TAG + 1 : NUMBER_TAG + 1);
}

export function typeStart(v: KeyValue): Uint8Array {
  return Uint8Array.of(typeof v === 'string' ? STRING_TAG : NUMBER_TAG);
}

/** The smallest byte string greater than every string that starts with `prefix` (encoded). */
export function prefixEnd(prefix: string): Uint8Array {
  const b = encodeKeyValue(prefix);
  let n = b.length;
  while (n > 0 && b[n - 1] === 0xff) n--;
  const out = b.slice(0, n);
  out[n - 1] = out[n - 1]! + 1;
  return out;
}
