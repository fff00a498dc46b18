// Prometheus metrics at /_nimbus/metrics (prom-client). Counters and histograms are fed as things
// happen (an invocation record, an HTTP answer); gauges are read from the live state at scrape time
// (instances, the spare pool, queue depths). Labels are bounded: function names, route templates,
// trigger kinds, outcomes and status classes — never request ids or raw paths.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { InvocationRecord, QueueStats } from '../store/types.ts';

/** Seconds; from well under a millisecond (a warm no-op) to the 900 s timeout. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
/** Distinct error_type label values per function; later ones count as "other". */
const ERROR_TYPES_PER_FUNCTION = 20;
const INIT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the scrape reads from the running platform. */
export interface MetricsSources {
  instances: () => Record<string, { busy: number; idle: number; provisioned: number; inflight: number; waiting: number }>;
  spares: () => { ready: Record<string, number> };
  queues: () => Promise<{ name: string; deadLetterFor: string[]; stats: QueueStats }[]>;
}

export class Metrics {
  readonly registry = new Registry();
  readonly #invocations: Counter<'function' | 'trigger' | 'outcome'>;
  readonly #errors: Counter<'function' | 'error_type'>;
  readonly #versions: Counter<'function' | 'version' | 'outcome'>;
  readonly #throttles: Counter<'function'>;
  readonly #coldStarts: Counter<'function'>;
  readonly #duration: Histogram<'function' | 'trigger'>;
  readonly #init: Histogram<'function'>;
  readonly #http: Counter<'route' | 'status_class'>;
  readonly #bus: Counter<'result'>;
  readonly #busDeliveries: Counter<'target' | 'result'>;
  readonly #scheduleLag: Histogram<'schedule'>;
  readonly #scheduleTicks: Counter<'schedule' | 'result'>;
  readonly #webhooks: Counter<'endpoint' | 'result'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.#invocations = new Counter({ name: 'nimbus_invocations_total', help: 'Invocations by function, trigger and outcome (success, error, timeout, throttled, crashed, out-of-memory, init-error).', labelNames: ['function', 'trigger', 'outcome'], registers });
    this.#versions = new Counter({ name: 'nimbus_version_invocations_total', help: 'Invocations by function, the version that ran (the first 20 versions seen per function; later ones count as "other") and outcome: a canary\'s error rate next to the version it replaces.', labelNames: ['function', 'version', 'outcome'], registers });
    this.#errors = new Counter({ name: 'nimbus_invocation_errors_total', help: 'Failed invocations by function and error type (throttles not included).', labelNames: ['function', 'error_type'], registers });
    this.#throttles = new Counter({ name: 'nimbus_throttles_total', help: 'Invocations refused at a concurrency or capacity limit (429).', labelNames: ['function'], registers });
    this.#coldStarts = new Counter({ name: 'nimbus_cold_starts_total', help: 'Invocations that started a new instance.', labelNames: ['function'], registers });
    this.#duration = new Histogram({ name: 'nimbus_invocation_duration_seconds', help: 'Handler duration (init not included).', labelNames: ['function', 'trigger'], buckets: DURATION_BUCKETS, registers });
    this.#init = new Histogram({ name: 'nimbus_init_duration_seconds', help: "Cold starts' init duration (module import and top-level code).", labelNames: ['function'], buckets: INIT_BUCKETS, registers });
    this.#http = new Counter({ name: 'nimbus_http_responses_total', help: 'Gateway answers by route template ("METHOD /path/{param}", or "unmatched") and status class.', labelNames: ['route', 'status_class'], registers });
    this.#scheduleLag = new Histogram({ name: 'nimbus_schedule_lag_seconds', help: 'How late each schedule tick fired after its time.', labelNames: ['schedule'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 3600], registers });
    this.#scheduleTicks = new Counter({ name: 'nimbus_schedule_ticks_total', help: 'Schedule ticks: fired, or skipped (missed while the server was down, catchUp: false).', labelNames: ['schedule', 'result'], registers });
    this.#webhooks = new Counter({ name: 'nimbus_webhook_deliveries_total', help: 'Webhook attempts (topic subscriptions, rule HTTP targets) by endpoint owner: delivered, retried, failed for good.', labelNames: ['endpoint', 'result'], registers });
    this.#bus = new Counter({ name: 'nimbus_bus_events_total', help: 'Events put on the bus: matched (at least one rule), unmatched, or failed (refused entries).', labelNames: ['result'], registers });
    this.#busDeliveries = new Counter({ name: 'nimbus_bus_deliveries_total', help: 'What matched events were handed to, by target kind (function, queue, workflow, webhook; a topic target counts as its subscriptions): written for the target, or target_missing (the target no longer exists; the delivery is dropped and logged).', labelNames: ['target', 'result'], registers });

    new Gauge({
      name: 'nimbus_concurrent_executions', help: 'Invocations running now, by function.', labelNames: ['function'], registers,
      collect() {
        this.reset();
        for (const [fn, s] of Object.entries(sources.instances())) this.set({ function: fn }, s.inflight);
      },
    });
    new Gauge({
      name: 'nimbus_instances', help: 'Instances by function and state (busy, idle, provisioned — provisioned ones are also busy or idle).', labelNames: ['function', 'state'], registers,
      collect() {
        this.reset();
        for (const [fn, s] of Object.entries(sources.instances())) {
          this.set({ function: fn, state: 'busy' }, s.busy);
          this.set({ function: fn, state: 'idle' }, s.idle);
          this.set({ function: fn, state: 'provisioned' }, s.provisioned);
        }
      },
    });
    new Gauge({
      name: 'nimbus_spare_runtimes', help: 'Booted spare runtimes waiting for a cold start, by memory size (MB).', labelNames: ['memory_mb'], registers,
      collect() {
        this.reset();
        for (const [mb, n] of Object.entries(sources.spares().ready)) this.set({ memory_mb: mb }, n);
      },
    });
    // One store read per scrape feeds the three queue gauges.
    let queueRead: Promise<Awaited<ReturnType<MetricsSources['queues']>>> | undefined;
    const queues = () => (queueRead ??= sources.queues().finally(() => setTimeout(() => { queueRead = undefined; }, 0)));
    new Gauge({
      name: 'nimbus_queue_messages', help: 'Messages in each queue: visible, in flight, delayed.', labelNames: ['queue', 'state'], registers,
      async collect() {
        this.reset();
        for (const q of await queues()) {
          this.set({ queue: q.name, state: 'visible' }, q.stats.visible);
          this.set({ queue: q.name, state: 'in_flight' }, q.stats.inFlight);
          this.set({ queue: q.name, state: 'delayed' }, q.stats.delayed);
        }
      },
    });
    new Gauge({
      name: 'nimbus_queue_oldest_message_age_seconds', help: 'Age of the oldest message in each queue (0 when empty).', labelNames: ['queue'], registers,
      async collect() {
        this.reset();
        for (const q of await queues()) this.set({ queue: q.name }, q.stats.oldestAgeMs / 1000);
      },
    });
    new Gauge({
      name: 'nimbus_dead_letter_messages', help: 'Messages in queues that are some queue\'s dead-letter queue.', labelNames: ['queue'], registers,
      async collect() {
        this.reset();
        for (const q of await queues()) if (q.deadLetterFor.length > 0) this.set({ queue: q.name }, q.stats.visible + q.stats.inFlight + q.stats.delayed);
      },
    });
  }

  // The hot path's series, looked up once each: a labelled child is cheaper than hashing labels per request.
  readonly #children = new Map<string, { inc(): void } | { observe(v: number): void }>();
  #child<T extends { inc(): void } | { observe(v: number): void }>(key: string, make: () => T): T {
    let c = this.#children.get(key) as T | undefined;
    if (!c) this.#children.set(key, (c = make()));
    return c;
  }

  /** One finished (or refused) invocation, as recorded. */
  invocation(r: InvocationRecord): void {
    this.#child(`i\0${r.fn}\0${r.trigger}\0${r.outcome}`, () => this.#invocations.labels({ function: r.fn, trigger: r.trigger, outcome: r.outcome })).inc();
    const version = this.#capped(this.#versionsSeen, r.fn, String(r.revision));
    this.#child(`v\0${r.fn}\0${version}\0${r.outcome}`, () => this.#versions.labels({ function: r.fn, version, outcome: r.outcome })).inc();
    if (r.outcome === 'throttled') {
      this.#throttles.inc({ function: r.fn });
      return;
    }
    if (r.outcome !== 'success') this.#errors.inc({ function: r.fn, error_type: this.#errorType(r.fn, r.errorType ?? r.outcome) });
    if (r.cold) this.#coldStarts.inc({ function: r.fn });
    this.#child(`d\0${r.fn}\0${r.trigger}`, () => this.#duration.labels({ function: r.fn, trigger: r.trigger })).observe(r.durationMs / 1000);
    if (r.initDurationMs !== null) this.#init.observe({ function: r.fn }, r.initDurationMs / 1000);
  }

  // Error types are the function's own error names: a function that throws a new name every time must
  // not make a new series every time. The first ERROR_TYPES_PER_FUNCTION names keep theirs.
  readonly #errorTypes = new Map<string, Set<string>>();
  #errorType(fn: string, type: string): string {
    return this.#capped(this.#errorTypes, fn, type);
  }

  // Versions likewise: a function deployed a thousand times keeps 20 series, not a thousand.
  readonly #versionsSeen = new Map<string, Set<string>>();

  /** `value` while fewer than ERROR_TYPES_PER_FUNCTION values were seen for `fn` (or it is one of them), else "other". */
  #capped(seenBy: Map<string, Set<string>>, fn: string, value: string): string {
    let seen = seenBy.get(fn);
    if (!seen) seenBy.set(fn, (seen = new Set()));
    if (seen.has(value)) return value;
    if (seen.size >= ERROR_TYPES_PER_FUNCTION) return 'other';
    seen.add(value);
    return value;
  }

  /** One gateway answer; `route` is the matched template or "unmatched". */
  http(route: string, status: number): void {
    const statusClass = `${Math.floor(status / 100)}xx`;
    this.#child(`h\0${route}\0${statusClass}`, () => this.#http.labels({ route, status_class: statusClass })).inc();
  }

  busEvents(matched: number, unmatched: number, failed: number, deliveries: Record<string, { written: number; missing: number } | undefined> = {}): void {
    if (matched) this.#bus.inc({ result: 'matched' }, matched);
    if (unmatched) this.#bus.inc({ result: 'unmatched' }, unmatched);
    if (failed) this.#bus.inc({ result: 'failed' }, failed);
    for (const [target, n] of Object.entries(deliveries)) {
      if (n?.written) this.#busDeliveries.inc({ target, result: 'written' }, n.written);
      if (n?.missing) this.#busDeliveries.inc({ target, result: 'target_missing' }, n.missing);
    }
  }

  scheduleTick(schedule: string, lagMs: number | undefined): void {
    this.#scheduleTicks.inc({ schedule, result: lagMs === undefined ? 'skipped' : 'fired' });
    if (lagMs !== undefined) this.#scheduleLag.observe({ schedule }, Math.max(0, lagMs) / 1000);
  }

  webhook(endpoint: string, result: 'delivered' | 'retried' | 'failed'): void {
    this.#webhooks.inc({ endpoint, result });
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
