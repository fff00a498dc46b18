// Unit tests for the queue rules: the SQS event shape against AWS's sample (read at test time from
// the shared conformance folder) and Powertools' SqsSchema, MD5 digests, message validation
// (table and property), receipt handles, and batchItemFailures parsing.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SqsSchema } from '@aws-lambda-powertools/parser/schemas/sqs';
import fc from 'fast-check';
import { isNimbusError } from '../../errors.ts';
import type { QueueRecord, ReceivedMessage } from '../../store/types.ts';
import { decodeReceiptHandle, encodeReceiptHandle, md5, md5OfAttributes, validateEntry } from './messages.ts';
import { failedItems, sqsEvent } from './trigger.ts';
import { desiredApp } from '../../store/desired.ts';

const SQS_SAMPLE = new URL('../../../../shared/conformance/lambda-events/sqs.json', import.meta.url);
const skipIfMissing = (file: URL): string | false =>
  existsSync(file) ? false : `AWS sample ${file.pathname} is absent (the shared conformance folder sits beside the repo); conformance not checked`;

const queue = (over: Partial<QueueRecord> = {}): QueueRecord => ({
  name: 'q', app: 'a', fifo: false, visibilityTimeoutMs: 30_000, retentionMs: 345_600_000, delayMs: 0, maxMessageBytes: 262_144, contentBasedDeduplication: false, ...over,
});

const received = (over: Partial<ReceivedMessage> = {}): ReceivedMessage => ({
  seq: 7, messageId: '059f36b4-87a3-44ab-83d2-661975830a7d', body: 'Test message.', attributes: null, sentAt: 1545082649183, receiveCount: 1,
  firstReceivedAt: 1545082649185, groupId: null, dedupId: null, sourceQueue: null, receipt: 'tok', ...over,
});

describe('conformance: the SQS event sample', { skip: skipIfMissing(SQS_SAMPLE) }, () => {
  const sample = existsSync(SQS_SAMPLE) ? JSON.parse(readFileSync(SQS_SAMPLE, 'utf8')) as { Records: Record<string, unknown>[] } : { Records: [] };

  it('builds records with the sample\'s fields, values from the same message, and types', () => {
    const s = sample.Records[0]! as { messageId: string; body: string; attributes: Record<string, string>; md5OfBody: string; eventSource: string; eventSourceARN: string };
    const ours = sqsEvent('my-queue', [received({ messageId: s.messageId, body: s.body, sentAt: Number(s.attributes.SentTimestamp), firstReceivedAt: Number(s.attributes.ApproximateFirstReceiveTimestamp) })]).Records[0]!;
    assert.deepEqual(Object.keys(ours).sort(), Object.keys(s).sort());
    assert.equal(ours.messageId, s.messageId);
    assert.equal(ours.body, s.body);
    assert.equal(ours.md5OfBody, s.md5OfBody, 'MD5 of "Test message." as SQS computed it');
    assert.equal(ours.eventSource, s.eventSource);
    assert.deepEqual(Object.keys(ours.attributes).sort(), Object.keys(s.attributes).sort());
    for (const k of ['ApproximateReceiveCount', 'SentTimestamp', 'ApproximateFirstReceiveTimestamp']) assert.equal(ours.attributes[k], s.attributes[k], k);
    assert.match(ours.eventSourceARN, /^arn:aws:sqs:[a-z0-9-]+:\d{12}:my-queue$/);
    assert.match(s.eventSourceARN, /^arn:aws:sqs:[a-z0-9-]+:\d{12}:my-queue$/);
  });

  it('carries DeadLetterQueueSourceArn for a dead-lettered message, as the second sample does', () => {
    const s = sample.Records[1]! as { attributes: Record<string, string> };
    const ours = sqsEvent('my-queue', [received({ sourceQueue: 'my-queue-dead' })]).Records[0]!;
    assert.deepEqual(Object.keys(ours.attributes).sort(), Object.keys(s.attributes).sort());
    assert.match(ours.attributes.DeadLetterQueueSourceArn!, /^arn:aws:sqs:[a-z0-9-]+:\d{12}:my-queue-dead$/);
  });

  it('the sample itself passes SqsSchema (the schema our events are checked with)', () => {
    SqsSchema.parse(sample);
  });
});

describe('sqsEvent', () => {
  it('passes SqsSchema for standard, FIFO, attribute-carrying and dead-lettered messages', () => {
    const event = sqsEvent('orders.fifo', [
      received(),
      received({ seq: 8, attributes: { a: { DataType: 'String', StringValue: 'x' }, b: { DataType: 'Binary', BinaryValue: 'AQI=' }, n: { DataType: 'Number.int', StringValue: '5' } } }),
      received({ seq: 9, groupId: 'g', dedupId: 'd' }),
      received({ seq: 10, sourceQueue: 'src' }),
    ]);
    SqsSchema.parse(event);
    const [, withAttrs, fifo] = event.Records;
    assert.deepEqual(withAttrs!.messageAttributes.b, { binaryValue: 'AQI=', stringListValues: [], binaryListValues: [], dataType: 'Binary' });
    assert.equal(withAttrs!.md5OfMessageAttributes, md5OfAttributes(withAttrs!.messageAttributes ? { a: { DataType: 'String', StringValue: 'x' }, b: { DataType: 'Binary', BinaryValue: 'AQI=' }, n: { DataType: 'Number.int', StringValue: '5' } } : {}));
    assert.deepEqual([fifo!.attributes.MessageGroupId, fifo!.attributes.MessageDeduplicationId, fifo!.attributes.SequenceNumber], ['g', 'd', '00000000000000000009']);
  });

  it('gives each record a receipt handle that names its queue and message', () => {
    const r = sqsEvent('q', [received({ seq: 42, receipt: 'abc' })]).Records[0]!;
    assert.deepEqual(decodeReceiptHandle('q', r.receiptHandle), { seq: 42, receipt: 'abc' });
  });
});

describe('MD5 digests', () => {
  it('md5OfBody is the hex MD5 of the UTF-8 body', () => {
    assert.equal(md5('hello'), '5d41402abc4b2a76b9719d911017c592');
  });
  it('md5OfAttributes does not depend on the order attributes were given in', () => {
    fc.assert(fc.property(fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.string({ minLength: 1 }), { minKeys: 1, maxKeys: 10 }), (d) => {
      const attrs = Object.fromEntries(Object.entries(d).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]));
      const reversed = Object.fromEntries(Object.entries(attrs).reverse());
      assert.equal(md5OfAttributes(attrs), md5OfAttributes(reversed));
    }));
  });
});

describe('validateEntry', () => {
  const reject = (q: QueueRecord, e: Record<string, unknown>, re: RegExp, code = 'INVALID_MESSAGE') => {
    assert.throws(() => validateEntry(q, e, 'm'), (err: unknown) => isNimbusError(err) && err.code === code && re.test(err.message));
  };

  it('sends non-string bodies as their JSON text', () => {
    assert.equal(validateEntry(queue(), { body: { a: 1 } }, 'm').body, '{"a":1}');
    assert.equal(validateEntry(queue(), { body: 5 }, 'm').body, '5');
  });

  it('counts attributes toward the size limit', () => {
    const q = queue({ maxMessageBytes: 1024 });
    validateEntry(q, { body: 'x'.repeat(1000) }, 'm');
    reject(q, { body: 'x'.repeat(1000), attributes: { long: 'y'.repeat(100) } }, /1110 bytes .* at most 1024/, 'MESSAGE_TOO_LARGE');
  });

  it('refuses what SQS refuses', () => {
    reject(queue(), {}, /body is required/);
    reject(queue(), { body: 'a\u0000b' }, /characters SQS does not allow/);
    reject(queue(), { body: 'x', attributes: { 'a..b': 'v' } }, /not first, last or doubled/);
    reject(queue(), { body: 'x', attributes: { a: { DataType: 'Text', StringValue: 'v' } } }, /DataType must be String, Number or Binary/);
    reject(queue(), { body: 'x', attributes: { a: { DataType: 'Binary', BinaryValue: '!!' } } }, /BinaryValue, base64/);
    reject(queue(), { body: 'x', attributes: { a: { DataType: 'String', StringValue: 'v', Extra: 1 } } }, /unknown key "Extra"/);
    reject(queue({ fifo: true }), { body: 'x', groupId: 'g'.repeat(129), dedupId: 'd' }, /groupId is required on a FIFO queue \(--group in the CLI\): 1 to 128/);
  });

  it('adds the sender\'s trace context as attributes only where the message leaves room, and never beside a traceparent it names', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const trace = `${tp}\ncongo=t61rcWkgMzE`;
    const str = (v: string) => ({ DataType: 'String', StringValue: v });
    assert.deepEqual(validateEntry(queue(), { body: 'x' }, 'm', trace).attributes, { traceparent: str(tp), tracestate: str('congo=t61rcWkgMzE') });
    assert.deepEqual(validateEntry(queue(), { body: 'x' }, 'm', tp).attributes, { traceparent: str(tp) });
    // The digest the sender gets back covers what was stored.
    const m = validateEntry(queue(), { body: 'x', attributes: { a: '1' } }, 'm', trace);
    assert.equal(m.md5OfMessageAttributes, md5OfAttributes(m.attributes!));
    // Room for one more attribute: the traceparent, not the tracestate; for none: neither.
    const nine = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`a${i}`, String(i)]));
    assert.deepEqual(Object.keys(validateEntry(queue(), { body: 'x', attributes: nine }, 'm', trace).attributes!), [...Object.keys(nine), 'traceparent']);
    assert.equal(validateEntry(queue(), { body: 'x', attributes: { ...nine, a9: '9' } }, 'm', trace).attributes!.traceparent, undefined);
    // A message at its queue's byte limit is sent as it is: the context never makes it fail. The traceparent takes 11 + 6 + 55 bytes.
    const q = queue({ maxMessageBytes: 1024 });
    assert.equal(validateEntry(q, { body: 'x'.repeat(1024) }, 'm', trace).attributes, undefined);
    assert.deepEqual(Object.keys(validateEntry(q, { body: 'x'.repeat(1024 - 72) }, 'm', trace).attributes!), ['traceparent']);
    assert.deepEqual(Object.keys(validateEntry(q, { body: 'x'.repeat(1024 - 72 - 10 - 6 - 17) }, 'm', trace).attributes!), ['traceparent', 'tracestate']);
    // A traceparent of the message's own is kept, with nothing added; a tracestate of its own too, beside the sender's traceparent.
    assert.deepEqual(validateEntry(queue(), { body: 'x', attributes: { traceparent: 'mine' } }, 'm', trace).attributes, { traceparent: str('mine') });
    assert.deepEqual(validateEntry(queue(), { body: 'x', attributes: { tracestate: 'mine=1' } }, 'm', trace).attributes, { tracestate: str('mine=1'), traceparent: str(tp) });
  });

  it('deduplicates a FIFO message by the SHA-256 of its body when the queue says so', () => {
    const m = validateEntry(queue({ fifo: true, contentBasedDeduplication: true }), { body: 'same', groupId: 'g' }, 'm');
    assert.equal(m.dedupId, '0967115f2813a3541eaef77de9d9d5773f1c0c04314b0bbfe4ff3b3b1c55b5d5');
  });

  it('never fails with anything but a clear error, whatever the entry', () => {
    fc.assert(fc.property(fc.anything(), fc.anything(), fc.anything(), fc.boolean(), (body, attributes, delaySeconds, fifo) => {
      try {
        validateEntry(queue({ fifo, contentBasedDeduplication: true }), { body, attributes, delaySeconds, groupId: fifo ? 'g' : undefined }, 'm');
      } catch (err) {
        assert.ok(isNimbusError(err) && err.status < 500, String(err));
      }
    }), { numRuns: 500 });
  });
});

describe('receipt handles', () => {
  it('round-trip, and are refused for another queue or when mangled', () => {
    const h = encodeReceiptHandle('jobs', 12, 'r1');
    assert.deepEqual(decodeReceiptHandle('jobs', h), { seq: 12, receipt: 'r1' });
    assert.throws(() => decodeReceiptHandle('other', h), /from queue "jobs", not "other"/);
    for (const bad of ['', 'x', Buffer.from('jobs/0/r').toString('base64url'), Buffer.from('jobs/1').toString('base64url'), 5]) {
      assert.throws(() => decodeReceiptHandle('jobs', bad), (e: unknown) => isNimbusError(e) && e.code === 'RECEIPT_HANDLE_INVALID');
    }
  });
});

describe('failedItems (partial batch responses)', () => {
  const batch = [received({ messageId: 'a' }), received({ messageId: 'b' })];
  it('reads batchItemFailures; nothing, null or an empty list mean all succeeded', () => {
    assert.deepEqual(failedItems(JSON.stringify({ batchItemFailures: [{ itemIdentifier: 'b' }] }), batch), new Set(['b']));
    for (const r of [undefined, 'null', '{}', '{"batchItemFailures":[]}', '{"batchItemFailures":null}', '"ok"']) assert.deepEqual(failedItems(r, batch), new Set(), String(r));
  });
  it('treats an identifier not in the batch, or a malformed list, as a failure of the whole batch', () => {
    for (const r of ['{"batchItemFailures":[{"itemIdentifier":"zzz"}]}', '{"batchItemFailures":[{}]}', '{"batchItemFailures":"b"}', '{"batchItemFailures":[{"itemIdentifier":""}]}']) {
      assert.equal(failedItems(r, batch), undefined, r);
    }
  });
});

describe('waking a waiting consumer', () => {
  it('a send that lands between a consumer\'s empty receive and its wait is not missed', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { SqliteStore } = await import('../../store/sqlite/index.ts');
    const { QueueService } = await import('./service.ts');
    const { silentLogger } = await import('../../observability/logger.ts');
    const { systemClock } = await import('../../util/clock.ts');
    const dir = mkdtempSync(join(tmpdir(), 'nimbus-wake-'));
    const store = new SqliteStore(join(dir, 'nimbus.db'));
    const svc = new QueueService(store, systemClock, silentLogger);
    try {
      await store.applyApp(desiredApp('a', { specHash: 'x', queues: [queue({ name: 'q' })] }), Date.now());
      const seen = svc.version('q');
      assert.deepEqual(await svc.receive('q', {}, false), []);
      await svc.send('q', { body: 'in between' });
      const t0 = performance.now();
      await svc.waitForMessages('q', Date.now() + 5000, seen);
      assert.ok(performance.now() - t0 < 500, `returned at once (${(performance.now() - t0).toFixed(0)} ms), not after the 5 s idle wait`);
      assert.equal((await svc.receive('q', {}, false))[0]?.body, 'in between');
    } finally {
      svc.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
