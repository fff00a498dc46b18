// Metering: usage per function per hour (requests, GB-seconds on demand and on provisioned
// instances, provisioned GB-seconds, init time), and cost estimates from a price table. Invocations
// add their share as their records are written (store.appendRecords); provisioned concurrency is
// metered here by time, as Lambda bills it, from the records `functions` gives: one per version that
// holds provisioned instances, with its count (the server passes the registry's `provisioned`).
import type { Prices } from '../config/prices.ts';
import { NimbusError } from '../errors.ts';
import type { Logger } from './logger.ts';
import type { FunctionRecord, Store, UsageRow } from '../store/types.ts';
import type { Clock } from '../util/clock.ts';

const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
/** How often provisioned time is added up (and at shutdown). */
const SAMPLE_EVERY_MS = 60_000;
const MB_MS_PER_GB_S = 1024 * 1000;

export type UsageGrouping = 'function' | 'day' | 'hour';

export interface UsageLine {
  /** The function, the day (YYYY-MM-DD, UTC) or the hour (ISO time), by grouping. */
  key: string;
  requests: number;
  errors: number;
  throttles: number;
  coldStarts: number;
  gbSeconds: number;
  provisionedDurationGbSeconds: number;
  provisionedGbSeconds: number;
  initSeconds: number;
  cost: number;
}

export interface UsageReport {
  since: string;
  until: string;
  by: UsageGrouping;
  prices: Prices;
  lines: UsageLine[];
  total: Omit<UsageLine, 'key'>;
}

export class Metering {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #functions: () => Map<string, FunctionRecord>;
  readonly #timer: NodeJS.Timeout;
  #last: number;

  constructor(deps: { store: Store; clock: Clock; logger: Logger; functions: () => Map<string, FunctionRecord> }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#functions = deps.functions;
    this.#last = deps.clock.now();
    this.#timer = setInterval(() => void this.sample(), SAMPLE_EVERY_MS);
    this.#timer.unref();
  }

  /** Adds the provisioned time since the last sample, split at hour boundaries. */
  async sample(now = this.#clock.now()): Promise<void> {
    const from = this.#last;
    this.#last = now;
    if (now <= from) return;
    const rows: UsageRow[] = [];
    for (const fn of this.#functions().values()) {
      if (fn.provisioned <= 0) continue;
      for (let t = from; t < now;) {
        const hour = Math.floor(t / HOUR_MS) * HOUR_MS;
        const end = Math.min(now, hour + HOUR_MS);
        rows.push({ fn: fn.name, hour, requests: 0, errors: 0, throttles: 0, coldStarts: 0, billedMbMs: 0, provisionedBilledMbMs: 0, provisionedMbMs: fn.provisioned * fn.memoryMb * (end - t), initMs: 0 });
        t = end;
      }
    }
    try {
      await this.#store.addUsage(rows);
    } catch (err) {
      this.#logger.error({ err }, 'metering: could not record provisioned time');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.sample();
  }

  /** Usage and cost over [sinceMs, untilMs), grouped by function, day or hour; `fn` narrows it to one function. */
  async report(q: { sinceMs: number; untilMs?: number; by?: UsageGrouping; fn?: string }, prices: Prices): Promise<UsageReport> {
    const by = q.by ?? 'function';
    if (!['function', 'day', 'hour'].includes(by)) throw new NimbusError('BAD_REQUEST', `by: must be function, day or hour, got "${String(by)}"`);
    const untilMs = q.untilMs ?? this.#clock.now();
    // Usage is kept per hour: the report starts at the hour `since` falls in, and says so.
    const sinceMs = Math.floor(q.sinceMs / HOUR_MS) * HOUR_MS;
    const rows = await this.#store.queryUsage({ sinceMs, untilMs, fn: q.fn });
    const keyOf = (r: UsageRow): string => by === 'function' ? r.fn : by === 'day' ? new Date(Math.floor(r.hour / DAY_MS) * DAY_MS).toISOString().slice(0, 10) : new Date(r.hour).toISOString();
    const groups = new Map<string, UsageRow[]>();
    for (const r of rows) {
      const k = keyOf(r);
      (groups.get(k) ?? groups.set(k, []).get(k)!).push(r);
    }
    const lines = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, rs]) => ({ key, ...sum(rs, prices) }));
    return { since: new Date(sinceMs).toISOString(), until: new Date(untilMs).toISOString(), by, prices, lines, total: sum(rows, prices) };
  }
}

function sum(rows: UsageRow[], prices: Prices): Omit<UsageLine, 'key'> {
  const t = { requests: 0, errors: 0, throttles: 0, coldStarts: 0, billedMbMs: 0, provisionedBilledMbMs: 0, provisionedMbMs: 0, initMs: 0 };
  for (const r of rows) {
    t.requests += r.requests; t.errors += r.errors; t.throttles += r.throttles; t.coldStarts += r.coldStarts;
    t.billedMbMs += r.billedMbMs; t.provisionedBilledMbMs += r.provisionedBilledMbMs; t.provisionedMbMs += r.provisionedMbMs; t.initMs += r.initMs;
  }
  const gbSeconds = t.billedMbMs / MB_MS_PER_GB_S;
  const provisionedDurationGbSeconds = t.provisionedBilledMbMs / MB_MS_PER_GB_S;
  const provisionedGbSeconds = t.provisionedMbMs / MB_MS_PER_GB_S;
  const cost = t.requests / 1e6 * prices.requestsPerMillion + gbSeconds * prices.gbSecond
    + provisionedDurationGbSeconds * prices.provisionedDurationGbSecond + provisionedGbSeconds * prices.provisionedGbSecond;
  return {
    requests: t.requests, errors: t.errors, throttles: t.throttles, coldStarts: t.coldStarts,
    gbSeconds, provisionedDurationGbSeconds, provisionedGbSeconds, initSeconds: t.initMs / 1000, cost,
  };
}
