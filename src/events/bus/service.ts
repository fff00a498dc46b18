// The event bus (EventBridge-like): put-events checks each entry, wraps it in EventBridge's envelope,
// finds the matching rules through the RuleIndex (compiled once per deploy, never a loop over every
// rule), renders each target's input, and writes every delivery — async invocations, queue
// messages, a topic's own fan-out, workflow starts — in one transaction before answering.
import { randomUUID } from 'node:crypto';
import { QUEUE_BATCH_MAX_ENTRIES, QUEUE_MAX_MESSAGE_BYTES } from '../../config/limits.ts';
import { NimbusError } from '../../errors.ts';
import { jsonText } from '../../util/json.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Delivery, DeliveryTarget, RuleEndpoint, RuleRecord, Store } from '../../store/types.ts';
import type { Endpoint } from '../topics/sender.ts';
import type { Clock } from '../../util/clock.ts';
import type { TopicService } from '../topics/service.ts';
import { renderTargetInput, type TargetInput, validateTargetInput } from './input.ts';
import { RuleIndex } from './matcher.ts';

export interface BusDeps {
  store: Store;
  topics: TopicService;
  clock: Clock;
  logger: Logger;
  onDelivered: (d: Delivery) => void;
}

export interface PutEntry { source?: unknown; detailType?: unknown; detail?: unknown; time?: unknown; resources?: unknown }
export type PutResult = { eventId: string } | { errorCode: string; errorMessage: string };

export function ruleArn(name: string): string {
  return `arn:aws:events:local:000000000000:rule/${name}`;
}

export class EventBus {
  readonly #deps: BusDeps;
  #index = new RuleIndex();
  #rules = new Map<string, { record: RuleRecord; targets: { kind: RuleRecord['targets'][number]['kind']; name: string; input: TargetInput | undefined }[] }>();
  /** HTTP targets by rule and URL, and by endpoint id (for the webhook sender). */
  #endpoints = new Map<string, RuleEndpoint>();
  #endpointById = new Map<string, Endpoint>();

  constructor(deps: BusDeps) {
    this.#deps = deps;
  }

  /** Compiles the deployed rules into a fresh index (after every deploy). */
  load(rules: RuleRecord[], endpoints: RuleEndpoint[]): void {
    this.#endpoints = new Map(endpoints.map((e) => [`${e.rule}\u0000${e.url}`, e]));
    this.#endpointById = new Map();
    for (const r of rules) {
      for (const t of r.targets) {
        const e = t.kind === 'url' ? this.#endpoints.get(`${r.name}\u0000${t.name}`) : undefined;
        if (!e) continue;
        this.#endpointById.set(e.id, {
          url: e.url, secret: e.secret, deadLetterQueue: t.deadLetterQueue ?? null, arn: ruleArn(r.name), owner: `rule ${r.name}`,
          retries: t.retry?.maximumRetryAttempts ?? 185, maxAgeMs: t.retry?.maximumEventAgeMs ?? 86_400_000,
        });
      }
    }
    const index = new RuleIndex();
    const map = new Map<string, { record: RuleRecord; targets: { kind: RuleRecord['targets'][number]['kind']; name: string; input: TargetInput | undefined }[] }>();
    for (const r of rules) {
      if (!r.enabled) continue;
      try {
        // Targets first: a rule whose targets do not compile must not match (and count as matched).
        const targets = r.targets.map((t) => ({ kind: t.kind, name: t.name, input: t.input ? validateTargetInput(t.input, `rules.${r.name}`) : undefined }));
        index.add(r.name, JSON.parse(r.pattern));
        map.set(r.name, { record: r, targets });
      } catch (err) {
        this.#deps.logger.error({ err, rule: r.name }, 'rule could not be compiled; it matches nothing');
      }
    }
    this.#index = index;
    this.#rules = map;
  }

  /** An HTTP target by endpoint id, for the webhook sender. */
  endpoint(id: string): Endpoint | undefined {
    return this.#endpointById.get(id);
  }

  /** A rule's HTTP target (its id and signing secret), for the admin API. */
  endpointOf(rule: string, url: string): RuleEndpoint | undefined {
    return this.#endpoints.get(`${rule}\u0000${url}`);
  }

  rules(): RuleRecord[] {
    return [...this.#rules.values()].map((r) => r.record);
  }

  /** PutEvents: up to 10 entries; each is accepted (an event id) or refused (a code and message), as AWS answers. */
  /** `trace`: the putter's trace context, which the deliveries to functions and queues continue. */
  async put(entries: unknown, trace?: string): Promise<{ failedEntryCount: number; entries: PutResult[] }> {
    return this.#put(entries, trace, false);
  }

  /** An event of the platform's own (source `nimbus.*`, which put-events refuses from anyone else). */
  async emit(source: `nimbus.${string}`, detailType: string, detail: Record<string, unknown>): Promise<string> {
    const r = await this.#put([{ source, detailType, detail }], undefined, true);
    const first = r.entries[0]!;
    if ('errorCode' in first) throw new NimbusError('INTERNAL', `platform event ${source} refused: ${first.errorMessage}`);
    return first.eventId;
  }

  async #put(entries: unknown, trace: string | undefined, platform: boolean): Promise<{ failedEntryCount: number; entries: PutResult[] }> {
    if (!Array.isArray(entries) || entries.length === 0 || entries.length > QUEUE_BATCH_MAX_ENTRIES) {
      throw new NimbusError('TOO_MANY_ENTRIES', `entries: put 1 to ${QUEUE_BATCH_MAX_ENTRIES} events at once, got ${Array.isArray(entries) ? entries.length : 'no list'}`);
    }
    const size = Buffer.byteLength(jsonText(entries, 'entries'));
    if (size > QUEUE_MAX_MESSAGE_BYTES) throw new NimbusError('PAYLOAD_TOO_LARGE', `entries: ${size} bytes; a put-events call takes at most ${QUEUE_MAX_MESSAGE_BYTES} bytes`);
    const results: PutResult[] = [];
    const deliveries: Delivery[] = [];
    const counts = { matched: 0, unmatched: 0 };
    for (const [i, raw] of entries.entries()) {
      let event: Record<string, unknown>;
      try {
        event = this.#envelope((typeof raw === 'object' && raw !== null ? raw : {}) as PutEntry, `entries[${i}]`, platform);
      } catch (err) {
        results.push({ errorCode: 'InvalidArgument', errorMessage: (err as Error).message });
        continue;
      }
      results.push({ eventId: event.id as string });
      const matched = this.#index.match(event);
      if (matched.length > 0) counts.matched++;
      else counts.unmatched++;
      for (const name of matched) {
        const rule = this.#rules.get(name);
        if (!rule) continue;
        for (const t of rule.targets) {
          const body = t.input ? renderTargetInput(t.input, event, { ruleName: name, ruleArn: ruleArn(name), ingestionTime: event.time as string }) : JSON.stringify(event);
          const tr = trace ? { trace } : {};
          if (t.kind === 'function') deliveries.push({ to: { kind: 'function', name: t.name }, body, requestId: randomUUID(), ...tr });
          else if (t.kind === 'queue') deliveries.push({ to: { kind: 'queue', name: t.name }, body, ...tr });
          // The execution's name is the delivery's request id: written with the event, started once.
          else if (t.kind === 'workflow') deliveries.push({ to: { kind: 'workflow', name: t.name }, body, requestId: randomUUID(), ...tr });
          else if (t.kind === 'topic') deliveries.push(...await this.#deps.topics.deliveriesFor(t.name, body, trace));
          else {
            const e = this.#endpoints.get(`${name}\u0000${t.name}`);
            if (e) deliveries.push({ to: { kind: 'webhook', name: e.id }, body, requestId: event.id as string, ...tr });
          }
        }
      }
    }
    const handed: Partial<Record<DeliveryTarget['kind'], { written: number; missing: number }>> = {};
    if (deliveries.length) {
      const missing = await this.#deps.store.deliver(deliveries, this.#deps.clock.now());
      if (missing.length) this.#deps.logger.warn({ missing }, 'event bus deliveries skipped: their target no longer exists');
      for (const d of deliveries) {
        this.#deps.onDelivered(d);
        (handed[d.to.kind] ??= { written: 0, missing: 0 }).written++;
      }
      // `missing` names each skipped delivery's target as "kind:name", once per delivery.
      for (const m of missing) {
        const n = handed[m.slice(0, m.indexOf(':')) as DeliveryTarget['kind']];
        if (n) { n.written--; n.missing++; }
      }
    }
    const failedEntryCount = results.filter((r) => 'errorCode' in r).length;
    this.onPut?.(counts.matched, counts.unmatched, failedEntryCount, handed);
    return { failedEntryCount, entries: results };
  }

  /**
   * Sees each put's counts (the metrics): events matched by at least one rule, matched by none,
   * refused; and, by target kind, deliveries written for their targets and those skipped because
   * the target no longer exists.
   */
  onPut: ((matched: number, unmatched: number, failed: number, deliveries: Partial<Record<DeliveryTarget['kind'], { written: number; missing: number }>>) => void) | undefined;

  /** EventBridge's envelope around one entry. */
  #envelope(e: PutEntry, where: string, platform: boolean): Record<string, unknown> {
    const str = (v: unknown, field: string, max: number): string => {
      if (typeof v !== 'string' || v.length === 0 || v.length > max) throw new NimbusError('BAD_REQUEST', `${where}.${field}: required, 1 to ${max} characters`);
      return v;
    };
    const source = str(e.source, 'source', 256);
    // As EventBridge: sources beginning with "aws." are the platform's (schedules use aws.events).
    // Nimbus's own events (budgets) use "nimbus.", so a rule on them cannot be fooled by a put.
    if (source.toLowerCase().startsWith('aws.')) throw new NimbusError('BAD_REQUEST', `${where}.source: sources beginning with "aws." are reserved`);
    if (!platform && source.toLowerCase().startsWith('nimbus.')) throw new NimbusError('BAD_REQUEST', `${where}.source: sources beginning with "nimbus." are reserved for the platform's own events`);
    const detailType = str(e.detailType ?? (e as Record<string, unknown>)['detail-type'], 'detailType', 128);
    let detail: unknown = e.detail ?? {};
    if (typeof detail === 'string') {
      try { detail = JSON.parse(detail); } catch { throw new NimbusError('BAD_REQUEST', `${where}.detail: must be a JSON object, or JSON text of one; this text is not valid JSON`); }
    }
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) throw new NimbusError('BAD_REQUEST', `${where}.detail: must be a JSON object`);
    let time = new Date(this.#deps.clock.now());
    if (e.time !== undefined) {
      time = new Date(typeof e.time === 'string' || typeof e.time === 'number' ? e.time : NaN);
      if (Number.isNaN(time.getTime())) throw new NimbusError('BAD_REQUEST', `${where}.time: must be an ISO 8601 time`);
    }
    if (typeof detail === 'object') jsonText(detail, `${where}.detail`);
    const resources = e.resources ?? [];
    if (!Array.isArray(resources) || resources.some((r) => typeof r !== 'string')) throw new NimbusError('BAD_REQUEST', `${where}.resources: must be a list of strings`);
    return {
      version: '0', id: randomUUID(), 'detail-type': detailType, source, account: '000000000000',
      time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'), region: 'local', resources, detail,
    };
  }
}
