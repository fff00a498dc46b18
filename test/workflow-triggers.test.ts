// Starting workflows from triggers on a real server with real sandboxes: an HTTP route (async 202,
// sync with the output, a failed execution's 502, a sync route's timeout 504, the request's trace
// continued by the task invocations), route conflicts with function routes, an event bus rule
// target (the event, or its rendered input, is the execution input) and a schedule target (on an
// injected clock, one execution per tick).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../src/util/clock.ts';
import { sleep, startTestServer, startWithApp, tempDir, type TestServer } from './helpers.ts';

const DOUBLE = { StartAt: 'Double', States: { Double: { Type: 'Task', Resource: 'double', End: true } } };
const FAILING = { StartAt: 'No', States: { No: { Type: 'Fail', Error: 'OutOfStock', Cause: 'nothing left' } } };
const SLOW = { StartAt: 'Sleep', States: { Sleep: { Type: 'Wait', Seconds: 3600, End: true } } };
const ECHO = { StartAt: 'Echo', States: { Echo: { Type: 'Pass', End: true } } };

const app = {
  'nimbus.yml': `app: wft
functions:
  double:
    handler: src/double.handler
    events:
      - http: GET /double
workflows:
  checkout:
    definition: ${JSON.stringify(DOUBLE)}
    events:
      - http: { method: POST, path: /checkout, sync: true }
      - http: POST /checkout/async
  failing:
    definition: ${JSON.stringify(FAILING)}
    events:
      - http: { method: POST, path: /failing, sync: true }
  slow:
    definition: ${JSON.stringify(SLOW)}
    events:
      - http: { method: POST, path: /slow, sync: true, timeout: 1 }
  onorder:
    definition: ${JSON.stringify(ECHO)}
  onpaid:
    definition: ${JSON.stringify(ECHO)}
rules:
  orders:
    pattern: { source: [shop], detail-type: [OrderPlaced] }
    targets:
      - workflow: onorder
      - { workflow: onpaid, inputPath: $.detail }
`,
  'src/double.ts': 'export const handler = async (e: { n: number }) => ({ n: (e?.n ?? 0) * 2 });',
};

// any: JSON bodies of several endpoints, read field by field.
type Body = any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('workflow triggers', () => {
  let srv: TestServer;
  before(async () => { srv = await startWithApp(app); });
  after(async () => { await srv?.close(); });

  const executions = async (wf: string): Promise<Body[]> => (await srv.api<Body>('GET', `/_nimbus/api/workflows/${wf}/executions`)).body.executions;
  const until = async <T>(what: string, get: () => Promise<T | undefined>, ms = 10_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await get();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  };

  it('a sync route answers with the execution output, and the execution continues the request trace', async () => {
    const traceId = 'a'.repeat(32);
    const res = await srv.req('/checkout', { method: 'POST', headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${'b'.repeat(16)}-01` }, body: JSON.stringify({ n: 21 }) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { n: 42 });
    assert.equal(res.headers.get('x-nimbus-trace-id'), traceId);
    const arn = res.headers.get('x-nimbus-execution-arn')!;
    assert.match(arn, /^arn:aws:states:local:000000000000:execution:checkout:/);
    const e = (await srv.api<Body>('GET', `/_nimbus/api/executions/${encodeURIComponent(arn)}`)).body;
    assert.equal(e.status, 'SUCCEEDED');
    assert.deepEqual(e.input, { n: 21 });
    const inv = await until('the task invocation record', async () => {
      const list = (await srv.api<Body>('GET', '/_nimbus/api/functions/double/invocations')).body.invocations as Body[];
      return list.find((i) => i.trigger === 'workflow');
    });
    assert.equal(inv.traceId, traceId);
  });

  it('an async route answers 202 with the execution ARN; an empty body is {}', async () => {
    const res = await srv.req('/checkout/async', { method: 'POST' });
    assert.equal(res.status, 202);
    const body = await res.json() as Body;
    assert.match(body.executionArn, /:execution:checkout:/);
    assert.ok(!Number.isNaN(Date.parse(body.startDate)));
    const done = await until('the execution to end', async () => {
      const e = (await srv.api<Body>('GET', `/_nimbus/api/executions/${encodeURIComponent(body.executionArn)}`)).body;
      return e.status === 'RUNNING' ? undefined : e;
    });
    assert.equal(done.status, 'SUCCEEDED');
    assert.deepEqual(done.output, { n: 0 });
    // An execution's input is at most 256 KB, and the error says so in those units.
    const big = await srv.req('/checkout/async', { method: 'POST', body: JSON.stringify({ s: 'x'.repeat(300 * 1024) }) });
    assert.equal(big.status, 413);
    assert.match((await big.json() as { error: { message: string } }).error.message, /over the limit of 262144 bytes \(256 KB\)$/);
  });

  it('a failed execution is a 502 EXECUTION_FAILED with its error and cause; bad JSON is a 400', async () => {
    const res = await srv.req('/failing', { method: 'POST', body: '{}' });
    assert.equal(res.status, 502);
    const body = await res.json() as Body;
    assert.equal(body.error.code, 'EXECUTION_FAILED');
    assert.equal(body.error.status, 'FAILED');
    assert.equal(body.error.executionError, 'OutOfStock');
    assert.equal(body.error.executionCause, 'nothing left');
    assert.match(body.error.executionArn, /:execution:failing:/);
    assert.equal(res.headers.get('x-nimbus-execution-arn'), body.error.executionArn);
    const bad = await srv.req('/failing', { method: 'POST', body: '{nope' });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as Body).error.code, 'INVALID_JSON');
    const wrongMethod = await srv.req('/failing', { method: 'GET' });
    assert.equal(wrongMethod.status, 405);
  });

  it('a sync route past its timeout is a 504 EXECUTION_STILL_RUNNING; the execution carries on', async () => {
    const t0 = Date.now();
    const res = await srv.req('/slow', { method: 'POST', body: '{}' });
    assert.equal(res.status, 504);
    assert.ok(Date.now() - t0 >= 900);
    const body = await res.json() as Body;
    assert.equal(body.error.code, 'EXECUTION_STILL_RUNNING');
    const e = (await srv.api<Body>('GET', `/_nimbus/api/executions/${encodeURIComponent(body.error.executionArn)}`)).body;
    assert.equal(e.status, 'RUNNING');
    await srv.api('POST', `/_nimbus/api/executions/${encodeURIComponent(e.executionArn)}/stop`, {});
  });

  it('counts workflow routes in the route metrics', async () => {
    const text = await (await srv.req('/_nimbus/metrics', { headers: { authorization: `Bearer ${srv.token}` } })).text();
    assert.match(text, /nimbus_http_responses_total\{route="POST \/checkout",status_class="2xx"\} 1/);
    assert.match(text, /nimbus_http_responses_total\{route="POST \/failing",status_class="5xx"\} 1/);
  });

  it('a put-events call starts the rule target workflows with the event, or its rendered input', async () => {
    const put = await srv.api<Body>('POST', '/_nimbus/api/events', { entries: [{ source: 'shop', detailType: 'OrderPlaced', detail: { order: 'o-7' } }] });
    assert.equal(put.body.failedEntryCount, 0);
    const whole = await until('onorder', async () => (await executions('onorder')).find((e) => e.status === 'SUCCEEDED'));
    assert.equal(whole.input.source, 'shop');
    assert.equal(whole.input['detail-type'], 'OrderPlaced');
    assert.equal(whole.input.id, put.body.entries[0].eventId);
    assert.deepEqual(whole.output, whole.input);
    const detail = await until('onpaid', async () => (await executions('onpaid')).find((e) => e.status === 'SUCCEEDED'));
    assert.deepEqual(detail.input, { order: 'o-7' });
    assert.equal((await executions('onorder')).length, 1);
  });

  it('routes share the route table with function routes: conflicts across apps and within a manifest are refused', async () => {
    const other = await srv.deploy({
      'nimbus.yml': `app: other
functions:
  f: { handler: src/f.handler }
workflows:
  grab:
    definition: ${JSON.stringify(ECHO)}
    events: [ { http: ANY /double } ]
`,
      'src/f.ts': 'export const handler = async () => 1;',
    });
    assert.equal(other.status, 409);
    assert.equal(other.body.error?.code, 'ROUTE_CONFLICT');
    const dup = await srv.deploy({
      'nimbus.yml': `app: dup
functions:
  f: { handler: src/f.handler, events: [ { http: POST /same } ] }
workflows:
  w:
    definition: ${JSON.stringify(ECHO)}
    events: [ { http: ANY /same } ]
`,
      'src/f.ts': 'export const handler = async () => 1;',
    }).catch((err: Error) => ({ status: 0, body: { error: { code: 'MANIFEST_INVALID', message: err.message } } }));
    assert.match(dup.body.error!.message, /ANY \/same is also declared by function "f"/);
  });
});

describe('schedule → workflow', () => {
  const dataDir = tempDir('nimbus-wf-sched-');
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 0, 0, 30));
  let srv: TestServer;
  after(async () => {
    await srv?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('each tick starts one execution with the schedule input', async () => {
    srv = await startTestServer({ dataDir, clock });
    const d = await srv.deploy({
      'nimbus.yml': `app: wfcron
functions:
  f: { handler: src/f.handler }
workflows:
  nightly: { definition: ${JSON.stringify(ECHO)} }
schedules:
  kick:
    expression: rate(1 minute)
    target: workflow:nightly
    input: { job: report }
`,
      'src/f.ts': 'export const handler = async () => 1;',
    });
    assert.equal(d.status, 200, JSON.stringify(d.body));
    const list = async (): Promise<Body[]> => (await srv.api<Body>('GET', '/_nimbus/api/workflows/nightly/executions')).body.executions;
    assert.equal((await list()).length, 0);
    const schedules = (await srv.api<Body>('GET', '/_nimbus/api/schedules')).body.schedules as Body[];
    assert.deepEqual(schedules.find((s) => s.name === 'kick').target, { kind: 'workflow', name: 'nightly' });
    for (let tick = 1; tick <= 2; tick++) {
      clock.advance(60_000);
      const deadline = Date.now() + 5000;
      while ((await list()).filter((e) => e.status === 'SUCCEEDED').length < tick && Date.now() < deadline) await sleep(20);
      const all = await list();
      assert.equal(all.length, tick);
      assert.ok(all.every((e) => e.status === 'SUCCEEDED'));
      assert.deepEqual(all[0].input, { job: 'report' });
      assert.deepEqual(all[0].output, { job: 'report' });
    }
  });

  it('a schedule naming a workflow the manifest does not declare is refused', async () => {
    const d = await srv.deploy({
      'nimbus.yml': `app: wfcron2
functions:
  f: { handler: src/f.handler }
schedules:
  kick: { expression: rate(1 minute), target: { workflow: nope } }
`,
      'src/f.ts': 'export const handler = async () => 1;',
    }).catch((err: Error) => ({ status: 400, body: { error: { code: 'MANIFEST_INVALID', message: err.message } } }));
    assert.match(d.body.error!.message, /no workflow "nope" in this manifest's workflows/);
  });
});
