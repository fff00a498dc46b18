// The change-stream event a table trigger's function receives: DynamoDB Streams' record shape
// (what Lambda hands a DynamoDB event source), with plain JSON values instead of typed
// AttributeValues. docs/tables.md documents it field by field; keep the two in step.
import type { JsonObject, StreamEventName, StreamRecord } from '../../store/kv.ts';

/** Who removed an item that expired: Nimbus's TTL sweeper (DynamoDB says principalId "dynamodb.amazonaws.com"). */
export const TTL_IDENTITY = { type: 'Service', principalId: 'nimbus.kv.ttl' } as const;
/** Digits of a SequenceNumber (DynamoDB's are 21). */
const SEQUENCE_DIGITS = 21;

export interface KvStreamRecord {
  eventID: string;
  eventName: StreamEventName;
  eventVersion: '1.1';
  eventSource: 'nimbus:kv';
  awsRegion: 'local';
  dynamodb: {
    /** Epoch seconds (whole), as DynamoDB. */
    ApproximateCreationDateTime: number;
    Keys: JsonObject;
    /** Absent on REMOVE. */
    NewImage?: JsonObject;
    /** Absent on INSERT. */
    OldImage?: JsonObject;
    SequenceNumber: string;
    SizeBytes: number;
    StreamViewType: 'NEW_AND_OLD_IMAGES';
  };
  /** Only on a REMOVE done by TTL expiry. */
  userIdentity?: typeof TTL_IDENTITY;
  eventSourceARN: string;
}

export function sequenceNumber(seq: number): string {
  return String(seq).padStart(SEQUENCE_DIGITS, '0');
}

export function streamArn(table: string): string {
  return `arn:nimbus:kv:local:000000000000:table/${table}/stream`;
}

export function streamRecord(r: StreamRecord): KvStreamRecord {
  return {
    eventID: r.seq.toString(16).padStart(32, '0'),
    eventName: r.eventName,
    eventVersion: '1.1',
    eventSource: 'nimbus:kv',
    awsRegion: 'local',
    dynamodb: {
      ApproximateCreationDateTime: Math.floor(r.createdAt / 1000),
      Keys: r.keys,
      ...(r.newImage ? { NewImage: r.newImage } : {}),
      ...(r.oldImage ? { OldImage: r.oldImage } : {}),
      SequenceNumber: sequenceNumber(r.seq),
      SizeBytes: r.sizeBytes,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
    ...(r.expired ? { userIdentity: TTL_IDENTITY } : {}),
    eventSourceARN: streamArn(r.table),
  };
}

export function streamEvent(records: StreamRecord[]): { Records: KvStreamRecord[] } {
  return { Records: records.map(streamRecord) };
}

/**
 * Where processing of a batch stopped, from the function's result (Lambda's ReportBatchItemFailures
 * for streams): the index of the first failed record, `records.length` when none failed, or 0 when
 * undefined when `batchItemFailures` is malformed or names a record not in the batch (Lambda then
 * treats the whole batch as failed).
 */
export function firstFailure(json: string | undefined, records: StreamRecord[]): number | undefined {
  if (json === undefined) return records.length;
  let result: unknown;
  try { result = JSON.parse(json); } catch { return records.length; }
  if (typeof result !== 'object' || result === null || !('batchItemFailures' in result)) return records.length;
  const list = (result as { batchItemFailures: unknown }).batchItemFailures;
  if (list === null || list === undefined) return records.length;
  if (!Array.isArray(list)) return undefined;
  const index = new Map(records.map((r, i) => [sequenceNumber(r.seq), i]));
  let first = records.length;
  for (const item of list) {
    const id = typeof item === 'object' && item !== null ? (item as { itemIdentifier?: unknown }).itemIdentifier : undefined;
    const i = typeof id === 'string' ? index.get(id) : undefined;
    if (i === undefined) return undefined;
    first = Math.min(first, i);
  }
  return first;
}
