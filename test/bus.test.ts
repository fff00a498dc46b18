// The event bus: put-events wraps entries in EventBridge's envelope and delivers them to the targets
// of every matching rule (function, queue, topic) with their input shaped as configured; the
// test-pattern API; invalid patterns refused at deploy; the SDK puts events from function code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas/eventbridge';
import { verifyDelivery } from '../src/events/topics/webhook.ts';
import { type Hit, sleep, startReceiver, startWithApp, type TestServer } from './helpers.ts';

const MANIFEST = (hook: string) => `app: busy
functions:
  notify:
    handler: src/notify.handler
    permissions: { queues: { seen: [send] } }
  emitter:
    handler: src/emitter.handler
    permissions: { bus: [put] }
queues:
  seen: {}
  audit: {}
  feed: {}
  http-dlq: {}
topics:
  news:
    subscriptions:
      - queue: feed
rules:
  big-orders:
    pattern: { source: [shop], detail-type: [OrderPlaced], detail: { amount: [{ numeric: [">", 100] }] } }
    targets:
      - function: notify
      - { queue: audit, inputPath: $.detail }
      - topic: news
        inputTransformer:
          inputPathsMap: { amt: $.detail.amount, src: $.source }
          inputTemplate: '{"amount": <amt>, "from": <src>}'
  paused:
    pattern: { source: [shop] }
    enabled: false
    targets: [queue:audit]
  to-http:
    pattern: { source: [billing] }
    targets:
      - { url: "${hook}/ok", inputPath: $.detail }
      - { url: "${hook}/down", retryPolicy: { maximumRetryAttempts: 1 }, deadLetterQueue: http-dlq }
`;

describe('event bus', () => {
  let srv: TestServer;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let hits: Hit[];
  before(async () => {
    receiver = await startReceiver((path) => (path === '/down' ? 503 : 200));
    hits = receiver.hits;
    srv = await startWithApp({
      'nimbus.yml': MANIFEST(receiver.url),
      'src/notify.ts': `import { queues } from 'nimbus/sdk';
export const handler = async (event: unknown) => { await queues.send('seen', event); return null; };`,
      'src/emitter.ts': `import { events } from 'nimbus/sdk';
export const handler = async () => events.put([{ source: 'shop', detailType: 'OrderPlaced', detail: { amount: 500, from: 'code' } }]);`,
    }, { webhookRetry: { baseMs: 20, factor: 2 } });
  });
  after(async () => {
    await srv.close();
    receiver.close();
  });

  const put = (entries: unknown) => srv.api<{ failedEntryCount: number; entries: ({ eventId: string } | { errorCode: string; errorMessage: string })[] }>('POST', '/_nimbus/api/events', { entries });

  it('delivers a matching event to each target: the envelope, an input path, a transformed input through a topic', async () => {
    const r = await put([
      { source: 'shop', detailType: 'OrderPlaced', detail: { amount: 150, id: 'o-1' }, resources: ['arn:shop:order/o-1'] },
      { source: 'shop', detailType: 'OrderPlaced', detail: { amount: 5 } },
    ]);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.failedEntryCount, 0);
    const eventId = (r.body.entries[0] as { eventId: string }).eventId;
    const [seen] = await srv.take('seen', 1);
    const event = EventBridgeSchema.parse(JSON.parse(seen!.body));
    assert.deepEqual([event.id, event.source, event['detail-type'], event.detail, event.resources], [eventId, 'shop', 'OrderPlaced', { amount: 150, id: 'o-1' }, ['arn:shop:order/o-1']]);
    const [audit] = await srv.take('audit', 1);
    assert.deepEqual(JSON.parse(audit!.body), { amount: 150, id: 'o-1' });
    const [feed] = await srv.take('feed', 1);
    assert.deepEqual(JSON.parse(JSON.parse(feed!.body).Message), { amount: 150, from: 'shop' });
    assert.equal((await srv.take('seen', 1, 300)).length, 0, 'amount 5 matched no rule, and the disabled rule sends nothing');
    assert.equal((await srv.take('audit', 1, 100)).length, 0);
  });

  it('answers each entry: accepted with an id, or refused with a reason', async () => {
    const r = await put([{ source: 'shop', detailType: 'X' }, { detailType: 'no source' }, { source: 'a', detailType: 'b', detail: '{oops' }, { source: 'aws.events', detailType: 'Scheduled Event' }]);
    assert.equal(r.body.failedEntryCount, 3);
    assert.match((r.body.entries[3] as { errorMessage: string }).errorMessage, /sources beginning with "aws\." are reserved/);
    assert.match((r.body.entries[1] as { errorMessage: string }).errorMessage, /entries\[1\]\.source: required/);
    assert.match((r.body.entries[2] as { errorMessage: string }).errorMessage, /detail: must be a JSON object, or JSON text of one; this text is not valid JSON/);
    assert.equal((await put(Array.from({ length: 11 }, () => ({ source: 's', detailType: 'd' })))).status, 400);
  });

  it('functions put events through the SDK', async () => {
    const r = await srv.invoke<{ failedEntryCount: number }>('emitter');
    assert.equal(r.body.failedEntryCount, 0);
    const [seen] = await srv.take('seen', 1);
    assert.deepEqual(JSON.parse(seen!.body).detail, { amount: 500, from: 'code' });
    await srv.take('audit', 1);
    await srv.take('feed', 1);
  });

  it('test-pattern answers match or explains an invalid pattern', async () => {
    const ok = await srv.api<{ match: boolean }>('POST', '/_nimbus/api/events/test-pattern', { pattern: { source: [{ prefix: 'sh' }] }, event: { source: 'shop', 'detail-type': 'x', detail: {} } });
    assert.deepEqual(ok.body, { match: true });
    const no = await srv.api<{ match: boolean }>('POST', '/_nimbus/api/events/test-pattern', { pattern: { source: ['other'] }, event: { source: 'shop' } });
    assert.deepEqual(no.body, { match: false });
    const bad = await srv.api<{ error: { code: string; message: string } }>('POST', '/_nimbus/api/events/test-pattern', { pattern: { source: 'shop' }, event: {} });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /source/);
  });

  it('HTTP targets: signed deliveries, retried per the retry policy, then dead-lettered', async () => {
    const r = await put([{ source: 'billing', detailType: 'Invoice', detail: { n: 1 } }]);
    const eventId = (r.body.entries[0] as { eventId: string }).eventId;
    const [dead] = await srv.take('http-dlq', 1);
    assert.equal(JSON.parse(dead!.body).id, eventId);
    assert.match(dead!.messageAttributes.ErrorMessage!.StringValue!, /^HTTP 503 after 2 attempts$/);
    assert.equal(dead!.messageAttributes.SubscriptionArn!.StringValue, 'arn:aws:events:local:000000000000:rule/to-http');
    const deadline = Date.now() + 3000;
    while (!hits.some((h) => h.path === '/ok') && Date.now() < deadline) await sleep(20);
    const ok = hits.find((h) => h.path === '/ok')!;
    assert.deepEqual(JSON.parse(ok.body), { n: 1 });
    assert.equal(hits.filter((h) => h.path === '/down').length, 2, 'the first attempt and one retry');
    const rules = await srv.api<{ rules: { name: string; targets: { name: string; signingSecret?: string }[] }[] }>('GET', '/_nimbus/api/rules');
    const secret = rules.body.rules.find((x) => x.name === 'to-http')!.targets[0]!.signingSecret!;
    assert.equal(verifyDelivery(secret, ok.headers, ok.body).ok, true);
  });

  it('lists rules, and refuses an invalid pattern at deploy, naming the rule', async () => {
    const rules = await srv.api<{ rules: { name: string; enabled: boolean; targets: unknown[] }[] }>('GET', '/_nimbus/api/rules');
    assert.deepEqual(rules.body.rules.map((r) => [r.name, r.enabled, r.targets.length]), [['big-orders', true, 3], ['paused', false, 1], ['to-http', true, 2]]);
    // The CLI checks the manifest before it uploads; the server checks it again (the API path).
    const manifest = { app: 'badrule', functions: { f: { handler: 'src/f.handler' } }, rules: { r: { pattern: { source: 'shop' }, targets: ['function:f'] } } };
    const d = await srv.api<{ error: { code: string; message: string } }>('PUT', '/_nimbus/api/apps/badrule', { manifest, bundles: { f: { code: Buffer.from('export const handler = async () => null;').toString('base64') } } });
    assert.equal(d.status, 400);
    assert.equal(d.body.error.code, 'MANIFEST_INVALID');
    assert.match(d.body.error.message, /^manifest is not valid:\n {2}rules\.r\.pattern: \S/);
  });
});
