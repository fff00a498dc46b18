// Storage events: the S3 record against AWS's sample (read at test time from the shared conformance
// folder) and Powertools' S3Schema for every event name, key encoding as S3 does it (property:
// handlers decode back the stored key), sequencers, source addresses, and trigger matching.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { S3Schema } from '@aws-lambda-powertools/parser/schemas/s3';
import fc from 'fast-check';
import { objectKeyProblem } from './keys.ts';
import { decodeEventKey, encodeEventKey, notificationMatches, s3Event, s3Record, sequencer, type ObjectEventInput } from './event.ts';

const S3_SAMPLE = new URL('../../../../shared/conformance/lambda-events/s3-put.json', import.meta.url);
const skipIfMissing = (file: URL): string | false =>
  existsSync(file) ? false : `AWS sample ${file.pathname} is absent (the shared conformance folder sits beside the repo); conformance not checked`;

const put = (over: Partial<ObjectEventInput> = {}): ObjectEventInput => ({
  eventName: 'ObjectCreated:Put', bucket: 'uploads', key: 'images/cat.jpg', size: 1024, etag: '0123456789abcdef0123456789abcdef',
  sequence: 1, timeMs: Date.UTC(2026, 0, 1), configurationId: 'thumbnails-0', requestId: 'req-1', ...over,
} as ObjectEventInput);

/** Every path to a leaf (or an empty object) in a JSON value: the shape, without the values. */
function shape(v: unknown, at = ''): string[] {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return [`${at}:${Array.isArray(v) ? 'array' : typeof v}`];
  return Object.entries(v).flatMap(([k, x]) => shape(x, `${at}.${k}`)).sort();
}

describe('conformance: the S3 put event sample', { skip: skipIfMissing(S3_SAMPLE) }, () => {
  const sample = existsSync(S3_SAMPLE) ? JSON.parse(readFileSync(S3_SAMPLE, 'utf8')) as { Records: Array<{ s3: { object: { key: string; size: number; eTag: string; sequencer: string }; bucket: { name: string; arn: string }; configurationId: string } } & Record<string, unknown>> } : { Records: [] };

  it('builds a record with the sample\'s fields, types and values, from the same object', () => {
    const s = sample.Records[0]!;
    const ours = s3Record(put({
      bucket: s.s3.bucket.name, key: decodeEventKey(s.s3.object.key), size: s.s3.object.size, etag: s.s3.object.eTag,
      sequence: BigInt(`0x${s.s3.object.sequencer}`), timeMs: Date.parse(s.eventTime as string), configurationId: s.s3.configurationId,
      requestId: (s.responseElements as Record<string, string>)['x-amz-request-id']!, sourceIp: (s.requestParameters as Record<string, string>).sourceIPAddress,
    }));
    assert.deepEqual(shape(ours), shape(s));
    for (const k of ['eventSource', 'eventName', 'eventTime', 'requestParameters'] as const) assert.deepEqual(ours[k], s[k], k);
    assert.deepEqual(ours.s3.bucket.name, s.s3.bucket.name);
    assert.deepEqual(ours.s3.bucket.arn, s.s3.bucket.arn);
    assert.equal(ours.s3.configurationId, s.s3.configurationId);
    assert.equal(ours.s3.object.size, s.s3.object.size);
    assert.equal(ours.s3.object.eTag, s.s3.object.eTag);
    assert.equal(ours.s3.object.sequencer, s.s3.object.sequencer);
    assert.equal(decodeEventKey(ours.s3.object.key), decodeEventKey(s.s3.object.key), 'the same key once decoded (S3 itself keeps "/"; the generated sample encodes it)');
  });

  it('the sample itself passes S3Schema (the schema our events are checked with)', () => {
    S3Schema.parse(sample);
  });
});

describe('s3Event', () => {
  it('passes S3Schema for every event name', () => {
    const event = s3Event([
      put(),
      put({ eventName: 'ObjectCreated:Copy', key: 'copies/cat (1).jpg' }),
      put({ eventName: 'ObjectRemoved:Delete', key: 'gone.txt' } as Partial<ObjectEventInput>),
    ]);
    const parsed = S3Schema.parse(event);
    assert.equal(parsed.Records.length, 3);
    assert.deepEqual(event.Records.map((r) => r.eventName), ['ObjectCreated:Put', 'ObjectCreated:Copy', 'ObjectRemoved:Delete']);
  });

  it('fills the record as S3 does', () => {
    const r = s3Record(put({ principalId: 'function:resize', ownerId: 'photos-app', requestId: 'abc', sourceIp: '203.0.113.9', etag: '"0123456789abcdef0123456789abcdef"' }));
    assert.deepEqual(r, {
      eventVersion: '2.1', eventSource: 'aws:s3', awsRegion: 'local', eventTime: '2026-01-01T00:00:00.000Z', eventName: 'ObjectCreated:Put',
      userIdentity: { principalId: 'function:resize' },
      requestParameters: { sourceIPAddress: '203.0.113.9' },
      responseElements: { 'x-amz-request-id': 'abc', 'x-amz-id-2': 'nimbus' },
      s3: {
        s3SchemaVersion: '1.0', configurationId: 'thumbnails-0',
        bucket: { name: 'uploads', ownerIdentity: { principalId: 'photos-app' }, arn: 'arn:aws:s3:::uploads' },
        object: { key: 'images/cat.jpg', size: 1024, eTag: '0123456789abcdef0123456789abcdef', sequencer: '000000000000000001' },
      },
    });
  });

  it('gives a delete only the key and sequencer, as S3 does', () => {
    const r = s3Record({ eventName: 'ObjectRemoved:Delete', bucket: 'b-1', key: 'x y', sequence: 7, timeMs: 0, configurationId: 'c', requestId: 'r' });
    assert.deepEqual(r.s3.object, { key: 'x+y', sequencer: '000000000000000007' });
  });

  it('sends a client\'s IPv4 address, and 127.0.0.1 for internal writes and IPv6 clients (S3Schema takes IPv4 only)', () => {
    const ip = (sourceIp?: string) => s3Record(put({ sourceIp })).requestParameters.sourceIPAddress;
    assert.equal(ip('198.51.100.7'), '198.51.100.7');
    assert.equal(ip('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(ip('::1'), '127.0.0.1');
    assert.equal(ip('2001:db8::1'), '127.0.0.1');
    assert.equal(ip(undefined), '127.0.0.1');
    S3Schema.parse(s3Event([put({ sourceIp: '2001:db8::1' }), put({ sourceIp: '::ffff:10.1.2.3' })]));
  });
});

describe('event keys', () => {
  it('encodes as S3 does: form encoding, "+" for space, "/" kept', () => {
    assert.equal(encodeEventKey('red flower.jpg'), 'red+flower.jpg');
    assert.equal(encodeEventKey('test/key'), 'test/key');
    assert.equal(encodeEventKey('files/2017-11-15 14:22:21_file.csv'), 'files/2017-11-15+14%3A22%3A21_file.csv');
    assert.equal(encodeEventKey('a+b=c&d(1)~!\'*'), 'a%2Bb%3Dc%26d%281%29%7E%21%27*');
    assert.equal(encodeEventKey('dt=2018-05-04/_SUCCESS'), 'dt%3D2018-05-04/_SUCCESS');
    assert.equal(encodeEventKey('ü/日本/🦄'), '%C3%BC/%E6%97%A5%E6%9C%AC/%F0%9F%A6%84');
    assert.equal(encodeEventKey('100%'), '100%25');
  });

  it('decodes back to the stored key, as handlers do (property)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }), (key) => {
      fc.pre(objectKeyProblem(key) === undefined);
      const encoded = encodeEventKey(key);
      assert.match(encoded, /^[A-Za-z0-9.\-_*/+%]+$/);
      assert.equal(decodeEventKey(encoded), key);
    }), { numRuns: 1000 });
  });
});

describe('sequencer', () => {
  it('is 18 upper-case hex digits that sort as the sequence does', () => {
    assert.equal(sequencer(0), '000000000000000000');
    assert.equal(sequencer(255), '0000000000000000FF');
    assert.equal(sequencer(0x0a1b2c3d4e5f678901n), '0A1B2C3D4E5F678901');
    const seqs = [1, 9, 10, 15, 16, 255, 256, 2 ** 40, Number.MAX_SAFE_INTEGER];
    const strings = seqs.map(sequencer);
    assert.deepEqual([...strings].sort(), strings);
    assert.throws(() => sequencer(-1), RangeError);
  });
});

describe('notificationMatches', () => {
  const rule = { bucket: 'uploads', events: ['created'] as const, prefix: 'images/', suffix: '.jpg' };

  it('matches on bucket, event kind, prefix and suffix', () => {
    assert.equal(notificationMatches(rule, 'uploads', 'ObjectCreated:Put', 'images/cat.jpg'), true);
    assert.equal(notificationMatches(rule, 'uploads', 'ObjectCreated:Copy', 'images/cat.jpg'), true);
    assert.equal(notificationMatches(rule, 'uploads', 'ObjectRemoved:Delete', 'images/cat.jpg'), false);
    assert.equal(notificationMatches(rule, 'other', 'ObjectCreated:Put', 'images/cat.jpg'), false);
    assert.equal(notificationMatches(rule, 'uploads', 'ObjectCreated:Put', 'docs/cat.jpg'), false);
    assert.equal(notificationMatches(rule, 'uploads', 'ObjectCreated:Put', 'images/cat.png'), false);
  });

  it('takes every event without events, and every key without prefix or suffix', () => {
    const all = { bucket: 'uploads' };
    assert.equal(notificationMatches(all, 'uploads', 'ObjectRemoved:Delete', 'x'), true);
    assert.equal(notificationMatches({ ...all, events: [] }, 'uploads', 'ObjectCreated:Put', 'x'), true);
    assert.equal(notificationMatches({ ...all, events: ['removed'] }, 'uploads', 'ObjectCreated:Put', 'x'), false);
  });

  it('matches prefix and suffix against the stored key, not the encoded one', () => {
    assert.equal(notificationMatches({ bucket: 'b-1', prefix: 'dt=2026/', suffix: ' final.csv' }, 'b-1', 'ObjectCreated:Put', 'dt=2026/report final.csv'), true);
  });
});
