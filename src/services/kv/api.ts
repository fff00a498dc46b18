// The admin API of KV tables (`/_nimbus/api/tables/...`): list and describe tables (with stream
// and trigger positions), read and write items, batch, increment, query, scan and purge. The CLI
// (`nimbus tables`) is a client of these endpoints.
import type { IncomingMessage } from 'node:http';
import type { ApiRoute } from '../../control/route.ts';
import { NimbusError } from '../../errors.ts';
import { parseJsonBody, readBody, sendJson } from '../../util/http.ts';
import type { KvService } from './service.ts';

const BODY_MAX_BYTES = 1024 * 1024;
/** 25 items of up to 400 KB each, as JSON (DynamoDB caps a batch write at 16 MB too). */
const BATCH_BODY_MAX_BYTES = 16 * 1024 * 1024;
const BASE = '/_nimbus/api/tables';

async function body(req: IncomingMessage, limit: number, what: string): Promise<Record<string, unknown>> {
  const v = parseJsonBody(await readBody(req, limit), what);
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new NimbusError('INVALID_JSON', `${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

/** `?key=` holds the key as JSON, e.g. `{"id":"a","at":5}` (so that numbers stay numbers). */
function keyParam(query: URLSearchParams): unknown {
  const raw = query.get('key');
  if (raw === null) throw new NimbusError('INVALID_KEY', 'key: give the item\'s key as JSON in the query string, e.g. ?key={"id":"a"}');
  try {
    return JSON.parse(raw);
  } catch {
    throw new NimbusError('INVALID_KEY', `key: not valid JSON (${raw.slice(0, 60)}); e.g. ?key={"id":"a"}`);
  }
}

function flagParam(query: URLSearchParams, name: string): boolean | undefined {
  const v = query.get(name);
  if (v === null) return undefined;
  if (v !== 'true' && v !== 'false') throw new NimbusError('BAD_REQUEST', `${name}: true or false, got "${v}"`);
  return v === 'true';
}

function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null) return undefined;
  if (!/^\d+$/.test(v)) throw new NimbusError('BAD_REQUEST', `${name}: a whole number, got "${v}"`);
  return Number(v);
}

const tableParam = { name: 'table', in: 'path', required: true, schema: { type: 'string' } };
const keyQuery = { name: 'key', in: 'query', required: true, description: 'The key as JSON, e.g. {"id":"a"}', schema: { type: 'string' } };
const json = (description: string, schema: Record<string, unknown> = { type: 'object' }) => ({ description, content: { 'application/json': { schema } } });
const errors = { 400: { description: 'INVALID_KEY / INVALID_ITEM / TOO_MANY_ENTRIES' }, 404: { description: 'TABLE_NOT_FOUND' } };
const itemSchema = { type: 'object', properties: { item: { type: ['object', 'null'] }, version: { type: ['integer', 'null'] } } };
const pageSchema = { type: 'object', properties: { items: { type: 'array', items: itemSchema }, cursor: { type: ['string', 'null'] } } };

export function kvRoutes(svc: KvService): ApiRoute[] {
  return [
    {
      method: 'GET', path: BASE,
      handler: async (req, res) => { req.resume(); sendJson(res, 200, { tables: await svc.list() }); },
      openapi: { summary: 'List KV tables with item counts, stream and trigger positions', responses: { 200: json('The tables') } },
    },
    {
      method: 'GET', path: `${BASE}/:table`,
      handler: async (req, res, p) => { req.resume(); sendJson(res, 200, await svc.describe(p.table!)); },
      openapi: { summary: 'Describe a table: keys, TTL attribute, item count, stream, triggers with checkpoint and lag', parameters: [tableParam], responses: { 200: json('The table'), 404: errors[404] } },
    },
    {
      method: 'GET', path: `${BASE}/:table/items`,
      handler: async (req, res, p, q) => {
        req.resume();
        const got = await svc.get(p.table!, keyParam(q));
        sendJson(res, 200, got ?? { item: null, version: null });
      },
      openapi: { summary: 'Get an item by key ({ item: null } when there is none)', parameters: [tableParam, keyQuery], responses: { 200: json('The item and its version', itemSchema), ...errors } },
    },
    {
      method: 'PUT', path: `${BASE}/:table/items`,
      handler: async (req, res, p) => {
        const { item, ...options } = await body(req, BODY_MAX_BYTES, 'the put request');
        sendJson(res, 200, await svc.put(p.table!, item, options));
      },
      openapi: {
        summary: 'Put an item (insert or replace), optionally conditional',
        parameters: [tableParam],
        requestBody: json('{ item, ifNotExists?, expectedVersion?, returnOld? }', { type: 'object', required: ['item'], properties: { item: { type: 'object' }, ifNotExists: { type: 'boolean' }, expectedVersion: { type: 'integer' }, returnOld: { type: 'boolean' } } }),
        responses: { 200: json('{ version, old? }'), ...errors, 409: { description: 'CONDITION_FAILED' }, 413: { description: 'ITEM_TOO_LARGE' } },
      },
    },
    {
      method: 'DELETE', path: `${BASE}/:table/items`,
      handler: async (req, res, p, q) => {
        req.resume();
        const options = { ifExists: flagParam(q, 'ifExists'), expectedVersion: intParam(q, 'expectedVersion'), returnOld: flagParam(q, 'returnOld') };
        sendJson(res, 200, await svc.delete(p.table!, keyParam(q), JSON.parse(JSON.stringify(options))));
      },
      openapi: {
        summary: 'Delete an item (idempotent: deleted is false when there was none)',
        parameters: [tableParam, keyQuery, { name: 'expectedVersion', in: 'query', schema: { type: 'integer' } }, { name: 'ifExists', in: 'query', schema: { type: 'boolean' } }, { name: 'returnOld', in: 'query', schema: { type: 'boolean' } }],
        responses: { 200: json('{ deleted, old? }'), ...errors, 409: { description: 'CONDITION_FAILED' } },
      },
    },
    {
      method: 'POST', path: `${BASE}/:table/batch-get`,
      handler: async (req, res, p) => sendJson(res, 200, await svc.batchGet(p.table!, (await body(req, BODY_MAX_BYTES, 'the batch get')).keys)),
      openapi: { summary: 'Get up to 100 items by key, in the order of the keys (null where none)', parameters: [tableParam], requestBody: json('{ keys: [key, ...] }'), responses: { 200: json('{ items }'), ...errors } },
    },
    {
      method: 'POST', path: `${BASE}/:table/batch-write`,
      handler: async (req, res, p) => sendJson(res, 200, await svc.batchWrite(p.table!, (await body(req, BATCH_BODY_MAX_BYTES, 'the batch write')).entries)),
      openapi: {
        summary: 'Put or delete up to 25 items in one transaction: all, or none when a condition fails',
        parameters: [tableParam], requestBody: json('{ entries: [{ put: item, ifNotExists?, expectedVersion? } | { delete: key, ifExists?, expectedVersion? }] }'),
        responses: { 200: json('{ results: [{ version } | { deleted }] }'), ...errors, 409: { description: 'CONDITION_FAILED (details.index names the entry)' } },
      },
    },
    {
      method: 'POST', path: `${BASE}/:table/increment`,
      handler: async (req, res, p) => {
        const b = await body(req, BODY_MAX_BYTES, 'the increment request');
        sendJson(res, 200, await svc.increment(p.table!, b.key, b.attribute, b.by));
      },
      openapi: { summary: 'Add to a number attribute atomically (creating the item or attribute at 0)', parameters: [tableParam], requestBody: json('{ key, attribute, by? (default 1) }'), responses: { 200: json('{ value, version }'), ...errors } },
    },
    {
      method: 'POST', path: `${BASE}/:table/query`,
      handler: async (req, res, p) => sendJson(res, 200, await svc.query(p.table!, await body(req, BODY_MAX_BYTES, 'the query'))),
      openapi: {
        summary: 'Items of one partition in sort-key order, with an optional sort-key condition, a page at a time',
        parameters: [tableParam], requestBody: json('{ partitionKey, sortKey?: { eq|lt|le|gt|ge: v } | { between: [lo, hi] } | { beginsWith: "p" }, limit?, reverse?, cursor? }'),
        responses: { 200: json('A page', pageSchema), ...errors },
      },
    },
    {
      method: 'GET', path: `${BASE}/:table/scan`,
      handler: async (req, res, p, q) => {
        req.resume();
        sendJson(res, 200, await svc.scan(p.table!, { limit: intParam(q, 'limit'), cursor: q.get('cursor') ?? undefined }));
      },
      openapi: {
        summary: 'Every item in key order, a page at a time',
        parameters: [tableParam, { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } }, { name: 'cursor', in: 'query', schema: { type: 'string' } }],
        responses: { 200: json('A page', pageSchema), ...errors },
      },
    },
    {
      method: 'POST', path: `${BASE}/:table/purge`,
      handler: async (req, res, p) => { req.resume(); sendJson(res, 200, { purged: await svc.purge(p.table!) }); },
      openapi: { summary: 'Delete every item (writes no stream records)', parameters: [tableParam], responses: { 200: json('{ purged }'), 404: errors[404] } },
    },
  ];
}
