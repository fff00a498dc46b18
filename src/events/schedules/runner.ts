// Runs the deployed schedules: one timer for the earliest next tick; at a tick, each due schedule
// is fired through the store's compare-and-set (fireSchedule), which moves its next tick and writes
// the delivery — an async event for a function, a message for a queue, a workflow's start — in one transaction. So a
// tick fires exactly once, across restarts and (in cluster mode) across nodes: whoever moves the
// next tick first fires it. Ticks missed while the server was down fire once, as the latest missed
// one, at start (catchUp, the default), or are skipped.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../observability/logger.ts';
import type { Delivery, ScheduleRecord, Store } from '../../store/types.ts';
import type { Clock, Timer } from '../../util/clock.ts';
import { parseSchedule, type Schedule } from './expression.ts';

/** A tick fired within this long of its time is on time; later, it was missed (the server was down). */
const ON_TIME_MS = 60_000;
/** The runner looks at the store at least this often, whatever the next tick is. */
const MAX_SLEEP_MS = 60_000;

export interface RunnerDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** A delivery put a message in a queue, or an async event for a function: wake its consumer. */
  onDelivered: (d: Delivery) => void;
}

/** EventBridge's Scheduled Event for one tick of a schedule. */
export function scheduledEvent(name: string, tickMs: number): Record<string, unknown> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: new Date(tickMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'local',
    resources: [`arn:aws:events:local:000000000000:rule/${name}`],
    detail: {},
  };
}

export class ScheduleRunner {
  readonly #deps: RunnerDeps;
  #timer: Timer | undefined;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(deps: RunnerDeps) {
    this.#deps = deps;
  }

  static parse(r: Pick<ScheduleRecord, 'expression' | 'timezone' | 'anchorMs'>): Schedule {
    return parseSchedule(r.expression, { timezone: r.timezone, anchorMs: r.anchorMs });
  }

  /** After a deploy (and at start): computes next ticks that are unknown, then fires what is due. */
  sync(): Promise<void> {
    return this.#serial(async () => {
      const { store, clock } = this.#deps;
      for (const r of await store.listSchedules()) {
        if (!r.enabled || r.nextAt !== null) continue;
        // New, changed or re-enabled: a rate() counts from now; at() in the past has no next tick.
        const now = clock.now();
        const next = ScheduleRunner.parse({ ...r, anchorMs: now }).next(now);
        if (next !== undefined) await store.setScheduleNext(r.name, next, now);
      }
      await this.#fireDue();
    });
  }

  /** Runs one pass at a time: a timer and a deploy cannot fire the same tick twice on this node. */
  #serial(fn: () => Promise<void>): Promise<void> {
    const run = this.#running.then(fn).catch((err: unknown) => {
      if (!this.#stopped) this.#deps.logger.error({ err }, 'schedule runner failed; it looks again within a minute');
    }).finally(() => this.#arm());
    this.#running = run;
    return run;
  }

  /** Sees each tick this node took: how late it fired (ms), or undefined for missed ticks skipped (the metrics). */
  onFired: ((schedule: string, lagMs: number | undefined) => void) | undefined;

  async #fireDue(): Promise<void> {
    const { store, clock, logger } = this.#deps;
    const now = clock.now();
    for (const r of await store.listSchedules()) {
      if (!r.enabled || r.nextAt === null || r.nextAt > now) continue;
      const schedule = ScheduleRunner.parse(r);
      const latest = schedule.previous(now) ?? r.nextAt;
      const next = schedule.next(now) ?? null;
      const missed = now - latest > ON_TIME_MS;
      const delivery = !missed || r.catchUp ? this.#delivery(r, latest) : undefined;
      const fired = await store.fireSchedule(r.name, r.nextAt, next, latest, delivery);
      if (!fired) continue;
      this.onFired?.(r.name, delivery ? now - latest : undefined);
      if (delivery) {
        this.#deps.onDelivered(delivery);
        if (missed) logger.info({ schedule: r.name, tick: new Date(latest).toISOString() }, 'fired the latest tick missed while the server was down');
      } else {
        logger.info({ schedule: r.name, tick: new Date(latest).toISOString() }, 'skipped ticks missed while the server was down (catchUp: false)');
      }
    }
  }

  #delivery(r: ScheduleRecord, tickMs: number): Delivery {
    const body = r.input ?? JSON.stringify(scheduledEvent(r.name, tickMs));
    // A workflow's execution is named by the request id, written with the tick: the tick starts it once.
    return r.target.kind === 'queue' ? { to: r.target, body } : { to: r.target, body, requestId: randomUUID() };
  }

  #arm(): void {
    this.#timer?.cancel();
    if (this.#stopped) return;
    void this.#deps.store.listSchedules().then((all) => {
      if (this.#stopped) return;
      const now = this.#deps.clock.now();
      const next = Math.min(...all.filter((r) => r.enabled && r.nextAt !== null).map((r) => r.nextAt!), now + MAX_SLEEP_MS);
      this.#timer?.cancel();
      this.#timer = this.#deps.clock.setTimeout(() => void this.#serial(() => this.#fireDue()), Math.max(0, next - now));
    }, () => undefined);
  }

  /** The next ticks, for listings. */
  async describe(): Promise<(ScheduleRecord & { description: string })[]> {
    return (await this.#deps.store.listSchedules()).map((r) => ({ ...r, description: ScheduleRunner.parse(r).describe() }));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#running;
  }
}
