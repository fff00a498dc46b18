// Storage notifications: which object events a function's `storage:` trigger receives, and the
// S3-shaped event it receives them in (shared/conformance/lambda-events/s3-put.json; checked with
// Powertools' S3Schema), so Lambda code written for S3 runs unchanged.
//
//   events:
//     - storage: { bucket: uploads, events: [created, removed], prefix: images/, suffix: .jpg }
//
// Where Nimbus differs from S3, or S3's docs leave room:
// - The key in the event is URL-encoded as S3 encodes it in practice: form encoding (space → "+",
//   everything but letters, digits and `.-_*` as %XX of its UTF-8 bytes) except that "/" stays as
//   it is (see minio/minio#11665; the SAM sample's "test%2Fkey" comes from a generator, not from S3).
//   Handlers decode with `decodeURIComponent(key.replace(/\+/g, ' '))`, as they do on AWS.
// - prefix and suffix match the key as stored; S3 matches them against the encoded key, so a
//   filter on "a=b/" must be written "a%3Db/" there.
// - requestParameters.sourceIPAddress is the client's IPv4 address, or 127.0.0.1 when the write
//   came from a function or the admin API, or from an IPv6 client (S3Schema accepts IPv4 only).
// - eventVersion "2.1", as S3 sends for these events; awsRegion "local", as Nimbus's other ARNs.
import { isIPv4 } from 'node:net';

export type S3EventName = 'ObjectCreated:Put' | 'ObjectCreated:Copy' | 'ObjectRemoved:Delete';
export type StorageEventKind = 'created' | 'removed';

export interface S3EventRecord {
  eventVersion: string;
  eventSource: 'aws:s3';
  awsRegion: string;
  eventTime: string;
  eventName: S3EventName;
  userIdentity: { principalId: string };
  requestParameters: { sourceIPAddress: string };
  responseElements: { 'x-amz-request-id': string; 'x-amz-id-2': string };
  s3: {
    s3SchemaVersion: '1.0';
    configurationId: string;
    bucket: { name: string; ownerIdentity: { principalId: string }; arn: string };
    object: { key: string; size?: number; eTag?: string; sequencer: string };
  };
}

interface EventCommon {
  bucket: string;
  /** The object key as stored (it is URL-encoded here). */
  key: string;
  /** Orders events on one key: a number that grows with every write (the metadata row's version). */
  sequence: number | bigint;
  timeMs: number;
  /** The notification's id (S3's configurationId): names the trigger that matched. */
  configurationId: string;
  requestId: string;
  /** The client's address, when the write came over HTTP. */
  sourceIp?: string;
  /** Who wrote: the function, `admin`, or `presigned`. */
  principalId?: string;
  /** Who owns the bucket: the app. */
  ownerId?: string;
}

export type ObjectEventInput = EventCommon & (
  | { eventName: 'ObjectCreated:Put' | 'ObjectCreated:Copy'; size: number; etag: string }
  | { eventName: 'ObjectRemoved:Delete' }
);

/** The bucket's ARN, as S3 writes it (no region or account). */
export function bucketArn(bucket: string): string {
  return `arn:aws:s3:::${bucket}`;
}

/** A key as S3 writes it in an event (see the header). */
export function encodeEventKey(key: string): string {
  let out = '';
  for (const ch of key) {
    if (/^[A-Za-z0-9.\-_*/]$/.test(ch)) out += ch;
    else if (ch === ' ') out += '+';
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The stored key from an event's key (what a handler does). */
export function decodeEventKey(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, ' '));
}

/** S3's sequencer: upper-case hex, 18 digits here; compare two after padding the shorter with zeros. */
export function sequencer(sequence: number | bigint): string {
  const n = BigInt(sequence);
  if (n < 0n) throw new RangeError('sequencer: the sequence must not be negative');
  return n.toString(16).toUpperCase().padStart(18, '0');
}

function sourceAddress(ip: string | undefined): string {
  if (ip === undefined) return '127.0.0.1';
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return isIPv4(v4) ? v4 : '127.0.0.1';
}

/** One S3 event record for an object write or delete. */
export function s3Record(input: ObjectEventInput): S3EventRecord {
  const object: S3EventRecord['s3']['object'] = input.eventName === 'ObjectRemoved:Delete'
    ? { key: encodeEventKey(input.key), sequencer: sequencer(input.sequence) }
    : { key: encodeEventKey(input.key), size: input.size, eTag: input.etag.replace(/^"|"$/g, ''), sequencer: sequencer(input.sequence) };
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'local',
    eventTime: new Date(input.timeMs).toISOString(),
    eventName: input.eventName,
    userIdentity: { principalId: input.principalId ?? 'nimbus' },
    requestParameters: { sourceIPAddress: sourceAddress(input.sourceIp) },
    responseElements: { 'x-amz-request-id': input.requestId, 'x-amz-id-2': 'nimbus' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: input.configurationId,
      bucket: { name: input.bucket, ownerIdentity: { principalId: input.ownerId ?? 'nimbus' }, arn: bucketArn(input.bucket) },
      object,
    },
  };
}

/** The event a function receives: S3 sends one record per event. */
export function s3Event(records: ObjectEventInput | ObjectEventInput[]): { Records: S3EventRecord[] } {
  return { Records: (Array.isArray(records) ? records : [records]).map(s3Record) };
}

/** A function's `storage:` trigger, as the manifest gives it. */
export interface StorageNotification {
  bucket: string;
  /** Both when omitted. */
  events?: readonly StorageEventKind[];
  prefix?: string;
  suffix?: string;
}

export function eventKind(eventName: S3EventName): StorageEventKind {
  return eventName.startsWith('ObjectCreated:') ? 'created' : 'removed';
}

/** Whether an event on `bucket`/`key` goes to the trigger `n`. */
export function notificationMatches(n: StorageNotification, bucket: string, eventName: S3EventName, key: string): boolean {
  if (n.bucket !== bucket) return false;
  if (n.events && n.events.length > 0 && !n.events.includes(eventKind(eventName))) return false;
  if (n.prefix && !key.startsWith(n.prefix)) return false;
  if (n.suffix && !key.endsWith(n.suffix)) return false;
  return true;
}
