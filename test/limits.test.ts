// Limits and failure handling, end to end: timeouts kill the instance, each kind of crash fails only
// the invocation in flight, memory is enforced, instances scale out to concurrency.max, requests
// beyond it wait then get 429, and idle instances exit after the keep-alive (injected clock).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../src/util/clock.ts';
import { sleep, startTestServer, type TestServer } from './helpers.ts';

const SOURCES: Record<string, string> = {
  'src/slow.ts': `
const id = Math.random().toString(36).slice(2);
export const handler = async (e: { ms?: number }) => { await new Promise((r) => setTimeout(r, e?.ms ?? 300)); return { id }; };`,
  'src/crash.ts': `
const id = Math.random().toString(36).slice(2);
export const handler = async (event: { kind?: string; body?: string }) => {
  const e = event.kind ? event : JSON.parse(event.body ?? '{}');
  if (e.kind === 'exit') process.exit(3);
  if (e.kind === 'reject') { Promise.reject(new Error('nobody awaited me')); await new Promise((r) => setTimeout(r, 1000)); }
  if (e.kind === 'throw-later') { setTimeout(() => { throw new Error('thrown from a timer'); }, 1); await new Promise((r) => setTimeout(r, 1000)); }
  if (e.kind === 'heap') { const keep: unknown[] = []; for (;;) keep.push(new Array(100000).fill({ x: Math.random() })); }
  if (e.kind === 'buffers') { const keep: Buffer[] = []; for (;;) { keep.push(Buffer.alloc(8 * 1024 * 1024, 1)); await new Promise((r) => setImmediate(r)); } }
  if (e.kind === 'throw') { class PaymentDeclined extends Error { name = 'PaymentDeclined'; } throw new PaymentDeclined('card declined'); }
  if (e.kind === 'odd-error') { const self: Record<string, unknown> = {}; self.self = self; const err = new Error('x'); Object.defineProperty(err, 'name', { value: 10n }); Object.defineProperty(err, 'message', { value: self }); Object.defineProperty(err, 'stack', { value: 7 }); throw err; }
  return { id };
};`,
  'src/big.ts': `
const id = Math.random().toString(36).slice(2);
export const handler = async (e: { mb: number }) => ({ id, pad: 'x'.repeat(Math.round(e.mb * 1024 * 1024)) });`,
  'src/badimport.ts': `throw new Error('cannot connect at import');\nexport const handler = async () => 'never';`,
  'src/noexport.js': `exports.other = async () => 'x';`,
};

const MANIFEST = `app: limits
functions:
  slow:
    handler: src/slow.handler
    timeout: 1
    concurrency: { max: 3 }
    events:
      - http: GET /slow
  single:
    handler: src/slow.handler
    concurrency: { max: 1, queueTimeoutMs: 150 }
  queued:
    handler: src/slow.handler
    concurrency: { max: 1, queueTimeoutMs: 5000 }
  crash:
    handler: src/crash.handler
    memory: 128
    events:
      - http: POST /crash
  badimport:
    handler: src/badimport.handler
    events:
      - http: GET /badimport
  noexport:
    handler: src/noexport.handler
  big:
    handler: src/big.handler
    memory: 1024
`;

describe('limits and failures', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
    const d = await srv.deploy({ 'nimbus.yml': MANIFEST, ...SOURCES });
    assert.equal(d.status, 200, JSON.stringify(d.body));
  });
  after(() => srv.close());

  const crash = (kind: string) => srv.req('/crash', { method: 'POST', body: JSON.stringify({ kind }) });
  const idOf = async () => ((await srv.invoke<{ id: string }>('crash', { kind: 'ok' })).body).id;

  it('kills an invocation at its timeout with a timeout error, and the next request gets a fresh instance', async () => {
    const first = (await srv.invoke<{ id: string }>('slow', { ms: 1 })).body.id;
    const t0 = performance.now();
    const res = await srv.invoke<{ errorType: string; errorMessage: string }>('slow', { ms: 5000 });
    const took = performance.now() - t0;
    assert.equal(res.headers.get('x-nimbus-function-error'), 'Unhandled');
    assert.equal(res.body.errorType, 'Sandbox.Timedout');
    assert.match(res.body.errorMessage, /Task timed out after 1\.00 seconds/);
    assert.ok(took >= 950 && took < 3000, `took ${took} ms`);
    const http = await srv.req('/slow?x=1');
    assert.equal(http.status, 200);
    const next = (await srv.invoke<{ id: string }>('slow', { ms: 1 })).body.id;
    assert.notEqual(next, first, 'the timed-out instance was replaced');
  });

  it('fails a response over 6 MB with Function.ResponseSizeTooLarge, and one over the channel limit (64 MiB) too, without harm to the server', async () => {
    const over = await srv.invoke<{ errorType: string; errorMessage: string }>('big', { mb: 7 });
    assert.equal(over.body.errorType, 'Function.ResponseSizeTooLarge');
    const warm = (await srv.invoke<{ id: string }>('big', { mb: 0 })).body.id;
    // The host stops reading at 64 MiB and stops the instance; the next request gets a fresh one.
    const huge = await srv.invoke<{ errorType: string; errorMessage: string }>('big', { mb: 80 });
    assert.equal(huge.body.errorType, 'Function.ResponseSizeTooLarge');
    assert.match(huge.body.errorMessage, /more than 64 MiB/);
    const after = (await srv.invoke<{ id: string }>('big', { mb: 0 })).body.id;
    assert.notEqual(after, warm);
  });

  it('reports an error whose name and message are not strings as strings, and keeps the instance', async () => {
    const before = (await srv.invoke<{ id: string }>('crash', { kind: 'none' })).body.id;
    const r = await srv.invoke<{ errorType: string; errorMessage: string; trace: string[] }>('crash', { kind: 'odd-error' });
    assert.deepEqual(r.body, { errorType: '10', errorMessage: '[object Object]', trace: [] });
    assert.equal((await srv.invoke<{ id: string }>('crash', { kind: 'none' })).body.id, before);
  });

  it('reports a thrown error as Lambda error object on invoke and 502 FUNCTION_ERROR on HTTP', async () => {
    const r = await srv.invoke<{ errorType: string; errorMessage: string; trace: string[] }>('crash', { kind: 'throw' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-nimbus-error-type'), 'PaymentDeclined');
    assert.equal(r.body.errorType, 'PaymentDeclined');
    assert.equal(r.body.errorMessage, 'card declined');
    assert.ok(Array.isArray(r.body.trace) && r.body.trace.length > 0);
    const http = await crash('throw');
    assert.equal(http.status, 502);
    const body = await http.json();
    assert.equal(body.error.code, 'FUNCTION_ERROR');
    assert.equal(body.error.errorType, 'PaymentDeclined');
    assert.equal(body.error.requestId, http.headers.get('x-request-id'));
    assert.doesNotMatch(body.error.message, /card declined/, "the function's own message stays in its logs, away from HTTP callers");
    assert.match(body.error.message, new RegExp(`--request-id ${body.error.requestId}`));
  });

  for (const [kind, errorType, code] of [
    ['exit', 'Runtime.ExitError', 'FUNCTION_CRASHED'],
    ['reject', 'Runtime.UnhandledPromiseRejection', 'FUNCTION_CRASHED'],
    ['throw-later', 'Runtime.UncaughtException', 'FUNCTION_CRASHED'],
    ['heap', 'Runtime.OutOfMemory', 'FUNCTION_OUT_OF_MEMORY'],
    ['buffers', 'Runtime.OutOfMemory', 'FUNCTION_OUT_OF_MEMORY'],
  ] as const) {
    it(`a crash (${kind}) fails only that invocation, and the instance is replaced`, async () => {
      const before = await idOf();
      const r = await srv.invoke<{ errorType: string }>('crash', { kind });
      assert.equal(r.body.errorType, errorType, JSON.stringify(r.body));
      const http = await crash(kind);
      assert.equal((await http.json()).error.code, code);
      const afterId = await idOf();
      assert.notEqual(afterId, before, 'a new instance serves the next request');
    });
  }

  it('records the outcome of crashes in invocation records', async () => {
    const { body } = await srv.api<{ invocations: { outcome: string; errorType: string | null }[] }>('GET', '/_nimbus/api/functions/crash/invocations?limit=100');
    const outcomes = new Set(body.invocations.map((i) => i.outcome));
    for (const o of ['success', 'error', 'crashed', 'out-of-memory']) assert.ok(outcomes.has(o), `outcome ${o} recorded`);
  });

  it('fails init errors clearly, every time, and keeps serving other functions', async () => {
    const r = await srv.invoke<{ errorType: string; errorMessage: string }>('badimport');
    assert.equal(r.body.errorType, 'Error');
    assert.match(r.body.errorMessage, /cannot connect at import/);
    const http = await srv.req('/badimport');
    assert.equal(http.status, 502);
    assert.equal((await http.json()).error.code, 'FUNCTION_INIT_FAILED');
    const ne = await srv.invoke<{ errorType: string }>('noexport');
    assert.equal(ne.body.errorType, 'Runtime.HandlerNotFound');
    assert.equal((await srv.invoke('slow', { ms: 1 })).status, 200);
  });

  it('scales out to concurrency.max instances for concurrent requests', async () => {
    const ids = await Promise.all([1, 2, 3].map(() => srv.invoke<{ id: string }>('slow', { ms: 300 })));
    assert.equal(new Set(ids.map((r) => r.body.id)).size, 3);
  });

  it('answers 429 TOO_MANY_REQUESTS with Retry-After once the queue timeout passes at the limit', async () => {
    const [a, b] = await Promise.all([srv.invoke('single', { ms: 600 }), (async () => { await sleep(50); return srv.invoke<{ error: { code: string } }>('single', { ms: 1 }); })()]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 429);
    assert.equal(b.body.error.code, 'TOO_MANY_REQUESTS');
    assert.ok(Number(b.headers.get('retry-after')) >= 1);
  });

  it('records timeouts and throttles as outcomes, and bills a record its duration rounded up to the millisecond (at least 1; a throttle nothing)', async () => {
    type Rec = { outcome: string; errorType: string | null; durationMs: number; billedDurationMs: number };
    const records = async (fn: string) => (await srv.api<{ invocations: Rec[] }>('GET', `/_nimbus/api/functions/${fn}/invocations?limit=100`)).body.invocations;
    const slow = await records('slow');
    const timedOut = slow.find((r) => r.outcome === 'timeout');
    assert.ok(timedOut, `a timeout among ${slow.map((r) => r.outcome).join(', ')}`);
    assert.equal(timedOut.errorType, 'Sandbox.Timedout');
    assert.ok(timedOut.durationMs >= 950 && timedOut.durationMs < 3000, `timed out after ${timedOut.durationMs} ms`);
    const single = await records('single');
    const throttled = single.find((r) => r.outcome === 'throttled');
    assert.ok(throttled, `a throttle among ${single.map((r) => r.outcome).join(', ')}`);
    assert.equal(throttled.errorType, 'TooManyRequests');
    assert.equal(throttled.billedDurationMs, 0);
    const billed = [...slow, ...single].filter((r) => r.outcome !== 'throttled');
    assert.ok(billed.some((r) => !Number.isInteger(r.durationMs)), 'durations are kept to the fraction of a millisecond');
    for (const r of billed) assert.equal(r.billedDurationMs, Math.max(1, Math.ceil(r.durationMs)), `${r.durationMs} ms bills ${r.billedDurationMs}`);
  });

  it('drains waiting requests in order as the instance frees up', async () => {
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3].map(async (i) => {
      await sleep(i * 20);
      const r = await srv.invoke<{ id: string }>('queued', { ms: 100 });
      assert.equal(r.status, 200);
      order.push(i);
    }));
    assert.deepEqual(order, [0, 1, 2, 3]);
  });
});

describe('keep-alive', () => {
  const clock = new ManualClock();
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ clock, keepAliveMs: 60_000 });
    const d = await srv.deploy({ 'nimbus.yml': 'app: ka\nfunctions:\n  fn:\n    handler: src/slow.handler\n', 'src/slow.ts': SOURCES['src/slow.ts']! });
    assert.equal(d.status, 200);
  });
  after(() => srv.close());

  it('keeps an idle instance warm until the keep-alive passes, then scales to zero', async () => {
    const first = (await srv.invoke<{ id: string }>('fn', { ms: 1 })).body.id;
    assert.equal(srv.scheduler.stats().fn?.idle, 1);
    clock.advance(59_000);
    assert.equal((await srv.invoke<{ id: string }>('fn', { ms: 1 })).body.id, first, 'still warm before the keep-alive');
    clock.advance(60_001);
    for (let i = 0; i < 100 && srv.scheduler.stats().fn?.idle !== 0; i++) await sleep(10);
    assert.equal(srv.scheduler.stats().fn?.idle, 0, 'no instance left');
    const again = (await srv.invoke<{ id: string }>('fn', { ms: 1 })).body.id;
    assert.notEqual(again, first, 'the next request cold-starts a new instance');
    const recs = (await srv.api<{ invocations: { cold: boolean }[] }>('GET', '/_nimbus/api/functions/fn/invocations')).body.invocations;
    assert.deepEqual(recs.map((r) => r.cold), [true, false, true]);
  });
});
