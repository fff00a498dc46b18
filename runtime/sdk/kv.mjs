// @ts-check
// KV tables from function code: `import { kv } from 'nimbus/sdk'`, then `kv.table('users').get(...)`.
// Each call goes to the host over the runtime's bridge; the host checks the function's grants
// (`permissions: { tables: { users: [read, write] } }`) and validates everything. Errors carry the
// platform's error code as their `name` (and `code`): TABLE_NOT_FOUND, ACCESS_DENIED, INVALID_KEY,
// INVALID_ITEM, ITEM_TOO_LARGE, CONDITION_FAILED, TOO_MANY_ENTRIES.

import { bridge } from './bridge.mjs';

/**
 * @typedef {string | number} KeyValue
 * @typedef {Record<string, unknown>} Item
 * @typedef {{ item: Item, version: number }} Versioned
 * @typedef {{ eq: KeyValue } | { lt: KeyValue } | { le: KeyValue } | { gt: KeyValue } | { ge: KeyValue } | { between: [KeyValue, KeyValue] } | { beginsWith: string }} SortCondition
 */

/**
 * One table. Keys are objects holding the table's key attributes: `{ id: 'u1' }`, or
 * `{ id: 'u1', createdAt: 1767225600 }` for a table with a sort key.
 * @param {string} name
 */
function table(name) {
  /** @param {string} op @param {Record<string, unknown>} args */
  const call = (op, args) => bridge().call(op, { table: name, ...args });
  return {
    name,
    /**
     * The item and its version, or null when there is none (or it is past its TTL). Needs read.
     * @param {Record<string, KeyValue>} key
     * @returns {Promise<Versioned | null>}
     */
    get(key) {
      return call('kv.get', { key });
    },
    /**
     * Inserts or replaces an item (it holds its key attributes). Needs write (and read with returnOld).
     * With ifNotExists, or expectedVersion, a condition that does not hold throws CONDITION_FAILED.
     * @param {Item} item
     * @param {{ ifNotExists?: boolean, expectedVersion?: number, returnOld?: boolean }} [options]
     * @returns {Promise<{ version: number, old?: Versioned | null }>}
     */
    put(item, options) {
      return call('kv.put', { item, options });
    },
    /**
     * Deletes an item; deleting one that is not there succeeds with deleted: false. Needs write.
     * @param {Record<string, KeyValue>} key
     * @param {{ ifExists?: boolean, expectedVersion?: number, returnOld?: boolean }} [options]
     * @returns {Promise<{ deleted: boolean, old?: Versioned | null }>}
     */
    delete(key, options) {
      return call('kv.delete', { key, options });
    },
    /**
     * Adds `by` (default 1; negative to subtract) to a number attribute, atomically; the item and
     * the attribute start at 0 when absent. Needs read and write (the answer tells the old value).
     * @param {Record<string, KeyValue>} key
     * @param {string} attribute
     * @param {number} [by]
     * @returns {Promise<{ value: number, version: number }>}
     */
    increment(key, attribute, by = 1) {
      return call('kv.increment', { key, attribute, by });
    },
    /**
     * Up to 100 items, in the order of the keys (null where there is none). Needs read.
     * @param {Record<string, KeyValue>[]} keys
     * @returns {Promise<(Versioned | null)[]>}
     */
    async batchGet(keys) {
      return (await call('kv.batchGet', { keys })).items;
    },
    /**
     * Up to 25 puts and deletes in one transaction: all happen, or none when a condition fails
     * (CONDITION_FAILED; `err.message` names the entry). Needs write.
     * @param {Array<({ put: Item, ifNotExists?: boolean, expectedVersion?: number }) | ({ delete: Record<string, KeyValue>, ifExists?: boolean, expectedVersion?: number })>} entries
     * @returns {Promise<Array<{ version: number } | { deleted: boolean }>>}
     */
    async batchWrite(entries) {
      return (await call('kv.batchWrite', { entries })).results;
    },
    /**
     * The items of one partition in sort-key order (reverse: descending), up to `limit` (default
     * 100, at most 1000); pass `cursor` from the previous page to continue (null: no more). Needs read.
     * @param {{ partitionKey: KeyValue, sortKey?: SortCondition, limit?: number, reverse?: boolean, cursor?: string }} query
     * @returns {Promise<{ items: Versioned[], cursor: string | null }>}
     */
    query(query) {
      return call('kv.query', { query });
    },
    /**
     * Every item of the table in key order, a page at a time. Needs read.
     * @param {{ limit?: number, cursor?: string }} [options]
     * @returns {Promise<{ items: Versioned[], cursor: string | null }>}
     */
    scan(options = {}) {
      return call('kv.scan', { options });
    },
  };
}

export const kv = { table };
