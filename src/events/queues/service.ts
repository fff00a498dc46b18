// Queues (SQS-like): send, receive with long polling, delete, visibility, purge, stats, redrive.
// The one place every caller goes through — admin API, runtime SDK, async destinations, queue
// triggers — so the rules and the wake-ups are the same for all. Messages live in the store and
// are committed before a send returns.
import { FIFO_DEDUP_WINDOW_MS, QUEUE_BATCH_MAX_ENTRIES, QUEUE_LONG_POLL_MAX_S, QUEUE_RECEIVE_MAX_MESSAGES, QUEUE_VISIBILITY_MAX_S } from '../../config/limits.ts';
import { isNimbusError, NimbusError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { QueueRecord, QueueStats, ReceivedMessage, Store } from '../../store/types.ts';
import { WakeUps } from '../../util/wakeups.ts';
import type { Clock } from '../../util/clock.ts';
import { decodeReceiptHandle, encodeReceiptHandle, md5, md5OfAttributes, newReceipt, type RawEntry, validateEntry } from './messages.ts';

const EXPIRE_EVERY_MS = 60_000;

export interface SendResult {
  /** `duplicate`: a FIFO send whose deduplication id was seen in the last 5 minutes — accepted, not added again. */
  successful: { id: string; messageId: string; md5OfBody: string; md5OfMessageAttributes?: string; sequenceNumber?: string; duplicate?: true }[];
  failed: { id: string; code: string; message: string }[];
}

/** A received message as the API and the SDK return it. */
export interface MessageView {
  messageId: string;
  receiptHandle: string;
  body: string;
  md5OfBody: string;
  md5OfMessageAttributes?: string;
  attributes: Record<string, string>;
  messageAttributes: Record<string, { DataType: string; StringValue?: string; BinaryValue?: string }>;
}

export class QueueService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #wakeUps: WakeUps;
  readonly #expireTimer: NodeJS.Timeout;
  #closed = false;
  // The retention sweep running, if any (one at a time: a large one outlasts the minute), and its stop.
  #expiring: Promise<void> | undefined;
  readonly #closing = new AbortController();
  readonly #cache = new Map<string, QueueRecord>();

  constructor(store: Store, clock: Clock, logger: Logger) {
    this.#store = store;
    this.#clock = clock;
    this.#logger = logger;
    this.#wakeUps = new WakeUps(clock);
    this.#expireTimer = setInterval(() => {
      this.#expiring ??= this.#expire().finally(() => { this.#expiring = undefined; });
    }, EXPIRE_EVERY_MS);
    this.#expireTimer.unref();
  }

  async #expire(): Promise<void> {
    try {
      const n = await this.#store.expireMessages(this.#clock.now(), this.#closing.signal);
      if (n > 0) this.#logger.info({ messages: n }, 'messages past their retention period deleted');
    } catch (err) {
      this.#logger.error({ err }, 'could not expire queue messages');
    }
  }

  /** Queue settings, cached until the next config change (a send looked them up three times). */
  async queue(name: string): Promise<QueueRecord> {
    const cached = this.#cache.get(name);
    if (cached) return cached;
    const q = await this.#store.getQueue(name);
    if (!q) throw new NimbusError('QUEUE_NOT_FOUND', `no queue named "${name}"`);
    this.#cache.set(name, q);
    return q;
  }

  /** Forgets cached queue settings: called after every deploy or delete. */
  invalidate(): void {
    this.#cache.clear();
  }

  /**
   * Sends a batch: entries that fail validation are reported in `failed` and the rest are stored
   * (as SQS's SendMessageBatch). A batch over 10 entries, empty, or with repeated ids is refused whole.
   */
  async sendBatch(name: string, entries: unknown, trace?: string): Promise<SendResult> {
    const q = await this.queue(name);
    if (!Array.isArray(entries) || entries.length === 0 || entries.length > QUEUE_BATCH_MAX_ENTRIES) {
      throw new NimbusError('TOO_MANY_ENTRIES', `entries: a batch holds 1 to ${QUEUE_BATCH_MAX_ENTRIES} messages, got ${Array.isArray(entries) ? entries.length : 'no list'}`);
    }
    const ids = new Set<string>();
    const valid: { id: string; msg: ReturnType<typeof validateEntry> }[] = [];
    const failed: SendResult['failed'] = [];
    for (const [i, raw] of entries.entries()) {
      const e = (typeof raw === 'object' && raw !== null ? raw : { body: raw }) as RawEntry;
      const id = e.id === undefined ? String(i) : String(e.id);
      if (ids.has(id)) throw new NimbusError('TOO_MANY_ENTRIES', `entries[${i}].id: "${id}" is used twice; ids must be distinct within a batch`);
      ids.add(id);
      try {
        valid.push({ id, msg: validateEntry(q, e, `entries[${i}]`, trace) });
      } catch (err) {
        if (!isNimbusError(err)) throw err;
        failed.push({ id, code: err.code, message: err.message });
      }
    }
    const sent = valid.length ? await this.#store.sendMessages(q.name, valid.map((v) => v.msg), this.#clock.now(), FIFO_DEDUP_WINDOW_MS) : [];
    if (valid.length) this.#wake(q.name);
    return {
      successful: valid.map((v, i) => ({
        id: v.id, messageId: sent[i]!.messageId, md5OfBody: v.msg.md5OfBody,
        ...(v.msg.md5OfMessageAttributes ? { md5OfMessageAttributes: v.msg.md5OfMessageAttributes } : {}),
        ...(sent[i]!.sequenceNumber ? { sequenceNumber: sent[i]!.sequenceNumber } : {}),
        ...(sent[i]!.duplicate ? { duplicate: true as const } : {}),
      })),
      failed,
    };
  }

  /** Sends one message; an invalid one is an error (4xx), not a failed entry. */
  async send(name: string, entry: RawEntry, trace?: string): Promise<SendResult['successful'][number]> {
    const q = await this.queue(name);
    const msg = validateEntry(q, entry, 'message', trace);
    const [sent] = await this.#store.sendMessages(q.name, [msg], this.#clock.now(), FIFO_DEDUP_WINDOW_MS);
    this.#wake(q.name);
    return {
      id: '0', messageId: sent!.messageId, md5OfBody: msg.md5OfBody,
      ...(msg.md5OfMessageAttributes ? { md5OfMessageAttributes: msg.md5OfMessageAttributes } : {}),
      ...(sent!.sequenceNumber ? { sequenceNumber: sent!.sequenceNumber } : {}),
      ...(sent!.duplicate ? { duplicate: true as const } : {}),
    };
  }

  /**
   * Receives up to `max` messages, waiting up to `waitS` seconds for one to arrive (long poll).
   * `max` above 10 is for queue triggers (batch sizes up to 10,000); the API caps it at 10.
   */
  async receive(name: string, opts: { max?: number; waitS?: number; visibilityS?: number; maxBytes?: number }, api = true): Promise<ReceivedMessage[]> {
    const q = await this.queue(name);
    const max = opts.max ?? 1;
    if (api && (!Number.isInteger(max) || max < 1 || max > QUEUE_RECEIVE_MAX_MESSAGES)) throw new NimbusError('BAD_REQUEST', `maxMessages: must be an integer from 1 to ${QUEUE_RECEIVE_MAX_MESSAGES}, got ${JSON.stringify(opts.max)}`);
    const waitS = opts.waitS ?? 0;
    if (!Number.isInteger(waitS) || waitS < 0 || waitS > QUEUE_LONG_POLL_MAX_S) throw new NimbusError('BAD_REQUEST', `waitSeconds: must be an integer from 0 to ${QUEUE_LONG_POLL_MAX_S}, got ${JSON.stringify(opts.waitS)}`);
    const visibilityMs = opts.visibilityS === undefined ? q.visibilityTimeoutMs : checkVisibility(opts.visibilityS) * 1000;
    const deadline = this.#clock.now() + waitS * 1000;
    for (;;) {
      if (this.#closed) return [];
      const seen = this.version(q.name);
      const got = await this.#store.receiveMessages(q.name, { max, visibilityMs, receipt: newReceipt(), maxBytes: opts.maxBytes }, this.#clock.now());
      // A receive may have moved messages past maxReceiveCount to the dead-letter queue: wake its consumers.
      if (q.redrive && got.length < max) this.#wake(q.redrive.deadLetterQueue);
      if (got.length > 0 || this.#clock.now() >= deadline) return got;
      await this.waitForMessages(q.name, deadline, seen);
    }
  }

  /** Counts the wake-ups of a queue: read it before a receive, pass it to waitForMessages. */
  version(name: string): number {
    return this.#wakeUps.version(name);
  }

  /**
   * Resolves when a message may have become visible in the queue, or at `until` at the latest.
   * `since` (a version read before the receive that found nothing) closes the gap between that
   * receive and this wait: a send that landed in between has moved the version, so this returns at once.
   */
  async waitForMessages(name: string, until: number, since?: number): Promise<void> {
    const now = this.#clock.now();
    if (since !== undefined && this.version(name) !== since) return;
    const next = await this.#store.nextVisibleAt(name, now);
    if (since !== undefined && this.version(name) !== since) return;
    await this.#wakeUps.wait(name, Math.min(until, next ?? Infinity), since);
  }

  /** Wakes whoever waits on the queue (long polls, triggers). In cluster mode a NOTIFY does this across nodes. */
  notify(name: string): void {
    this.#wake(name);
  }

  #wake(name: string): void {
    this.#wakeUps.wake(name);
  }

  view(name: string, m: ReceivedMessage): MessageView {
    return messageView(name, m);
  }

  /** Deletes by receipt handle. A message already gone is fine (deletes are idempotent); a stale handle is an error. */
  async delete(name: string, handle: unknown, where = 'receiptHandle'): Promise<void> {
    const { seq, receipt } = decodeReceiptHandle(name, handle, where);
    const q = await this.queue(name);
    const r = await this.#store.deleteMessage(name, seq, receipt);
    if (r === 'stale') throw staleHandle(where);
    // On a FIFO queue a delete can unlock a message group: its next messages are receivable now.
    if (r === 'ok' && q.fifo) this.#wake(name);
  }

  async changeVisibility(name: string, handle: unknown, visibilityS: unknown, where = 'receiptHandle'): Promise<void> {
    const { seq, receipt } = decodeReceiptHandle(name, handle, where);
    const secs = checkVisibility(visibilityS);
    await this.queue(name);
    const r = await this.#store.changeVisibility(name, seq, receipt, this.#clock.now() + secs * 1000);
    if (r === 'stale') throw staleHandle(where);
    if (r === 'gone') throw new NimbusError('RECEIPT_HANDLE_INVALID', `${where}: the message was deleted (or expired); there is nothing to change`);
    // Sleeping consumers recompute when the next message becomes visible.
    this.#wake(name);
  }

  /** Applies `op` to each entry of a batch (max 10), reporting per-entry failures as SQS does. */
  async batch(entries: unknown, op: (e: Record<string, unknown>, where: string) => Promise<void>): Promise<{ successful: { id: string }[]; failed: SendResult['failed'] }> {
    if (!Array.isArray(entries) || entries.length === 0 || entries.length > QUEUE_BATCH_MAX_ENTRIES) {
      throw new NimbusError('TOO_MANY_ENTRIES', `entries: a batch holds 1 to ${QUEUE_BATCH_MAX_ENTRIES} entries, got ${Array.isArray(entries) ? entries.length : 'no list'}`);
    }
    const out = { successful: [] as { id: string }[], failed: [] as SendResult['failed'] };
    const ids = new Set<string>();
    for (const [i, raw] of entries.entries()) {
      const e = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
      const id = e.id === undefined ? String(i) : String(e.id);
      if (ids.has(id)) throw new NimbusError('TOO_MANY_ENTRIES', `entries[${i}].id: "${id}" is used twice; ids must be distinct within a batch`);
      ids.add(id);
      try {
        await op(e, `entries[${i}].receiptHandle`);
        out.successful.push({ id });
      } catch (err) {
        if (!isNimbusError(err)) throw err;
        out.failed.push({ id, code: err.code, message: err.message });
      }
    }
    return out;
  }

  async purge(name: string): Promise<number> {
    return this.#store.purgeQueue(name);
  }

  async stats(name: string): Promise<QueueStats> {
    return this.#store.queueStats(name, this.#clock.now());
  }

  /** Moves dead-lettered messages back to the queue each came from (or to `to`). */
  async redrive(dlq: string, opts: { to?: unknown; max?: unknown }): Promise<number> {
    await this.queue(dlq);
    if (opts.to !== undefined && typeof opts.to !== 'string') throw new NimbusError('BAD_REQUEST', 'to: must be a queue name');
    const max = opts.max ?? 10_000;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > 100_000) throw new NimbusError('BAD_REQUEST', `max: must be an integer from 1 to 100000, got ${JSON.stringify(max)}`);
    if (opts.to !== undefined) {
      const [from, to] = [await this.queue(dlq), await this.queue(opts.to)];
      if (from.fifo !== to.fifo) throw new NimbusError('BAD_REQUEST', `to: messages of a ${from.fifo ? 'FIFO' : 'standard'} queue can only go to a ${from.fifo ? 'FIFO' : 'standard'} queue`);
    }
    const moved = await this.#store.redriveMessages(dlq, { to: opts.to as string | undefined, max }, this.#clock.now());
    for (const q of await this.#store.listQueues()) this.#wake(q.name);
    return moved;
  }

  /** Deletes a trigger's processed messages in one transaction; stale or gone ones are skipped. */
  async deleteProcessed(name: string, messages: ReceivedMessage[]): Promise<void> {
    if (messages.length) await this.#store.deleteMessages(name, messages.map((m) => ({ seq: m.seq, receipt: m.receipt })));
    if ((await this.queue(name)).fifo) this.#wake(name);
  }

  /** Makes a trigger's messages visible again after `ms` (a throttled batch). */
  async release(name: string, messages: ReceivedMessage[], ms: number): Promise<void> {
    for (const m of messages) await this.#store.changeVisibility(name, m.seq, m.receipt, this.#clock.now() + ms);
    this.#wake(name);
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#closed = true;
    this.#closing.abort();
    clearInterval(this.#expireTimer);
    this.#wakeUps.wakeAll();
  }
}

/** A received message as the API and the SDK return it (SQS's field names). */
export function messageView(name: string, m: ReceivedMessage): MessageView {
  const attributes: Record<string, string> = {
    ApproximateReceiveCount: String(m.receiveCount),
    SentTimestamp: String(m.sentAt),
    SenderId: '000000000000',
    ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt ?? m.sentAt),
  };
  if (m.groupId !== null) {
    attributes.MessageGroupId = m.groupId;
    attributes.MessageDeduplicationId = m.dedupId ?? '';
    attributes.SequenceNumber = String(m.seq).padStart(20, '0');
  }
  if (m.sourceQueue !== null) attributes.DeadLetterQueueSourceArn = queueArn(m.sourceQueue);
  return {
    messageId: m.messageId,
    receiptHandle: encodeReceiptHandle(name, m.seq, m.receipt),
    body: m.body,
    md5OfBody: md5(m.body),
    ...(m.attributes ? { md5OfMessageAttributes: md5OfAttributes(m.attributes) } : {}),
    attributes,
    messageAttributes: m.attributes ?? {},
  };
}

export function queueArn(name: string): string {
  return `arn:aws:sqs:local:000000000000:${name}`;
}

function checkVisibility(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > QUEUE_VISIBILITY_MAX_S) {
    throw new NimbusError('BAD_REQUEST', `visibilityTimeout: must be an integer from 0 to ${QUEUE_VISIBILITY_MAX_S} seconds, got ${JSON.stringify(v)}`);
  }
  return v;
}

function staleHandle(where: string): NimbusError {
  return new NimbusError('RECEIPT_HANDLE_INVALID', `${where}: the message was received again since this handle was given out; use the handle from the latest receive`);
}
