// Handler models and HTTP mapping, end to end: a real server on port 0, real sandbox processes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { APIGatewayProxyEventSchema, APIGatewayProxyEventV2Schema } from '@aws-lambda-powertools/parser/schemas';
import { startTestServer, type TestServer } from './helpers.ts';

const MANIFEST = `app: models
functions:
  esm:
    handler: src/esm.handler
    memory: 256
    environment: { GREETING: hello, COUNT: 3 }
    events:
      - http: { method: POST, path: /v2/{id} }
      - http: { method: GET, path: /v1/{id}, payload: "1.0" }
      - http: GET /binary
  cjs:
    handler: src/cjs.handler
    events:
      - http: GET /cjs
  callback:
    handler: src/callback.handler
    events:
      - http: GET /callback
  plain:
    handler: src/plain.handler
    events:
      - http: GET /plain
  v1bad:
    handler: src/plain.handler
    events:
      - http: { method: GET, path: /v1bad, payload: "1.0" }
  site:
    handler: src/site.default
    events:
      - http: { method: ANY, path: /site/{proxy+} }
`;

const FILES: Record<string, string> = {
  'nimbus.yml': MANIFEST,
  'src/esm.ts': `
let instanceCalls = 0;
const loadedAt = Date.now();
export const handler = async (event: any, context: any) => {
  instanceCalls++;
  if (event.rawPath === '/binary') return { statusCode: 200, isBase64Encoded: true, headers: { 'content-type': 'image/png' }, body: Buffer.from([137, 80, 78, 71, 0, 255]).toString('base64') };
  return {
    statusCode: 201,
    headers: { 'content-type': 'application/json', 'x-custom': 'yes' },
    multiValueHeaders: event.version ? undefined : { 'x-multi': ['a', 'b'] },
    cookies: event.version ? ['a=1; Path=/', 'b=2'] : undefined,
    body: JSON.stringify({
      event,
      instanceCalls,
      loadedAt,
      env: { GREETING: process.env.GREETING, COUNT: process.env.COUNT, HOME_SET: 'HOME' in process.env, PATH: process.env.PATH ?? null },
      context: {
        awsRequestId: context.awsRequestId, functionName: context.functionName, functionVersion: context.functionVersion,
        memoryLimitInMB: context.memoryLimitInMB, invokedFunctionArn: context.invokedFunctionArn, logGroupName: context.logGroupName,
        logStreamName: context.logStreamName, remaining: context.getRemainingTimeInMillis(), callbackWaitsForEmptyEventLoop: context.callbackWaitsForEmptyEventLoop,
      },
    }),
  };
};`,
  'src/cjs.js': `exports.handler = async function (event) { return { statusCode: 200, body: 'cjs:' + event.rawPath }; };`,
  'src/callback.js': `exports.handler = function (event, context, callback) { setTimeout(() => callback(null, { statusCode: 202, body: 'called back' }), 5); };`,
  'src/plain.ts': `import pad from 'tiny-pad';\nexport const handler = async () => ({ ok: true, list: [1, 2], padded: pad('7', 3) });`,
  // A dependency in the app's node_modules: deploy bundles it, so the instance needs nothing installed.
  'node_modules/tiny-pad/package.json': '{ "name": "tiny-pad", "version": "1.0.0", "main": "index.js" }',
  'node_modules/tiny-pad/index.js': "module.exports = function pad(s, n) { return String(s).padStart(n, '0'); };",
  'src/site.ts': `export default {
  async fetch(request: Request, env: Record<string, string>, ctx: { waitUntil(p: Promise<unknown>): void }) {
    const url = new URL(request.url);
    const body = request.method === 'POST' ? await request.text() : null;
    ctx.waitUntil(Promise.resolve());
    const headers = new Headers({ 'content-type': 'application/json' });
    headers.append('set-cookie', 'x=1');
    headers.append('set-cookie', 'y=2');
    return new Response(JSON.stringify({ method: request.method, path: url.pathname, q: url.searchParams.get('q'), body, ua: request.headers.get('user-agent'), envType: typeof env }), { status: 203, headers });
  },
};`,
};

describe('handler models and HTTP mapping', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
    const d = await srv.deploy(FILES);
    assert.equal(d.status, 200, JSON.stringify(d.body));
  });
  after(() => srv.close());

  it('maps a POST to an API Gateway v2 event that validates, and maps the structured response back', async () => {
    const res = await srv.req('/v2/42?x=1&x=2&y=%20z', { method: 'POST', body: JSON.stringify({ hi: 1 }), headers: { 'content-type': 'application/json', cookie: 'c1=v1; c2=v2', 'x-request-id': 'req-abc' } });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-custom'), 'yes');
    assert.equal(res.headers.get('x-request-id'), 'req-abc');
    assert.deepEqual(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2']);
    const body = await res.json();
    const ev = body.event;
    APIGatewayProxyEventV2Schema.parse(ev);
    assert.equal(ev.version, '2.0');
    assert.equal(ev.routeKey, 'POST /v2/{id}');
    assert.equal(ev.rawPath, '/v2/42');
    assert.equal(ev.rawQueryString, 'x=1&x=2&y=%20z');
    assert.deepEqual(ev.queryStringParameters, { x: '1,2', y: ' z' });
    assert.deepEqual(ev.pathParameters, { id: '42' });
    assert.deepEqual(ev.cookies, ['c1=v1', 'c2=v2']);
    assert.equal(ev.body, JSON.stringify({ hi: 1 }));
    assert.equal(ev.isBase64Encoded, false);
    assert.equal(ev.requestContext.http.method, 'POST');
    assert.equal(ev.requestContext.requestId, 'req-abc');
    assert.equal(body.context.awsRequestId, 'req-abc');
  });

  it('gives the handler a Lambda context and only its own environment', async () => {
    const body = await (await srv.req('/v2/1', { method: 'POST' })).json();
    assert.equal(body.context.functionName, 'esm');
    assert.equal(body.context.functionVersion, '1');
    assert.equal(body.context.memoryLimitInMB, '256');
    assert.equal(body.context.invokedFunctionArn, 'arn:aws:lambda:local:000000000000:function:esm');
    assert.equal(body.context.logGroupName, '/aws/lambda/esm');
    assert.equal(typeof body.context.logStreamName, 'string');
    assert.ok(body.context.remaining > 0 && body.context.remaining <= 3000);
    assert.equal(body.context.callbackWaitsForEmptyEventLoop, true);
    assert.deepEqual(body.env, { GREETING: 'hello', COUNT: '3', HOME_SET: true, PATH: null });
  });

  it('runs module scope once per instance: a warm instance keeps its state', async () => {
    const a = await (await srv.req('/v2/1', { method: 'POST' })).json();
    const b = await (await srv.req('/v2/1', { method: 'POST' })).json();
    assert.equal(b.loadedAt, a.loadedAt);
    assert.equal(b.instanceCalls, a.instanceCalls + 1);
  });

  it('builds a REST v1 proxy event with multi-value query strings for payload "1.0"', async () => {
    const res = await srv.req('/v1/7?tag=a&tag=b&one=1', { headers: { 'x-thing': 'v' } });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-multi'), 'a, b');
    const ev = (await res.json()).event;
    APIGatewayProxyEventSchema.parse(ev);
    assert.equal(ev.resource, '/v1/{id}');
    assert.equal(ev.httpMethod, 'GET');
    assert.deepEqual(ev.pathParameters, { id: '7' });
    assert.deepEqual(ev.multiValueQueryStringParameters, { tag: ['a', 'b'], one: ['1'] });
    assert.equal(ev.queryStringParameters.tag, 'b');
    assert.equal(ev.body, null);
  });

  it('returns binary bodies from isBase64Encoded results', async () => {
    const res = await srv.req('/binary');
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.deepEqual([...new Uint8Array(await res.arrayBuffer())], [137, 80, 78, 71, 0, 255]);
  });

  it('runs CommonJS exports.handler and the classic callback style', async () => {
    const cjs = await srv.req('/cjs');
    assert.equal(cjs.status, 200);
    assert.equal(await cjs.text(), 'cjs:/cjs');
    const cb = await srv.req('/callback');
    assert.equal(cb.status, 202);
    assert.equal(await cb.text(), 'called back');
  });

  it('answers 200 JSON when a v2 handler returns a plain object, with npm dependencies bundled', async () => {
    const res = await srv.req('/plain');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await res.json(), { ok: true, list: [1, 2], padded: '007' });
  });

  it('answers 502 INVALID_RESPONSE when a v1 handler returns no statusCode', async () => {
    const res = await srv.req('/v1bad');
    assert.equal(res.status, 502);
    assert.equal((await res.json()).error.code, 'INVALID_RESPONSE');
  });

  it('runs fetch-style handlers with a real Request, greedy paths and any method', async () => {
    const res = await srv.req('/site/a/b/c?q=1', { method: 'POST', body: 'payload', headers: { 'user-agent': 'tester' } });
    assert.equal(res.status, 203);
    assert.deepEqual(res.headers.getSetCookie(), ['x=1', 'y=2']);
    assert.deepEqual(await res.json(), { method: 'POST', path: '/site/a/b/c', q: '1', body: 'payload', ua: 'tester', envType: 'object' });
    const del = await srv.req('/site/x', { method: 'DELETE' });
    assert.equal((await del.json()).method, 'DELETE');
  });

  it('invokes a fetch-style function directly with the event as a JSON POST', async () => {
    const r = await srv.invoke<{ method: string; body: string }>('site', { a: 1 });
    assert.equal(r.status, 200);
    assert.equal(r.body.method, 'POST');
    assert.equal(r.body.body, '{"a":1}');
  });

  it('answers 404 JSON for an unknown route and 405 for a wrong method', async () => {
    const nf = await srv.req('/nope');
    assert.equal(nf.status, 404);
    assert.equal((await nf.json()).error.code, 'NOT_FOUND');
    const na = await srv.req('/v2/1', { method: 'GET' });
    assert.equal(na.status, 405);
    assert.equal(na.headers.get('allow'), 'POST');
    assert.equal((await na.json()).error.code, 'METHOD_NOT_ALLOWED');
  });
});
