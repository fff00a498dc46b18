// Signing and retry schedule for webhook deliveries (a topic's HTTP(S) subscriptions). This file
// imports nothing but node:crypto, so that a receiver can copy verifyDelivery() as it is. The
// section below is written for receivers; it belongs in the user docs.
//
// ## Verifying webhook deliveries
//
// Each delivery to an HTTP(S) subscription is a `POST` whose body is the SNS notification JSON
// (`Type`, `MessageId`, `TopicArn`, `Message`, `Timestamp`, ...), with three headers:
//
// | header                | value                                                                |
// |-----------------------|----------------------------------------------------------------------|
// | `X-Nimbus-Signature`  | `t=<timestamp>,v1=<signature>`; while a secret is being rotated, one `v1=` per secret |
// | `X-Nimbus-Timestamp`  | `<timestamp>` again                                                  |
// | `X-Nimbus-Message-Id` | the message id, as `MessageId` in the body                           |
//
// `<timestamp>` is when this attempt was sent, in whole seconds since the Unix epoch; every retry
// is signed afresh. `<signature>` is the lowercase hex HMAC-SHA256, keyed with the subscription's
// secret (its UTF-8 bytes), of the UTF-8 text `<timestamp>`, then `.`, then the raw request body
// exactly as received (before any JSON parsing: re-serialised JSON will not verify).
//
// To verify a delivery:
//
// 1. From `X-Nimbus-Signature`, take `t` and every `v1` (ignore schemes you do not know).
// 2. Compute the hex HMAC-SHA256 of `<t>.<raw body>` with your secret and compare it with each
//    `v1` in constant time (Node: `crypto.timingSafeEqual`). One must be equal.
// 3. Refuse the delivery when `t` is more than 300 seconds away from your clock, either way: a
//    captured delivery cannot be replayed later.
// 4. A delivery can arrive more than once (a retry after a timeout): deduplicate on `MessageId`
//    from the body. The `X-Nimbus-Message-Id` header is a convenience and is not signed.
//
// Test vector: secret `whsec_test`, `t=1700000000` and body `{"hello":"world"}` give
// `v1=f592bbf3951cfc94e560eecfb5d9dd4da6b0fff2e626235f8ab4b54860925d0b`.
//
// `verifyDelivery(secret, headers, rawBody, Date.now())` does steps 1 to 3.
//
// ## Retries
//
// Any 2xx answer is a success. A 408, a 429, a 5xx, a timeout or a failed connection is retried, up
// to 8 times, after about 2 s, 6 s, 18 s, 54 s, 2 min 42 s, 8 min 6 s, 20 min and 20 min. Each wait
// is drawn at random between half of its figure and all of it, so that receivers coming back up are
// not hit all at once: the last retry comes 26 to 52 minutes after the first attempt. Other answers
// (a 3xx, any other 4xx) are not retried. A delivery that fails for good goes to the
// subscription's dead-letter queue, when it has one.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Nimbus-Signature';
export const TIMESTAMP_HEADER = 'X-Nimbus-Timestamp';
export const MESSAGE_ID_HEADER = 'X-Nimbus-Message-Id';
export const SIGNATURE_TOLERANCE_S = 300;

/** The retry schedule documented above: retry n waits min(maxMs, baseMs × factor^(n-1)), jittered. */
export const WEBHOOK_RETRY = { retries: 8, baseMs: 2000, factor: 3, maxMs: 20 * 60_000 } as const;
export type RetryPolicy = { retries: number; baseMs: number; factor: number; maxMs: number };

type Body = string | Uint8Array;

function signature(secret: string, t: number, body: Body): string {
  return createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
}

/**
 * Headers for one delivery attempt, sent at `timestampMs`. Give several secrets while rotating:
 * the signature header then carries one v1 per secret, and receivers holding either verify.
 */
export function signDelivery(secret: string | readonly string[], body: Body, timestampMs: number, messageId?: string): Record<string, string> {
  const secrets = typeof secret === 'string' ? [secret] : [...secret];
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s === '')) throw new TypeError('signDelivery: a webhook secret must be a non-empty string');
  if (!Number.isFinite(timestampMs)) throw new TypeError('signDelivery: timestampMs must be a finite number');
  const t = Math.floor(timestampMs / 1000);
  const headers: Record<string, string> = {
    [SIGNATURE_HEADER]: [`t=${t}`, ...secrets.map((s) => `v1=${signature(s, t, body)}`)].join(','),
    [TIMESTAMP_HEADER]: String(t),
  };
  if (messageId !== undefined) headers[MESSAGE_ID_HEADER] = messageId;
  return headers;
}

export type VerifyResult =
  | { ok: true; timestampS: number }
  | { ok: false; reason: 'missing' | 'malformed' | 'mismatch' | 'expired' | 'future'; message: string };

/** Node's `req.headers`, a fetch `Headers`, or a plain record with any letter case. */
export type HeaderSource = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | string[] | undefined {
  if (typeof headers.get === 'function') return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === want) return v as string | string[] | undefined;
  return undefined;
}

/**
 * Checks a delivery's signature against the raw body, and that it was signed within
 * `toleranceS` seconds of `nowMs`. With several secrets (rotation), any one may match.
 */
export function verifyDelivery(secret: string | readonly string[], headers: HeaderSource, body: Body, nowMs: number = Date.now(), toleranceS = SIGNATURE_TOLERANCE_S): VerifyResult {
  const fail = (reason: Exclude<VerifyResult, { ok: true }>['reason'], message: string): VerifyResult => ({ ok: false, reason, message });
  const raw = header(headers, SIGNATURE_HEADER);
  if (raw === undefined || raw === '') return fail('missing', `no ${SIGNATURE_HEADER} header`);
  if (typeof raw !== 'string') return fail('malformed', `more than one ${SIGNATURE_HEADER} header`);
  let t: number | undefined;
  const given: Buffer[] = [];
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return fail('malformed', `${SIGNATURE_HEADER}: "${part.trim().slice(0, 40)}" is not key=value`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (t !== undefined || !/^\d{1,15}$/.test(value)) return fail('malformed', `${SIGNATURE_HEADER}: t must appear once, as whole seconds`);
      t = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/.test(value)) return fail('malformed', `${SIGNATURE_HEADER}: v1 must be 64 lowercase hex digits`);
      given.push(Buffer.from(value, 'hex'));
    }
  }
  if (t === undefined || given.length === 0) return fail('malformed', `${SIGNATURE_HEADER} needs t= and at least one v1=`);
  const stamp = header(headers, TIMESTAMP_HEADER);
  if (stamp !== undefined && stamp !== String(t)) return fail('malformed', `${TIMESTAMP_HEADER} does not match t in ${SIGNATURE_HEADER}`);
  const secrets = typeof secret === 'string' ? [secret] : secret;
  const expected = secrets.filter((s) => typeof s === 'string' && s !== '').map((s) => Buffer.from(signature(s, t, body), 'hex'));
  // Compare every pair, so the time taken does not depend on which one matched.
  let matched = false;
  for (const e of expected) for (const g of given) matched = timingSafeEqual(e, g) || matched;
  if (!matched) return fail('mismatch', 'no signature matches the body with this secret');
  const ageS = nowMs / 1000 - t;
  if (ageS > toleranceS) return fail('expired', `signed ${Math.round(ageS)} s ago; deliveries are accepted for ${toleranceS} s`);
  if (-ageS > toleranceS) return fail('future', `signed ${Math.round(-ageS)} s in the future; clocks may differ by at most ${toleranceS} s`);
  return { ok: true, timestampS: t };
}

/** What to do after an attempt: its HTTP status, or undefined for a timeout or a failed connection. */
export function classifyResponse(status: number | undefined): 'delivered' | 'retry' | 'failed' {
  if (status === undefined || status === 408 || status === 429 || (status >= 500 && status <= 599)) return 'retry';
  return status >= 200 && status <= 299 ? 'delivered' : 'failed';
}

/** The wait before retry `n` (1-based), in ms: its figure from the policy, jittered over its upper half. */
export function retryDelayMs(n: number, random: () => number = Math.random, policy: RetryPolicy = WEBHOOK_RETRY): number {
  const full = Math.min(policy.maxMs, policy.baseMs * policy.factor ** Math.max(0, n - 1));
  return Math.round(full / 2 + random() * (full / 2));
}

/** The waits before each retry of one delivery, in ms (policy.retries of them). */
export function retryDelays(random: () => number = Math.random, policy: RetryPolicy = WEBHOOK_RETRY): number[] {
  return Array.from({ length: policy.retries }, (_, i) => retryDelayMs(i + 1, random, policy));
}
