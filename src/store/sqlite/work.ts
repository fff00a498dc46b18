// Durable work in the embedded store: queues and their messages, asynchronous invocation events,
// idempotency keys. Every method is one transaction in the main file (synchronous=FULL), so what a
// method returns is on disk.
import { randomBytes, randomUUID } from 'node:crypto';
import { NimbusError } from '../../errors.ts';
import type {
  AsyncEvent, Claim, DesiredApp, Delivery, MessageAttribute, NewMessage, QueueConfig, QueueRecord, QueueStats, QueueTriggerRecord,
  ReceiptResult, ReceivedMessage, ScheduleRecord, SentMessage, StoredMessage, RuleEndpoint, RuleRecord, SubscriptionRecord, TopicRecord, WebhookDelivery,
} from '../types.ts';
import { num, type Row, type Sql, str } from './sql.ts';
import { splitQualified } from '../../config/strategy.ts';
import { messageBytes, withTraceAttributes } from '../../events/queues/messages.ts';
import { executionArn, START_REF, type StartRequest } from '../workflows.ts';

/** Digits of a FIFO sequence number (SQS's are 20 digits or more). */
const SEQUENCE_DIGITS = 20;

export class WorkStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Inside applyApp's transaction: upserts the app's queues (messages stay), drops the ones it no longer names, replaces its triggers. */
  applyQueues(desired: DesiredApp): { created: string[]; removed: string[] } {
    const sql = this.#sql;
    // A trigger consumes its own app's queues only (the manifest checks this; the store holds to it too).
    for (const t of desired.queueTriggers) {
      if (!desired.queues.some((q) => q.name === t.queue)) throw new NimbusError('QUEUE_NOT_FOUND', `functions.${t.fn}: a queue event names "${t.queue}", which this app does not declare`);
    }
    for (const q of desired.queues) {
      const owner = sql.get('SELECT app FROM queues WHERE name = ? AND app != ?', q.name, desired.name);
      if (owner) throw new NimbusError('QUEUE_CONFLICT', `queue "${q.name}" already belongs to app "${String(owner.app)}"; queue names are unique across apps — rename it or remove it from "${String(owner.app)}" first`);
    }
    const before = new Set(sql.all('SELECT name FROM queues WHERE app = ?', desired.name).map((r) => String(r.name)));
    const created: string[] = [];
    for (const q of desired.queues) {
      if (!before.delete(q.name)) created.push(q.name);
      const { name, fifo, ...config } = q;
      sql.run('INSERT INTO queues(name, app, fifo, config) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET config = excluded.config, fifo = excluded.fifo',
        name, desired.name, fifo ? 1 : 0, JSON.stringify(config));
    }
    const removed = [...before];
    sql.run('DELETE FROM queue_triggers WHERE app = ?', desired.name);
    for (const name of removed) sql.run('DELETE FROM queues WHERE name = ?', name);
    for (const t of desired.queueTriggers) {
      sql.run('INSERT INTO queue_triggers(app, fn, queue, batch_size, batch_window_ms, max_concurrency, qualifier) VALUES (?, ?, ?, ?, ?, ?, ?)',
        desired.name, t.fn, t.queue, t.batchSize, t.batchWindowMs, t.maxConcurrency, t.qualifier ?? null);
    }
    return { created, removed };
  }

  /**
   * Inside applyApp's transaction: upserts the app's schedules and drops the ones it no longer
   * names. A schedule whose expression, zone or target changed starts afresh (new anchor, next tick
   * recomputed); one that did not keeps its next tick, so a redeploy neither skips nor repeats one.
   */
  applySchedules(desired: DesiredApp, now: number): void {
    const sql = this.#sql;
    this.#own('schedules', 'SCHEDULE_CONFLICT', 'schedule', desired.name, desired.schedules.map((x) => x.name));
    for (const sch of desired.schedules) {
      const old = sql.get('SELECT expression, timezone, target FROM schedules WHERE name = ?', sch.name);
      const target = JSON.stringify(sch.target);
      if (old && old.expression === sch.expression && old.timezone === sch.timezone && old.target === target) {
        // Turned on or off by this deploy: its next tick is computed afresh (nothing fires for the time it was off).
        sql.run('UPDATE schedules SET input = ?, catch_up = ?, next_at = CASE WHEN enabled = ? THEN next_at ELSE NULL END, enabled = ? WHERE name = ?',
          sch.input, sch.catchUp ? 1 : 0, sch.enabled ? 1 : 0, sch.enabled ? 1 : 0, sch.name);
      } else {
        sql.run(`INSERT INTO schedules(name, app, expression, timezone, target, input, enabled, catch_up, anchor_ms, next_at, last_fired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)
          ON CONFLICT(name) DO UPDATE SET expression = excluded.expression, timezone = excluded.timezone, target = excluded.target, input = excluded.input,
          enabled = excluded.enabled, catch_up = excluded.catch_up, anchor_ms = excluded.anchor_ms, next_at = NULL`,
        sch.name, desired.name, sch.expression, sch.timezone, target, sch.input, sch.enabled ? 1 : 0, sch.catchUp ? 1 : 0, now);
      }
    }
  }

  /**
   * Inside applyApp's transaction: upserts the app's topics and their subscriptions. A subscription
   * keeps its id and webhook secret while its topic, kind and target stay; others are replaced.
   */
  applyTopics(desired: DesiredApp): void {
    const sql = this.#sql;
    this.#own('topics', 'TOPIC_CONFLICT', 'topic', desired.name, desired.topics.map((t) => t.name));
    for (const t of desired.topics) {
      sql.run('INSERT INTO topics(name, app) VALUES (?, ?) ON CONFLICT(name) DO NOTHING', t.name, desired.name);
      const wanted = new Set(t.subscriptions.map((x) => `${x.kind}\u0000${x.target}`));
      for (const r of sql.all('SELECT id, kind, target FROM subscriptions WHERE topic = ?', t.name)) {
        if (!wanted.has(`${String(r.kind)}\u0000${String(r.target)}`)) sql.run('DELETE FROM subscriptions WHERE id = ?', String(r.id));
      }
      t.subscriptions.forEach((x, position) => {
        sql.run(`INSERT INTO subscriptions(id, topic, app, kind, target, raw, filter_policy, filter_scope, dlq, secret, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT(topic, kind, target) DO UPDATE SET raw = excluded.raw, filter_policy = excluded.filter_policy, filter_scope = excluded.filter_scope, dlq = excluded.dlq, position = excluded.position`,
        randomUUID(), t.name, desired.name, x.kind, x.target, x.raw ? 1 : 0, x.filterPolicy, x.filterPolicyScope, x.deadLetterQueue,
        x.kind === 'webhook' ? randomBytes(32).toString('base64url') : null, position);
      });
    }
  }

  /** Inside applyApp's transaction: replaces the app's rules (they hold no state of their own). */
  applyRules(desired: DesiredApp): void {
    const sql = this.#sql;
    for (const r of desired.rules) {
      const owner = sql.get('SELECT app FROM rules WHERE name = ? AND app != ?', r.name, desired.name);
      if (owner) throw new NimbusError('RULE_CONFLICT', `rule "${r.name}" already belongs to app "${String(owner.app)}"; rule names are unique across apps — rename it`);
    }
    sql.run('DELETE FROM rules WHERE app = ?', desired.name);
    for (const r of desired.rules) sql.run('INSERT INTO rules(name, app, pattern, enabled, targets) VALUES (?, ?, ?, ?, ?)', r.name, desired.name, r.pattern, r.enabled ? 1 : 0, JSON.stringify(r.targets));
    // HTTP targets keep their endpoint id and secret while the rule and URL stay.
    const urls = new Set(desired.rules.flatMap((r) => r.targets.filter((t) => t.kind === 'url').map((t) => `${r.name}\u0000${t.name}`)));
    for (const e of sql.all('SELECT id, rule, url FROM rule_endpoints WHERE app = ?', desired.name)) {
      if (!urls.has(`${String(e.rule)}\u0000${String(e.url)}`)) sql.run('DELETE FROM rule_endpoints WHERE id = ?', String(e.id));
    }
    for (const key of urls) {
      const [rule, url] = key.split('\u0000') as [string, string];
      sql.run('INSERT INTO rule_endpoints(id, app, rule, url, secret) VALUES (?, ?, ?, ?, ?) ON CONFLICT(rule, url) DO UPDATE SET app = excluded.app',
        randomUUID(), desired.name, rule, url, randomBytes(32).toString('base64url'));
    }
  }

  listRuleEndpoints(): RuleEndpoint[] {
    return this.#sql.all('SELECT * FROM rule_endpoints ORDER BY rule, url').map((r) => ({ id: String(r.id), app: String(r.app), rule: String(r.rule), url: String(r.url), secret: String(r.secret) }));
  }

  listRules(): RuleRecord[] {
    return this.#sql.all('SELECT * FROM rules ORDER BY name').map((r) => ({
      name: String(r.name), app: String(r.app), pattern: String(r.pattern), enabled: Number(r.enabled) === 1, targets: JSON.parse(String(r.targets)) as RuleRecord['targets'],
    }));
  }

  listTopics(): TopicRecord[] {
    const subs = new Map<string, SubscriptionRecord[]>();
    for (const r of this.#sql.all('SELECT * FROM subscriptions ORDER BY topic, position')) {
      const list = subs.get(String(r.topic)) ?? [];
      list.push({
        id: String(r.id), topic: String(r.topic), app: String(r.app), kind: String(r.kind) as SubscriptionRecord['kind'], target: String(r.target), raw: Number(r.raw) === 1,
        filterPolicy: str(r.filter_policy), filterPolicyScope: String(r.filter_scope) as SubscriptionRecord['filterPolicyScope'], deadLetterQueue: str(r.dlq), secret: str(r.secret),
      });
      subs.set(String(r.topic), list);
    }
    return this.#sql.all('SELECT * FROM topics ORDER BY name').map((r) => ({ name: String(r.name), app: String(r.app), subscriptions: subs.get(String(r.name)) ?? [] }));
  }

  deliver(deliveries: Delivery[], now: number): string[] {
    return this.#sql.tx(() => deliveries.filter((d) => !this.#deliver(d, now)).map((d) => `${d.to.kind}:${d.to.name}`));
  }

  claimWebhooks(max: number, now: number, leaseUntil: number): WebhookDelivery[] {
    const sql = this.#sql;
    return sql.tx(() => {
      const rows = sql.all('SELECT * FROM webhook_deliveries WHERE next_at <= ? ORDER BY next_at LIMIT ?', now, max);
      for (const r of rows) sql.run('UPDATE webhook_deliveries SET next_at = ?, lease_until = ?, attempts = attempts + 1 WHERE seq = ?', leaseUntil, leaseUntil, Number(r.seq));
      return rows.map((r) => ({
        seq: Number(r.seq), leaseUntil, subscriptionId: String(r.subscription), messageId: String(r.message_id), body: String(r.body), createdAt: Number(r.created_at), attempts: Number(r.attempts) + 1,
        ...(r.trace === null || r.trace === undefined ? {} : { trace: String(r.trace) }),
      }));
    });
  }

  settleWebhook(claim: Claim, deliveries: Delivery[], now: number): void {
    this.#sql.tx(() => {
      if (this.#sql.run('DELETE FROM webhook_deliveries WHERE seq = ? AND lease_until = ?', claim.seq, claim.leaseUntil) === 0) return;
      for (const d of deliveries) this.#deliver(d, now);
    });
  }

  retryWebhook(claim: Claim, nextAt: number): void {
    this.#sql.run('UPDATE webhook_deliveries SET next_at = ?, lease_until = NULL WHERE seq = ? AND lease_until = ?', nextAt, claim.seq, claim.leaseUntil);
  }

  nextWebhookDue(): number | undefined {
    return num(this.#sql.get('SELECT MIN(next_at) AS t FROM webhook_deliveries')?.t) ?? undefined;
  }

  releaseWebhookLeases(now: number): void {
    this.#sql.run('UPDATE webhook_deliveries SET next_at = ?, lease_until = NULL WHERE lease_until IS NOT NULL', now);
  }

  /**
   * For a resource table keyed by a name unique across apps: refuses a name another app owns, and
   * deletes this app's rows the desired state no longer names (returned).
   */
  #own(table: 'schedules' | 'topics', code: 'SCHEDULE_CONFLICT' | 'TOPIC_CONFLICT', noun: string, app: string, names: string[]): string[] {
    const sql = this.#sql;
    for (const name of names) {
      const owner = sql.get(`SELECT app FROM ${table} WHERE name = ? AND app != ?`, name, app);
      if (owner) throw new NimbusError(code, `${noun} "${name}" already belongs to app "${String(owner.app)}"; ${noun} names are unique across apps — rename it`);
    }
    const keep = new Set(names);
    const removed = sql.all(`SELECT name FROM ${table} WHERE app = ?`, app).map((r) => String(r.name)).filter((n) => !keep.has(n));
    for (const name of removed) sql.run(`DELETE FROM ${table} WHERE name = ?`, name);
    return removed;
  }

  listSchedules(): ScheduleRecord[] {
    return this.#sql.all('SELECT * FROM schedules ORDER BY name').map((r) => ({
      name: String(r.name), app: String(r.app), expression: String(r.expression), timezone: String(r.timezone),
      target: JSON.parse(String(r.target)) as ScheduleRecord['target'], input: str(r.input), enabled: Number(r.enabled) === 1, catchUp: Number(r.catch_up) === 1,
      anchorMs: Number(r.anchor_ms), nextAt: num(r.next_at), lastFiredAt: num(r.last_fired_at),
    }));
  }

  setScheduleNext(name: string, nextAt: number | null, anchorMs?: number): void {
    if (anchorMs === undefined) this.#sql.run('UPDATE schedules SET next_at = ? WHERE name = ?', nextAt, name);
    else this.#sql.run('UPDATE schedules SET next_at = ?, anchor_ms = ? WHERE name = ?', nextAt, anchorMs, name);
  }

  fireSchedule(name: string, dueAt: number, nextAt: number | null, firedAt: number, delivery: Delivery | undefined): boolean {
    const sql = this.#sql;
    return sql.tx(() => {
      if (sql.run('UPDATE schedules SET next_at = ?, last_fired_at = COALESCE(?, last_fired_at) WHERE name = ? AND next_at = ?', nextAt, delivery ? firedAt : null, name, dueAt) === 0) return false;
      if (delivery) this.#deliver(delivery, firedAt);
      return true;
    });
  }

  setScheduleEnabled(name: string, enabled: boolean): boolean {
    // Its next tick is computed afresh by the scheduler: nothing fires for the time it was off.
    return this.#sql.run('UPDATE schedules SET enabled = ?, next_at = NULL WHERE name = ?', enabled ? 1 : 0, name) > 0;
  }

  queuesOf(app: string): string[] {
    return this.#sql.all('SELECT name FROM queues WHERE app = ? ORDER BY name', app).map((r) => String(r.name));
  }

  getQueue(name: string): QueueRecord | undefined {
    const row = this.#sql.get('SELECT * FROM queues WHERE name = ?', name);
    return row ? toQueue(row) : undefined;
  }

  listQueues(): QueueRecord[] {
    return this.#sql.all('SELECT * FROM queues ORDER BY name').map(toQueue);
  }

  listQueueTriggers(): QueueTriggerRecord[] {
    return this.#sql.all('SELECT * FROM queue_triggers ORDER BY queue, fn').map((r) => ({
      app: String(r.app), fn: String(r.fn), queue: String(r.queue), batchSize: Number(r.batch_size), batchWindowMs: Number(r.batch_window_ms), maxConcurrency: Number(r.max_concurrency),
      qualifier: r.qualifier === null || r.qualifier === undefined ? null : String(r.qualifier),
    }));
  }

  #queue(name: string): QueueRecord {
    const q = this.getQueue(name);
    if (!q) throw new NimbusError('QUEUE_NOT_FOUND', `no queue named "${name}"`);
    return q;
  }

  sendMessages(queue: string, messages: NewMessage[], now: number, dedupWindowMs: number): SentMessage[] {
    return this.#sql.tx(() => this.#insert(this.#queue(queue), messages, now, dedupWindowMs));
  }

  #insert(q: QueueRecord, messages: NewMessage[], now: number, dedupWindowMs: number): SentMessage[] {
    const sql = this.#sql;
    const out: SentMessage[] = [];
    for (const m of messages) {
      const id = randomUUID();
      const visibleAt = now + (q.fifo ? q.delayMs : (m.delayMs ?? q.delayMs));
      if (q.fifo) {
        const dedupId = m.dedupId!;
        const seen = sql.get('SELECT message_id, seq FROM fifo_dedup WHERE queue = ? AND dedup_id = ? AND expires_at > ?', q.name, dedupId, now);
        if (seen) {
          out.push({ messageId: String(seen.message_id), sequenceNumber: sequence(Number(seen.seq)), duplicate: true });
          continue;
        }
        const seq = Number(sql.stmt(`INSERT INTO messages(queue, id, body, attributes, sent_at, visible_at, group_id, dedup_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
          .run(q.name, id, m.body, m.attributes ? JSON.stringify(m.attributes) : null, now, visibleAt, m.groupId!, dedupId).lastInsertRowid);
        sql.run('INSERT INTO fifo_dedup(queue, dedup_id, message_id, seq, expires_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(queue, dedup_id) DO UPDATE SET message_id = excluded.message_id, seq = excluded.seq, expires_at = excluded.expires_at',
          q.name, dedupId, id, seq, now + dedupWindowMs);
        out.push({ messageId: id, sequenceNumber: sequence(seq) });
      } else {
        sql.run('INSERT INTO messages(queue, id, body, attributes, sent_at, visible_at) VALUES (?, ?, ?, ?, ?, ?)',
          q.name, id, m.body, m.attributes ? JSON.stringify(m.attributes) : null, now, visibleAt);
        out.push({ messageId: id });
      }
    }
    return out;
  }

  receiveMessages(queue: string, opts: { max: number; visibilityMs: number; receipt: string; maxBytes?: number }, now: number): ReceivedMessage[] {
    const sql = this.#sql;
    return sql.tx(() => {
      const q = this.#queue(queue);
      const got: ReceivedMessage[] = [];
      let bytes = 0;
      // Messages that move to the dead-letter queue or expire do not count: look again, a bounded number of times.
      for (let round = 0; round < 10 && got.length < opts.max; round++) {
        const want = opts.max - got.length;
        const rows = q.fifo
          ? sql.all(`SELECT * FROM messages WHERE queue = ? AND visible_at <= ? AND (group_id NOT IN
              (SELECT group_id FROM messages WHERE queue = ? AND group_id IS NOT NULL AND receipt IS NOT NULL AND visible_at > ?)) ORDER BY seq LIMIT ?`, q.name, now, q.name, now, want)
          : sql.all('SELECT * FROM messages WHERE queue = ? AND visible_at <= ? ORDER BY visible_at LIMIT ?', q.name, now, want);
        let skipped = 0;
        for (const r of rows) {
          const seq = Number(r.seq);
          if (Number(r.sent_at) + q.retentionMs <= now) {
            sql.run('DELETE FROM messages WHERE seq = ?', seq);
            skipped++;
          } else if (q.redrive && Number(r.receive_count) >= q.redrive.maxReceiveCount) {
            sql.run('UPDATE messages SET queue = ?, visible_at = ?, receive_count = 0, first_received_at = NULL, receipt = NULL, source_queue = ? WHERE seq = ?',
              q.redrive.deadLetterQueue, now, q.name, seq);
            skipped++;
          } else {
            bytes += String(r.body).length;
            if (opts.maxBytes !== undefined && got.length > 0 && bytes > opts.maxBytes) return got;
            sql.run('UPDATE messages SET visible_at = ?, receive_count = receive_count + 1, first_received_at = COALESCE(first_received_at, ?), receipt = ? WHERE seq = ?',
              now + opts.visibilityMs, now, opts.receipt, seq);
            const m = toMessage(r);
            got.push({ ...m, receiveCount: m.receiveCount + 1, firstReceivedAt: m.firstReceivedAt ?? now, receipt: opts.receipt });
          }
        }
        if (skipped === 0 || rows.length < want) break;
      }
      return got;
    });
  }

  deleteMessages(queue: string, items: { seq: number; receipt: string }[]): ReceiptResult[] {
    const sql = this.#sql;
    return sql.tx(() => items.map(({ seq, receipt }) => {
      if (sql.run('DELETE FROM messages WHERE seq = ? AND queue = ? AND receipt = ?', seq, queue, receipt) > 0) return 'ok';
      return sql.get('SELECT 1 FROM messages WHERE seq = ? AND queue = ?', seq, queue) ? 'stale' : 'gone';
    }));
  }

  changeVisibility(queue: string, seq: number, receipt: string, visibleAt: number): ReceiptResult {
    const sql = this.#sql;
    return sql.tx(() => {
      if (sql.run('UPDATE messages SET visible_at = ? WHERE seq = ? AND queue = ? AND receipt = ?', visibleAt, seq, queue, receipt) > 0) return 'ok';
      return sql.get('SELECT 1 FROM messages WHERE seq = ? AND queue = ?', seq, queue) ? 'stale' : 'gone';
    });
  }

  purgeQueue(queue: string): number {
    return this.#sql.tx(() => {
      this.#queue(queue);
      return this.#sql.run('DELETE FROM messages WHERE queue = ?', queue);
    });
  }

  queueStats(queue: string, now: number): QueueStats {
    const sql = this.#sql;
    this.#queue(queue);
    // A scrape asks for every queue's stats: only the count reads the whole queue, and that in an index
    // (~33 ms a million messages, where reading the rows took ~260). The messages not visible now (in
    // flight or delayed: usually few, next to a backlog; each row is read, ~0.2 ms a thousand) come from
    // messages_visible, the oldest from messages_sent.
    // (A count kept by triggers made every message sent cost ~3 times as much: 18 µs against 6.)
    const total = Number(sql.get('SELECT COUNT(*) AS n FROM messages WHERE queue = ?', queue)!.n);
    const r = sql.get('SELECT COUNT(*) AS hidden, COALESCE(SUM(receipt IS NOT NULL), 0) AS in_flight FROM messages WHERE queue = ? AND visible_at > ?', queue, now)!;
    const oldest = sql.get('SELECT MIN(sent_at) AS t FROM messages WHERE queue = ?', queue)!.t;
    const hidden = Number(r.hidden);
    const inFlight = Number(r.in_flight);
    return { visible: total - hidden, inFlight, delayed: hidden - inFlight, oldestAgeMs: oldest === null ? 0 : Math.max(0, now - Number(oldest)) };
  }

  nextVisibleAt(queue: string, now: number): number | undefined {
    return num(this.#sql.get('SELECT MIN(visible_at) AS t FROM messages WHERE queue = ? AND visible_at > ?', queue, now)?.t) ?? undefined;
  }

  redriveMessages(dlq: string, opts: { to?: string; max: number }, now: number): number {
    const sql = this.#sql;
    return sql.tx(() => {
      this.#queue(dlq);
      if (opts.to !== undefined) this.#queue(opts.to);
      const rows = sql.all('SELECT seq, source_queue FROM messages WHERE queue = ? AND source_queue IS NOT NULL ORDER BY seq LIMIT ?', dlq, opts.max);
      let moved = 0;
      for (const r of rows) {
        const to = opts.to ?? String(r.source_queue);
        if (!sql.get('SELECT 1 FROM queues WHERE name = ?', to)) continue; // its source queue is gone: it stays
        moved += sql.run('UPDATE messages SET queue = ?, visible_at = ?, receive_count = 0, first_received_at = NULL, receipt = NULL, source_queue = NULL WHERE seq = ?', to, now, Number(r.seq));
      }
      return moved;
    });
  }

  /**
   * One step of the retention sweep: deletes up to `max` messages past their queue's retention (the
   * oldest of each queue first) and up to `max` expired deduplication ids and idempotency keys of each
   * kind; returns how many messages and how many rows in all went (0 rows: nothing is left to do).
   */
  expireMessages(now: number, max: number): { messages: number; rows: number } {
    const sql = this.#sql;
    return sql.tx(() => {
      let messages = 0;
      for (const q of this.listQueues()) {
        if (messages >= max) break;
        messages += sql.run('DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE queue = ? AND sent_at <= ? ORDER BY sent_at LIMIT ?)', q.name, now - q.retentionMs, max - messages);
      }
      let rows = messages;
      rows += sql.run('DELETE FROM fifo_dedup WHERE rowid IN (SELECT rowid FROM fifo_dedup WHERE expires_at <= ? LIMIT ?)', now, max);
      rows += sql.run('DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)', now, max);
      return { messages, rows };
    });
  }

  // --- asynchronous invocations ----------------------------------------------------------------

  enqueueAsync(e: { requestId: string; fn: string; payload: string; idempotencyKey?: string; trace?: string; qualifier?: string }, now: number, windowMs: number): { requestId: string; duplicate: boolean } {
    const sql = this.#sql;
    return sql.tx(() => {
      if (e.idempotencyKey !== undefined) {
        const seen = sql.get('SELECT request_id FROM idempotency_keys WHERE fn = ? AND key = ? AND expires_at > ?', e.fn, e.idempotencyKey, now);
        if (seen) return { requestId: String(seen.request_id), duplicate: true };
        sql.run('INSERT INTO idempotency_keys(fn, key, request_id, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT(fn, key) DO UPDATE SET request_id = excluded.request_id, expires_at = excluded.expires_at',
          e.fn, e.idempotencyKey, e.requestId, now + windowMs);
      }
      this.#insertAsync(e.requestId, e.fn, e.payload, now, e.trace ?? null, e.qualifier ?? null);
      return { requestId: e.requestId, duplicate: false };
    });
  }

  #insertAsync(requestId: string, fn: string, payload: string, now: number, trace: string | null = null, qualifier: string | null = null): void {
    this.#sql.run('INSERT INTO async_events(request_id, fn, payload, created_at, next_at, trace, qualifier) VALUES (?, ?, ?, ?, ?, ?, ?)', requestId, fn, payload, now, now, trace, qualifier);
  }

  claimAsync(max: number, now: number, leaseUntil: number, skipFns: string[] = []): AsyncEvent[] {
    const sql = this.#sql;
    return sql.tx(() => {
      const skip = skipFns.length ? ` AND fn NOT IN (${skipFns.map(() => '?').join(', ')})` : '';
      const rows = sql.db.prepare(`SELECT seq, request_id, fn, payload, created_at, attempts, trace, qualifier FROM async_events WHERE next_at <= ?${skip} ORDER BY next_at LIMIT ?`).all(now, ...skipFns, max) as Row[];
      // A claimed event's next_at is its lease's end: if this node dies, it comes due again then.
      for (const r of rows) sql.run('UPDATE async_events SET next_at = ?, lease_until = ?, attempts = attempts + 1 WHERE seq = ?', leaseUntil, leaseUntil, Number(r.seq));
      return rows.map((r) => ({
        seq: Number(r.seq), requestId: String(r.request_id), fn: String(r.fn), payload: String(r.payload), createdAt: Number(r.created_at), attempts: Number(r.attempts) + 1, leaseUntil,
        ...(r.trace === null || r.trace === undefined ? {} : { trace: String(r.trace) }),
        ...(r.qualifier === null || r.qualifier === undefined ? {} : { qualifier: String(r.qualifier) }),
      }));
    });
  }

  settleAsync(claim: Claim, deliveries: Delivery[], now: number): string[] | null {
    const sql = this.#sql;
    return sql.tx(() => {
      // Its lease ran out and it was claimed again: the newer claim settles it.
      if (sql.run('DELETE FROM async_events WHERE seq = ? AND lease_until = ?', claim.seq, claim.leaseUntil) === 0) return null;
      // Deploy checks destinations; one removed since is returned for the caller to report, not retried forever.
      return deliveries.filter((d) => !this.#deliver(d, now)).map((d) => `${d.to.kind}:${d.to.name}`);
    });
  }

  /** Writes one delivery (a queue message, an async event for a function, a webhook, a workflow start); false when its destination is gone. */
  #deliver(d: Delivery, now: number): boolean {
    if (d.to.kind === 'webhook') {
      if (!this.#sql.get('SELECT 1 FROM subscriptions WHERE id = ? UNION ALL SELECT 1 FROM rule_endpoints WHERE id = ?', d.to.name, d.to.name)) return false;
      this.#sql.run('INSERT INTO webhook_deliveries(subscription, message_id, body, created_at, next_at, trace) VALUES (?, ?, ?, ?, ?, ?)', d.to.name, d.requestId ?? randomUUID(), d.body, now, now, d.trace ?? null);
      return true;
    }
    if (d.to.kind === 'workflow') {
      // The execution itself is created by the executor (it runs the engine's first step); the request is durable from here.
      if (!this.#sql.get('SELECT 1 FROM wf_definitions WHERE name = ?', d.to.name)) return false;
      const start: StartRequest = { workflow: d.to.name, name: d.requestId ?? randomUUID(), input: d.body, trace: d.trace ?? null };
      this.#sql.run('INSERT INTO wf_work(execution, kind, ref, due_at, lease_until, data) VALUES (?, ?, ?, ?, NULL, ?)', executionArn(start.workflow, start.name), 'start', START_REF, now, JSON.stringify(start));
      return true;
    }
    if (d.to.kind === 'queue') {
      const q = this.getQueue(d.to.name);
      if (!q) return false;
      // The sender's context as attributes, where the message leaves room (it is not refused for them).
      const attributes = d.trace === undefined ? d.attributes : withTraceAttributes(d.attributes, d.trace, q.maxMessageBytes - messageBytes(d.body, d.attributes));
      this.#insert(q, [{ body: d.body, attributes, groupId: 'nimbus', dedupId: randomUUID() }], now, 0);
      return true;
    }
    // A rule or schedule may name `fn:alias` or `fn:3`: the event runs that alias or version.
    const { fn, qualifier } = splitQualified(d.to.name);
    if (!this.#sql.get('SELECT 1 FROM functions WHERE name = ?', fn)) return false;
    this.#insertAsync(d.requestId ?? randomUUID(), fn, d.body, now, d.trace ?? null, qualifier ?? null);
    return true;
  }

  retryAsync(claim: Claim, nextAt: number, countAttempt: boolean): void {
    this.#sql.run(`UPDATE async_events SET next_at = ?, lease_until = NULL${countAttempt ? '' : ', attempts = attempts - 1'} WHERE seq = ? AND lease_until = ?`, nextAt, claim.seq, claim.leaseUntil);
  }

  nextAsyncDue(): number | undefined {
    return num(this.#sql.get('SELECT MIN(next_at) AS t FROM async_events')?.t) ?? undefined;
  }

  releaseAsyncLeases(now: number): void {
    this.#sql.run('UPDATE async_events SET next_at = ?, lease_until = NULL WHERE lease_until IS NOT NULL', now);
  }

  asyncStats(fn: string | undefined, now: number): { pending: number; retrying: number } {
    const r = fn === undefined
      ? this.#sql.get('SELECT COUNT(*) AS n, COALESCE(SUM(attempts > 0 AND lease_until IS NULL AND next_at > ?), 0) AS retrying FROM async_events', now)!
      : this.#sql.get('SELECT COUNT(*) AS n, COALESCE(SUM(attempts > 0 AND lease_until IS NULL AND next_at > ?), 0) AS retrying FROM async_events WHERE fn = ?', now, fn)!;
    return { pending: Number(r.n), retrying: Number(r.retrying) };
  }
}

function sequence(seq: number): string {
  return String(seq).padStart(SEQUENCE_DIGITS, '0');
}

function toQueue(row: Row): QueueRecord {
  return { name: String(row.name), app: String(row.app), fifo: Number(row.fifo) === 1, ...(JSON.parse(String(row.config)) as QueueConfig) };
}

function toMessage(r: Row): StoredMessage {
  return {
    seq: Number(r.seq), messageId: String(r.id), body: String(r.body),
    attributes: r.attributes === null ? null : JSON.parse(String(r.attributes)) as Record<string, MessageAttribute>,
    sentAt: Number(r.sent_at), receiveCount: Number(r.receive_count), firstReceivedAt: num(r.first_received_at),
    groupId: str(r.group_id), dedupId: str(r.dedup_id), sourceQueue: str(r.source_queue),
  };
}
