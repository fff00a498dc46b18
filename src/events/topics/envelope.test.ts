// What subscribers receive: the SNS event against AWS's sample (read at test time from the shared
// conformance folder) field by field and against Powertools' SnsSchema; the notification JSON
// against SnsSqsNotificationSchema; queue messages with and without raw delivery, checked with the
// queue's own message rules; SNS's string to sign.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SnsSchema, SnsSqsNotificationSchema } from '@aws-lambda-powertools/parser/schemas/sns';
import { isNimbusError } from '../../errors.ts';
import type { QueueRecord } from '../../store/types.ts';
import { validateEntry } from '../queues/messages.ts';
import { notificationJson, queueMessage, snsEvent, stringToSign, subscriptionArn, topicArn, type TopicMessage } from './envelope.ts';

const SNS_SAMPLE = new URL('../../../../shared/conformance/lambda-events/sns.json', import.meta.url);
const skipIfMissing = (file: URL): string | false =>
  existsSync(file) ? false : `AWS sample ${file.pathname} is absent (the shared conformance folder sits beside the repo); conformance not checked`;

const ARN = /^arn:aws:sns:[a-z0-9-]+:\d{12}:ExampleTopic(:[\w-]+)?$/;
const message = (over: Partial<TopicMessage> = {}): TopicMessage => ({
  messageId: '95df01b4-ee98-5cb9-9903-4c221d41eb5e', body: 'Hello from SNS!', timestamp: Date.UTC(2019, 0, 2, 12, 45, 7), ...over,
});
const queue: QueueRecord = { name: 'q', app: 'a', fifo: false, visibilityTimeoutMs: 30_000, retentionMs: 345_600_000, delayMs: 0, maxMessageBytes: 262_144, contentBasedDeduplication: false };

describe('conformance: the SNS event sample', { skip: skipIfMissing(SNS_SAMPLE) }, () => {
  type Sample = { Records: Array<Record<string, unknown> & { Sns: Record<string, unknown> }> };
  const sample = existsSync(SNS_SAMPLE) ? JSON.parse(readFileSync(SNS_SAMPLE, 'utf8')) as Sample : { Records: [] } as unknown as Sample;
  const s = sample.Records[0]!;
  const ours = () => snsEvent('ExampleTopic', message({
    messageId: s.Sns.MessageId as string, body: s.Sns.Message as string, subject: s.Sns.Subject as string, timestamp: Date.parse(s.Sns.Timestamp as string),
    attributes: { Test: { DataType: 'String', StringValue: 'TestString' }, TestBinary: { DataType: 'Binary', BinaryValue: 'TestBinary' } },
  }));

  it('has the sample\'s fields, in the record and in Sns, with the same types', () => {
    const r = ours().Records[0]!;
    assert.deepEqual(Object.keys(r).sort(), Object.keys(s).sort());
    assert.deepEqual(Object.keys(r.Sns).sort(), Object.keys(s.Sns).sort());
    for (const k of Object.keys(s.Sns)) assert.equal(typeof (r.Sns as unknown as Record<string, unknown>)[k], typeof s.Sns[k], `Sns.${k}`);
  });

  it('carries the same values for the same message, field by field', () => {
    const r = ours().Records[0]!;
    assert.equal(r.EventSource, s.EventSource);
    assert.equal(r.EventVersion, s.EventVersion);
    assert.match(r.EventSubscriptionArn, ARN);
    assert.match(s.EventSubscriptionArn as string, ARN);
    for (const k of ['Type', 'MessageId', 'Message', 'Subject', 'Timestamp', 'SignatureVersion'] as const) assert.equal(r.Sns[k], s.Sns[k], `Sns.${k}`);
    assert.match(r.Sns.TopicArn, ARN);
    assert.match(s.Sns.TopicArn as string, ARN);
    assert.deepEqual(r.Sns.MessageAttributes, s.Sns.MessageAttributes);
    for (const k of ['SigningCertUrl', 'UnsubscribeUrl'] as const) {
      assert.doesNotThrow(() => new URL(r.Sns[k]), `Sns.${k} is a URL`);
      assert.doesNotThrow(() => new URL(s.Sns[k] as string));
    }
  });

  it('passes SnsSchema, as the sample itself does', () => {
    SnsSchema.parse(sample);
    SnsSchema.parse(ours());
  });
});

describe('snsEvent', () => {
  it('uses Nimbus ARNs: the topic, and the subscription when it is known', () => {
    const e = snsEvent('orders', message(), { subscriptionId: 'fn-ship' });
    assert.equal(e.Records[0]!.Sns.TopicArn, 'arn:aws:sns:local:000000000000:orders');
    assert.equal(e.Records[0]!.EventSubscriptionArn, 'arn:aws:sns:local:000000000000:orders:fn-ship');
    assert.equal(topicArn('orders'), 'arn:aws:sns:local:000000000000:orders');
    assert.equal(subscriptionArn('orders', 'x'), 'arn:aws:sns:local:000000000000:orders:x');
    assert.equal(snsEvent('orders', message()).Records[0]!.EventSubscriptionArn, topicArn('orders'));
  });

  it('has Subject null and MessageAttributes {} when the message has none, and still passes SnsSchema', () => {
    const e = snsEvent('orders', message());
    assert.equal(e.Records[0]!.Sns.Subject, null);
    assert.deepEqual(e.Records[0]!.Sns.MessageAttributes, {});
    SnsSchema.parse(e);
  });

  it('maps every attribute type to { Type, Value }', () => {
    const e = snsEvent('orders', message({ attributes: {
      s: { DataType: 'String', StringValue: 'x' }, n: { DataType: 'Number', StringValue: '3.5' }, a: { DataType: 'String.Array', StringValue: '["a",1]' }, b: { DataType: 'Binary', BinaryValue: 'AQI=' },
    } }));
    assert.deepEqual(e.Records[0]!.Sns.MessageAttributes, { s: { Type: 'String', Value: 'x' }, n: { Type: 'Number', Value: '3.5' }, a: { Type: 'String.Array', Value: '["a",1]' }, b: { Type: 'Binary', Value: 'AQI=' } });
    SnsSchema.parse(e);
  });

  it('writes timestamps as SNS does, in UTC with milliseconds', () => {
    assert.equal(snsEvent('t', message({ timestamp: 1_700_000_000_123 })).Records[0]!.Sns.Timestamp, '2023-11-14T22:13:20.123Z');
  });

  it('points the URLs at the server (base URL given or the default) and leaves the signature empty without a signer', () => {
    const d = snsEvent('orders', message(), { subscriptionId: 'a b' }).Records[0]!.Sns;
    assert.equal(d.UnsubscribeUrl, 'http://127.0.0.1:8080/_nimbus/api/topics/orders/subscriptions/a%20b');
    assert.equal(d.SigningCertUrl, 'http://127.0.0.1:8080/_nimbus/topics/signing-cert.pem');
    assert.equal(d.Signature, '');
    assert.equal(d.SignatureVersion, '1');
    const e = snsEvent('orders', message(), { baseUrl: 'https://nimbus.example.com/' }).Records[0]!.Sns;
    assert.equal(e.UnsubscribeUrl, 'https://nimbus.example.com/_nimbus/api/topics/orders');
  });

  it('signs SNS\'s string to sign when given a signer', () => {
    const seen: string[] = [];
    const signer = { version: '2' as const, certUrl: 'https://certs.example.com/nimbus.pem', sign: (s: string) => { seen.push(s); return 'c2lnbmVk'; } };
    const m = message({ subject: 'Hi' });
    const d = snsEvent('orders', m, { signer }).Records[0]!.Sns;
    assert.deepEqual([d.Signature, d.SignatureVersion, d.SigningCertUrl], ['c2lnbmVk', '2', 'https://certs.example.com/nimbus.pem']);
    assert.deepEqual(seen, [stringToSign('orders', m)]);
  });
});

describe('stringToSign', () => {
  it('lists Message, MessageId, Subject when present, Timestamp, TopicArn and Type, each as "name\\nvalue\\n"', () => {
    const head = 'Message\nHello from SNS!\nMessageId\n95df01b4-ee98-5cb9-9903-4c221d41eb5e\n';
    const tail = 'Timestamp\n2019-01-02T12:45:07.000Z\nTopicArn\narn:aws:sns:local:000000000000:orders\nType\nNotification\n';
    assert.equal(stringToSign('orders', message()), head + tail);
    assert.equal(stringToSign('orders', message({ subject: 'Hi' })), `${head}Subject\nHi\n${tail}`);
  });
});

describe('notificationJson', () => {
  it('has SNS\'s fields in SNS\'s order, Subject and MessageAttributes only when present, and passes SnsSqsNotificationSchema', () => {
    const bare = JSON.parse(notificationJson('orders', message(), { subscriptionId: 's1' }));
    assert.deepEqual(Object.keys(bare), ['Type', 'MessageId', 'TopicArn', 'Message', 'Timestamp', 'SignatureVersion', 'Signature', 'SigningCertURL', 'UnsubscribeURL']);
    SnsSqsNotificationSchema.parse(bare);
    const full = JSON.parse(notificationJson('orders', message({ subject: 'Hi', attributes: { k: { DataType: 'String', StringValue: 'v' } } })));
    assert.deepEqual(Object.keys(full), ['Type', 'MessageId', 'TopicArn', 'Subject', 'Message', 'Timestamp', 'SignatureVersion', 'Signature', 'SigningCertURL', 'UnsubscribeURL', 'MessageAttributes']);
    assert.deepEqual(full.MessageAttributes, { k: { Type: 'String', Value: 'v' } });
    assert.equal(full.TopicArn, 'arn:aws:sns:local:000000000000:orders');
    SnsSqsNotificationSchema.parse(full);
  });

  it('matches the function event\'s values', () => {
    const m = message({ subject: 'Hi', attributes: { k: { DataType: 'Number', StringValue: '1' } } });
    const n = JSON.parse(notificationJson('orders', m, { subscriptionId: 's1' }));
    const e = snsEvent('orders', m, { subscriptionId: 's1' }).Records[0]!.Sns;
    for (const k of ['Type', 'MessageId', 'TopicArn', 'Subject', 'Message', 'Timestamp', 'SignatureVersion', 'Signature', 'MessageAttributes'] as const) assert.deepEqual(n[k], e[k], k);
    assert.equal(n.SigningCertURL, e.SigningCertUrl);
    assert.equal(n.UnsubscribeURL, e.UnsubscribeUrl);
  });
});

describe('queueMessage', () => {
  const attributes = { kind: { DataType: 'String', StringValue: 'order' }, tags: { DataType: 'String.Array', StringValue: '["a","b"]' }, n: { DataType: 'Number', StringValue: '7' } };

  it('without raw delivery: the notification JSON as the body, no queue attributes', () => {
    const q = queueMessage('orders', message({ attributes }), { raw: false });
    assert.deepEqual(Object.keys(q), ['body']);
    assert.equal(q.body, notificationJson('orders', message({ attributes })));
    validateEntry(queue, q, 'm');
  });

  it('with raw delivery: the body as published, the attributes as queue message attributes the queue accepts', () => {
    const q = queueMessage('orders', message({ attributes }), { raw: true });
    assert.equal(q.body, 'Hello from SNS!');
    assert.deepEqual(q.attributes, attributes);
    assert.deepEqual(validateEntry(queue, q, 'm').attributes, attributes);
    assert.deepEqual(queueMessage('orders', message(), { raw: true }), { body: 'Hello from SNS!' });
  });

  it('with raw delivery, more than 10 attributes are refused by the queue, as SQS refuses them from SNS', () => {
    const many = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`a${i}`, { DataType: 'String', StringValue: 'v' }]));
    assert.throws(() => validateEntry(queue, queueMessage('orders', message({ attributes: many }), { raw: true }), 'm'), (e: unknown) => isNimbusError(e) && e.code === 'INVALID_MESSAGE');
  });
});
