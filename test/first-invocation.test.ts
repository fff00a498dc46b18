// A cold start sends its request's invocation right behind init, and the runtime runs it as soon as
// init ends. What a user must not notice: the handler runs once, the host's guess of the handler
// style (lambda or fetch) may be wrong the first time, the function's timeout and billed duration
// count from init's end, and the START line comes before what the handler prints.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { oneFunctionApp, sleep, startWithApp, type TestServer } from './helpers.ts';

const APP = {
  'nimbus.yml': `app: first
functions:
  named:
    handler: src/named.api
    events:
      - http: GET /named
  plainDefault:
    handler: src/plain.default
    events:
      - http: GET /plain
  slowInit:
    handler: src/slow.handler
    timeout: 1
    events:
      - http: GET /slow
`,
  // A fetch-style handler under a named export (the host first expects Lambda style there) ...
  'src/named.ts': `let calls = 0;
export const api = { async fetch(req: Request) { calls++; return Response.json({ style: 'fetch', path: new URL(req.url).pathname, calls }); } };
`,
  // ... and a Lambda-style handler as the default export (where it first expects fetch style).
  'src/plain.ts': `let calls = 0;
export default async (event: { rawPath: string }) => { calls++; return { statusCode: 200, body: JSON.stringify({ style: 'lambda', path: event.rawPath, calls }) }; };
`,
  // Init takes 700 ms of a 1 s timeout; the handler 300 ms more.
  'src/slow.ts': `const until = Date.now() + 700;
while (Date.now() < until) { /* init work */ }
export const handler = async (_e: unknown, context: { getRemainingTimeInMillis(): number }) => {
  const remaining = context.getRemainingTimeInMillis();
  console.log('in the handler');
  await new Promise((r) => setTimeout(r, 300));
  return { statusCode: 200, body: JSON.stringify({ remaining }) };
};
`,
};

interface Line { seq: number; message: string; requestId: string | null }

describe('the invocation a cold start sends with init', () => {
  let srv: TestServer;
  before(async () => { srv = await startWithApp(APP); });
  after(() => srv.close());

  for (const [path, style] of [['/named', 'fetch'], ['/plain', 'lambda']] as const) {
    it(`runs once, answered right, when the host expected the other handler style (${style} at ${path})`, async () => {
      for (const calls of [1, 2]) {
        const r = await srv.req(path);
        assert.equal(r.status, 200);
        assert.deepEqual(await r.json(), { style, path, calls }, calls === 1 ? 'the cold start' : 'the warm request after it');
      }
      const fn = path === '/named' ? 'named' : 'plainDefault';
      const inv = await srv.api<{ invocations: { requestId: string; cold: boolean }[] }>('GET', `/_nimbus/api/functions/${fn}/invocations`);
      const cold = inv.body.invocations.find((i) => i.cold)!;
      const lines = (await srv.api<{ logs: Line[] }>('GET', `/_nimbus/api/functions/${fn}/logs?requestId=${cold.requestId}`)).body.logs;
      assert.equal(lines.filter((l) => l.message.startsWith('START ')).length, 1, 'one START line');
    });
  }

  it('counts the timeout and the billed duration from the end of init, and logs START before the handler prints', async () => {
    const r = await srv.req('/slow');
    assert.equal(r.status, 200, 'init (700 ms) and the handler (300 ms) together exceed the 1 s timeout; the handler alone does not');
    const { remaining } = await r.json() as { remaining: number };
    assert.ok(remaining > 700, `the handler started with ${remaining} ms of its 1,000 left`);
    const requestId = r.headers.get('x-request-id')!;
    const lines = (await srv.api<{ logs: Line[] }>('GET', `/_nimbus/api/functions/slowInit/logs?requestId=${requestId}`)).body.logs;
    assert.deepEqual(lines.map((l) => l.message.split(' ')[0]), ['START', 'in', 'END', 'REPORT']);
    const report = lines.at(-1)!.message;
    const duration = Number(/\tDuration: ([\d.]+) ms/.exec(report)?.[1]);
    const init = Number(/Init Duration: ([\d.]+) ms/.exec(report)?.[1]);
    // (A 300 ms timer may fire a little early, and the host's clock starts when it hears initDone.)
    assert.ok(duration >= 250 && duration < 650, `Duration ${duration} ms is the handler's 300 ms, not init's`);
    assert.ok(init >= 700, `Init Duration ${init} ms`);
  });
});

it('a server stopping while a start carries its invocation through init (after a deploy retired the version) fails it as stopping, not as an init error', async () => {
  // Init takes 3 s: the server stops in the middle of it.
  const app = (v: number) => oneFunctionApp({ source: `const until = Date.now() + 3000;\nwhile (Date.now() < until) { /* init work */ }\nexport const handler = async () => ({ v: ${v} });\n` });
  const srv = await startWithApp(app(1));
  const fn = (await srv.store.getFunction('fn'))!;
  const first = { build: () => ({ frame: { requestId: 'r1', kind: 'event' as const, payload: {}, timeoutMs: 5000 }, styled: false }), onStart: () => undefined };
  const acquired = srv.scheduler.acquire(fn, first).then(() => undefined, (err: unknown) => err as Error & { functionError?: unknown });
  await sleep(300);
  assert.equal((await srv.deploy(app(2))).status, 200, 'the deploy retires the version whose start is in init');
  await srv.close();
  const err = await acquired;
  assert.equal(err?.functionError, undefined, 'not recorded as the function failing to initialise');
  assert.match(err?.message ?? '', /the server is stopping/);
});
