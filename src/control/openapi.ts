// The admin API's OpenAPI 3.1 document, served at /_nimbus/api/openapi.json. Kept next to the
// router in api.ts; test/api.test.ts checks that every route there is described here, with its method.

const error = { $ref: '#/components/responses/Error' };
const json = (schema: Record<string, unknown>, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
const nameParam = (name: string, what: string) => ({ name, in: 'path', required: true, schema: { type: 'string' }, description: what });
const body = (schema: Record<string, unknown>, required = true) => ({ required, content: { 'application/json': { schema } } });
const oneOrBatch = (one: string, batch: string) => body({ oneOf: [{ $ref: `#/components/schemas/${one}` }, { $ref: `#/components/schemas/${batch}` }] });

export const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'Nimbus admin API', version: '0.1.0', description: 'Deploy apps, inspect and invoke functions (synchronously or asynchronously), read logs, send to and receive from queues. Every endpoint but health and this document needs `Authorization: Bearer <token>`; the token is in the data dir (admin-token).' },
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
        summary: 'Invoke: synchronously (the response is the result) or, with `X-Nimbus-Invocation-Type: Event`, asynchronously (202 once the event is stored)',
        description: 'Synchronous: on a function error the status is still 200, with `X-Nimbus-Function-Error: Unhandled`, `X-Nimbus-Error-Type`, and the body `{errorType, errorMessage, trace}`. The request id is in `X-Nimbus-Request-Id`. Asynchronous: the event (at most 1 MB) is stored and run in the background with retries, destinations and a dead-letter queue (docs/functions.md); the answer is 202 `{requestId}`, or with an idempotency key seen in the last 24 hours, the first request id and `duplicate: true`.',
        parameters: [
          { name: 'X-Nimbus-Invocation-Type', in: 'header', schema: { type: 'string', enum: ['RequestResponse', 'Event'], default: 'RequestResponse' } },
          { name: 'X-Amz-Invocation-Type', in: 'header', schema: { type: 'string', enum: ['RequestResponse', 'Event'] }, description: 'Lambda\'s name for the same header; X-Nimbus-Invocation-Type wins when both are sent' },
          { name: 'X-Nimbus-Idempotency-Key', in: 'header', schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' }, description: 'asynchronous only: the same key for the same function within 24 hours is not run again' },
          { name: 'X-Request-Id', in: 'header', schema: { type: 'string' }, description: 'choose the request id (1-128 characters of A-Z a-z 0-9 . _ : -)' },
          { name: 'qualifier', in: 'query', schema: { type: 'string' }, description: 'an alias, a version number or $LATEST (default: the live alias), for synchronous and asynchronous invokes; a synchronous answer carries the version that ran in X-Nimbus-Executed-Version' },
        ],
        requestBody: { content: { 'application/json': { schema: {} } } },
        responses: { 200: json({}, 'The function result, or its error object'), 202: json({ $ref: '#/components/schemas/AsyncAccepted' }, 'Asynchronous: the event is stored'), 400: error, 404: error, 413: error, 429: error },
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
        summary: 'Log lines, oldest first; poll with `after=<cursor>` to follow (the cursor is past every line there was, matching or not)',
        parameters: [
          { name: 'since', in: 'query', schema: { type: 'string' } },
          { name: 'requestId', in: 'query', schema: { type: 'string' } },
          { name: 'level', in: 'query', schema: { type: 'string', enum: ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] }, description: 'this level and the more severe ones' },
          { name: 'after', in: 'query', schema: { type: 'integer' }, description: 'only lines after this cursor' },
          { name: 'limit', in: 'query', schema: { type: 'integer', maximum: 10000 } },
          { name: 'until', in: 'query', schema: { type: 'string' }, description: 'before this time (a duration back from now, or an ISO time); with since, a range' },
          { name: 'q', in: 'query', schema: { type: 'string' }, description: 'only lines containing this text (case-insensitive)' },
        ],
        responses: { 200: json({ type: 'object', properties: { logs: { type: 'array', items: { $ref: '#/components/schemas/LogLine' } }, cursor: { type: 'integer' } } }), 404: error },
      },
    },
    '/_nimbus/api/functions/{name}/logs/stream': {
      parameters: [nameParam('name', 'function name')],
      get: {
        summary: 'Live tail as server-sent events: one event per new line (data = the line as GET .../logs gives it, id = its seq); a comment every 15 s',
        parameters: [
          { name: 'level', in: 'query', schema: { type: 'string', enum: ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] }, description: 'this level and the more severe ones' },
          { name: 'q', in: 'query', schema: { type: 'string' }, description: 'only lines containing this text' },
          { name: 'requestId', in: 'query', schema: { type: 'string' }, description: 'only this request\'s lines' },
          { name: 'after', in: 'query', schema: { type: 'integer' }, description: 'start after this seq (or send Last-Event-ID); default: from now' },
        ],
        responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, 404: error },
      },
    },
    '/_nimbus/api/functions/{name}/async': {
      parameters: [nameParam('name', 'function name')],
      get: {
        summary: "The function's asynchronous events not yet settled",
        responses: { 200: json({ type: 'object', properties: { pending: { type: 'integer', description: 'stored and not settled: waiting, running or due for a retry' }, retrying: { type: 'integer', description: 'waiting for a retry after a failed attempt' } } }), 404: error },
      },
    },
    '/_nimbus/api/queues': { get: { summary: 'List queues with their settings, triggers and message counts', responses: { 200: json({ type: 'object', properties: { queues: { type: 'array', items: { $ref: '#/components/schemas/Queue' } } } }) } } },
    '/_nimbus/api/queues/{name}': {
      parameters: [nameParam('name', 'queue name')],
      get: { summary: 'Get a queue: settings, dead-letter queue, triggers and message counts', responses: { 200: json({ $ref: '#/components/schemas/Queue' }), 404: error } },
    },
    '/_nimbus/api/queues/{name}/messages': {
      parameters: [nameParam('name', 'queue name')],
      post: {
        summary: 'Send one message, or a batch of up to 10 (`{entries}`); answered once stored',
        description: 'A single invalid message is an error (400 INVALID_MESSAGE, 413 MESSAGE_TOO_LARGE). In a batch, valid entries are stored and invalid ones listed in `failed`; an empty batch, more than 10 entries or a repeated id is 400 TOO_MANY_ENTRIES. The request may be up to 4 MB.',
        requestBody: oneOrBatch('SendMessage', 'SendBatch'),
        responses: { 200: json({ oneOf: [{ $ref: '#/components/schemas/Sent' }, { $ref: '#/components/schemas/SendBatchResult' }] }), 400: error, 404: error, 413: error },
      },
    },
    '/_nimbus/api/queues/{name}/receive': {
      parameters: [nameParam('name', 'queue name')],
      post: {
        summary: 'Receive up to 10 messages, long-polling up to 20 s; they stay hidden for the visibility timeout',
        requestBody: body({ type: 'object', properties: { maxMessages: { type: 'integer', minimum: 1, maximum: 10, default: 1 }, waitSeconds: { type: 'integer', minimum: 0, maximum: 20, default: 0 }, visibilityTimeout: { type: 'integer', minimum: 0, maximum: 43200, description: "seconds; default: the queue's" } } }, false),
        responses: { 200: json({ type: 'object', properties: { messages: { type: 'array', items: { $ref: '#/components/schemas/Message' } } } }), 400: error, 404: error },
      },
    },
    '/_nimbus/api/queues/{name}/delete': {
      parameters: [nameParam('name', 'queue name')],
      post: {
        summary: 'Delete received messages by receipt handle, one or up to 10 (`{entries}`); deleting a message already gone succeeds',
        description: 'A handle that is malformed, from another queue, or from an earlier receive of a message received again since is 400 RECEIPT_HANDLE_INVALID.',
        requestBody: oneOrBatch('ReceiptHandle', 'ReceiptBatch'),
        responses: { 200: json({ oneOf: [{ type: 'object', properties: { deleted: { type: 'boolean', const: true } } }, { $ref: '#/components/schemas/BatchResult' }] }), 400: error, 404: error },
      },
    },
    '/_nimbus/api/queues/{name}/visibility': {
      parameters: [nameParam('name', 'queue name')],
      post: {
        summary: 'Change the visibility timeout of received messages (seconds from now), one or up to 10 (`{entries}`)',
        requestBody: oneOrBatch('VisibilityChange', 'VisibilityBatch'),
        responses: { 200: json({ oneOf: [{ type: 'object', properties: { changed: { type: 'boolean', const: true } } }, { $ref: '#/components/schemas/BatchResult' }] }), 400: error, 404: error },
      },
    },
    '/_nimbus/api/queues/{name}/purge': {
      parameters: [nameParam('name', 'queue name')],
      post: { summary: 'Delete every message in the queue, in flight or not', responses: { 200: json({ type: 'object', properties: { purged: { type: 'integer' } } }), 404: error } },
    },
    '/_nimbus/api/queues/{name}/redrive': {
      parameters: [nameParam('name', 'dead-letter queue name')],
      post: {
        summary: 'Move dead-lettered messages back to the queue each came from, or all to `to`',
        requestBody: body({ type: 'object', properties: { to: { type: 'string', description: 'a queue of the same type' }, max: { type: 'integer', minimum: 1, maximum: 100000, default: 10000 } } }, false),
        responses: { 200: json({ type: 'object', properties: { moved: { type: 'integer' } } }), 400: error, 404: error },
      },
    },
    '/_nimbus/api/topics': {
      get: { summary: 'Every topic with its subscriptions (function, queue, webhook), filter policies and dead-letter queues', responses: { 200: json({ type: 'object', properties: { topics: { type: 'array', items: { $ref: '#/components/schemas/Topic' } } } }) } },
    },
    '/_nimbus/api/topics/{name}': {
      parameters: [nameParam('name', 'topic name')],
      get: { summary: 'One topic; its webhook subscriptions carry their signing secret (`signingSecret`)', responses: { 200: json({ $ref: '#/components/schemas/Topic' }), 404: error } },
    },
    '/_nimbus/api/topics/{name}/messages': {
      parameters: [nameParam('name', 'topic name')],
      post: {
        summary: 'Publish one message `{ message, subject?, attributes? }` or a batch `{ entries: [...] }` (1 to 10); answered once every matching subscriber\'s delivery is stored',
        requestBody: body({ type: 'object', properties: { message: {}, subject: { type: 'string', maxLength: 100 }, attributes: { type: 'object' }, entries: { type: 'array', maxItems: 10, items: { type: 'object' } } } }),
        responses: { 200: json({ type: 'object', properties: { messageId: { type: 'string' }, successful: { type: 'array', items: { type: 'object' } }, failed: { type: 'array', items: { type: 'object' } } } }), 400: error, 404: error, 413: error },
      },
    },
    '/_nimbus/api/events': {
      post: {
        summary: 'Put events on the bus (1 to 10 entries `{ source, detailType, detail?, time?, resources? }`); answered once every matching rule\'s deliveries are stored',
        requestBody: body({ type: 'object', required: ['entries'], properties: { entries: { type: 'array', minItems: 1, maxItems: 10, items: { type: 'object', properties: { source: { type: 'string' }, detailType: { type: 'string' }, detail: {}, time: { type: 'string' }, resources: { type: 'array', items: { type: 'string' } } } } } } }),
        responses: { 200: json({ type: 'object', properties: { failedEntryCount: { type: 'integer' }, entries: { type: 'array', items: { type: 'object', description: '{ eventId } or { errorCode, errorMessage }' } } } }), 400: error, 413: error },
      },
    },
    '/_nimbus/api/events/test-pattern': {
      post: {
        summary: 'Does this event match this pattern? `{ pattern, event }` → `{ match }`, or 400 INVALID_PATTERN saying which field and why',
        requestBody: body({ type: 'object', required: ['pattern', 'event'], properties: { pattern: {}, event: {} } }),
        responses: { 200: json({ type: 'object', properties: { match: { type: 'boolean' } } }), 400: error },
      },
    },
    '/_nimbus/api/rules': {
      get: { summary: 'Every event bus rule with its pattern, state and targets (HTTP targets carry their `signingSecret`)', responses: { 200: json({ type: 'object', properties: { rules: { type: 'array', items: { type: 'object' } } } }) } },
    },
    '/_nimbus/api/secrets': {
      get: { summary: 'Secret names, when each was set and the functions granted it — never the values', responses: { 200: json({ type: 'object', properties: { secrets: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, updatedAt: { type: 'string' }, grantedTo: { type: 'array', items: { type: 'string' } } } } } } }) } },
    },
    '/_nimbus/api/secrets/{name}': {
      parameters: [nameParam('name', 'secret name: upper-case letters, digits and _')],
      put: {
        summary: 'Set a secret: `{ value }` (at most 64 KB); sealed with AES-256-GCM before it is stored. Functions granted it restart with the new value',
        requestBody: body({ type: 'object', required: ['value'], properties: { value: { type: 'string' } } }),
        responses: { 200: json({ type: 'object', properties: { name: { type: 'string' }, updatedAt: { type: 'string' } } }), 400: error },
      },
      delete: { summary: 'Delete a secret no function is granted', responses: { 200: json({ type: 'object' }), 404: error, 409: error } },
    },
    '/_nimbus/api/schedules': {
      get: { summary: 'Every schedule with its expression, target, state and next fire time', responses: { 200: json({ type: 'object', properties: { schedules: { type: 'array', items: { $ref: '#/components/schemas/Schedule' } } } }) } },
    },
    '/_nimbus/api/schedules/{name}/enable': {
      parameters: [nameParam('name', 'schedule name')],
      post: { summary: 'Enable a schedule: it fires from the next tick after now', responses: { 200: json({ $ref: '#/components/schemas/Schedule' }), 404: error } },
    },
    '/_nimbus/api/schedules/{name}/disable': {
      parameters: [nameParam('name', 'schedule name')],
      post: { summary: 'Disable a schedule: nothing fires until it is enabled again (or the app is redeployed with enabled: true)', responses: { 200: json({ $ref: '#/components/schemas/Schedule' }), 404: error } },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    responses: { Error: json({ $ref: '#/components/schemas/Error' }, 'An error; see docs/errors.md for the codes') },
    schemas: {
      Topic: {
        type: 'object',
        properties: {
          name: { type: 'string' }, app: { type: 'string' }, arn: { type: 'string' },
          subscriptions: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                id: { type: 'string' }, kind: { type: 'string', enum: ['function', 'queue', 'webhook'] }, target: { type: 'string', description: 'function name, queue name or URL' },
                rawMessageDelivery: { type: 'boolean' }, filterPolicy: { type: ['object', 'null'] }, filterPolicyScope: { type: 'string', enum: ['MessageAttributes', 'MessageBody'] },
                deadLetterQueue: { type: ['string', 'null'] }, signingSecret: { type: 'string', description: 'webhooks, single-topic view only' },
              },
            },
          },
        },
      },
      Schedule: {
        type: 'object',
        properties: {
          name: { type: 'string' }, app: { type: 'string' }, expression: { type: 'string' }, timezone: { type: 'string' }, description: { type: 'string' },
          target: { type: 'object', properties: { kind: { type: 'string', enum: ['function', 'queue'] }, name: { type: 'string' } } },
          input: { description: 'sent instead of the Scheduled Event; null when the event is sent' }, enabled: { type: 'boolean' }, catchUp: { type: 'boolean' },
          nextFireAt: { type: ['string', 'null'], format: 'date-time' }, lastFiredAt: { type: ['string', 'null'], format: 'date-time' },
        },
      },
      Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } } },
      App: { type: 'object', properties: { name: { type: 'string' }, specHash: { type: 'string' }, functions: { type: 'array', items: { type: 'string' } }, routes: { type: 'array', items: { type: 'object' } }, deployedAt: { type: 'integer' } } },
      Function: { type: 'object', properties: { name: { type: 'string' }, app: { type: 'string' }, handler: { type: 'string' }, memoryMb: { type: 'integer' }, timeoutMs: { type: 'integer' }, revision: { type: 'integer' }, routes: { type: 'array', items: { type: 'string' } }, instances: { type: 'object' }, permissions: { type: 'object', description: 'what the function\'s code may touch through the SDK, as the manifest\'s permissions: (see docs/permissions.md)' } } },
      DeployRequest: { type: 'object', required: ['manifest', 'bundles'], properties: { manifest: { type: 'object', description: 'nimbus.yml as JSON; see docs/manifest.md' }, bundles: { type: 'object', additionalProperties: { type: 'object', required: ['code'], properties: { code: { type: 'string', description: 'bundled ES module, base64' } } } } } },
      DeployResult: { type: 'object', properties: { app: { type: 'string' }, status: { type: 'string', enum: ['applied', 'unchanged'] }, created: { type: 'array', items: { type: 'string' } }, updated: { type: 'array', items: { type: 'string' } }, removed: { type: 'array', items: { type: 'string' } }, routes: { type: 'array', items: { type: 'object' } }, queues: { type: 'object', description: "the app's queues, and those this deploy created or removed (with their messages)", properties: { names: { type: 'array', items: { type: 'string' } }, created: { type: 'array', items: { type: 'string' } }, removed: { type: 'array', items: { type: 'string' } } } }, buckets: { type: 'object', description: "the app's buckets, and those this deploy created or removed (empty ones only)" }, tables: { type: 'object', description: "the app's KV tables, and those this deploy created or removed (empty ones only)" } } },
      LogLine: { type: 'object', properties: { seq: { type: 'integer' }, ts: { type: 'integer' }, time: { type: 'string' }, fn: { type: 'string' }, requestId: { type: ['string', 'null'] }, level: { type: 'string' }, message: { type: 'string' }, fields: { type: 'object', description: 'a structured line (JSON object text), parsed' } } },
      AsyncAccepted: { type: 'object', required: ['requestId'], properties: { requestId: { type: 'string' }, duplicate: { type: 'boolean', const: true, description: 'present when the idempotency key was seen: not run again' } } },
      Queue: {
        type: 'object',
        properties: {
          name: { type: 'string' }, app: { type: 'string' }, fifo: { type: 'boolean' }, visibilityTimeoutS: { type: 'integer' }, retentionS: { type: 'integer' }, delayS: { type: 'integer' },
          maxMessageBytes: { type: 'integer' }, contentBasedDeduplication: { type: 'boolean' },
          deadLetter: { type: ['object', 'null'], properties: { queue: { type: 'string' }, maxReceiveCount: { type: 'integer' } } },
          deadLetterFor: { type: 'array', items: { type: 'string' }, description: 'queues that use this one as their dead-letter queue' },
          triggers: { type: 'array', items: { type: 'object', properties: { fn: { type: 'string' }, batchSize: { type: 'integer' }, batchWindowS: { type: 'integer' }, maxConcurrency: { type: 'integer' } } } },
          stats: { type: 'object', properties: { visible: { type: 'integer' }, inFlight: { type: 'integer' }, delayed: { type: 'integer' }, oldestAgeMs: { type: 'integer' } } },
        },
      },
      MessageAttribute: { type: 'object', required: ['DataType'], properties: { DataType: { type: 'string', description: 'String, Number or Binary, optionally with a ".label"' }, StringValue: { type: 'string' }, BinaryValue: { type: 'string', description: 'base64' } } },
      SendMessage: {
        type: 'object', required: ['body'],
        properties: {
          body: { description: 'a non-empty string, or any JSON value (stored as its JSON text)' },
          attributes: { type: 'object', maxProperties: 10, additionalProperties: { oneOf: [{ $ref: '#/components/schemas/MessageAttribute' }, { type: 'string' }, { type: 'number' }] }, description: 'a string is a String attribute, a number a Number attribute' },
          delaySeconds: { type: 'integer', minimum: 0, maximum: 900, description: 'standard queues only' },
          groupId: { type: 'string', description: 'FIFO queues: required' },
          dedupId: { type: 'string', description: 'FIFO queues: required unless the queue has contentBasedDeduplication' },
        },
      },
      SendBatch: { type: 'object', required: ['entries'], properties: { entries: { type: 'array', minItems: 1, maxItems: 10, items: { allOf: [{ $ref: '#/components/schemas/SendMessage' }, { type: 'object', properties: { id: { type: 'string', description: 'distinct within the batch; default: the position' } } }] } } } },
      Sent: { type: 'object', properties: { messageId: { type: 'string' }, md5OfBody: { type: 'string' }, md5OfMessageAttributes: { type: 'string' }, sequenceNumber: { type: 'string', description: 'FIFO queues' }, duplicate: { type: 'boolean', const: true, description: 'FIFO: the deduplication id was seen in the last 5 minutes; nothing was added' } } },
      SendBatchResult: { type: 'object', properties: { successful: { type: 'array', items: { allOf: [{ $ref: '#/components/schemas/Sent' }, { type: 'object', properties: { id: { type: 'string' } } }] } }, failed: { type: 'array', items: { $ref: '#/components/schemas/BatchFailure' } } } },
      BatchFailure: { type: 'object', properties: { id: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } } },
      BatchResult: { type: 'object', properties: { successful: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' } } } }, failed: { type: 'array', items: { $ref: '#/components/schemas/BatchFailure' } } } },
      Message: {
        type: 'object',
        properties: {
          messageId: { type: 'string' }, receiptHandle: { type: 'string', description: 'for delete and visibility; only the latest receive of a message has a valid one' }, body: { type: 'string' },
          md5OfBody: { type: 'string' }, md5OfMessageAttributes: { type: 'string' },
          attributes: { type: 'object', additionalProperties: { type: 'string' }, description: 'ApproximateReceiveCount, SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp; FIFO: MessageGroupId, MessageDeduplicationId, SequenceNumber; dead-lettered: DeadLetterQueueSourceArn' },
          messageAttributes: { type: 'object', additionalProperties: { $ref: '#/components/schemas/MessageAttribute' } },
        },
      },
      ReceiptHandle: { type: 'object', required: ['receiptHandle'], properties: { receiptHandle: { type: 'string' } } },
      ReceiptBatch: { type: 'object', required: ['entries'], properties: { entries: { type: 'array', minItems: 1, maxItems: 10, items: { type: 'object', required: ['receiptHandle'], properties: { id: { type: 'string' }, receiptHandle: { type: 'string' } } } } } },
      VisibilityChange: { type: 'object', required: ['receiptHandle', 'visibilityTimeout'], properties: { receiptHandle: { type: 'string' }, visibilityTimeout: { type: 'integer', minimum: 0, maximum: 43200 } } },
      VisibilityBatch: { type: 'object', required: ['entries'], properties: { entries: { type: 'array', minItems: 1, maxItems: 10, items: { type: 'object', required: ['receiptHandle', 'visibilityTimeout'], properties: { id: { type: 'string' }, receiptHandle: { type: 'string' }, visibilityTimeout: { type: 'integer', minimum: 0, maximum: 43200 } } } } } },
    },
  },
} as const;
