// Queue → function: SQS-shaped events, partial batch failures, retries into the dead-letter queue,
// scaling with the backlog up to maxConcurrency and back to idle without polling the store, and
// the runtime SDK (functions sending to their app's queues, and only those).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SqsSchema } from '@aws-lambda-powertools/parser/schemas/sqs';
import { sleep, startWithApp, type TestServer } from './helpers.ts';


const MANIFEST = `app: qt
functions:
  echo:
    handler: src/echo.handler
    permissions: { queues: { seen: [send] } }
    events:
      - queue: { name: in, batchSize: 5 }
  picky:
    handler: src/picky.handler
    permissions: { queues: { seen: [send] } }
    events:
      - queue: { name: picky-in, batchSize: 10 }
  fetcher:
    handler: src/fetcher.default
    events:
      - queue: fetch-in
  ordered:
    handler: src/echo.handler
    permissions: { queues: { seen: [send] } }
    events:
      - queue: { name: steps.fifo, batchSize: 1 }
  slow:
    handler: src/slow.handler
    concurrency: { max: 5 }
    events:
      - queue: { name: slow-in, batchSize: 1, maxConcurrency: 3 }
queues:
  in: {}
  seen: {}
  picky-in:
    visibilityTimeout: 1
    deadLetter: { queue: picky-dlq, maxReceiveCount: 2 }
  picky-dlq: {}
  slow-in: {}
  steps.fifo: { contentBasedDeduplication: true }
  fetch-in:
    visibilityTimeout: 1
    deadLetter: { queue: fetch-dlq, maxReceiveCount: 1 }
  fetch-dlq: {}
`;

const SOURCES = {
  // Forwards every event it gets to the "seen" queue, through the SDK.
  'src/echo.ts': `import { queues } from 'nimbus/sdk';
export const handler = async (event: unknown) => { await queues.send('seen', event); return null; };`,
  // Fails the messages whose body starts with "bad" (batchItemFailures), throws on "throw".
  'src/picky.ts': `import { queues } from 'nimbus/sdk';
export const handler = async (event: { Records: { messageId: string; body: string }[] }) => {
  if (event.Records.some((r) => r.body === 'throw')) throw new Error('boom');
  for (const r of event.Records) if (!r.body.startsWith('bad')) await queues.send('seen', { ok: r.body });
  return { batchItemFailures: event.Records.filter((r) => r.body.startsWith('bad')).map((r) => ({ itemIdentifier: r.messageId })) };
};`,
  // A fetch-style consumer: a 500 answer is a failure, so the batch is not deleted.
  'src/fetcher.ts': 'export default { async fetch() { return new Response("not today", { status: 500 }); } };',
  'src/slow.ts': 'export const handler = async () => { await new Promise((r) => setTimeout(r, 300)); return null; };',
};

describe('queue → function', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startWithApp({ 'nimbus.yml': MANIFEST, ...SOURCES });
  });
  after(() => srv.close());

  const send = (q: string, body: unknown) => srv.api<Record<string, unknown>>('POST', `/_nimbus/api/queues/${q}/messages`, body);
  const stats = async (q: string) => (await srv.api<{ stats: { visible: number; inFlight: number; delayed: number } }>('GET', `/_nimbus/api/queues/${q}`)).body.stats;

  it('delivers SQS-shaped events (SqsSchema) and deletes what succeeded', async () => {
    const r = await send('in', { entries: [{ id: 'a', body: 'one', attributes: { kind: 'k', n: 7 } }, { id: 'b', body: '{"two":2}' }] });
    assert.equal(r.status, 200);
    type Rec = { body: string; eventSource: string; eventSourceARN: string; messageAttributes: Record<string, { stringValue?: string; dataType: string }>; attributes: Record<string, string> };
    const records: Rec[] = [];
    // One event per batch: the two messages may come in one batch or two.
    for (let i = 0; i < 2 && records.length < 2; i++) {
      for (const m of await srv.take('seen', 1)) {
        const event = JSON.parse(m.body);
        SqsSchema.parse(event);
        records.push(...(event.Records as Rec[]));
      }
    }
    assert.deepEqual(records.map((x) => x.body).sort(), ['one', '{"two":2}']);
    const one = records.find((x) => x.body === 'one')!;
    assert.equal(one.eventSource, 'aws:sqs');
    assert.equal(one.eventSourceARN, 'arn:aws:sqs:local:000000000000:in');
    assert.deepEqual(one.messageAttributes.kind, { stringValue: 'k', stringListValues: [], binaryListValues: [], dataType: 'String' });
    assert.equal(one.messageAttributes.n!.dataType, 'Number');
    assert.equal(one.attributes.ApproximateReceiveCount, '1');
    for (let i = 0; i < 50 && (await stats('in')).inFlight > 0; i++) await sleep(50);
    assert.deepEqual(await stats('in'), { visible: 0, inFlight: 0, delayed: 0, oldestAgeMs: 0 });
  });

  it('retries only the batchItemFailures; poison messages end in the dead-letter queue', async () => {
    await send('picky-in', { entries: [{ id: '1', body: 'good-1' }, { id: '2', body: 'bad-1' }, { id: '3', body: 'good-2' }] });
    const dead = await srv.take('picky-dlq', 1, 30_000);
    assert.deepEqual(dead.map((m) => m.body), ['bad-1']);
    assert.equal(dead[0]!.attributes.DeadLetterQueueSourceArn, 'arn:aws:sqs:local:000000000000:picky-in');
    const ok = await srv.take('seen', 2);
    assert.deepEqual(ok.map((m) => JSON.parse(m.body).ok).sort(), ['good-1', 'good-2'], 'the good ones were processed once each');
    assert.equal((await srv.take('seen', 1, 500)).length, 0, 'and not again');
  });

  it('a thrown error makes the whole batch visible again; it ends in the dead-letter queue', async (t) => {
    await send('picky-in', { body: 'throw' });
    const dead = await srv.take('picky-dlq', 1, 30_000);
    if (dead.length === 0) {
      // What the trigger was doing, for a failure that only shows under load.
      const inv = await srv.api<{ invocations: unknown[] }>('GET', '/_nimbus/api/functions/picky/invocations?limit=10');
      t.diagnostic(`picky-in ${JSON.stringify((await stats('picky-in')))}; picky-dlq ${JSON.stringify(await stats('picky-dlq'))}; invocations ${JSON.stringify(inv.body.invocations)}`);
    }
    assert.deepEqual(dead.map((m) => m.body), ['throw']);
    const inv = await srv.api<{ invocations: { outcome: string; trigger: string }[] }>('GET', '/_nimbus/api/functions/picky/invocations?status=error');
    assert.ok(inv.body.invocations.length >= 2, 'two attempts (maxReceiveCount 2)');
    assert.ok(inv.body.invocations.every((i) => i.trigger === 'queue'));
  });

  it('a fetch-style consumer that answers 500 has failed: its message is not deleted, and ends in the dead-letter queue', async () => {
    await send('fetch-in', { body: 'job' });
    const [dead] = await srv.take('fetch-dlq', 1, 30_000);
    assert.equal(dead?.body, 'job');
    const inv = await srv.api<{ invocations: { outcome: string; errorType: string }[] }>('GET', '/_nimbus/api/functions/fetcher/invocations');
    assert.deepEqual([inv.body.invocations[0]?.outcome, inv.body.invocations[0]?.errorType], ['error', 'HttpError']);
  });

  it('FIFO: a message group\'s next batch goes as soon as the previous one is deleted, in order', async () => {
    const t0 = Date.now();
    for (const b of ['one', 'two', 'three']) await send('steps.fifo', { body: b, groupId: 'g' });
    const bodies: string[] = [];
    // (One receive can return several of them: take them all, then read the order.)
    for (const m of await srv.take('seen', 3, 5000)) bodies.push(...(JSON.parse(m.body) as { Records: { body: string }[] }).Records.map((r) => r.body));
    assert.deepEqual(bodies, ['one', 'two', 'three']);
    assert.ok(Date.now() - t0 < 5000, `a batch per delete, not per idle wait (${Date.now() - t0} ms)`);
  });

  it('scales with the backlog up to maxConcurrency, then goes idle without polling the store', async () => {
    let peak = 0;
    const watch = setInterval(() => { peak = Math.max(peak, srv.scheduler.stats().slow?.busy ?? 0); }, 20);
    await send('slow-in', { entries: Array.from({ length: 10 }, (_, i) => ({ id: String(i), body: `s${i}` })) });
    await send('slow-in', { entries: Array.from({ length: 5 }, (_, i) => ({ id: String(i), body: `t${i}` })) });
    const t0 = Date.now();
    while (((await stats('slow-in')).visible > 0 || (await stats('slow-in')).inFlight > 0) && Date.now() - t0 < 15_000) await sleep(50);
    clearInterval(watch);
    assert.equal(peak, 3, `at most maxConcurrency (3) batches at once, and it got there (peak ${peak})`);
    // Idle: count the store's receives for a second; pollers sleep until a send wakes them.
    const store = srv.store as unknown as { receiveMessages: (...a: unknown[]) => Promise<unknown> };
    const original = store.receiveMessages.bind(srv.store);
    let calls = 0;
    store.receiveMessages = (...a: unknown[]) => { calls++; return original(...a); };
    await sleep(1000);
    store.receiveMessages = original;
    assert.ok(calls <= 3, `an idle poller does not loop on the store (${calls} receives in 1 s)`);
  });

  it('the SDK sends only to granted queues (any app\'s), denies the rest and logs the denial', async () => {
    const other = await srv.deploy({
      'nimbus.yml': 'app: other\nfunctions:\n  sender:\n    handler: src/s.handler\n    permissions: { queues: { mine: [send], picky-in: [send] } }\nqueues:\n  mine: {}\n',
      'src/s.ts': `import { queues } from 'nimbus/sdk';
export const handler = async (e: { q: string }) => { try { await queues.send(e.q, 'x'); return 'sent'; } catch (err) { return { name: (err as Error).name, message: (err as Error).message }; } };`,
    });
    assert.equal(other.status, 200, JSON.stringify(other.body));
    assert.equal((await srv.invoke('sender', { q: 'mine' })).body, 'sent');
    // A grant may name another app's queue: this one's consumer forwards what it gets to "seen".
    assert.equal((await srv.invoke('sender', { q: 'picky-in' })).body, 'sent');
    const [forwarded] = await srv.take('seen', 1);
    assert.deepEqual(JSON.parse(forwarded!.body), { ok: 'x' });
    const denied = await srv.invoke<{ name: string; message: string }>('sender', { q: 'seen' });
    assert.equal(denied.body.name, 'ACCESS_DENIED');
    assert.match(denied.body.message, /function "sender" may not send to queue "seen"; grant it with permissions: \{ queues: \{ seen: \[send\] \} \}/);
    // Without a grant, a queue that does not exist is denied too (names are not probed).
    const missing = await srv.invoke<{ name: string }>('sender', { q: 'nope' });
    assert.equal(missing.body.name, 'ACCESS_DENIED');
    let logs = await srv.api<{ logs: { message: string; level: string }[] }>('GET', '/_nimbus/api/functions/sender/logs');
    for (let i = 0; i < 40 && !logs.body.logs.some((l) => l.message.startsWith('AccessDenied')); i++) {
      await new Promise((r) => setTimeout(r, 50));
      logs = await srv.api('GET', '/_nimbus/api/functions/sender/logs');
    }
    assert.ok(logs.body.logs.some((l) => l.level === 'WARN' && /AccessDenied queues\.send: .*queue "seen"/.test(l.message)), JSON.stringify(logs.body.logs.map((l) => l.message)));
    assert.equal((await srv.take('seen', 1, 300)).length, 0);
  });
});
