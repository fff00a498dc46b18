// Queue message rules shared by the admin API, the runtime SDK and async destinations: body and
// attribute validation (SQS's rules), sizes, MD5 digests as SQS computes them, receipt handles.
import { createHash, randomBytes } from 'node:crypto';
import { NimbusError } from '../../errors.ts';
import { jsonText } from '../../util/json.ts';
import { QUEUE_DELAY_MAX_S, QUEUE_MAX_ATTRIBUTES } from '../../config/limits.ts';
import { traceHeaders } from '../../observability/trace-context.ts';
import type { MessageAttribute, NewMessage, QueueRecord } from '../../store/types.ts';

const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,256}$/;
const DATA_TYPE = /^(String|Number|Binary)(\.[^\s]{1,200})?$/;
const GROUP_OR_DEDUP_ID = /^[\x21-\x7e]{1,128}$/;
// SQS accepts #x9 #xA #xD, #x20 to #xD7FF, #xE000 to #xFFFD and #x10000 to #x10FFFF.
// eslint-disable-next-line no-control-regex
const INVALID_BODY_CHAR = /[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u;
const NUMBER = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;

/** An entry as a caller sends it (API JSON or SDK); validated into a NewMessage. */
export interface RawEntry {
  id?: unknown;
  body?: unknown;
  delaySeconds?: unknown;
  attributes?: unknown;
  groupId?: unknown;
  dedupId?: unknown;
}

export interface ValidMessage extends NewMessage {
  md5OfBody: string;
  md5OfMessageAttributes?: string;
}

const bad = (where: string, msg: string) => new NimbusError('INVALID_MESSAGE', `${where}: ${msg}`);

/**
 * Checks one entry against the queue's rules. `where` names it in errors ("entries[3]").
 * Bodies are strings; any other JSON value is sent as its JSON text. `trace`, the sender's context
 * (traceContext()), is added as attributes where the message leaves room (withTraceAttributes()).
 */
export function validateEntry(q: QueueRecord, e: RawEntry, where: string, trace?: string): ValidMessage {
  if (e.body === undefined || e.body === null) throw bad(where, 'body is required');
  const body = typeof e.body === 'string' ? e.body : jsonText(e.body, `${where}: body`);
  if (body.length === 0) throw bad(where, 'body must not be empty');
  if (INVALID_BODY_CHAR.test(body)) throw bad(where, 'body has characters SQS does not allow (control characters other than tab, newline and carriage return, or lone surrogates)');
  let attributes = e.attributes === undefined || e.attributes === null ? undefined : validateAttributes(e.attributes, `${where}.attributes`);
  const size = messageBytes(body, attributes);
  if (size > q.maxMessageBytes) {
    throw new NimbusError('MESSAGE_TOO_LARGE', `${where}: the message is ${size} bytes (body and attributes); queue "${q.name}" takes at most ${q.maxMessageBytes}`);
  }
  if (trace !== undefined) attributes = withTraceAttributes(attributes, trace, q.maxMessageBytes - size);
  const msg: ValidMessage = { body, md5OfBody: md5(body) };
  if (attributes) {
    msg.attributes = attributes;
    msg.md5OfMessageAttributes = md5OfAttributes(attributes);
  }
  if (e.delaySeconds !== undefined) {
    if (q.fifo) throw bad(where, `delaySeconds cannot be set per message on a FIFO queue; set the queue's delay instead`);
    const d = e.delaySeconds;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > QUEUE_DELAY_MAX_S) throw bad(where, `delaySeconds must be an integer from 0 to ${QUEUE_DELAY_MAX_S}, got ${JSON.stringify(d)}`);
    msg.delayMs = d * 1000;
  }
  if (q.fifo) {
    if (typeof e.groupId !== 'string' || !GROUP_OR_DEDUP_ID.test(e.groupId)) {
      throw bad(where, `groupId is required on a FIFO queue (--group in the CLI): 1 to 128 printable ASCII characters, got ${e.groupId === undefined ? 'none' : JSON.stringify(e.groupId)}`);
    }
    msg.groupId = e.groupId;
    if (e.dedupId !== undefined) {
      if (typeof e.dedupId !== 'string' || !GROUP_OR_DEDUP_ID.test(e.dedupId)) throw bad(where, `dedupId must be 1 to 128 printable ASCII characters, got ${JSON.stringify(e.dedupId)}`);
      msg.dedupId = e.dedupId;
    } else if (q.contentBasedDeduplication) {
      msg.dedupId = createHash('sha256').update(body).digest('hex');
    } else {
      throw bad(where, `dedupId is required: queue "${q.name}" does not have contentBasedDeduplication`);
    }
  } else if (e.groupId !== undefined || e.dedupId !== undefined) {
    throw bad(where, `groupId and dedupId apply to FIFO queues only; "${q.name}" is a standard queue`);
  }
  return msg;
}

/**
 * SQS's attribute map `{ name: { DataType, StringValue | BinaryValue } }`. As a shorthand, a plain
 * string is a String attribute and a number a Number attribute.
 */
export function validateAttributes(value: unknown, where: string): Record<string, MessageAttribute> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(where, 'must be a mapping of attribute name to { DataType, StringValue | BinaryValue }');
  const entries = Object.entries(value);
  if (entries.length > QUEUE_MAX_ATTRIBUTES) throw bad(where, `at most ${QUEUE_MAX_ATTRIBUTES} attributes, got ${entries.length}`);
  const out: Record<string, MessageAttribute> = {};
  for (const [name, raw] of entries) {
    const at = `${where}.${name}`;
    if (!ATTRIBUTE_NAME.test(name) || name.startsWith('.') || name.endsWith('.') || name.includes('..')) {
      throw bad(at, 'attribute names are letters, digits, "_", "-" and "." (not first, last or doubled), at most 256 characters');
    }
    if (/^(aws|amazon)\./i.test(name)) throw bad(at, 'names starting with "AWS." or "Amazon." are reserved');
    if (typeof raw === 'string') { out[name] = { DataType: 'String', StringValue: raw }; continue; }
    if (typeof raw === 'number' && Number.isFinite(raw)) { out[name] = { DataType: 'Number', StringValue: String(raw) }; continue; }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(at, 'must be { DataType, StringValue } or { DataType, BinaryValue }, a string or a number');
    const a = raw as Record<string, unknown>;
    const unknown = Object.keys(a).filter((k) => k !== 'DataType' && k !== 'StringValue' && k !== 'BinaryValue');
    if (unknown.length) throw bad(at, `unknown key ${unknown.map((k) => `"${k}"`).join(', ')}; allowed: DataType, StringValue, BinaryValue`);
    if (typeof a.DataType !== 'string' || !DATA_TYPE.test(a.DataType)) throw bad(at, `DataType must be String, Number or Binary (optionally with a ".label"), got ${JSON.stringify(a.DataType)}`);
    const binary = a.DataType.startsWith('Binary');
    if (binary) {
      if (typeof a.BinaryValue !== 'string' || a.BinaryValue === '' || !/^[A-Za-z0-9+/]*={0,2}$/.test(a.BinaryValue)) throw bad(at, 'a Binary attribute needs BinaryValue, base64');
      if (a.StringValue !== undefined) throw bad(at, 'a Binary attribute takes BinaryValue, not StringValue');
      out[name] = { DataType: a.DataType, BinaryValue: a.BinaryValue };
    } else {
      if (typeof a.StringValue !== 'string' || a.StringValue === '') throw bad(at, `a ${a.DataType} attribute needs a non-empty StringValue`);
      if (a.BinaryValue !== undefined) throw bad(at, `a ${a.DataType} attribute takes StringValue, not BinaryValue`);
      if (a.DataType.startsWith('Number') && !NUMBER.test(a.StringValue)) throw bad(at, `a Number attribute's StringValue must be a number, got ${JSON.stringify(a.StringValue)}`);
      out[name] = { DataType: a.DataType, StringValue: a.StringValue };
    }
  }
  return out;
}

export function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

/** A message's size as SQS counts it against the queue's limit: its body, and each attribute's name, type and value. */
export function messageBytes(body: string, attributes: Record<string, MessageAttribute> | undefined): number {
  let size = Buffer.byteLength(body);
  for (const [name, a] of Object.entries(attributes ?? {})) size += attributeBytes(name, a);
  return size;
}

function attributeBytes(name: string, a: MessageAttribute): number {
  return Buffer.byteLength(name) + Buffer.byteLength(a.DataType) + (a.StringValue !== undefined ? Buffer.byteLength(a.StringValue) : Buffer.from(a.BinaryValue!, 'base64').length);
}

/**
 * A message's attributes with the sender's trace context (traceContext()) added as `traceparent` and
 * `tracestate` String attributes (OpenTelemetry's convention for SQS), the traceparent first, each
 * only while the message stays within the queue's 10 attributes and `room` more bytes: the context is
 * the platform's addition and never makes a message fail. A message that names a `traceparent` itself
 * keeps its own and gets neither; one that names only a `tracestate` keeps that one.
 */
export function withTraceAttributes(attrs: Record<string, MessageAttribute> | undefined, trace: string, room: number): Record<string, MessageAttribute> | undefined {
  if (attrs && Object.hasOwn(attrs, 'traceparent')) return attrs;
  let out = attrs;
  let n = attrs ? Object.keys(attrs).length : 0;
  for (const [name, value] of Object.entries(traceHeaders(trace))) {
    const a: MessageAttribute = { DataType: 'String', StringValue: value };
    const bytes = attributeBytes(name, a);
    if (n >= QUEUE_MAX_ATTRIBUTES || bytes > room || (out && Object.hasOwn(out, name))) break;
    out = { ...out, [name]: a };
    n++;
    room -= bytes;
  }
  return out;
}

/**
 * MD5 of the message attributes as SQS computes it: for each attribute in name order, the name,
 * the data type and the value, each as a 4-byte big-endian length and its bytes, with a transport
 * byte (1 string, 2 binary) before the value.
 */
export function md5OfAttributes(attributes: Record<string, MessageAttribute>): string {
  const h = createHash('md5');
  const field = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    h.update(len);
    h.update(b);
  };
  for (const name of Object.keys(attributes).sort()) {
    const a = attributes[name]!;
    field(Buffer.from(name, 'utf8'));
    field(Buffer.from(a.DataType, 'utf8'));
    if (a.BinaryValue !== undefined) {
      h.update(Buffer.from([2]));
      field(Buffer.from(a.BinaryValue, 'base64'));
    } else {
      h.update(Buffer.from([1]));
      field(Buffer.from(a.StringValue ?? '', 'utf8'));
    }
  }
  return h.digest('hex');
}

/** A fresh token for one receive call. */
export function newReceipt(): string {
  return randomBytes(12).toString('base64url');
}

/** The handle a receive gives out: which queue, which message, which receive. */
export function encodeReceiptHandle(queue: string, seq: number, receipt: string): string {
  return Buffer.from(`${queue}/${seq}/${receipt}`).toString('base64url');
}

export function decodeReceiptHandle(queue: string, handle: unknown, where = 'receiptHandle'): { seq: number; receipt: string } {
  if (typeof handle !== 'string' || handle === '' || handle.length > 1024) throw new NimbusError('RECEIPT_HANDLE_INVALID', `${where}: must be a receipt handle from a receive of queue "${queue}"`);
  const parts = Buffer.from(handle, 'base64url').toString('utf8').split('/');
  const seq = Number(parts[1]);
  if (parts.length !== 3 || !Number.isSafeInteger(seq) || seq <= 0 || !parts[2]) {
    throw new NimbusError('RECEIPT_HANDLE_INVALID', `${where}: "${handle.slice(0, 40)}" is not a receipt handle Nimbus gave out`);
  }
  if (parts[0] !== queue) throw new NimbusError('RECEIPT_HANDLE_INVALID', `${where}: the handle is from queue "${parts[0]}", not "${queue}"`);
  return { seq, receipt: parts[2] };
}
