// Types of the KV tables part of the runtime SDK (`import { kv } from 'nimbus/sdk'`). See docs/tables.md.

/** A key attribute's value: a string or a number. */
export type KeyValue = string | number;
/** An item: a JSON object holding the table's key attributes. */
export type Item = Record<string, unknown>;
/** A key: the table's partition key attribute (and sort key attribute), e.g. `{ id: 'u1' }`. */
export type Key = Record<string, KeyValue>;

export interface Versioned<T extends Item = Item> {
  item: T;
  /** 1 when inserted, +1 on every write; pass it as expectedVersion for an optimistic update. */
  version: number;
}

export type SortCondition =
  | { eq: KeyValue } | { lt: KeyValue } | { le: KeyValue } | { gt: KeyValue } | { ge: KeyValue }
  | { between: [KeyValue, KeyValue] }
  | { beginsWith: string };

export interface PutOptions {
  /** Only when no item has this key (CONDITION_FAILED otherwise). */
  ifNotExists?: boolean;
  /** Only when the item is at this version (CONDITION_FAILED otherwise). */
  expectedVersion?: number;
  /** Return the item as it was before (needs read too). */
  returnOld?: boolean;
}

export interface DeleteOptions {
  /** Only when the item exists (CONDITION_FAILED otherwise). */
  ifExists?: boolean;
  expectedVersion?: number;
  returnOld?: boolean;
}

export interface Query {
  partitionKey: KeyValue;
  /** Values of another type than the condition's never match (`{ lt: 5 }` returns no strings). */
  sortKey?: SortCondition;
  /** 1..1000, default 100. */
  limit?: number;
  /** Descending sort-key order. */
  reverse?: boolean;
  /** From the previous page. */
  cursor?: string;
}

export interface Page<T extends Item = Item> {
  items: Versioned<T>[];
  /** Pass it back to get the next page; null when there is no more. */
  cursor: string | null;
}

export type BatchEntry =
  | { put: Item; ifNotExists?: boolean; expectedVersion?: number }
  | { delete: Key; ifExists?: boolean; expectedVersion?: number };

export interface Table<T extends Item = Item> {
  readonly name: string;
  get(key: Key): Promise<Versioned<T> | null>;
  put(item: T, options?: PutOptions): Promise<{ version: number; old?: Versioned<T> | null }>;
  delete(key: Key, options?: DeleteOptions): Promise<{ deleted: boolean; old?: Versioned<T> | null }>;
  increment(key: Key, attribute: string, by?: number): Promise<{ value: number; version: number }>;
  /** Up to 100 keys; results in the order of the keys. */
  batchGet(keys: Key[]): Promise<(Versioned<T> | null)[]>;
  /** Up to 25 entries, one transaction, all or nothing. */
  batchWrite(entries: BatchEntry[]): Promise<({ version: number } | { deleted: boolean })[]>;
  query(query: Query): Promise<Page<T>>;
  scan(options?: { limit?: number; cursor?: string }): Promise<Page<T>>;
}

export declare const kv: {
  table<T extends Item = Item>(name: string): Table<T>;
};

/** The event a table trigger's function receives (see docs/tables.md, "Change streams"). */
export interface KvStreamEvent<T extends Item = Item> {
  Records: KvStreamRecord<T>[];
}

export interface KvStreamRecord<T extends Item = Item> {
  eventID: string;
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  eventVersion: '1.1';
  eventSource: 'nimbus:kv';
  awsRegion: 'local';
  dynamodb: {
    /** Epoch seconds. */
    ApproximateCreationDateTime: number;
    Keys: Key;
    NewImage?: T;
    OldImage?: T;
    /** 21 digits; increases in commit order. Use it as itemIdentifier in batchItemFailures. */
    SequenceNumber: string;
    SizeBytes: number;
    StreamViewType: 'NEW_AND_OLD_IMAGES';
  };
  /** Set on a REMOVE done by TTL expiry. */
  userIdentity?: { type: 'Service'; principalId: 'nimbus.kv.ttl' };
  eventSourceARN: string;
}

/** What a table trigger's function may return to report the first records it failed on. */
export interface KvStreamBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}
