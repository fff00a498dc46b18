// Queues through the admin API: send (single, batch), receive with long polling, delete, visibility,
// purge, stats, FIFO ordering and deduplication, dead-letter queues and redrive, and bad input.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers.ts';

interface Msg { messageId: string; receiptHandle: string; body: string; md5OfBody: string; md5OfMessageAttributes?: string; attributes: Record<string, string>; messageAttributes: Record<string, { DataType: string; StringValue?: string; BinaryValue?: string }> }
interface Err { error: { code: string; message: string } }

const MANIFEST = `app: q
functions:
  noop:
    handler: src/index.handler
queues:
  jobs:
    visibilityTimeout: 30
  short:
    visibilityTimeout: 1
    deadLetter: { queue: short-dlq, maxReceiveCount: 2 }
  short-dlq: {}
  small:
    maxMessageSize: 1024
  orders.fifo:
    contentBasedDeduplication: true
    visibilityTimeout: 30
  strict.fifo: {}
`;

describe('queues: the admin API', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
    const d = await srv.deploy({ 'nimbus.yml': MANIFEST, 'src/index.ts': 'export const handler = async () => null;' });
    assert.equal(d.status, 200, JSON.stringify(d.body));
  });
  after(() => srv.close());

  const send = (q: string, body: unknown) => srv.api<Record<string, unknown>>('POST', `/_nimbus/api/queues/${q}/messages`, body);
  const receive = (q: string, body: Record<string, unknown> = {}) => srv.api<{ messages: Msg[] }>('POST', `/_nimbus/api/queues/${q}/receive`, body);
  const stats = async (q: string) => (await srv.api<{ stats: { visible: number; inFlight: number; delayed: number; oldestAgeMs: number } }>('GET', `/_nimbus/api/queues/${q}`)).body.stats;

  it('sends, receives with attributes and MD5s, hides in flight, deletes', async () => {
    const s = await send('jobs', { body: 'hello', attributes: { kind: 'greeting', n: 3, bin: { DataType: 'Binary', BinaryValue: 'AQID' } } });
    assert.equal(s.status, 200);
    assert.equal(s.body.md5OfBody, '5d41402abc4b2a76b9719d911017c592');
    const r = await receive('jobs', { maxMessages: 10 });
    assert.equal(r.body.messages.length, 1);
    const m = r.body.messages[0]!;
    assert.equal(m.body, 'hello');
    assert.equal(m.messageId, s.body.messageId);
    assert.equal(m.md5OfMessageAttributes, s.body.md5OfMessageAttributes);
    assert.deepEqual(m.messageAttributes, { kind: { DataType: 'String', StringValue: 'greeting' }, n: { DataType: 'Number', StringValue: '3' }, bin: { DataType: 'Binary', BinaryValue: 'AQID' } });
    assert.equal(m.attributes.ApproximateReceiveCount, '1');
    const st = await stats('jobs');
    assert.deepEqual([st.visible, st.inFlight, st.delayed], [0, 1, 0]);
    assert.equal((await receive('jobs')).body.messages.length, 0, 'in flight: not received again');
    const del = await srv.api('POST', '/_nimbus/api/queues/jobs/delete', { receiptHandle: m.receiptHandle });
    assert.equal(del.status, 200);
    assert.equal((await stats('jobs')).inFlight, 0);
    // Deleting again is fine (idempotent), as in SQS.
    assert.equal((await srv.api('POST', '/_nimbus/api/queues/jobs/delete', { receiptHandle: m.receiptHandle })).status, 200);
  });

  it('computes md5OfMessageAttributes as SQS does', async () => {
    // Digest of { a: String "b" } per SQS's documented encoding, computed independently here.
    const { createHash } = await import('node:crypto');
    const len = (b: Buffer) => { const l = Buffer.alloc(4); l.writeUInt32BE(b.length); return Buffer.concat([l, b]); };
    const expected = createHash('md5').update(Buffer.concat([len(Buffer.from('a')), len(Buffer.from('String')), Buffer.from([1]), len(Buffer.from('b'))])).digest('hex');
    const s = await send('jobs', { body: 'x', attributes: { a: 'b' } });
    assert.equal(s.body.md5OfMessageAttributes, expected);
    await srv.api('POST', '/_nimbus/api/queues/jobs/purge');
  });

  it('sends a batch of 10, reporting a bad entry without losing the others', async () => {
    const entries = Array.from({ length: 10 }, (_, i) => ({ id: `e${i}`, body: `m${i}` }));
    entries[3] = { id: 'e3', body: '' };
    const r = await send('jobs', { entries });
    assert.equal(r.status, 200);
    const body = r.body as { successful: { id: string }[]; failed: { id: string; code: string; message: string }[] };
    assert.equal(body.successful.length, 9);
    assert.deepEqual(body.failed.map((f) => [f.id, f.code]), [['e3', 'INVALID_MESSAGE']]);
    assert.match(body.failed[0]!.message, /entries\[3\]: body must not be empty/);
    const got: Msg[] = [];
    while (got.length < 9) {
      const batch = (await receive('jobs', { maxMessages: 10 })).body.messages;
      assert.ok(batch.length > 0);
      got.push(...batch);
    }
    assert.deepEqual(got.map((m) => m.body).sort(), ['m0', 'm1', 'm2', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
    const del = await srv.api<{ successful: unknown[]; failed: unknown[] }>('POST', '/_nimbus/api/queues/jobs/delete', { entries: got.map((m, i) => ({ id: String(i), receiptHandle: m.receiptHandle })) });
    assert.equal(del.status, 200);
    assert.equal(del.body.successful.length, 9);
    assert.deepEqual(await stats('jobs'), { visible: 0, inFlight: 0, delayed: 0, oldestAgeMs: 0 });
  });

  it('long-polls: a receive waiting 5 s returns as soon as a message is sent', async () => {
    const t0 = performance.now();
    const pending = receive('jobs', { waitSeconds: 5 });
    await new Promise((r) => setTimeout(r, 200));
    await send('jobs', { body: 'late' });
    const r = await pending;
    const ms = performance.now() - t0;
    assert.equal(r.body.messages[0]?.body, 'late');
    assert.ok(ms < 2000, `returned after ${ms.toFixed(0)} ms`);
    await srv.api('POST', '/_nimbus/api/queues/jobs/delete', { receiptHandle: r.body.messages[0]!.receiptHandle });
  });

  it('a stale receipt handle is refused once the message was received again', async () => {
    await send('short', { body: 'again' });
    const first = (await receive('short', { visibilityTimeout: 0 })).body.messages[0]!;
    const second = (await receive('short')).body.messages[0]!;
    assert.equal(second.messageId, first.messageId);
    assert.equal(second.attributes.ApproximateReceiveCount, '2');
    const stale = await srv.api<Err>('POST', '/_nimbus/api/queues/short/delete', { receiptHandle: first.receiptHandle });
    assert.equal(stale.status, 400);
    assert.equal(stale.body.error.code, 'RECEIPT_HANDLE_INVALID');
    const other = await srv.api<Err>('POST', '/_nimbus/api/queues/jobs/delete', { receiptHandle: second.receiptHandle });
    assert.equal(other.status, 400);
    assert.match(other.body.error.message, /from queue "short", not "jobs"/);
    const junk = await srv.api<Err>('POST', '/_nimbus/api/queues/jobs/delete', { receiptHandle: 'nonsense' });
    assert.equal(junk.body.error.code, 'RECEIPT_HANDLE_INVALID');
  });

  it('moves a message to the dead-letter queue after maxReceiveCount, and redrives it back', async () => {
    // From the last test: "again" was received twice (maxReceiveCount 2); its visibility is 1 s.
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await receive('short')).body.messages.length, 0, 'the third receive moves it instead');
    const dead = (await receive('short-dlq')).body.messages;
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.body, 'again');
    assert.equal(dead[0]!.attributes.DeadLetterQueueSourceArn, 'arn:aws:sqs:local:000000000000:short');
    await srv.api('POST', '/_nimbus/api/queues/short-dlq/visibility', { receiptHandle: dead[0]!.receiptHandle, visibilityTimeout: 0 });
    const moved = await srv.api<{ moved: number }>('POST', '/_nimbus/api/queues/short-dlq/redrive', {});
    assert.equal(moved.body.moved, 1);
    const back = (await receive('short')).body.messages;
    assert.equal(back[0]?.body, 'again');
    assert.equal(back[0]?.attributes.ApproximateReceiveCount, '1');
    await srv.api('POST', '/_nimbus/api/queues/short/purge');
  });

  it('delays a message, and reports it as delayed', async () => {
    await send('jobs', { body: 'later', delaySeconds: 1 });
    assert.equal((await stats('jobs')).delayed, 1);
    assert.equal((await receive('jobs')).body.messages.length, 0);
    const r = await receive('jobs', { waitSeconds: 3 });
    assert.equal(r.body.messages[0]?.body, 'later');
    await srv.api('POST', '/_nimbus/api/queues/jobs/purge');
  });

  it('FIFO: keeps order per group, one in-flight batch per group, deduplicates', async () => {
    for (const [g, b] of [['a', 'a1'], ['b', 'b1'], ['a', 'a2'], ['a', 'a3'], ['b', 'b2']]) {
      const r = await send('orders.fifo', { body: b, groupId: g });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.match(String(r.body.sequenceNumber), /^\d{20}$/);
    }
    const dup = await send('orders.fifo', { body: 'a1', groupId: 'a' });
    assert.equal(dup.status, 200, 'a duplicate is accepted ...');
    assert.equal(dup.body.duplicate, true);
    const first = (await receive('orders.fifo', { maxMessages: 2 })).body.messages;
    assert.deepEqual(first.map((m) => m.body), ['a1', 'b1']);
    const next = (await receive('orders.fifo', { maxMessages: 10 })).body.messages;
    assert.deepEqual(next, [], 'groups a and b have messages in flight');
    await srv.api('POST', '/_nimbus/api/queues/orders.fifo/delete', { entries: first.map((m, i) => ({ id: String(i), receiptHandle: m.receiptHandle })) });
    const rest = (await receive('orders.fifo', { maxMessages: 10 })).body.messages;
    assert.deepEqual(rest.map((m) => m.body), ['a2', 'a3', 'b2'], '... but not added twice');
    assert.equal(rest[0]!.attributes.MessageGroupId, 'a');
    await srv.api('POST', '/_nimbus/api/queues/orders.fifo/purge');
  });

  it('rejects bad input with a code and a message, and stores nothing', async () => {
    const cases: [string, unknown, number, string, RegExp][] = [
      ['nope', { body: 'x' }, 404, 'QUEUE_NOT_FOUND', /no queue named "nope"/],
      ['small', { body: 'x'.repeat(2000) }, 413, 'MESSAGE_TOO_LARGE', /2000 bytes .* at most 1024/],
      ['jobs', { entries: Array.from({ length: 11 }, () => ({ body: 'x' })) }, 400, 'TOO_MANY_ENTRIES', /1 to 10 messages, got 11/],
      ['jobs', { entries: [{ id: 'a', body: 'x' }, { id: 'a', body: 'y' }] }, 400, 'TOO_MANY_ENTRIES', /"a" is used twice/],
      ['jobs', { body: 'x', attributes: { 'AWS.x': 'y' } }, 400, 'INVALID_MESSAGE', /reserved/],
      ['jobs', { body: 'x', attributes: { n: { DataType: 'Number', StringValue: 'abc' } } }, 400, 'INVALID_MESSAGE', /must be a number/],
      ['jobs', { body: 'x', attributes: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`a${i}`, 'v'])) }, 400, 'INVALID_MESSAGE', /at most 10 attributes/],
      ['jobs', { body: 'x', delaySeconds: 901 }, 400, 'INVALID_MESSAGE', /0 to 900/],
      ['jobs', { body: 'x', groupId: 'g' }, 400, 'INVALID_MESSAGE', /FIFO queues only/],
      ['strict.fifo', { body: 'x', groupId: 'g' }, 400, 'INVALID_MESSAGE', /dedupId is required/],
      ['orders.fifo', { body: 'x' }, 400, 'INVALID_MESSAGE', /groupId is required/],
      ['orders.fifo', { body: 'x', groupId: 'g', delaySeconds: 1 }, 400, 'INVALID_MESSAGE', /per message on a FIFO queue/],
    ];
    for (const [q, body, status, code, message] of cases) {
      const r = await srv.api<Err>('POST', `/_nimbus/api/queues/${q}/messages`, body);
      assert.equal(r.status, status, `${q} ${JSON.stringify(body).slice(0, 80)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, code);
      assert.match(r.body.error.message, message);
    }
    // JSON nested deeper than JSON.stringify can go: a 400, not a crash.
    const nested = await srv.req('/_nimbus/api/queues/jobs/messages', { method: 'POST', body: `{"body":${'['.repeat(20_000)}"x"${']'.repeat(20_000)}}` });
    assert.equal(nested.status, 400);
    assert.match(((await nested.json()) as Err).error.message, /nested too deeply/);
    for (const q of ['jobs', 'small', 'strict.fifo', 'orders.fifo']) assert.equal((await stats(q)).visible, 0, q);
    const badReceive = await srv.api<Err>('POST', '/_nimbus/api/queues/jobs/receive', { maxMessages: 11 });
    assert.equal(badReceive.status, 400);
    assert.match(badReceive.body.error.message, /1 to 10/);
    const badWait = await srv.api<Err>('POST', '/_nimbus/api/queues/jobs/receive', { waitSeconds: 21 });
    assert.match(badWait.body.error.message, /0 to 20/);
  });

  it('a redeploy changes a queue\'s settings at once, and keeps its messages', async () => {
    await send('small', { body: 'kept' });
    assert.equal((await send('small', { body: 'x'.repeat(2000) })).status, 413);
    const d = await srv.deploy({ 'nimbus.yml': MANIFEST.replace('maxMessageSize: 1024', 'maxMessageSize: 4096'), 'src/index.ts': 'export const handler = async () => null;' });
    assert.equal(d.status, 200, JSON.stringify(d.body));
    assert.equal((await send('small', { body: 'x'.repeat(2000) })).status, 200);
    assert.equal((await stats('small')).visible, 2);
    await srv.api('POST', '/_nimbus/api/queues/small/purge');
  });

  it('lists queues with their settings and stats', async () => {
    const r = await srv.api<{ queues: { name: string; fifo: boolean; deadLetter: unknown }[] }>('GET', '/_nimbus/api/queues');
    assert.deepEqual(r.body.queues.map((q) => q.name), ['jobs', 'orders.fifo', 'short', 'short-dlq', 'small', 'strict.fifo']);
    assert.deepEqual(r.body.queues.find((q) => q.name === 'short')!.deadLetter, { queue: 'short-dlq', maxReceiveCount: 2 });
    assert.deepEqual((r.body.queues.find((q) => q.name === 'short-dlq') as unknown as { deadLetterFor: string[] }).deadLetterFor, ['short']);
    assert.equal(r.body.queues.find((q) => q.name === 'orders.fifo')!.fifo, true);
  });
});
