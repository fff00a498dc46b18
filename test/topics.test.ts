// Topics: one publish fans out to a function (SNS event), a queue (notification JSON), a raw queue
// and a signed webhook, each filtered by its policy; webhooks are retried and dead-lettered; the SDK
// publishes from function code; bad input is refused.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SnsSchema, SnsSqsNotificationSchema } from '@aws-lambda-powertools/parser/schemas/sns';
import { verifyDelivery } from '../src/events/topics/webhook.ts';
import { type Hit, sleep, startReceiver, startWithApp, type TestServer } from './helpers.ts';


describe('topics', () => {
  let srv: TestServer;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let hits: Hit[];
  before(async () => {
    receiver = await startReceiver((path) => (path === '/down' ? 500 : 204));
    hits = receiver.hits;
    const hook = receiver.url;
    srv = await startWithApp({
      'nimbus.yml': `app: pubsub
functions:
  notify:
    handler: src/notify.handler
    permissions: { queues: { seen: [send] } }
    events:
      - topic: { name: orders, filterPolicy: { amount: [{ numeric: [">=", 100] }] }, filterPolicyScope: MessageBody }
  relay:
    handler: src/relay.handler
    permissions: { topics: { orders: [publish] } }
queues:
  audit: {}
  big: {}
  seen: {}
  hooks-dlq: {}
topics:
  orders:
    subscriptions:
      - queue: audit
      - { queue: big, rawMessageDelivery: true, filterPolicy: '{"kind": ["big"]}' }
      - url: ${hook}/orders
  alerts:
    subscriptions:
      - { url: ${hook}/down, deadLetterQueue: hooks-dlq }
`,
      'src/notify.ts': `import { queues } from 'nimbus/sdk';
export const handler = async (event: unknown) => { await queues.send('seen', event); return null; };`,
      'src/relay.ts': `import { topics } from 'nimbus/sdk';
export const handler = async (e: { message: string }) => topics.publish('orders', e.message, { subject: 'relayed' });`,
    }, { webhookRetry: { retries: 2, baseMs: 20, factor: 2 } });
  });
  after(async () => {
    await srv.close();
    receiver.close();
  });

  const publish = (topic: string, body: unknown) => srv.api<{ messageId: string; error?: { code: string; message: string } }>('POST', `/_nimbus/api/topics/${topic}/messages`, body);
  const waitFor = async (check: () => boolean, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (!check() && Date.now() < deadline) await sleep(20);
    assert.ok(check(), 'it arrived in time');
  };

  it('fans one publish out to a function, a queue and a signed webhook, each as SNS shapes it', async () => {
    const r = await publish('orders', { message: { amount: 150 }, subject: 'order', attributes: { kind: 'big' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const { messageId } = r.body;

    const [audit] = await srv.take('audit', 1);
    const note = SnsSqsNotificationSchema.parse(JSON.parse(audit!.body));
    assert.deepEqual([note.MessageId, note.Message, note.Subject, note.TopicArn], [messageId, '{"amount":150}', 'order', 'arn:aws:sns:local:000000000000:orders']);

    const [big] = await srv.take('big', 1);
    assert.equal(big!.body, '{"amount":150}', 'raw delivery: the message itself');
    assert.deepEqual(big!.messageAttributes.kind, { DataType: 'String', StringValue: 'big' });

    const [seen] = await srv.take('seen', 1);
    const event = SnsSchema.parse(JSON.parse(seen!.body));
    assert.equal(event.Records[0]!.Sns.MessageId, messageId);
    assert.equal(event.Records[0]!.Sns.MessageAttributes?.kind?.Value, 'big');

    await waitFor(() => hits.some((h) => h.path === '/orders'));
    const hit = hits.find((h) => h.path === '/orders')!;
    const topic = await srv.api<{ subscriptions: { kind: string; signingSecret?: string }[] }>('GET', '/_nimbus/api/topics/orders');
    const secret = topic.body.subscriptions.find((s) => s.kind === 'webhook')!.signingSecret!;
    assert.ok(secret);
    assert.equal(verifyDelivery(secret, hit.headers, hit.body).ok, true);
    assert.equal(verifyDelivery('wrong', hit.headers, hit.body).ok, false);
    assert.equal(JSON.parse(hit.body).MessageId, messageId);
  });

  it('filter policies keep messages from the subscribers that do not want them', async () => {
    hits.splice(0);
    await publish('orders', { message: { amount: 5 }, attributes: { kind: 'small' } });
    assert.equal((await srv.take('audit', 1)).length, 1);
    await waitFor(() => hits.length === 1);
    assert.equal((await srv.take('big', 1, 300)).length, 0, 'kind is not big');
    assert.equal((await srv.take('seen', 1, 300)).length, 0, 'amount under 100');
  });

  it('retries a failing webhook, then puts the delivery in its dead-letter queue', async () => {
    hits.splice(0);
    const r = await publish('alerts', { message: 'disk full' });
    const [dead] = await srv.take('hooks-dlq', 1);
    assert.equal(hits.filter((h) => h.path === '/down').length, 3, 'the first attempt and two retries');
    assert.equal(JSON.parse(dead!.body).MessageId, r.body.messageId);
    assert.match(dead!.messageAttributes.ErrorMessage!.StringValue!, /^HTTP 500 after 3 attempts$/);
    const text = await (await srv.req('/_nimbus/metrics', { headers: { authorization: `Bearer ${srv.token}` } })).text();
    assert.match(text, /^nimbus_webhook_deliveries_total\{endpoint="topic alerts",result="retried"\} 2$/m);
    assert.match(text, /^nimbus_webhook_deliveries_total\{endpoint="topic alerts",result="failed"\} 1$/m);
  });

  it('functions publish through the SDK', async () => {
    const r = await srv.invoke<{ messageId: string }>('relay', { message: 'from code' });
    assert.match(r.body.messageId, /^[0-9a-f-]{36}$/);
    const [m] = await srv.take('audit', 1);
    assert.deepEqual([JSON.parse(m!.body).Message, JSON.parse(m!.body).Subject], ['from code', 'relayed']);
  });

  it('refuses bad input', async () => {
    assert.equal((await publish('nope', { message: 'x' })).body.error?.code, 'TOPIC_NOT_FOUND');
    assert.equal((await publish('orders', {})).body.error?.code, 'INVALID_MESSAGE');
    assert.equal((await publish('orders', { message: 'x'.repeat(300_000) })).body.error?.code, 'MESSAGE_TOO_LARGE');
    assert.match((await publish('orders', { message: 'x', subject: 'a\nb' })).body.error!.message, /one line/);
    assert.equal((await publish('orders', { entries: Array.from({ length: 11 }, () => ({ message: 'x' })) })).body.error?.code, 'TOO_MANY_ENTRIES');
    assert.equal((await srv.take('audit', 1, 300)).length, 0, 'nothing was published');
  });
});
