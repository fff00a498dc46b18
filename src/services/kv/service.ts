// KV tables: the one place the admin API, the runtime SDK and the CLI go through, so validation,
// TTL visibility (by the injected clock) and the stream wake-ups are the same for all. Items and
// their change records are committed before a write returns; table triggers sleep until a write
// to their table wakes them (notify/version/waitForChange, as QueueService does for messages).
import { NimbusError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { ItemKey, KvStore, KvWrite, StoredItem, TableRecord, TableStats } from '../../store/kv.ts';
import { WakeUps } from '../../util/wakeups.ts';
import type { Clock, Timer } from '../../util/clock.ts';
import {
  BATCH_GET_MAX_KEYS, BATCH_WRITE_MAX_ENTRIES, decodeCursor, encodeCursor, parseIncrement, parseItem, parseKey, parseLimit, parseQuery,
  parseWriteOptions, STREAM_RETENTION_MS,
} from './validate.ts';

/** How often the TTL sweeper runs; expired items are invisible at once, the sweep only deletes them (with their REMOVE records). */
export const SWEEP_EVERY_MS = 5_000;
/** Items one sweep transaction deletes at most; a sweep repeats while it finds that many. */
const SWEEP_BATCH = 500;

export interface Page { items: StoredItem[]; cursor: string | null }

export interface TableView {
  name: string;
  app: string;
  partitionKey: string;
  sortKey: string | null;
  ttlAttribute: string | null;
  stats: TableStats;
}

export class KvService {
  readonly #kv: KvStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #cache = new Map<string, TableRecord>();
  readonly #wakeUps: WakeUps;
  #sweepTimer: Timer | undefined;
  #sweeping: Promise<void> | undefined;
  #closed = false;

  /** `sweepEveryMs` 0: no timer (tests call sweep()). */
  constructor(kv: KvStore, clock: Clock, logger: Logger, opts: { sweepEveryMs?: number } = {}) {
    this.#kv = kv;
    this.#clock = clock;
    this.#logger = logger;
    this.#wakeUps = new WakeUps(clock);
    const every = opts.sweepEveryMs ?? SWEEP_EVERY_MS;
    if (every > 0) this.#scheduleSweep(every);
  }

  get store(): KvStore { return this.#kv; }
  get closed(): boolean { return this.#closed; }

  /** Table settings, cached until invalidate() (called after every deploy or delete). */
  async table(name: unknown): Promise<TableRecord> {
    if (typeof name !== 'string' || name === '') throw new NimbusError('BAD_REQUEST', `table: a table name is required, got ${name === undefined ? 'nothing' : typeof name === 'string' ? 'an empty string' : `a ${typeof name}`}`);
    const cached = this.#cache.get(name);
    if (cached) return cached;
    const t = await this.#kv.getTable(name);
    if (!t) throw new NimbusError('TABLE_NOT_FOUND', `no table named "${name}"; declare it under \`tables:\` in nimbus.yml and deploy`);
    this.#cache.set(name, t);
    return t;
  }

  invalidate(): void {
    this.#cache.clear();
  }

  async list(): Promise<TableView[]> {
    return Promise.all((await this.#kv.listTables()).map((t) => this.#view(t)));
  }

  async describe(name: string): Promise<TableView> {
    return this.#view(await this.table(name));
  }

  async #view(t: TableRecord): Promise<TableView> {
    return { name: t.name, app: t.app, partitionKey: t.partitionKey, sortKey: t.sortKey, ttlAttribute: t.ttlAttribute, stats: await this.#kv.tableStats(t.name, this.#clock.now()) };
  }

  async get(table: string, rawKey: unknown): Promise<StoredItem | null> {
    const t = await this.table(table);
    return this.#kv.getItem(t.name, parseKey(t, rawKey), this.#clock.now());
  }

  /** `trace` (here and in the other writes): the writer's trace context, which the change's stream record carries to its trigger. */
  async put(table: string, rawItem: unknown, rawOpts?: unknown, trace?: string): Promise<{ version: number; old?: StoredItem | null }> {
    const t = await this.table(table);
    const { item, key } = parseItem(t, rawItem);
    const { condition, returnOld } = parseWriteOptions(rawOpts, 'put');
    const [r] = await this.#kv.writeItems(t.name, [{ op: 'put', key, item, condition }], this.#clock.now(), trace);
    this.#wake(t.name);
    return returnOld ? { version: r!.version!, old: r!.old } : { version: r!.version! };
  }

  /** Idempotent: deleting a missing item succeeds with deleted: false (unless a condition says otherwise). */
  async delete(table: string, rawKey: unknown, rawOpts?: unknown, trace?: string): Promise<{ deleted: boolean; old?: StoredItem | null }> {
    const t = await this.table(table);
    const key = parseKey(t, rawKey);
    const { condition, returnOld } = parseWriteOptions(rawOpts, 'delete');
    const [r] = await this.#kv.writeItems(t.name, [{ op: 'delete', key, condition }], this.#clock.now(), trace);
    if (r!.old) this.#wake(t.name);
    return returnOld ? { deleted: r!.old !== null, old: r!.old } : { deleted: r!.old !== null };
  }

  async increment(table: string, rawKey: unknown, attribute: unknown, by?: unknown, trace?: string): Promise<{ value: number; version: number }> {
    const t = await this.table(table);
    const key = parseKey(t, rawKey);
    const inc = parseIncrement(t, attribute, by);
    const r = await this.#kv.increment(t.name, key, inc.attribute, inc.by, this.#clock.now(), trace);
    this.#wake(t.name);
    return r;
  }

  /** Up to 100 keys; items come back in the order of the keys, null where there is none. */
  async batchGet(table: string, rawKeys: unknown): Promise<{ items: (StoredItem | null)[] }> {
    const t = await this.table(table);
    if (!Array.isArray(rawKeys) || rawKeys.length === 0 || rawKeys.length > BATCH_GET_MAX_KEYS) {
      throw new NimbusError('TOO_MANY_ENTRIES', `keys: a batch get takes 1 to ${BATCH_GET_MAX_KEYS} keys, got ${Array.isArray(rawKeys) ? rawKeys.length : 'no list'}`);
    }
    const keys = rawKeys.map((k, i) => parseKey(t, k, `keys[${i}]`));
    return { items: await this.#kv.getItems(t.name, keys, this.#clock.now()) };
  }

  /**
   * Up to 25 entries, `{ put: item, ifNotExists?, expectedVersion? }` or `{ delete: key, ifExists?,
   * expectedVersion? }`, in one transaction: all are written, or — when one entry's condition fails
   * — none (CONDITION_FAILED naming the entry). Two entries may not name the same key.
   */
  async batchWrite(table: string, rawEntries: unknown, trace?: string): Promise<{ results: ({ version: number } | { deleted: boolean })[] }> {
    const t = await this.table(table);
    if (!Array.isArray(rawEntries) || rawEntries.length === 0 || rawEntries.length > BATCH_WRITE_MAX_ENTRIES) {
      throw new NimbusError('TOO_MANY_ENTRIES', `entries: a batch write takes 1 to ${BATCH_WRITE_MAX_ENTRIES} entries, got ${Array.isArray(rawEntries) ? rawEntries.length : 'no list'}`);
    }
    const seen = new Map<string, number>();
    const writes: KvWrite[] = rawEntries.map((raw, i) => {
      const where = `entries[${i}]`;
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new NimbusError('INVALID_ITEM', `${where}: an entry is { put: item, …options } or { delete: key, …options }`);
      const { put, delete: del, ...opts } = raw as Record<string, unknown>;
      if ((put === undefined) === (del === undefined)) throw new NimbusError('INVALID_ITEM', `${where}: give exactly one of put (an item) or delete (a key)`);
      const w: KvWrite = put !== undefined
        ? { op: 'put', ...parseItem(t, put, `${where}.put`), condition: parseWriteOptions(opts, 'put', where).condition }
        : { op: 'delete', key: parseKey(t, del, `${where}.delete`), condition: parseWriteOptions(opts, 'delete', where).condition };
      const id = JSON.stringify([w.key.pk, w.key.sk]);
      const first = seen.get(id);
      if (first !== undefined) throw new NimbusError('INVALID_KEY', `${where}: has the same key as entries[${first}]; a batch may write each item once`);
      seen.set(id, i);
      return w;
    });
    if (rawEntries.some((e) => 'returnOld' in (e as object))) throw new NimbusError('INVALID_ITEM', 'returnOld: not available in a batch write; write the item alone to get it back');
    const results = await this.#kv.writeItems(t.name, writes, this.#clock.now(), trace);
    this.#wake(t.name);
    return { results: results.map((r, i) => (writes[i]!.op === 'put' ? { version: r.version! } : { deleted: r.old !== null })) };
  }

  async query(table: string, raw: unknown): Promise<Page> {
    const t = await this.table(table);
    const q = parseQuery(t, raw);
    const page = await this.#kv.query(t.name, { pk: q.pk, sort: q.sort, reverse: q.reverse, limit: q.limit, after: q.cursor }, this.#clock.now());
    return { items: page.items, cursor: page.last ? encodeCursor(t.name, page.last) : null };
  }

  /** Every item in key order, a page at a time (admin and CLI; functions may too, with read). */
  async scan(table: string, raw: { limit?: unknown; cursor?: unknown } = {}): Promise<Page> {
    const t = await this.table(table);
    const limit = parseLimit(raw.limit, 'limit');
    const after: ItemKey | undefined = raw.cursor === undefined || raw.cursor === null ? undefined : decodeCursor(t, raw.cursor);
    const page = await this.#kv.scan(t.name, { limit, after }, this.#clock.now());
    return { items: page.items, cursor: page.last ? encodeCursor(t.name, page.last) : null };
  }

  /** Deletes every item of the table, writing no stream records (an admin's reset, not a change to react to). */
  async purge(table: string): Promise<number> {
    const t = await this.table(table);
    return this.#kv.purge(t.name);
  }

  /** Deletes items past their TTL (each with a REMOVE record marked as an expiry) and stream records past 24 h. */
  async sweep(): Promise<number> {
    if (this.#sweeping) {
      await this.#sweeping;
    }
    let expired = 0;
    const run = (async () => {
      for (;;) {
        const now = this.#clock.now();
        const r = await this.#kv.sweep(now, SWEEP_BATCH, now - STREAM_RETENTION_MS);
        expired += r.expired;
        for (const t of r.tables) this.#wake(t);
        if (r.expired < SWEEP_BATCH || this.#closed) break;
      }
    })();
    this.#sweeping = run;
    try { await run; } finally { this.#sweeping = undefined; }
    return expired;
  }

  #scheduleSweep(every: number): void {
    this.#sweepTimer = this.#clock.setTimeout(() => {
      if (this.#closed) return;
      this.sweep()
        .then((n) => { if (n > 0) this.#logger.debug({ items: n }, 'KV items past their TTL deleted'); })
        .catch((err: unknown) => { if (!this.#closed) this.#logger.error({ err }, 'KV TTL sweep failed'); })
        .finally(() => { if (!this.#closed) this.#scheduleSweep(every); });
    }, every);
  }

  // --- wake-ups for table triggers -------------------------------------------------------------

  /** Counts the wake-ups of a table: read it before reading the stream, pass it to waitForChange. */
  version(table: string): number {
    return this.#wakeUps.version(table);
  }

  /** Wakes whoever waits on the table's stream. In cluster mode a NOTIFY does this across nodes. */
  notify(table: string): void {
    this.#wake(table);
  }

  /** Resolves on a write to the table (or at once if one came since `since`), or at `until` at the latest. */
  waitForChange(table: string, until: number, since?: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#wakeUps.wait(table, until, since);
  }

  #wake(table: string): void {
    this.#wakeUps.wake(table);
  }

  close(): void {
    this.#closed = true;
    this.#sweepTimer?.cancel();
    this.#wakeUps.wakeAll();
  }
}
