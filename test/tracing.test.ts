// Tracing end to end: an HTTP request with a W3C traceparent → gateway span → invocation span (with
// its cold start and handler spans) → the function sends to a queue through the SDK → the queue
// trigger's invocation continues the same trace, as do an async invocation, a topic's and a rule's
// deliveries, a storage notification, a table change stream, a webhook and a workflow; the caller's
// tracestate goes along at every hop.
// Spans are exported with OTLP/HTTP to a receiver this test runs, and checked parent by parent.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { decodeExportRequest } from '../src/observability/otlp-proto.ts';
import { startWithApp, type TestServer } from './helpers.ts';

interface OtlpSpan { traceId: string; spanId: string; traceState?: string; parentSpanId?: string; name: string; kind: number; attributes: { key: string; value: Record<string, unknown> }[]; status?: { code?: number }; startMs?: number; endMs?: number }

/** A span read from protobuf, in the shape OTLP/JSON gives it. */
function fromProto(s: ReturnType<typeof decodeExportRequest>[number]): OtlpSpan {
  const attributes: OtlpSpan['attributes'] = [];
  for (let i = 0; i < s.attrs.length; i += 2) {
    const v = s.attrs[i + 1];
    const value = typeof v === 'string' ? { stringValue: v } : typeof v === 'boolean' ? { boolValue: v } : Number.isInteger(v) ? { intValue: v } : { doubleValue: v };
    attributes.push({ key: s.attrs[i] as string, value });
  }
  return { traceId: s.traceId, spanId: s.spanId, ...(s.traceState ? { traceState: s.traceState } : {}), ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}), name: s.name, kind: s.kind + 1, attributes, status: { code: s.error ? 2 : 0 }, startMs: s.startMs, endMs: s.endMs };
}

/** A minimal OTLP/HTTP receiver (protobuf and JSON): keeps every span it is sent, and each export's content type; and a webhook, keeping the trace headers of each delivery. */
async function receiver(): Promise<{ url: string; spans: OtlpSpan[]; hooks: { traceparent?: string; tracestate?: string }[]; contentTypes: string[]; close(): Promise<void> }> {
  const spans: OtlpSpan[] = [];
  const hooks: { traceparent?: string; tracestate?: string }[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/hook') hooks.push({ traceparent: req.headers.traceparent as string | undefined, tracestate: req.headers.tracestate as string | undefined });
      if (req.url === '/v1/traces') contentTypes.push(req.headers['content-type'] ?? '');
      if (req.url === '/v1/traces' && req.headers['content-type'] === 'application/x-protobuf') spans.push(...decodeExportRequest(Buffer.concat(chunks)).map(fromProto));
      if (req.url === '/v1/traces' && req.headers['content-type'] === 'application/json') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, hooks, contentTypes, close: () => new Promise((ok) => server.close(() => ok())) };
}

const app = (hook: string) => ({
  'nimbus.yml': `app: traced
functions:
  front:
    handler: src/front.handler
    permissions: { queues: { work: [send], held: [send] }, functions: { later: [invoke] }, topics: { news: [publish] }, bus: [put], buckets: { files: [write] }, tables: { ledger: [write] } }
    events:
      - http: POST /orders
  worker:
    handler: src/worker.handler
    events:
      - queue: work
  later:
    handler: src/worker.handler
  flaky:
    handler: src/flaky.handler
    async: { retries: 1 }
  reader:
    handler: src/worker.handler
    events:
      - topic: news
  ruled:
    handler: src/worker.handler
  stored:
    handler: src/worker.handler
    events:
      - storage: files
  audit:
    handler: src/worker.handler
    events:
      - table: ledger
  stepped:
    handler: src/worker.handler
  broken:
    handler: src/broken.handler
  stately:
    handler: src/stately.handler
    events:
      - http: GET /state
  fetchy:
    handler: src/fetchy.default
    events:
      - http: GET /state-fetch
queues:
  work: {}
  held: {}
topics:
  news:
    subscriptions:
      - url: ${hook}/hook
      - queue: held
buckets:
  files: {}
tables:
  ledger: { partitionKey: id }
rules:
  placed:
    pattern: { source: [shop] }
    targets: [{ function: ruled }]
workflows:
  flow:
    definition:
      StartAt: Step
      States:
        Step: { Type: Task, Resource: stepped, End: true }
`,
  'src/front.ts': `import { events, functions, kv, queues, storage, topics, trace } from 'nimbus/sdk';
export const handler = async (_e: unknown, context: { traceparent: string }) => {
  await queues.send('work', { order: 1 });
  await queues.send('held', { order: 1 });
  await functions.invokeAsync('later', { order: 1 });
  await topics.publish('news', { order: 1 });
  await events.put([{ source: 'shop', detailType: 'OrderPlaced', detail: { order: 1 } }]);
  await storage.bucket('files').put('orders/1.json', '{}');
  await kv.table('ledger').put({ id: 'o1' });
  return { statusCode: 200, body: JSON.stringify({ fromContext: context.traceparent, fromSdk: trace.current()?.traceparent }) };
};`,
  'src/worker.ts': 'export const handler = async () => null;',
  'src/flaky.ts': "export const handler = async () => { throw new Error('always'); };",
  'src/stately.ts': `import { trace } from 'nimbus/sdk';
export const handler = async (_e: unknown, context: { tracestate?: string }) => ({ statusCode: 200, body: JSON.stringify({ ctx: context.tracestate ?? null, sdk: trace.current()?.tracestate ?? null }) });`,
  'src/fetchy.ts': 'export default { fetch: (_r: Request, _env: unknown, ctx: { tracestate?: string }) => Response.json({ ctx: ctx.tracestate ?? null }) };',
  'src/broken.ts': "throw Object.assign(new Error('no config'), { name: 'ConfigError' });\nexport const handler = async () => null;",
});

describe('tracing', () => {
  let otlp: Awaited<ReturnType<typeof receiver>>;
  let srv: TestServer;
  before(async () => {
    otlp = await receiver();
    srv = await startWithApp(app(otlp.url), { otlpEndpoint: otlp.url, traceExportDelayMs: 50, asyncRetryBaseMs: 20 });
  });
  after(async () => { await srv.close(); await otlp.close(); });

  it('links HTTP → function → queue → function, and an async invocation, in one trace, the caller\'s tracestate on every span', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const tracestate = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';
    const res = await srv.req('/orders', { method: 'POST', headers: { traceparent: `00-${traceId}-${callerSpan}-01`, tracestate }, body: '{}' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-nimbus-trace-id'), traceId);
    const seen = await res.json() as { fromContext: string; fromSdk: string };
    assert.match(seen.fromContext, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    assert.equal(seen.fromSdk, seen.fromContext);

    // Wait for the spans of both downstream invocations to arrive.
    const deadline = Date.now() + 15_000;
    const named = (name: string) => otlp.spans.filter((s) => s.traceId === traceId && s.name === name);
    const hops = ['invoke worker', 'invoke later', 'invoke reader', 'invoke ruled', 'invoke stored', 'invoke audit'];
    while (hops.some((h) => named(h).length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const byId = new Map(otlp.spans.map((s) => [s.spanId, s]));
    const parentOf = (s: OtlpSpan) => (s.parentSpanId ? byId.get(s.parentSpanId) : undefined);

    const [gateway] = named('POST /orders');
    assert.ok(gateway, `spans: ${otlp.spans.map((s) => s.name).join(', ')}`);
    assert.equal(gateway.parentSpanId, callerSpan, 'the gateway span continues the caller');
    const [front] = named('invoke front');
    assert.equal(parentOf(front!)?.name, 'POST /orders');
    const handler = otlp.spans.find((s) => s.name === 'handler' && s.parentSpanId === front!.spanId)!;
    assert.ok(handler, 'a handler span under the invocation');
    assert.equal(seen.fromContext.split('-')[2], handler.spanId, 'user code sees the handler span');
    // The handler span is the invocation's Duration, to the microsecond (spans carry whole nanoseconds).
    const { body: records } = await srv.api<{ invocations: { traceId: string; durationMs: number }[] }>('GET', '/_nimbus/api/functions/front/invocations?limit=10');
    const record = records.invocations.find((r) => r.traceId === traceId);
    assert.ok(record, 'the invocation was recorded');
    assert.ok(Math.abs(handler.endMs! - handler.startMs! - record.durationMs) < 0.001, `handler span ${handler.endMs! - handler.startMs!} ms, Duration ${record.durationMs} ms`);
    const cold = otlp.spans.find((s) => s.name === 'cold start' && s.parentSpanId === front!.spanId);
    assert.ok(cold, 'the cold start is a span of its own');
    // Children lie within their invocation's span (the cold start once began up to 1 ms before it: a whole-ms clock).
    for (const child of [cold, handler]) {
      assert.ok(child.startMs! >= front!.startMs! && child.endMs! <= front!.endMs!, `${child.name} ${child.startMs}–${child.endMs} within ${front!.startMs}–${front!.endMs}`);
    }
    // Every hop — queue, async invoke, topic, event bus, storage notification, table stream — is a child of front's handler span.
    for (const hop of hops) {
      const [s] = named(hop);
      assert.ok(s, `${hop} reached the exporter in the same trace`);
      assert.equal(s.parentSpanId, handler.spanId, hop);
    }
    // The caller's tracestate went with the context at every hop (W3C: passed on unchanged), so every span has it.
    for (const s of [gateway, front!, handler, cold, ...hops.map((h) => named(h)[0]!)]) assert.equal(s.traceState, tracestate, s.name);
    const [worker] = named('invoke worker');
    assert.equal(worker!.kind, 5, 'a consumer span');
    // A queue message, sent by the SDK or delivered by a topic, carries it as message attributes.
    const { body: held } = await srv.api<{ messages: { body: string; messageAttributes: Record<string, { StringValue?: string }> }[] }>('POST', '/_nimbus/api/queues/held/receive', { maxMessages: 10 });
    assert.equal(held.messages.length, 2, JSON.stringify(held));
    for (const m of held.messages) {
      assert.deepEqual([m.messageAttributes.traceparent?.StringValue, m.messageAttributes.tracestate?.StringValue], [`00-${traceId}-${handler.spanId}-01`, tracestate], m.body);
    }
    // A webhook subscription gets the context as traceparent and tracestate headers.
    while (otlp.hooks.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(otlp.hooks[0], { traceparent: `00-${traceId}-${handler.spanId}-01`, tracestate });
    const attr = (s: OtlpSpan, key: string) => s.attributes.find((a) => a.key === key)?.value;
    assert.deepEqual(attr(worker!, 'faas.trigger'), { stringValue: 'pubsub' });
    assert.deepEqual(attr(front!, 'faas.coldstart'), { boolValue: true });
    // What is known only when a span ends (the answer's status, the invocation's outcome) is on it, next
    // to what it started with.
    assert.deepEqual(attr(gateway, 'http.response.status_code'), { intValue: 200 });
    assert.deepEqual(attr(gateway, 'http.route'), { stringValue: '/orders' });
    assert.deepEqual(attr(gateway, 'http.request.method'), { stringValue: 'POST' });
    assert.deepEqual(attr(front!, 'nimbus.outcome'), { stringValue: 'success' });
    assert.deepEqual(attr(front!, 'faas.invoked_name'), { stringValue: 'front' });
    assert.match(String(attr(front!, 'faas.invocation_id')?.stringValue), /^[0-9a-f-]{36}$/);
    assert.deepEqual(attr(worker!, 'faas.coldstart'), { boolValue: true });

    // The invocation records carry the trace id.
    const { body } = await srv.api<{ invocations: { traceId: string }[] }>('GET', '/_nimbus/api/functions/worker/invocations');
    assert.equal(body.invocations[0]!.traceId, traceId);
  });

  it('gives a workflow execution a span of its own, under its caller, over its tasks', async () => {
    const traceId = '5bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '10f067aa0ba902b7';
    const res = await srv.req('/_nimbus/api/workflows/flow/executions?sync=true', { method: 'POST', headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json', traceparent: `00-${traceId}-${callerSpan}-01`, tracestate: 'wf=1' }, body: '{"input":{}}' });
    assert.equal(res.status, 200);
    const deadline = Date.now() + 10_000;
    const find = (name: string) => otlp.spans.find((s) => s.traceId === traceId && s.name === name);
    while ((!find('workflow flow') || !find('invoke stepped')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const execution = find('workflow flow');
    assert.ok(execution, `spans: ${otlp.spans.filter((s) => s.traceId === traceId).map((s) => s.name).join(', ')}`);
    assert.equal(execution.parentSpanId, callerSpan, 'the execution continues its caller');
    assert.equal(find('invoke stepped')!.parentSpanId, execution.spanId, 'the task invocation is a child of the execution');
    assert.deepEqual([execution.traceState, find('invoke stepped')!.traceState], ['wf=1', 'wf=1'], 'the execution keeps the caller\'s tracestate for its tasks');
    assert.deepEqual(execution.attributes.find((a) => a.key === 'nimbus.execution.status')?.value, { stringValue: 'SUCCEEDED' });
  });

  it('a warm invocation\'s handler span is its Duration too', async () => {
    // front has served the first test: this one finds its instance warm.
    const traceId = '5bf92f3577b34da6a3ce929d0e0e4736';
    const res = await srv.req('/orders', { method: 'POST', headers: { traceparent: `00-${traceId}-10f067aa0ba902b7-01` }, body: '{}' });
    assert.equal(res.status, 200);
    const deadline = Date.now() + 10_000;
    const handler = () => otlp.spans.find((s) => s.traceId === traceId && s.name === 'handler' && s.parentSpanId === otlp.spans.find((f) => f.traceId === traceId && f.name === 'invoke front')?.spanId);
    while (!handler() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const span = handler();
    assert.ok(span, 'a handler span under the invocation');
    const { body } = await srv.api<{ invocations: { traceId: string; durationMs: number; cold: boolean }[] }>('GET', '/_nimbus/api/functions/front/invocations?limit=10');
    const record = body.invocations.find((r) => r.traceId === traceId);
    assert.equal(record?.cold, false, 'a warm invocation');
    assert.ok(Math.abs(span.endMs! - span.startMs! - record.durationMs) < 0.001, `handler span ${span.endMs! - span.startMs!} ms, Duration ${record.durationMs} ms`);
  });

  it('keeps an async event\'s attempts in one trace, even when its sender had none', async () => {
    const a = await fetch(`${srv.url}/_nimbus/api/functions/flaky/invocations`, { method: 'POST', headers: { authorization: `Bearer ${srv.token}`, 'x-nimbus-invocation-type': 'Event' }, body: '{}' });
    const { requestId } = await a.json() as { requestId: string };
    let attempts: { requestId: string; traceId: string }[] = [];
    const deadline = Date.now() + 10_000;
    while (attempts.length < 2 && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 50));
      attempts = (await srv.api<{ invocations: { requestId: string; traceId: string }[] }>('GET', '/_nimbus/api/functions/flaky/invocations')).body.invocations.filter((x) => x.requestId === requestId);
    }
    assert.equal(attempts.length, 2, 'the first attempt and one retry');
    assert.equal(attempts[0]!.traceId, attempts[1]!.traceId);
  });

  it('exports protobuf by default, and OTLP/JSON when asked', async () => {
    assert.ok(otlp.contentTypes.length > 0 && otlp.contentTypes.every((t) => t === 'application/x-protobuf'), otlp.contentTypes.join(', '));
    const json = await receiver();
    const other = await startWithApp({ 'nimbus.yml': 'app: t3\nfunctions:\n  f:\n    handler: src/f.handler\n', 'src/f.ts': 'export const handler = async () => 1;' }, { otlpEndpoint: json.url, otlpProtocol: 'http/json', traceExportDelayMs: 50 });
    try {
      const traceId = '6bf92f3577b34da6a3ce929d0e0e4736';
      const res = await other.req('/_nimbus/api/functions/f/invocations', { method: 'POST', headers: { authorization: `Bearer ${other.token}`, traceparent: `00-${traceId}-20f067aa0ba902b7-01`, tracestate: 'congo=1' }, body: '{}' });
      assert.equal(res.status, 200);
      const deadline = Date.now() + 10_000;
      while (!json.spans.some((s) => s.traceId === traceId && s.name === 'handler') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const invoke = json.spans.find((s) => s.traceId === traceId && s.name === 'invoke f');
      assert.ok(invoke, `spans: ${json.spans.map((s) => s.name).join(', ')}`);
      assert.equal(invoke.parentSpanId, '20f067aa0ba902b7');
      assert.equal(invoke.traceState, 'congo=1');
      assert.equal(json.spans.find((s) => s.name === 'handler')!.parentSpanId, invoke.spanId);
      assert.ok(json.contentTypes.every((t) => t === 'application/json'));
    } finally {
      await other.close();
      await json.close();
    }
  });

  it('shuts down promptly when the collector is down', async () => {
    const down = await startWithApp({ 'nimbus.yml': 'app: t2\nfunctions:\n  f:\n    handler: src/f.handler\n', 'src/f.ts': 'export const handler = async () => 1;' }, { otlpEndpoint: 'http://127.0.0.1:1', traceExportDelayMs: 50 });
    assert.equal((await down.invoke('f', {})).status, 200);
    const t0 = Date.now();
    await down.close();
    assert.ok(Date.now() - t0 < 5000, `close took ${Date.now() - t0} ms`);
  });

  it('a server that cannot listen (a port in use) exits with the error: nothing it started, the span export thread among them, holds the process', async () => {
    const busy = createServer();
    await new Promise<void>((ok) => busy.listen(0, '127.0.0.1', ok));
    const dir = mkdtempSync(join(tmpdir(), 'nimbus-busy-'));
    try {
      const r = spawnSync(process.execPath, [fileURLToPath(new URL('../bin/nimbus.mjs', import.meta.url)), 'serve', '--port', String((busy.address() as AddressInfo).port), '--data', dir],
        { env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' }, timeout: 30_000, encoding: 'utf8' });
      assert.equal(r.signal, null, `the server had to be killed: ${r.stderr}`);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /EADDRINUSE|in use/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await new Promise((ok) => busy.close(ok));
    }
  });

  it('a failed init is an "init" span under its invocation, marked failed', async () => {
    const traceId = 'aa0000000000000000000000000000bb';
    const res = await srv.req('/_nimbus/api/functions/broken/invocations', { method: 'POST', headers: { authorization: `Bearer ${srv.token}`, traceparent: `00-${traceId}-00f067aa0ba902b7-01` }, body: '{}' });
    assert.equal(((await res.json()) as { errorType: string }).errorType, 'ConfigError');
    const find = (name: string) => otlp.spans.find((s) => s.traceId === traceId && s.name === name);
    const deadline = Date.now() + 10_000;
    while (!find('init') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const invoke = find('invoke broken');
    const init = find('init');
    assert.ok(invoke && init, `spans of the trace: ${otlp.spans.filter((s) => s.traceId === traceId).map((s) => s.name).join(', ')}`);
    assert.equal(init.parentSpanId, invoke.spanId);
    assert.equal(init.status?.code, 2, 'marked failed');
    assert.equal(find('handler'), undefined, 'no handler ran');
  });

  it('hands the caller\'s tracestate to user code with its traceparent, over HTTP and the invoke API, and keeps it for an async event; a malformed one, or one without a traceparent, is dropped', async () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const viaHttp = async (headers: Record<string, string>) => (await (await srv.req('/state', { headers })).json()) as { ctx: string | null; sdk: string | null };
    // Two header lines are one list (fetch joins them with ", "); members are passed on without the spaces.
    const h = new Headers({ traceparent: tp });
    h.append('tracestate', 'congo=t61rcWkgMzE, rojo=00f067aa0ba902b7');
    h.append('tracestate', 'acme@sys=v 1');
    assert.deepEqual(await viaHttp(Object.fromEntries(h)), { ctx: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7,acme@sys=v 1', sdk: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7,acme@sys=v 1' });
    assert.deepEqual(await viaHttp({ traceparent: tp, tracestate: 'Upper=1' }), { ctx: null, sdk: null }, 'a key is lower case');
    assert.deepEqual(await viaHttp({ traceparent: tp, tracestate: 'a=1,a=2' }), { ctx: null, sdk: null }, 'a duplicate key');
    assert.deepEqual(await viaHttp({ tracestate: 'congo=t61rcWkgMzE' }), { ctx: null, sdk: null }, 'no traceparent');
    assert.deepEqual(await viaHttp({ traceparent: 'garbage', tracestate: 'congo=t61rcWkgMzE' }), { ctx: null, sdk: null }, 'a malformed traceparent');
    assert.deepEqual(await (await srv.req('/state-fetch', { headers: { traceparent: tp, tracestate: 'congo=t61rcWkgMzE' } })).json(), { ctx: 'congo=t61rcWkgMzE' }, 'a fetch handler\'s ctx');
    const invoked = await srv.req('/_nimbus/api/functions/stately/invocations', { method: 'POST', headers: { authorization: `Bearer ${srv.token}`, traceparent: tp, tracestate: 'congo=t61rcWkgMzE' }, body: '{}' });
    const out = (await invoked.json()) as { body: string };
    assert.deepEqual(JSON.parse(out.body), { ctx: 'congo=t61rcWkgMzE', sdk: 'congo=t61rcWkgMzE' });
    // An asynchronous invocation keeps it for its attempt; a malformed one is not kept.
    const asyncTrace = 'ab000000000000000000000000000001';
    for (const [trace, state] of [[asyncTrace, 'congo=1'], ['ab000000000000000000000000000002', 'a=1,a=2']] as const) {
      const queued = await srv.req('/_nimbus/api/functions/later/invocations', { method: 'POST', headers: { authorization: `Bearer ${srv.token}`, 'x-nimbus-invocation-type': 'Event', traceparent: `00-${trace}-00f067aa0ba902b7-01`, tracestate: state }, body: '{}' });
      assert.equal(queued.status, 202);
    }
    const find = (trace: string) => otlp.spans.find((s) => s.traceId === trace && s.name === 'invoke later');
    const deadline = Date.now() + 10_000;
    while ((!find(asyncTrace) || !find('ab000000000000000000000000000002')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual([find(asyncTrace)?.traceState, find('ab000000000000000000000000000002')?.traceState], ['congo=1', undefined]);
  });

  it('starts a new trace without (or with a malformed) traceparent', async () => {
    const res = await srv.req('/orders', { method: 'POST', headers: { traceparent: 'garbage' }, body: '{}' });
    const id = res.headers.get('x-nimbus-trace-id')!;
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.notEqual(id, '4bf92f3577b34da6a3ce929d0e0e4736');
  });
});
