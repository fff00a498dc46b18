// Object storage over HTTP: the admin API's bucket and object endpoints (bearer token), and the
// presigned object URLs (`/_nimbus/storage/<bucket>/<key>`, no token: the URL's signature is the
// proof). Object bodies are streamed between the socket and the blob store, never held whole.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { ApiRoute } from '../../control/route.ts';
import { isNimbusError, NimbusError } from '../../errors.ts';
import { parseJsonBody, readBody, sendJson } from '../../util/http.ts';
import { parseObjectPath } from './presign.ts';
import { formatBytes, MAX_OBJECT_BYTES, type ObjectInfo, type StorageService, type WriteContext } from './service.ts';
import { METADATA_HEADER_PREFIX, metadataFromHeaders } from './validate.ts';

const OBJECT_IN_API = /^\/_nimbus\/api\/buckets\/([^/?]+)\/objects\/([^?]*)/;

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new NimbusError(what === 'bucket' ? 'INVALID_BUCKET_NAME' : 'INVALID_OBJECT_KEY', `the ${what} in the URL has a malformed %-escape; percent-encode each UTF-8 byte`);
  }
}

/** Bucket and key of an admin API object URL, taken from the raw URL so no router decoding or normalising is involved. */
function apiTarget(req: IncomingMessage): { bucket: string; key: string } {
  const m = OBJECT_IN_API.exec(req.url ?? '');
  if (!m || m[2] === '') throw new NimbusError('INVALID_OBJECT_KEY', 'the URL names no object key: use /_nimbus/api/buckets/<bucket>/objects/<key>');
  return { bucket: decode(m[1]!, 'bucket'), key: decode(m[2]!, 'key') };
}

function presignedTarget(req: IncomingMessage): { bucket: string; key: string } {
  const t = parseObjectPath((req.url ?? '').split('?')[0]!);
  if (!t) throw new NimbusError('PRESIGNED_URL_INVALID', 'presigned URL refused (malformed): the path must be /_nimbus/storage/<bucket>/<key>; ask for a new URL');
  return t;
}

function context(req: IncomingMessage, principal: string): WriteContext {
  return { principal, sourceIp: req.socket.remoteAddress, requestId: header(req, 'x-request-id') };
}

/** Types a browser would run or render as a page: served as downloads. */
const ACTIVE_TYPE = /^\s*(text\/html|application\/xhtml\+xml|image\/svg\+xml|text\/xml|application\/xml|text\/javascript|application\/javascript|text\/xsl)\b/i;

/**
 * The headers that describe an object in a GET or HEAD answer. Objects are served from the same
 * origin as the app's routes, with whatever type their uploader chose: the browser must never run
 * them (no sniffing, a sandboxing CSP, and active types as attachments).
 */
function objectHeaders(info: ObjectInfo): Record<string, string | number> {
  const h: Record<string, string | number> = {
    'content-type': info.contentType, etag: `"${info.etag}"`, 'last-modified': new Date(info.lastModified).toUTCString(), 'accept-ranges': 'bytes',
    'x-content-type-options': 'nosniff', 'content-security-policy': "sandbox; default-src 'none'",
    ...(ACTIVE_TYPE.test(info.contentType) ? { 'content-disposition': 'attachment' } : {}),
  };
  for (const [name, value] of Object.entries(info.metadata)) h[METADATA_HEADER_PREFIX + name] = value;
  return h;
}

export function objectView(info: ObjectInfo): Record<string, unknown> {
  return { bucket: info.bucket, key: info.key, size: info.size, etag: info.etag, contentType: info.contentType, metadata: info.metadata, lastModified: new Date(info.lastModified).toISOString() };
}

/** After a failure before the body was read: close the connection rather than read (up to 5 GB of) a body nobody wants. */
function closeUnread(req: IncomingMessage, res: ServerResponse): void {
  if (!req.complete && !res.headersSent) res.setHeader('connection', 'close');
}

/** A client that went away mid-transfer: nothing to answer, and not a server error. */
function aborted(req: IncomingMessage, res: ServerResponse, err: unknown): boolean {
  if (isNimbusError(err)) return false;
  const code = (err as { code?: string }).code;
  if (!req.destroyed && !res.destroyed && code !== 'ECONNRESET' && code !== 'ERR_STREAM_PREMATURE_CLOSE') return false;
  res.destroy();
  return true;
}

async function sendObject(svc: StorageService, req: IncomingMessage, res: ServerResponse, bucket: string, key: string): Promise<void> {
  const head = req.method === 'HEAD';
  let got;
  try {
    got = await svc.get(bucket, key, { range: head ? undefined : header(req, 'range'), ifRange: header(req, 'if-range'), ifMatch: header(req, 'if-match'), ifNoneMatch: header(req, 'if-none-match') });
  } catch (err) {
    if (isNimbusError(err) && err.code === 'INVALID_RANGE' && typeof err.details?.size === 'number') res.setHeader('content-range', `bytes */${err.details.size}`);
    throw err;
  }
  const headers = objectHeaders(got.info);
  if (got.notModified) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const { body, range, info } = got;
  if (head) body.destroy();
  if (range) {
    res.writeHead(206, { ...headers, 'content-length': range.end - range.start + 1, 'content-range': `bytes ${range.start}-${range.end}/${info.size}` });
  } else {
    res.writeHead(200, { ...headers, 'content-length': info.size });
  }
  if (head) return void res.end();
  try {
    await pipeline(body, res);
  } catch {
    // The client went away, or the disk failed mid-stream: the length sent cannot be met, so cut the connection.
    body.destroy();
    res.destroy();
  }
}

async function receiveObject(svc: StorageService, req: IncomingMessage, res: ServerResponse, bucket: string, key: string, principal: string): Promise<void> {
  const declared = Number(header(req, 'content-length'));
  if (Number.isFinite(declared) && declared > MAX_OBJECT_BYTES) {
    throw new NimbusError('ENTITY_TOO_LARGE', `the object is ${formatBytes(declared)}; objects are at most ${formatBytes(MAX_OBJECT_BYTES)} (${MAX_OBJECT_BYTES} bytes)`);
  }
  const inm = header(req, 'if-none-match');
  if (inm !== undefined && inm.trim() !== '*') throw new NimbusError('BAD_REQUEST', 'If-None-Match on a PUT takes only "*" (write only if the key is free)');
  const info = await svc.put(bucket, key, req, {
    contentType: header(req, 'content-type'), metadata: metadataFromHeaders(req.headers), ifNoneMatch: inm !== undefined, ifMatch: header(req, 'if-match'),
    ...context(req, principal),
  });
  sendJson(res, 200, objectView(info), { etag: `"${info.etag}"` });
}

/** Wraps an object handler: a refused upload closes the connection; an aborted one answers nothing. */
function guarded(fn: ApiRoute['handler']): ApiRoute['handler'] {
  return async (req, res, params, query) => {
    try {
      await fn(req, res, params, query);
    } catch (err) {
      if (aborted(req, res, err)) return;
      closeUnread(req, res);
      throw err;
    }
  };
}

async function copyObject(svc: StorageService, req: IncomingMessage, res: ServerResponse, bucket: string, key: string, source: string): Promise<void> {
  req.resume();
  const raw = source.replace(/^\//, '');
  const slash = raw.indexOf('/');
  if (slash <= 0 || slash === raw.length - 1) throw new NimbusError('BAD_REQUEST', `x-nimbus-copy-source: use <bucket>/<key> with the key percent-encoded, got ${JSON.stringify(source.slice(0, 100))}`);
  const from = { bucket: decode(raw.slice(0, slash), 'bucket'), key: decode(raw.slice(slash + 1), 'key') };
  const directive = (header(req, 'x-nimbus-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new NimbusError('BAD_REQUEST', `x-nimbus-metadata-directive: COPY (keep the source's content type and metadata) or REPLACE (take this request's), got "${directive}"`);
  const info = await svc.copy(from, { bucket, key }, {
    replace: directive === 'REPLACE' ? { contentType: header(req, 'content-type'), metadata: metadataFromHeaders(req.headers) } : undefined,
    ifSourceMatch: header(req, 'x-nimbus-copy-source-if-match'),
    ...context(req, 'admin'),
  });
  sendJson(res, 200, objectView(info), { etag: `"${info.etag}"` });
}

function intQuery(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null) return undefined;
  if (!/^\d{1,9}$/.test(v)) throw new NimbusError('BAD_REQUEST', `${name}: must be a whole number, got "${v.slice(0, 20)}"`);
  return Number(v);
}

// --- OpenAPI --------------------------------------------------------------------------------------

/** The admin API's shared error response; `_code` names the error code(s) for the reader of this file. */
const err = (_code: string) => ({ $ref: '#/components/responses/Error' });
const bucketParam = { name: 'bucket', in: 'path', required: true, schema: { type: 'string' } };
const keyParam = { name: 'key', in: 'path', required: true, description: 'The object key (the route\'s `*`), each segment percent-encoded ("/" kept).', schema: { type: 'string' } };
const objectSchema = {
  type: 'object',
  properties: {
    bucket: { type: 'string' }, key: { type: 'string' }, size: { type: 'integer' }, etag: { type: 'string' }, contentType: { type: 'string' },
    metadata: { type: 'object', additionalProperties: { type: 'string' } }, lastModified: { type: 'string', format: 'date-time' },
  },
};
const bucketSchema = { type: 'object', properties: { name: { type: 'string' }, app: { type: 'string' }, objects: { type: 'integer' }, bytes: { type: 'integer' } } };
const presignedParams = ['X-Nimbus-Date', 'X-Nimbus-Expires', 'X-Nimbus-Signature'].map((name) => ({ name, in: 'query', required: true, schema: { type: 'string' } }))
  .concat([{ name: 'X-Nimbus-Content-Type', in: 'query', required: false, schema: { type: 'string' } }]);
const bytesBody = { required: true, content: { '*/*': { schema: { type: 'string', format: 'binary' } } } };
const bytesAnswer = (description: string) => ({ description, content: { '*/*': { schema: { type: 'string', format: 'binary' } } } });

export function storageRoutes(svc: StorageService): ApiRoute[] {
  const getObject: ApiRoute['handler'] = async (req, res) => {
    const { bucket, key } = apiTarget(req);
    await sendObject(svc, req, res, bucket, key);
  };
  const presignedGet: ApiRoute['handler'] = async (req, res, _p, query) => {
    const { bucket, key } = presignedTarget(req);
    svc.verifyPresigned({ method: req.method ?? 'GET', bucket, key, query });
    await sendObject(svc, req, res, bucket, key);
  };
  return [
    {
      method: 'GET', path: '/_nimbus/api/buckets',
      handler: async (_req, res) => sendJson(res, 200, { buckets: await svc.listBuckets() }),
      openapi: { summary: 'List buckets with their app, object count and bytes', tags: ['storage'], responses: { 200: { description: 'The buckets', content: { 'application/json': { schema: { type: 'object', properties: { buckets: { type: 'array', items: bucketSchema } } } } } } } },
    },
    {
      method: 'GET', path: '/_nimbus/api/buckets/:bucket',
      handler: async (_req, res, p) => sendJson(res, 200, await svc.bucket(p.bucket!)),
      openapi: { summary: 'A bucket: its app, object count and bytes', tags: ['storage'], parameters: [bucketParam], responses: { 200: { description: 'The bucket', content: { 'application/json': { schema: bucketSchema } } }, 404: err('BUCKET_NOT_FOUND') } },
    },
    {
      method: 'GET', path: '/_nimbus/api/buckets/:bucket/objects',
      handler: async (_req, res, p, query) => {
        const page = await svc.list(p.bucket!, {
          prefix: query.get('prefix') ?? undefined, delimiter: query.get('delimiter') ?? undefined, maxKeys: intQuery(query, 'max-keys'),
          continuationToken: query.get('continuation-token') ?? undefined, startAfter: query.get('start-after') ?? undefined,
        });
        sendJson(res, 200, {
          name: p.bucket, prefix: page.prefix, delimiter: page.delimiter, maxKeys: page.maxKeys, keyCount: page.keyCount, isTruncated: page.isTruncated,
          ...(page.nextContinuationToken ? { nextContinuationToken: page.nextContinuationToken } : {}),
          contents: page.contents.map((o) => ({ key: o.key, size: o.size, etag: o.etag, contentType: o.contentType, lastModified: new Date(o.lastModified).toISOString() })),
          commonPrefixes: page.commonPrefixes,
        });
      },
      openapi: {
        summary: 'List objects (ListObjectsV2: prefix, delimiter, pages of up to 1000)', tags: ['storage'],
        parameters: [bucketParam, ...['prefix', 'delimiter', 'continuation-token', 'start-after'].map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } })), { name: 'max-keys', in: 'query', required: false, schema: { type: 'integer', minimum: 0, maximum: 1000 } }],
        responses: {
          200: { description: 'One page', content: { 'application/json': { schema: { type: 'object', properties: { contents: { type: 'array', items: objectSchema }, commonPrefixes: { type: 'array', items: { type: 'string' } }, isTruncated: { type: 'boolean' }, nextContinuationToken: { type: 'string' }, keyCount: { type: 'integer' } } } } } },
          400: err('BAD_REQUEST (a token from another listing, max-keys)'), 404: err('BUCKET_NOT_FOUND'),
        },
      },
    },
    {
      method: 'PUT', path: '/_nimbus/api/buckets/:bucket/objects/*',
      handler: guarded(async (req, res) => {
        const { bucket, key } = apiTarget(req);
        const source = header(req, 'x-nimbus-copy-source');
        if (source !== undefined) return copyObject(svc, req, res, bucket, key, source);
        await receiveObject(svc, req, res, bucket, key, 'admin');
      }),
      openapi: {
        summary: 'Upload an object (streamed; at most 5 GB), or copy one with x-nimbus-copy-source', tags: ['storage'],
        parameters: [bucketParam, keyParam,
          { name: 'x-nimbus-copy-source', in: 'header', required: false, description: '<bucket>/<key> (key percent-encoded): copy that object instead of uploading', schema: { type: 'string' } },
          { name: 'x-nimbus-metadata-directive', in: 'header', required: false, schema: { type: 'string', enum: ['COPY', 'REPLACE'] } },
          { name: 'If-None-Match', in: 'header', required: false, description: '"*": only when the key is free', schema: { type: 'string' } },
          { name: 'If-Match', in: 'header', required: false, description: 'only when the current ETag is this', schema: { type: 'string' } }],
        requestBody: bytesBody,
        responses: { 200: { description: 'Stored (durable)', content: { 'application/json': { schema: objectSchema } } }, 404: err('BUCKET_NOT_FOUND'), 412: err('PRECONDITION_FAILED'), 413: err('ENTITY_TOO_LARGE') },
      },
    },
    {
      method: 'GET', path: '/_nimbus/api/buckets/:bucket/objects/*', handler: getObject,
      openapi: {
        summary: 'Download an object (streamed; Range supported)', tags: ['storage'],
        parameters: [bucketParam, keyParam, { name: 'Range', in: 'header', required: false, schema: { type: 'string' } }],
        responses: { 200: bytesAnswer('The object'), 206: bytesAnswer('The range'), 304: { description: 'If-None-Match names the ETag' }, 404: err('OBJECT_NOT_FOUND'), 416: err('INVALID_RANGE') },
      },
    },
    {
      method: 'HEAD', path: '/_nimbus/api/buckets/:bucket/objects/*', handler: getObject,
      openapi: { summary: "An object's headers: size, ETag, content type, metadata", tags: ['storage'], parameters: [bucketParam, keyParam], responses: { 200: { description: 'The object exists' }, 404: { description: 'OBJECT_NOT_FOUND' } } },
    },
    {
      method: 'DELETE', path: '/_nimbus/api/buckets/:bucket/objects/*',
      handler: async (req, res) => {
        req.resume();
        const { bucket, key } = apiTarget(req);
        await svc.delete(bucket, key, context(req, 'admin'));
        res.writeHead(204);
        res.end();
      },
      openapi: { summary: 'Delete an object (succeeds for a missing key, as S3)', tags: ['storage'], parameters: [bucketParam, keyParam], responses: { 204: { description: 'Deleted, or there was none' }, 404: err('BUCKET_NOT_FOUND') } },
    },
    {
      method: 'POST', path: '/_nimbus/api/buckets/:bucket/presign',
      handler: async (req, res, p) => {
        const body = parseJsonBody(await readBody(req, 64 * 1024), 'the presign request') ?? {};
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new NimbusError('BAD_REQUEST', 'the presign request must be a JSON object { method, key, expiresIn, contentType }');
        const b = body as Record<string, unknown>;
        const host = header(req, 'host');
        sendJson(res, 200, await svc.presign(p.bucket!, b.key as string, { method: b.method, expiresIn: b.expiresIn, contentType: b.contentType, origin: host ? `http://${host}` : undefined }));
      },
      openapi: {
        summary: 'Make a presigned URL to GET or PUT one object without a token', tags: ['storage'], parameters: [bucketParam],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['key'], properties: { key: { type: 'string' }, method: { type: 'string', enum: ['GET', 'PUT'] }, expiresIn: { type: 'integer', minimum: 1, maximum: 604800 }, contentType: { type: 'string' } } } } } },
        responses: { 200: { description: 'The URL', content: { 'application/json': { schema: { type: 'object', properties: { url: { type: 'string' }, method: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } } } } } }, 404: err('BUCKET_NOT_FOUND') },
      },
    },
    {
      method: 'GET', path: '/_nimbus/storage/:bucket/*', auth: false, handler: presignedGet,
      openapi: { summary: 'Download through a presigned URL', tags: ['storage'], security: [], parameters: [bucketParam, keyParam, ...presignedParams], responses: { 200: bytesAnswer('The object'), 206: bytesAnswer('The range'), 403: err('PRESIGNED_URL_INVALID'), 404: err('OBJECT_NOT_FOUND') } },
    },
    {
      method: 'HEAD', path: '/_nimbus/storage/:bucket/*', auth: false, handler: presignedGet,
      openapi: { summary: "An object's headers through a presigned GET URL", tags: ['storage'], security: [], parameters: [bucketParam, keyParam, ...presignedParams], responses: { 200: { description: 'The object exists' }, 403: { description: 'PRESIGNED_URL_INVALID' } } },
    },
    {
      method: 'PUT', path: '/_nimbus/storage/:bucket/*', auth: false,
      handler: guarded(async (req, res, _p, query) => {
        const { bucket, key } = presignedTarget(req);
        svc.verifyPresigned({ method: 'PUT', bucket, key, query, contentType: header(req, 'content-type') });
        await receiveObject(svc, req, res, bucket, key, 'presigned');
      }),
      openapi: { summary: 'Upload through a presigned PUT URL (streamed; at most 5 GB)', tags: ['storage'], security: [], parameters: [bucketParam, keyParam, ...presignedParams], requestBody: bytesBody, responses: { 200: { description: 'Stored', content: { 'application/json': { schema: objectSchema } } }, 403: err('PRESIGNED_URL_INVALID'), 413: err('ENTITY_TOO_LARGE') } },
    },
  ];
}
