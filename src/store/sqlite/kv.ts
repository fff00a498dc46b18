// KV tables in the embedded store: items keyed by order-preserving bytes (see encodeKeyValue), a
// change stream written in the same transaction as each change, and table triggers' checkpoints.
// Writes go through the group commit (Sql.batched): concurrent puts share one fsync.
import { NimbusError } from '../../errors.ts';
import {
  decodeKeyValue, encodeKeyValue, ITEM_MAX_BYTES, type ItemKey, type ItemPage, type JsonObject, type KvStore, type KvWrite,
  prefixEnd, type QueryInput, type StoredItem, type StreamEventName, type StreamRecord, type TableRecord, type TableStats, typeEnd, typeStart, type WriteResult,
} from '../kv.ts';
import type { DesiredApp, TableTriggerRecord } from '../types.ts';
import type { Row, Sql } from './sql.ts';

export const KV_MIGRATION = `
  CREATE TABLE kv_tables (
    name TEXT PRIMARY KEY,
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    partition_key TEXT NOT NULL,
    sort_key TEXT,
    ttl_attribute TEXT
  );
  CREATE INDEX kv_tables_app ON kv_tables(app);
  CREATE TABLE kv_items (
    tbl TEXT NOT NULL REFERENCES kv_tables(name) ON DELETE CASCADE,
    pk BLOB NOT NULL,
    sk BLOB NOT NULL,
    item TEXT NOT NULL,
    version INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (tbl, pk, sk)
  ) WITHOUT ROWID;
  CREATE INDEX kv_items_expiry ON kv_items(expires_at) WHERE expires_at IS NOT NULL;
  CREATE TABLE kv_stream (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl TEXT NOT NULL REFERENCES kv_tables(name) ON DELETE CASCADE,
    event TEXT NOT NULL,
    keys TEXT NOT NULL,
    new_image TEXT,
    old_image TEXT,
    created_at INTEGER NOT NULL,
    size INTEGER NOT NULL,
    expired INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX kv_stream_tbl ON kv_stream(tbl, seq);
  CREATE INDEX kv_stream_age ON kv_stream(created_at);
  CREATE TABLE kv_triggers (
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    fn TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    tbl TEXT NOT NULL REFERENCES kv_tables(name) ON DELETE CASCADE,
    batch_size INTEGER NOT NULL,
    batch_window_ms INTEGER NOT NULL,
    starting_position TEXT NOT NULL,
    max_retries INTEGER NOT NULL,
    checkpoint INTEGER NOT NULL,
    PRIMARY KEY (fn, tbl)
  );
  CREATE INDEX kv_triggers_tbl ON kv_triggers(tbl);`;

/** The sort key column of a table without a sort key. */
const NO_SORT_KEY = new Uint8Array(0);
const LIVE = '(expires_at IS NULL OR expires_at > ?)';

export class SqliteKv implements KvStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /**
   * Inside applyApp's transaction: upserts the app's tables, drops the ones it no longer names and
   * replaces its triggers (a trigger that stays keeps its checkpoint). A table that still has items
   * is neither dropped nor re-keyed: TABLE_NOT_EMPTY, and the deploy rolls back.
   */
  applyTables(desired: DesiredApp, now: number): void {
    const sql = this.#sql;
    // A trigger reads its own app's tables only (the manifest checks this; the store holds to it too).
    for (const t of desired.tableTriggers) {
      if (!desired.tables.some((x) => x.name === t.table)) throw new NimbusError('TABLE_NOT_FOUND', `functions.${t.fn}: a table event names "${t.table}", which this app does not declare`);
    }
    for (const t of desired.tables) {
      const owner = sql.get('SELECT app FROM kv_tables WHERE name = ? AND app != ?', t.name, desired.name);
      if (owner) throw new NimbusError('TABLE_CONFLICT', `table "${t.name}" already belongs to app "${String(owner.app)}"; table names are unique across apps — rename it or remove it from "${String(owner.app)}" first`);
    }
    const before = new Map(sql.all('SELECT * FROM kv_tables WHERE app = ?', desired.name).map((r) => [String(r.name), toTable(r)]));
    for (const t of desired.tables) {
      const old = before.get(t.name);
      before.delete(t.name);
      if (old && (old.partitionKey !== t.partitionKey || old.sortKey !== t.sortKey)) {
        if (this.#hasItems(t.name, now)) {
          throw new NimbusError('TABLE_NOT_EMPTY', `table "${t.name}" has items, so its keys cannot change (partitionKey ${old.partitionKey}${old.sortKey ? `, sortKey ${old.sortKey}` : ''}); keep them, or empty it first with \`nimbus tables purge ${t.name}\``);
        }
        sql.run('DELETE FROM kv_items WHERE tbl = ?', t.name); // only expired items remain
      }
      sql.run(`INSERT INTO kv_tables(name, app, partition_key, sort_key, ttl_attribute) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT(name) DO UPDATE SET partition_key = excluded.partition_key, sort_key = excluded.sort_key, ttl_attribute = excluded.ttl_attribute`,
      t.name, desired.name, t.partitionKey, t.sortKey, t.ttlAttribute);
      if (old && old.ttlAttribute !== t.ttlAttribute) this.#recomputeExpiry(t.name, t.ttlAttribute);
    }
    for (const name of before.keys()) {
      if (this.#hasItems(name, now)) {
        throw new NimbusError('TABLE_NOT_EMPTY', `the manifest no longer names table "${name}", but it has items; keep it in \`tables:\`, or empty it first with \`nimbus tables purge ${name}\``);
      }
      sql.run('DELETE FROM kv_tables WHERE name = ?', name); // items, stream and triggers go with it
    }
    const keep = new Set(desired.tableTriggers.map((t) => `${t.fn}\u0000${t.table}`));
    for (const r of sql.all('SELECT fn, tbl FROM kv_triggers WHERE app = ?', desired.name)) {
      if (!keep.has(`${String(r.fn)}\u0000${String(r.tbl)}`)) sql.run('DELETE FROM kv_triggers WHERE fn = ? AND tbl = ?', String(r.fn), String(r.tbl));
    }
    for (const t of desired.tableTriggers) {
      if (!sql.get('SELECT 1 FROM kv_tables WHERE name = ?', t.table)) {
        throw new NimbusError('TABLE_NOT_FOUND', `function "${t.fn}" has a table event on "${t.table}", but no app declares that table; add it under \`tables:\``);
      }
      const start = t.startingPosition === 'latest' ? Number(sql.get('SELECT COALESCE(MAX(seq), 0) AS s FROM kv_stream WHERE tbl = ?', t.table)!.s) : 0;
      sql.run(`INSERT INTO kv_triggers(app, fn, tbl, batch_size, batch_window_ms, starting_position, max_retries, checkpoint) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(fn, tbl) DO UPDATE SET app = excluded.app, batch_size = excluded.batch_size, batch_window_ms = excluded.batch_window_ms,
        starting_position = excluded.starting_position, max_retries = excluded.max_retries`,
      desired.name, t.fn, t.table, t.batchSize, t.batchWindowMs, t.startingPosition, t.maxRetries, start);
    }
  }

  /**
   * For deleteApp, inside its transaction: refuses when one of the app's tables still has items
   * (TABLE_NOT_EMPTY); otherwise removes its tables, their streams and its triggers.
   */
  dropApp(app: string, now: number): void {
    const sql = this.#sql;
    const full = sql.all('SELECT name FROM kv_tables WHERE app = ? ORDER BY name', app).map((r) => String(r.name)).filter((n) => this.#hasItems(n, now));
    if (full.length) {
      throw new NimbusError('TABLE_NOT_EMPTY', `app "${app}" has tables with items (${full.join(', ')}); empty them first with \`nimbus tables purge <table>\``);
    }
    sql.run('DELETE FROM kv_triggers WHERE app = ?', app);
    sql.run('DELETE FROM kv_tables WHERE app = ?', app);
  }

  #hasItems(table: string, now: number): boolean {
    return this.#sql.get(`SELECT 1 FROM kv_items WHERE tbl = ? AND ${LIVE} LIMIT 1`, table, now) !== undefined;
  }

  #recomputeExpiry(table: string, ttl: string | null): void {
    const sql = this.#sql;
    for (const r of sql.all('SELECT pk, sk, item FROM kv_items WHERE tbl = ?', table)) {
      sql.run('UPDATE kv_items SET expires_at = ? WHERE tbl = ? AND pk = ? AND sk = ?', expiryOf(JSON.parse(String(r.item)) as JsonObject, ttl), table, r.pk!, r.sk!);
    }
  }

  async listTables(): Promise<TableRecord[]> {
    return this.#sql.all('SELECT * FROM kv_tables ORDER BY name').map(toTable);
  }

  async getTable(name: string): Promise<TableRecord | undefined> {
    const r = this.#sql.get('SELECT * FROM kv_tables WHERE name = ?', name);
    return r ? toTable(r) : undefined;
  }

  async listTableTriggers(): Promise<TableTriggerRecord[]> {
    return this.#sql.all('SELECT * FROM kv_triggers ORDER BY tbl, fn').map((r) => ({
      app: String(r.app), fn: String(r.fn), table: String(r.tbl), batchSize: Number(r.batch_size), batchWindowMs: Number(r.batch_window_ms),
      startingPosition: String(r.starting_position) as TableTriggerRecord['startingPosition'], maxRetries: Number(r.max_retries),
    }));
  }

  async tableStats(table: string, now: number): Promise<TableStats> {
    const sql = this.#sql;
    this.#table(table);
    const items = sql.get(`SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(CAST(item AS BLOB))), 0) AS bytes FROM kv_items WHERE tbl = ? AND ${LIVE}`, table, now)!;
    const s = sql.get('SELECT COUNT(*) AS n, MIN(seq) AS first, MAX(seq) AS last, MIN(created_at) AS oldest FROM kv_stream WHERE tbl = ?', table)!;
    const triggers = sql.all('SELECT app, fn, checkpoint, (SELECT COUNT(*) FROM kv_stream s WHERE s.tbl = t.tbl AND s.seq > t.checkpoint) AS lag FROM kv_triggers t WHERE tbl = ? ORDER BY fn', table)
      .map((r) => ({ fn: String(r.fn), app: String(r.app), checkpoint: Number(r.checkpoint), lag: Number(r.lag) }));
    const n = (v: Row[string]) => (v === null || v === undefined ? null : Number(v));
    return { items: Number(items.n), bytes: Number(items.bytes), stream: { records: Number(s.n), firstSeq: n(s.first), lastSeq: n(s.last), oldestAt: n(s.oldest) }, triggers };
  }

  #table(name: string): TableRecord {
    const r = this.#sql.get('SELECT * FROM kv_tables WHERE name = ?', name);
    if (!r) throw new NimbusError('TABLE_NOT_FOUND', `no table named "${name}"; declare it under \`tables:\` in nimbus.yml and deploy`);
    return toTable(r);
  }

  async getItem(table: string, key: ItemKey, now: number): Promise<StoredItem | null> {
    this.#table(table);
    return this.#read(table, key, now);
  }

  async getItems(table: string, keys: ItemKey[], now: number): Promise<(StoredItem | null)[]> {
    this.#table(table);
    return keys.map((k) => this.#read(table, k, now));
  }

  #read(table: string, key: ItemKey, now: number): StoredItem | null {
    const r = this.#sql.get(`SELECT item, version FROM kv_items WHERE tbl = ? AND pk = ? AND sk = ? AND ${LIVE}`, table, encodeKeyValue(key.pk), skBytes(key), now);
    return r ? { item: JSON.parse(String(r.item)) as JsonObject, version: Number(r.version) } : null;
  }

  async writeItems(table: string, writes: KvWrite[], now: number, trace?: string): Promise<WriteResult[]> {
    return this.#sql.batched(() => this.#traced(trace, () => {
      const t = this.#table(table);
      return writes.map((w, i) => this.#write(t, w, now, writes.length > 1 ? i : undefined));
    }));
  }

  /** The writer's trace context, stamped on the stream records written within `fn` (synchronous). */
  #trace: string | undefined;
  #traced<T>(trace: string | undefined, fn: () => T): T {
    this.#trace = trace;
    try {
      return fn();
    } finally {
      this.#trace = undefined;
    }
  }

  #write(t: TableRecord, w: KvWrite, now: number, index: number | undefined): WriteResult {
    const sql = this.#sql;
    const pk = encodeKeyValue(w.key.pk);
    const sk = skBytes(w.key);
    const old = this.#current(t, w.key, pk, sk, now);
    const c = w.condition;
    const where = index === undefined ? '' : `entries[${index}]: `;
    const fail = (why: string) => new NimbusError('CONDITION_FAILED', `${where}${why}; nothing was written`, index === undefined ? {} : { details: { index } });
    if (c?.ifNotExists && old) throw fail(`ifNotExists: an item with this key exists (version ${old.version})`);
    if (c?.ifExists && !old) throw fail('ifExists: no item has this key');
    if (c?.expectedVersion !== undefined && old?.version !== c.expectedVersion) {
      throw fail(`expectedVersion ${c.expectedVersion}: the item ${old ? `is at version ${old.version}` : 'does not exist'}; read it again and retry`);
    }
    if (w.op === 'delete') {
      if (!old) return { version: null, old: null };
      sql.run('DELETE FROM kv_items WHERE tbl = ? AND pk = ? AND sk = ?', t.name, pk, sk);
      this.#record(t, 'REMOVE', w.key, null, old.text, now, false);
      return { version: null, old: { item: old.item, version: old.version } };
    }
    const text = JSON.stringify(w.item);
    const version = (old?.version ?? 0) + 1;
    sql.run(`INSERT INTO kv_items(tbl, pk, sk, item, version, expires_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT(tbl, pk, sk) DO UPDATE SET item = excluded.item, version = excluded.version, expires_at = excluded.expires_at`,
    t.name, pk, sk, text, version, expiryOf(w.item, t.ttlAttribute));
    this.#record(t, old ? 'MODIFY' : 'INSERT', w.key, text, old?.text ?? null, now, false);
    return { version, old: old ? { item: old.item, version: old.version } : null };
  }

  /** The item under the key, or null; one past its TTL is expired here first (its REMOVE record comes before this write's). */
  #current(t: TableRecord, key: ItemKey, pk: Uint8Array, sk: Uint8Array, now: number): (StoredItem & { text: string }) | null {
    const r = this.#sql.get('SELECT item, version, expires_at FROM kv_items WHERE tbl = ? AND pk = ? AND sk = ?', t.name, pk, sk);
    if (!r) return null;
    if (r.expires_at !== null && Number(r.expires_at) <= now) {
      this.#sql.run('DELETE FROM kv_items WHERE tbl = ? AND pk = ? AND sk = ?', t.name, pk, sk);
      this.#record(t, 'REMOVE', key, null, String(r.item), now, true);
      return null;
    }
    return { item: JSON.parse(String(r.item)) as JsonObject, version: Number(r.version), text: String(r.item) };
  }

  #record(t: TableRecord, event: StreamEventName, key: ItemKey, newText: string | null, oldText: string | null, now: number, expired: boolean): void {
    const keys = JSON.stringify(keysOf(t, key));
    const size = Buffer.byteLength(keys) + (newText === null ? 0 : Buffer.byteLength(newText)) + (oldText === null ? 0 : Buffer.byteLength(oldText));
    this.#sql.run('INSERT INTO kv_stream(tbl, event, keys, new_image, old_image, created_at, size, expired, trace) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      t.name, event, keys, newText, oldText, now, size, expired ? 1 : 0, expired ? null : this.#trace ?? null);
  }

  async increment(table: string, key: ItemKey, attribute: string, by: number, now: number, trace?: string): Promise<{ value: number; version: number }> {
    return this.#sql.batched(() => this.#traced(trace, () => {
      const t = this.#table(table);
      const old = this.#current(t, key, encodeKeyValue(key.pk), skBytes(key), now);
      const item: JsonObject = old ? { ...old.item } : keysOf(t, key);
      const cur = item[attribute] ?? 0;
      if (typeof cur !== 'number') throw new NimbusError('INVALID_ITEM', `attribute: "${attribute}" holds a ${Array.isArray(cur) ? 'list' : cur === null ? 'null' : typeof cur}, not a number; only number attributes can be incremented`);
      const value = cur + by;
      if (!Number.isFinite(value)) throw new NimbusError('INVALID_ITEM', `by: ${cur} + ${by} is not a finite number`);
      item[attribute] = value;
      if (Buffer.byteLength(JSON.stringify(item)) > ITEM_MAX_BYTES) throw new NimbusError('ITEM_TOO_LARGE', `the item would be over ${ITEM_MAX_BYTES} bytes`);
      const r = this.#write(t, { op: 'put', key, item }, now, undefined);
      return { value, version: r.version! };
    }));
  }

  async query(table: string, q: QueryInput, now: number): Promise<ItemPage> {
    const t = this.#table(table);
    const where = ['tbl = ?', 'pk = ?', LIVE];
    const params: Uint8Array[] = [];
    const cond = (sqlText: string, ...p: Uint8Array[]) => { where.push(sqlText); params.push(...p); };
    const s = q.sort;
    if (s) {
      if (s.op === 'between') cond('sk >= ? AND sk <= ?', encodeKeyValue(s.low), encodeKeyValue(s.high));
      else if (s.op === 'beginsWith') cond('sk >= ? AND sk < ?', encodeKeyValue(s.prefix), prefixEnd(s.prefix));
      else {
        const v = encodeKeyValue(s.value);
        // Bounded to the operand's type: `lt 5` never returns strings, `gt "a"` never numbers.
        if (s.op === 'eq') cond('sk = ?', v);
        else if (s.op === 'lt') cond('sk >= ? AND sk < ?', typeStart(s.value), v);
        else if (s.op === 'le') cond('sk >= ? AND sk <= ?', typeStart(s.value), v);
        else if (s.op === 'gt') cond('sk > ? AND sk < ?', v, typeEnd(s.value));
        else cond('sk >= ? AND sk < ?', v, typeEnd(s.value));
      }
    }
    if (q.after) {
      if (t.sortKey === null || q.after.sk === null) return { items: [], last: null };
      cond(q.reverse ? 'sk < ?' : 'sk > ?', encodeKeyValue(q.after.sk));
    }
    const rows = this.#sql.all(`SELECT pk, sk, item, version FROM kv_items WHERE ${where.join(' AND ')} ORDER BY sk ${q.reverse ? 'DESC' : 'ASC'} LIMIT ?`,
      table, encodeKeyValue(q.pk), now, ...params, q.limit + 1);
    return page(t, rows, q.limit);
  }

  async scan(table: string, opts: { limit: number; after?: ItemKey }, now: number): Promise<ItemPage> {
    const t = this.#table(table);
    const rows = opts.after
      ? this.#sql.all(`SELECT pk, sk, item, version FROM kv_items WHERE tbl = ? AND (pk, sk) > (?, ?) AND ${LIVE} ORDER BY pk, sk LIMIT ?`, table, encodeKeyValue(opts.after.pk), skBytes(opts.after), now, opts.limit + 1)
      : this.#sql.all(`SELECT pk, sk, item, version FROM kv_items WHERE tbl = ? AND ${LIVE} ORDER BY pk, sk LIMIT ?`, table, now, opts.limit + 1);
    return page(t, rows, opts.limit);
  }

  async purge(table: string): Promise<number> {
    return this.#sql.tx(() => {
      this.#table(table);
      return this.#sql.run('DELETE FROM kv_items WHERE tbl = ?', table);
    });
  }

  async sweep(now: number, max: number, streamBefore: number): Promise<{ expired: number; tables: string[]; trimmed: number }> {
    return this.#sql.batched(() => {
      const sql = this.#sql;
      const rows = sql.all('SELECT tbl, pk, sk, item FROM kv_items WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?', now, max);
      const tables = new Map<string, TableRecord>();
      for (const r of rows) {
        const name = String(r.tbl);
        let t = tables.get(name);
        if (!t) tables.set(name, (t = this.#table(name)));
        sql.run('DELETE FROM kv_items WHERE tbl = ? AND pk = ? AND sk = ?', name, r.pk!, r.sk!);
        const key = { pk: decodeKeyValue(r.pk as Uint8Array), sk: (r.sk as Uint8Array).length ? decodeKeyValue(r.sk as Uint8Array) : null };
        this.#record(t, 'REMOVE', key, null, String(r.item), now, true);
      }
      const trimmed = sql.run('DELETE FROM kv_stream WHERE created_at < ?', streamBefore);
      return { expired: rows.length, tables: [...tables.keys()], trimmed };
    });
  }

  async readStream(table: string, afterSeq: number, limit: number): Promise<StreamRecord[]> {
    return this.#sql.all('SELECT * FROM kv_stream WHERE tbl = ? AND seq > ? ORDER BY seq LIMIT ?', table, afterSeq, limit).map((r) => ({
      seq: Number(r.seq), table: String(r.tbl), eventName: String(r.event) as StreamEventName, keys: JSON.parse(String(r.keys)) as JsonObject,
      newImage: r.new_image === null ? null : JSON.parse(String(r.new_image)) as JsonObject,
      oldImage: r.old_image === null ? null : JSON.parse(String(r.old_image)) as JsonObject,
      createdAt: Number(r.created_at), sizeBytes: Number(r.size), expired: Number(r.expired) === 1,
      ...(r.trace === null || r.trace === undefined ? {} : { trace: String(r.trace) }),
    }));
  }

  async getCheckpoint(fn: string, table: string): Promise<number | undefined> {
    const r = this.#sql.get('SELECT checkpoint FROM kv_triggers WHERE fn = ? AND tbl = ?', fn, table);
    return r ? Number(r.checkpoint) : undefined;
  }

  async setCheckpoint(fn: string, table: string, seq: number): Promise<boolean> {
    return this.#sql.batched(() => this.#sql.run('UPDATE kv_triggers SET checkpoint = MAX(checkpoint, ?) WHERE fn = ? AND tbl = ?', seq, fn, table) > 0);
  }
}

function skBytes(key: ItemKey): Uint8Array {
  return key.sk === null ? NO_SORT_KEY : encodeKeyValue(key.sk);
}

function keysOf(t: TableRecord, key: ItemKey): JsonObject {
  return t.sortKey === null ? { [t.partitionKey]: key.pk } : { [t.partitionKey]: key.pk, [t.sortKey]: key.sk };
}

/** When an item expires (ms), from its TTL attribute in epoch seconds; a missing or non-number attribute never expires (as DynamoDB). */
function expiryOf(item: JsonObject, ttl: string | null): number | null {
  if (ttl === null) return null;
  const v = item[ttl];
  if (typeof v !== 'number' || !Number.isFinite(v)) return null;
  return Math.max(Math.min(Math.floor(v * 1000), Number.MAX_SAFE_INTEGER), Number.MIN_SAFE_INTEGER);
}

function page(t: TableRecord, rows: Row[], limit: number): ItemPage {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const lastRow = kept.at(-1);
  const last: ItemKey | null = more && lastRow
    ? { pk: decodeKeyValue(lastRow.pk as Uint8Array), sk: t.sortKey === null ? null : decodeKeyValue(lastRow.sk as Uint8Array) }
    : null;
  return { items: kept.map((r) => ({ item: JSON.parse(String(r.item)) as JsonObject, version: Number(r.version) })), last };
}

function toTable(r: Row): TableRecord {
  return {
    name: String(r.name), app: String(r.app), partitionKey: String(r.partition_key),
    sortKey: r.sort_key === null ? null : String(r.sort_key), ttlAttribute: r.ttl_attribute === null ? null : String(r.ttl_attribute),
  };
}

