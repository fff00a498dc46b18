// Asynchronous invocation: 202 once stored, retries with backoff, destinations with Lambda's
// destination record, the dead-letter queue, event age, idempotency keys, and bad input.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startWithApp, type TestServer } from './helpers.ts';

interface Err { error: { code: string; message: string } }

const MANIFEST = `app: asy
functions:
  ok:
    handler: src/ok.handler
    async: { onSuccess: queue:results }
  flaky:
    handler: src/flaky.handler
    async: { retries: 1, onFailure: queue:failures, deadLetterQueue: dlq }
  chained:
    handler: src/ok.handler
    async: { onSuccess: function:notify }
  notify:
    handler: src/notify.handler
    permissions: { queues: { notified: [send] } }
  aged:
    handler: src/ok.handler
    async: { maxEventAge: 60, onFailure: queue:failures }
queues:
  results: {}
  failures: {}
  dlq: {}
  notified: {}
`;

const SOURCES = {
  'src/ok.ts': 'export const handler = async (event: { n?: number }) => ({ doubled: (event.n ?? 0) * 2 });',
  'src/flaky.ts': 'export const handler = async () => { throw new TypeError("always fails"); };',
  'src/notify.ts': `import { queues } from 'nimbus/sdk';
export const handler = async (record: unknown) => { await queues.send('notified', record); return null; };`,
};

describe('asynchronous invocation', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startWithApp({ 'nimbus.yml': MANIFEST, ...SOURCES }, { asyncRetryBaseMs: 100 });
  });
  after(() => srv.close());

  const invokeAsync = (fn: string, event: unknown, headers: Record<string, string> = {}) => srv.req(`/_nimbus/api/functions/${fn}/invocations`, {
    method: 'POST', body: JSON.stringify(event), headers: { 'content-type': 'application/json', 'x-nimbus-invocation-type': 'Event', ...headers },
  });

  it('answers 202 with the request id, runs the function, and sends the success record', async () => {
    const res = await invokeAsync('ok', { n: 21 });
    assert.equal(res.status, 202);
    const { requestId } = await res.json() as { requestId: string };
    assert.equal(res.headers.get('x-nimbus-request-id'), requestId);
    const [m] = await srv.take('results', 1);
    const record = JSON.parse(m!.body);
    assert.deepEqual(record.requestContext, { requestId, functionArn: 'arn:aws:lambda:local:000000000000:function:ok:$LATEST', condition: 'Success', approximateInvokeCount: 1 });
    assert.deepEqual(record.requestPayload, { n: 21 });
    assert.deepEqual(record.responseContext, { statusCode: 200, executedVersion: '1' });
    assert.deepEqual(record.responsePayload, { doubled: 42 });
    assert.equal(record.version, '1.0');
    assert.ok(!Number.isNaN(Date.parse(record.timestamp)));
    const inv = await srv.api<{ invocations: { requestId: string; trigger: string; outcome: string }[] }>('GET', '/_nimbus/api/functions/ok/invocations');
    assert.deepEqual(inv.body.invocations.filter((i) => i.requestId === requestId).map((i) => [i.trigger, i.outcome]), [['async', 'success']]);
  });

  it('retries a failing event, then sends the failure record and the event to the dead-letter queue', async () => {
    const t0 = Date.now();
    const res = await invokeAsync('flaky', { order: 7 });
    const { requestId } = await res.json() as { requestId: string };
    const [f] = await srv.take('failures', 1);
    const record = JSON.parse(f!.body);
    assert.equal(record.requestContext.condition, 'RetriesExhausted');
    assert.equal(record.requestContext.approximateInvokeCount, 2, 'the first attempt and one retry');
    assert.deepEqual(record.responseContext, { statusCode: 200, executedVersion: '1', functionError: 'Unhandled' });
    assert.equal(record.responsePayload.errorType, 'TypeError');
    assert.equal(record.responsePayload.errorMessage, 'always fails');
    assert.ok(Date.now() - t0 >= 50, 'the retry waited (backoff)');
    const [d] = await srv.take('dlq', 1);
    assert.deepEqual(JSON.parse(d!.body), { order: 7 });
    assert.equal(d!.messageAttributes.RequestID!.StringValue, requestId);
    assert.match(d!.messageAttributes.ErrorMessage!.StringValue!, /TypeError: always fails/);
    const inv = await srv.api<{ invocations: { requestId: string; outcome: string }[] }>('GET', '/_nimbus/api/functions/flaky/invocations');
    assert.equal(inv.body.invocations.filter((i) => i.requestId === requestId).length, 2);
  });

  it('a function destination receives the record as its event', async () => {
    const res = await invokeAsync('chained', { n: 1 });
    const { requestId } = await res.json() as { requestId: string };
    const [m] = await srv.take('notified', 1);
    const record = JSON.parse(m!.body);
    assert.equal(record.requestContext.requestId, requestId);
    assert.deepEqual(record.responsePayload, { doubled: 2 });
  });

  it('does not run an event older than maxEventAge', async () => {
    // As if the server had been down for two minutes with the event stored.
    const fn = (await srv.store.getFunction('aged'))!;
    await srv.store.enqueueAsync({ requestId: 'old-event', fn: fn.name, payload: '{"n":5}' }, Date.now() - 120_000, 60_000);
    srv.asyncInvoker.kick();
    const [m] = await srv.take('failures', 1);
    const record = JSON.parse(m!.body);
    assert.equal(record.requestContext.condition, 'EventAgeExceeded');
    assert.equal(record.requestContext.approximateInvokeCount, 0);
    assert.equal(record.responsePayload, undefined);
    const inv = await srv.api<{ invocations: unknown[] }>('GET', '/_nimbus/api/functions/aged/invocations');
    assert.equal(inv.body.invocations.length, 0);
  });

  it('an event for a version that is gone is dead-lettered with why (404 VERSION_NOT_FOUND), not as expired', async () => {
    // As a rule target naming an alias that does not exist yet, or a version collected since, would store it.
    await srv.store.enqueueAsync({ requestId: 'gone-version', fn: 'flaky', payload: '{"n":9}', qualifier: 'later' }, Date.now(), 60_000);
    srv.asyncInvoker.kick();
    const [f] = await srv.take('failures', 1);
    const record = JSON.parse(f!.body);
    assert.equal(record.requestContext.requestId, 'gone-version');
    assert.equal(record.requestContext.condition, 'RetriesExhausted');
    assert.deepEqual(record.responseContext, { statusCode: 404, executedVersion: 'later' });
    assert.equal(record.responsePayload.errorType, 'VERSION_NOT_FOUND');
    assert.match(record.responsePayload.errorMessage, /later/);
    const [d] = await srv.take('dlq', 1);
    assert.equal(d!.messageAttributes.RequestID!.StringValue, 'gone-version');
    assert.equal(d!.messageAttributes.ErrorCode!.StringValue, '404');
    assert.match(d!.messageAttributes.ErrorMessage!.StringValue!, /^VERSION_NOT_FOUND: .*later/);
  });

  it('runs an event once per idempotency key and returns the first request id', async () => {
    const a = await invokeAsync('ok', { n: 100 }, { 'x-nimbus-idempotency-key': 'order-1' });
    const b = await invokeAsync('ok', { n: 100 }, { 'x-nimbus-idempotency-key': 'order-1' });
    const first = await a.json() as { requestId: string; duplicate?: boolean };
    const second = await b.json() as { requestId: string; duplicate?: boolean };
    assert.equal(second.requestId, first.requestId);
    assert.equal(first.duplicate, undefined);
    assert.equal(second.duplicate, true);
    const got = await srv.take('results', 2, 1500);
    assert.equal(got.length, 1, 'ran once');
  });

  it('rejects bad input', async () => {
    const big = await invokeAsync('ok', { pad: 'x'.repeat(1024 * 1024) });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as Err).error.code, 'PAYLOAD_TOO_LARGE');
    const badType = await srv.req('/_nimbus/api/functions/ok/invocations', { method: 'POST', body: '{}', headers: { 'x-nimbus-invocation-type': 'Later' } });
    assert.equal(badType.status, 400);
    assert.match(((await badType.json()) as Err).error.message, /RequestResponse .* or Event/);
    const badKey = await invokeAsync('ok', {}, { 'x-nimbus-idempotency-key': 'has space' });
    assert.equal(badKey.status, 400);
    const syncKey = await srv.req('/_nimbus/api/functions/ok/invocations', { method: 'POST', body: '{}', headers: { 'x-nimbus-idempotency-key': 'k1' } });
    assert.equal(syncKey.status, 400);
    assert.match(((await syncKey.json()) as Err).error.message, /applies to asynchronous invocations/);
    const missing = await invokeAsync('nope', {});
    assert.equal(missing.status, 404);
    const stats = await srv.api<{ pending: number }>('GET', '/_nimbus/api/functions/ok/async');
    assert.equal(stats.body.pending, 0);
  });
});
