// What a topic hands to its subscribers: the SNS event a subscribed function receives (the shape
// of AWS's sample and Powertools' SnsSchema), SNS's notification JSON (the body a queue receives
// without raw delivery, and what a webhook receives), and a queue subscription's message with or
// without raw delivery (the body itself, attributes carried as queue message attributes).
//
// Nimbus does not sign notifications the way SNS does (RSA, with a certificate AWS hosts): unless a
// signer is given, Signature is empty. stringToSign() is SNS's documented string, so an RSA signer
// can be plugged in later without touching the shapes.
import type { MessageAttribute, NewMessage } from '../../store/types.ts';

const ACCOUNT_ID = '000000000000';
const REGION = 'local';
const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';

export function topicArn(topic: string): string {
  return `arn:aws:sns:${REGION}:${ACCOUNT_ID}:${topic}`;
}

/** SNS names a subscription `<topic arn>:<id>`. */
export function subscriptionArn(topic: string, subscriptionId: string): string {
  return `${topicArn(topic)}:${subscriptionId}`;
}

/** One published message, as the topic stores it. */
export interface TopicMessage {
  messageId: string;
  body: string;
  subject?: string;
  attributes?: Record<string, MessageAttribute> | null;
  /** When it was published, in ms since the epoch. */
  timestamp: number;
  /** The publisher's trace context (traceContext()), continued by function and queue deliveries. */
  trace?: string;
}

export interface Signer {
  /** SNS's SignatureVersion: "1" is SHA1withRSA, "2" SHA256withRSA. */
  version: '1' | '2';
  /** Where a receiver fetches the certificate to verify with. */
  certUrl: string;
  /** The base64 signature of stringToSign(). */
  sign(stringToSign: string): string;
}

export interface EnvelopeOptions {
  /** The subscription the delivery is for; without it EventSubscriptionArn is the topic ARN, as in AWS's sample. */
  subscriptionId?: string;
  /** How subscribers reach this server, for the URLs in the notification. */
  baseUrl?: string;
  signer?: Signer;
}

export interface SnsNotificationRecord {
  Type: 'Notification';
  MessageId: string;
  TopicArn: string;
  Subject: string | null;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertUrl: string;
  UnsubscribeUrl: string;
  MessageAttributes: Record<string, { Type: string; Value: string }>;
}

export interface SnsEvent {
  Records: Array<{ EventSource: 'aws:sns'; EventVersion: '1.0'; EventSubscriptionArn: string; Sns: SnsNotificationRecord }>;
}

/** The event a function subscribed to the topic is invoked with: one record per message, as SNS does. */
export function snsEvent(topic: string, message: TopicMessage, opts: EnvelopeOptions = {}): SnsEvent {
  const s = signed(topic, message, opts);
  return {
    Records: [{
      EventSource: 'aws:sns',
      EventVersion: '1.0',
      EventSubscriptionArn: opts.subscriptionId === undefined ? topicArn(topic) : subscriptionArn(topic, opts.subscriptionId),
      Sns: {
        Type: 'Notification', MessageId: message.messageId, TopicArn: topicArn(topic), Subject: message.subject ?? null, Message: message.body,
        Timestamp: s.timestamp, SignatureVersion: s.version, Signature: s.signature, SigningCertUrl: s.certUrl, UnsubscribeUrl: s.unsubscribeUrl,
        MessageAttributes: snsAttributes(message.attributes),
      },
    }],
  };
}

/**
 * SNS's notification JSON, as queues (without raw delivery) and HTTP endpoints receive it. Unlike
 * the function event, the URL fields end in "URL", and Subject and MessageAttributes appear only
 * when the message has them.
 */
export function notificationJson(topic: string, message: TopicMessage, opts: EnvelopeOptions = {}): string {
  const s = signed(topic, message, opts);
  const attributes = snsAttributes(message.attributes);
  return JSON.stringify({
    Type: 'Notification',
    MessageId: message.messageId,
    TopicArn: topicArn(topic),
    ...(message.subject !== undefined ? { Subject: message.subject } : {}),
    Message: message.body,
    Timestamp: s.timestamp,
    SignatureVersion: s.version,
    Signature: s.signature,
    SigningCertURL: s.certUrl,
    UnsubscribeURL: s.unsubscribeUrl,
    ...(Object.keys(attributes).length ? { MessageAttributes: attributes } : {}),
  });
}

/**
 * The message a subscribed queue receives. Raw: the body as published, the attributes as queue
 * message attributes (the queue's own rules apply: at most 10, as with SNS raw delivery to SQS).
 * Otherwise: the notification JSON, with no queue message attributes.
 */
export function queueMessage(topic: string, message: TopicMessage, opts: EnvelopeOptions & { raw: boolean }): NewMessage {
  if (!opts.raw) return { body: notificationJson(topic, message, opts) };
  const attributes = message.attributes ?? {};
  return Object.keys(attributes).length ? { body: message.body, attributes: { ...attributes } } : { body: message.body };
}

/**
 * SNS's string to sign for a notification: Message, MessageId, Subject (when there is one),
 * Timestamp, TopicArn and Type, each as "Name\nvalue\n", in that order.
 */
export function stringToSign(topic: string, message: TopicMessage): string {
  const fields: Array<[string, string]> = [['Message', message.body], ['MessageId', message.messageId]];
  if (message.subject !== undefined) fields.push(['Subject', message.subject]);
  fields.push(['Timestamp', isoTimestamp(message.timestamp)], ['TopicArn', topicArn(topic)], ['Type', 'Notification']);
  return fields.map(([k, v]) => `${k}\n${v}\n`).join('');
}

/** SNS's timestamps: ISO 8601 in UTC with milliseconds, "2019-01-02T12:45:07.000Z". */
function isoTimestamp(ms: number): string {
  return new Date(ms).toISOString();
}

function snsAttributes(attributes: Record<string, MessageAttribute> | null | undefined): Record<string, { Type: string; Value: string }> {
  const out: Record<string, { Type: string; Value: string }> = {};
  for (const [name, a] of Object.entries(attributes ?? {})) out[name] = { Type: a.DataType, Value: a.StringValue ?? a.BinaryValue ?? '' };
  return out;
}

function signed(topic: string, message: TopicMessage, opts: EnvelopeOptions) {
  const base = (opts.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
  const topicPath = `${base}/_nimbus/api/topics/${encodeURIComponent(topic)}`;
  return {
    timestamp: isoTimestamp(message.timestamp),
    version: opts.signer?.version ?? '1',
    signature: opts.signer ? opts.signer.sign(stringToSign(topic, message)) : '',
    certUrl: opts.signer?.certUrl ?? `${base}/_nimbus/topics/signing-cert.pem`,
    unsubscribeUrl: opts.subscriptionId === undefined ? topicPath : `${topicPath}/subscriptions/${encodeURIComponent(opts.subscriptionId)}`,
  };
}
