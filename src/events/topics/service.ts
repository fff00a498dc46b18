// Topics (SNS-like): a publish fans out to every subscription whose filter policy matches — a
// function (an async invocation with SNS's event), a queue (SNS's notification JSON, or the raw
// message), a webhook (a signed POST, retried; see sender.ts) — and all of those deliveries are
// written in one transaction before the publish is answered.
import { randomUUID } from 'node:crypto';
import { QUEUE_BATCH_MAX_ENTRIES, QUEUE_MAX_MESSAGE_BYTES } from '../../config/limits.ts';
import { isNimbusError, NimbusError } from '../../errors.ts';
import { jsonText } from '../../util/json.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Delivery, MessageAttribute, Store, SubscriptionRecord, TopicRecord } from '../../store/types.ts';
import type { Clock } from '../../util/clock.ts';
import { validateAttributes } from '../queues/messages.ts';
import { notificationJson, queueMessage, snsEvent, type TopicMessage } from './envelope.ts';
import { type FilterPolicy, matches, validateFilterPolicy } from './filter.ts';

const SUBJECT_MAX_CHARS = 100;

export interface TopicDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** How subscribers reach this server (for the URLs in notifications). */
  baseUrl: () => string;
  onDelivered: (d: Delivery) => void;
}

interface CompiledTopic {
  record: TopicRecord;
  subscriptions: { sub: SubscriptionRecord; policy: FilterPolicy | undefined }[];
}

export interface PublishEntry { id?: unknown; message?: unknown; subject?: unknown; attributes?: unknown }

export class TopicService {
  readonly #deps: TopicDeps;
  #topics: Map<string, CompiledTopic> | undefined;

  constructor(deps: TopicDeps) {
    this.#deps = deps;
  }

  /** Forgets the cached topics and subscriptions: called after every deploy or delete. */
  invalidate(): void {
    this.#topics = undefined;
  }

  async #all(): Promise<Map<string, CompiledTopic>> {
    if (this.#topics) return this.#topics;
    const map = new Map<string, CompiledTopic>();
    for (const record of await this.#deps.store.listTopics()) {
      map.set(record.name, {
        record,
        subscriptions: record.subscriptions.flatMap((sub): CompiledTopic['subscriptions'] => {
          if (sub.filterPolicy === null) return [{ sub, policy: undefined }];
          try {
            return [{ sub, policy: validateFilterPolicy(JSON.parse(sub.filterPolicy), sub.filterPolicyScope) }];
          } catch (err) {
            // Deploy checks policies; one that no longer compiles costs its own subscription, not the server's topics.
            this.#deps.logger.error({ err, topic: record.name, subscription: sub.id }, 'filter policy does not compile; the subscription gets nothing');
            return [];
          }
        }),
      });
    }
    this.#topics = map;
    return map;
  }

  async topic(name: string): Promise<TopicRecord> {
    const t = (await this.#all()).get(name);
    if (!t) throw new NimbusError('TOPIC_NOT_FOUND', `no topic named "${name}"`);
    return t.record;
  }

  async list(): Promise<TopicRecord[]> {
    return [...(await this.#all()).values()].map((t) => t.record);
  }

  async subscription(id: string): Promise<SubscriptionRecord | undefined> {
    for (const t of (await this.#all()).values()) for (const s of t.subscriptions) if (s.sub.id === id) return s.sub;
    return undefined;
  }

  /** Publishes one message; an invalid one is an error (4xx). */
  /** `trace`: the publisher's trace context, which the deliveries to functions and queues continue. */
  async publish(name: string, entry: PublishEntry, trace?: string): Promise<{ messageId: string }> {
    const t = await this.#compiled(name);
    const msg = { ...this.#message(entry, 'message'), ...(trace ? { trace } : {}) };
    await this.#fanOut(t, [msg]);
    return { messageId: msg.messageId };
  }

  /** Publishes up to 10 messages; invalid entries come back in `failed`, the rest are published together. */
  async publishBatch(name: string, entries: unknown, trace?: string): Promise<{ successful: { id: string; messageId: string }[]; failed: { id: string; code: string; message: string }[] }> {
    const t = await this.#compiled(name);
    if (!Array.isArray(entries) || entries.length === 0 || entries.length > QUEUE_BATCH_MAX_ENTRIES) {
      throw new NimbusError('TOO_MANY_ENTRIES', `entries: a batch holds 1 to ${QUEUE_BATCH_MAX_ENTRIES} messages, got ${Array.isArray(entries) ? entries.length : 'no list'}`);
    }
    const ids = new Set<string>();
    const ok: { id: string; msg: TopicMessage }[] = [];
    const failed: { id: string; code: string; message: string }[] = [];
    for (const [i, raw] of entries.entries()) {
      const e = (typeof raw === 'object' && raw !== null ? raw : { message: raw }) as PublishEntry;
      const id = e.id === undefined ? String(i) : String(e.id);
      if (ids.has(id)) throw new NimbusError('TOO_MANY_ENTRIES', `entries[${i}].id: "${id}" is used twice; ids must be distinct within a batch`);
      ids.add(id);
      try {
        ok.push({ id, msg: { ...this.#message(e, `entries[${i}]`), ...(trace ? { trace } : {}) } });
      } catch (err) {
        if (!isNimbusError(err)) throw err;
        failed.push({ id, code: err.code, message: err.message });
      }
    }
    if (ok.length) await this.#fanOut(t, ok.map((o) => o.msg));
    return { successful: ok.map((o) => ({ id: o.id, messageId: o.msg.messageId })), failed };
  }

  async #compiled(name: string): Promise<CompiledTopic> {
    const t = (await this.#all()).get(name);
    if (!t) throw new NimbusError('TOPIC_NOT_FOUND', `no topic named "${name}"`);
    return t;
  }

  #message(e: PublishEntry, where: string): TopicMessage {
    const bad = (msg: string) => new NimbusError('INVALID_MESSAGE', `${where}: ${msg}`);
    if (e.message === undefined || e.message === null) throw bad('message is required');
    const body = typeof e.message === 'string' ? e.message : jsonText(e.message, `${where}: message`);
    if (body.length === 0) throw bad('message must not be empty');
    let subject: string | undefined;
    if (e.subject !== undefined) {
      if (typeof e.subject !== 'string' || e.subject.length === 0 || e.subject.length > SUBJECT_MAX_CHARS || /[\r\n]/.test(e.subject)) {
        throw bad(`subject must be 1 to ${SUBJECT_MAX_CHARS} characters on one line`);
      }
      subject = e.subject;
    }
    const attributes: Record<string, MessageAttribute> | undefined = e.attributes === undefined || e.attributes === null ? undefined : validateAttributes(e.attributes, `${where}.attributes`);
    let size = Buffer.byteLength(body);
    for (const [n, a] of Object.entries(attributes ?? {})) size += Buffer.byteLength(n) + Buffer.byteLength(a.DataType) + Buffer.byteLength(a.StringValue ?? a.BinaryValue ?? '');
    if (size > QUEUE_MAX_MESSAGE_BYTES) throw new NimbusError('MESSAGE_TOO_LARGE', `${where}: the message is ${size} bytes (body and attributes); a topic takes at most ${QUEUE_MAX_MESSAGE_BYTES}`);
    return { messageId: randomUUID(), body, ...(subject !== undefined ? { subject } : {}), attributes: attributes ?? null, timestamp: this.#deps.clock.now() };
  }

  /** One delivery per matching subscription per message, all committed together. */
  async #fanOut(t: CompiledTopic, messages: TopicMessage[]): Promise<void> {
    const deliveries = this.#deliveries(t, messages);
    if (deliveries.length === 0) return;
    const missing = await this.#deps.store.deliver(deliveries, this.#deps.clock.now());
    if (missing.length) this.#deps.logger.warn({ topic: t.record.name, missing }, 'topic deliveries skipped: their subscriber no longer exists');
    for (const d of deliveries) this.#deps.onDelivered(d);
  }

  /**
   * The deliveries a message published to `topic` makes, for a caller that writes them in its own
   * transaction (an event bus rule whose target is a topic). The message is the body as given.
   */
  async deliveriesFor(topic: string, body: string, trace?: string): Promise<Delivery[]> {
    const t = await this.#compiled(topic);
    return this.#deliveries(t, [{ messageId: randomUUID(), body, attributes: null, timestamp: this.#deps.clock.now(), ...(trace ? { trace } : {}) }]);
  }

  #deliveries(t: CompiledTopic, messages: TopicMessage[]): Delivery[] {
    const deliveries: Delivery[] = [];
    const baseUrl = this.#deps.baseUrl();
    for (const msg of messages) {
      for (const { sub, policy } of t.subscriptions) {
        if (policy && !matches(policy, { attributes: msg.attributes, body: msg.body })) continue;
        const opts = { subscriptionId: sub.id, baseUrl };
        if (sub.kind === 'function') {
          deliveries.push({ to: { kind: 'function', name: sub.target }, body: JSON.stringify(snsEvent(t.record.name, msg, opts)), requestId: randomUUID(), ...(msg.trace ? { trace: msg.trace } : {}) });
        } else if (sub.kind === 'queue') {
          const m = queueMessage(t.record.name, msg, { ...opts, raw: sub.raw });
          deliveries.push({ to: { kind: 'queue', name: sub.target }, body: m.body, ...(m.attributes ? { attributes: m.attributes } : {}), ...(msg.trace ? { trace: msg.trace } : {}) });
        } else {
          deliveries.push({ to: { kind: 'webhook', name: sub.id }, body: notificationJson(t.record.name, msg, opts), requestId: msg.messageId, ...(msg.trace ? { trace: msg.trace } : {}) });
        }
      }
    }
    return deliveries;
  }
}
