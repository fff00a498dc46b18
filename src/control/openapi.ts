// The admin API's OpenAPI 3.1 document, served at /_nimbus/api/openapi.json. Kept next to the
// router in api.ts; test/api.test.ts checks that every route there is described here.

const error = { $ref: '#/components/responses/Error' };
const json = (schema: Record<string, unknown>, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
const nameParam = (name: string, what: string) => ({ name, in: 'path', required: true, schema: { type: 'string' }, description: what });

export const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'Nimbus admin API', version: '0.1.0', description: 'Deploy apps, inspect and invoke functions, read logs. Every endpoint but health and this document needs `Authorization: Bearer <token>`; the token is in the data dir (admin-token).' },
  servers: [{ url: '/' }],
  security: [{ bearer: [] }],
  paths: {
    '/_nimbus/health': { get: { summary: 'Liveness and a short status', security: [], responses: { 200: json({ type: 'object' }) } } },
    '/_nimbus/api/openapi.json': { get: { summary: 'This document', security: [], responses: { 200: json({ type: 'object' }) } } },
    '/_nimbus/api/apps': { get: { summary: 'List apps', responses: { 200: json({ type: 'object', properties: { apps: { type: 'array', items: { $ref: '#/components/schemas/App' } } } }), 401: error } } },
    '/_nimbus/api/apps/{app}': {
      parameters: [nameParam('app', 'app name')],
      get: { summary: 'Get an app', responses: { 200: json({ $ref: '#/components/schemas/App' }), 404: error } },
      put: {
        summary: 'Deploy an app (declarative: the body is the whole desired state)',
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/DeployRequest' } } } },
        responses: { 200: json({ $ref: '#/components/schemas/DeployResult' }), 400: error, 409: error, 413: error },
      },
      delete: { summary: 'Delete an app, its functions and routes', responses: { 200: json({ type: 'object' }), 404: error } },
    },
    '/_nimbus/api/instances': {
      get: {
        summary: "Every function's instances (busy, idle, provisioned, in flight), the spare runtime pool and the host's capacity",
        responses: { 200: json({ type: 'object', properties: { functions: { type: 'object' }, spares: { type: 'object' }, capacity: { type: 'object' } } }) },
      },
    },
    '/_nimbus/api/functions': { get: { summary: 'List functions', responses: { 200: json({ type: 'object', properties: { functions: { type: 'array', items: { $ref: '#/components/schemas/Function' } } } }) } } },
    '/_nimbus/api/functions/{name}': {
      parameters: [nameParam('name', 'function name')],
      get: { summary: 'Get a function, its routes and instances', responses: { 200: json({ $ref: '#/components/schemas/Function' }), 404: error } },
      delete: { summary: 'Remove one function and its routes from its app', responses: { 200: json({ type: 'object' }), 404: error } },
    },
    '/_nimbus/api/functions/{name}/invocations': {
      parameters: [nameParam('name', 'function name')],
      post: {
        summary: 'Invoke synchronously: the body is the event, the response is the result',
        description: 'On a function error the status is still 200, with `X-Nimbus-Function-Error: Unhandled`, `X-Nimbus-Error-Type`, and the body `{errorType, errorMessage, trace}`. The request id is in `X-Nimbus-Request-Id`.',
        requestBody: { content: { 'application/json': { schema: {} } } },
        responses: { 200: json({}, 'The function result, or its error object'), 400: error, 404: error, 413: error, 429: error },
      },
      get: {
        summary: 'Invocation records, newest first',
        parameters: [
          { name: 'since', in: 'query', schema: { type: 'string' }, description: 'duration back from now (15m, 1h, 2d) or ISO time' },
          { name: 'status', in: 'query', schema: { type: 'string', enum: ['success', 'error', 'timeout', 'throttled', 'crashed', 'out-of-memory', 'init-error'] } },
          { name: 'limit', in: 'query', schema: { type: 'integer' } },
        ],
        responses: { 200: json({ type: 'object' }), 404: error },
      },
    },
    '/_nimbus/api/functions/{name}/logs': {
      parameters: [nameParam('name', 'function name')],
      get: {
        summary: 'Log lines, oldest first; poll with `after=<cursor>` to follow',
        parameters: [
          { name: 'since', in: 'query', schema: { type: 'string' } },
          { name: 'requestId', in: 'query', schema: { type: 'string' } },
          { name: 'level', in: 'query', schema: { type: 'string', enum: ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] } },
          { name: 'after', in: 'query', schema: { type: 'integer' }, description: 'only lines after this cursor' },
          { name: 'limit', in: 'query', schema: { type: 'integer', maximum: 10000 } },
        ],
        responses: { 200: json({ type: 'object', properties: { logs: { type: 'array', items: { $ref: '#/components/schemas/LogLine' } }, cursor: { type: 'integer' } } }), 404: error },
      },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    responses: { Error: json({ $ref: '#/components/schemas/Error' }, 'An error; see docs/errors.md for the codes') },
    schemas: {
      Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } } },
      App: { type: 'object', properties: { name: { type: 'string' }, specHash: { type: 'string' }, functions: { type: 'array', items: { type: 'string' } }, routes: { type: 'array', items: { type: 'object' } }, deployedAt: { type: 'integer' } } },
      Function: { type: 'object', properties: { name: { type: 'string' }, app: { type: 'string' }, handler: { type: 'string' }, memoryMb: { type: 'integer' }, timeoutMs: { type: 'integer' }, revision: { type: 'integer' }, routes: { type: 'array', items: { type: 'string' } }, instances: { type: 'object' } } },
      DeployRequest: { type: 'object', required: ['manifest', 'bundles'], properties: { manifest: { type: 'object', description: 'nimbus.yml as JSON; see docs/manifest.md' }, bundles: { type: 'object', additionalProperties: { type: 'object', required: ['code'], properties: { code: { type: 'string', description: 'bundled ES module, base64' } } } } } },
      DeployResult: { type: 'object', properties: { app: { type: 'string' }, status: { type: 'string', enum: ['applied', 'unchanged'] }, created: { type: 'array', items: { type: 'string' } }, updated: { type: 'array', items: { type: 'string' } }, removed: { type: 'array', items: { type: 'string' } }, routes: { type: 'array', items: { type: 'object' } } } },
      LogLine: { type: 'object', properties: { seq: { type: 'integer' }, ts: { type: 'integer' }, time: { type: 'string' }, fn: { type: 'string' }, requestId: { type: ['string', 'null'] }, level: { type: 'string' }, message: { type: 'string' } } },
    },
  },
} as const;
