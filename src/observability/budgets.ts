// Budgets: each minute, month-to-date cost per function and per app (from the metering's hourly
// usage and the price table) against the budgets deployed with the manifests. A budget crossing one
// of its alert percentages logs a warning and puts a `nimbus.budgets` event on the bus, once per
// budget, month and percentage — the store keeps which alerts were raised, so a restart, a redeploy
// or a second node never repeats one.
import type { Prices } from '../config/prices.ts';
import type { BudgetAlert, BudgetRecord, Store } from '../store/types.ts';
import type { Clock, Timer } from '../util/clock.ts';
import type { Logger } from './logger.ts';
import type { Metering } from './usage.ts';
import { Serial } from '../util/serial.ts';

const CHECK_EVERY_MS = 60_000;
export const BUDGET_EVENT_SOURCE = 'nimbus.budgets';
export const BUDGET_EVENT_DETAIL_TYPE = 'Budget Threshold Crossed';

export interface BudgetStatus extends BudgetRecord {
  month: string;
  /** Month-to-date cost of the function, or of every function of the app. */
  cost: number;
  currency: string;
  /** Cost as a percentage of the monthly budget. */
  percent: number;
  /** Alerts raised this month (percentages). */
  raised: number[];
}

export interface BudgetDeps {
  store: Store;
  metering: Metering;
  prices: Prices;
  clock: Clock;
  logger: Logger;
  /** Each app's functions, to add up an app's cost. */
  appFunctions: () => Map<string, string[]>;
  /** Puts the platform event on the bus. */
  emit: (detail: Record<string, unknown>) => Promise<unknown>;
}

/** `YYYY-MM` and the first instant of the UTC month `ms` falls in. */
export function monthOf(ms: number): { month: string; startMs: number } {
  const d = new Date(ms);
  return { month: d.toISOString().slice(0, 7), startMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) };
}

export class BudgetWatcher {
  readonly #deps: BudgetDeps;
  #timer: Timer | undefined;
  #closed = false;
  readonly #serial = new Serial();

  constructor(deps: BudgetDeps) {
    this.#deps = deps;
    const loop = (): void => {
      if (this.#closed) return;
      this.#timer = deps.clock.setTimeout(() => void this.check().catch((err: unknown) => deps.logger.error({ err }, 'budgets: a check failed')).finally(loop), CHECK_EVERY_MS);
    };
    loop();
  }

  /** Every budget's month-to-date position (what `GET /_nimbus/api/budgets` shows). */
  async status(now = this.#deps.clock.now()): Promise<BudgetStatus[]> {
    const { month, startMs } = monthOf(now);
    const [budgets, report, alerts] = await Promise.all([
      this.#deps.store.listBudgets(),
      this.#deps.metering.report({ sinceMs: startMs, untilMs: now + 1, by: 'function' }, this.#deps.prices),
      this.#deps.store.listBudgetAlerts(month),
    ]);
    const costOf = new Map(report.lines.map((l) => [l.key, l.cost]));
    const apps = this.#deps.appFunctions();
    return budgets.map((b) => {
      const fns = b.fn === null ? apps.get(b.app) ?? [] : [b.fn];
      const cost = fns.reduce((sum, fn) => sum + (costOf.get(fn) ?? 0), 0);
      const raised = alerts.filter((a) => a.app === b.app && a.fn === b.fn).map((a) => a.percent);
      return { ...b, month, cost, currency: this.#deps.prices.currency, percent: (cost / b.monthly) * 100, raised };
    });
  }

  /** Raises the alerts budgets have crossed since the last check (one at a time: a call during a check runs after it). */
  check(now?: number): Promise<void> {
    return this.#serial.run(() => this.#check(now ?? this.#deps.clock.now()));
  }

  async #check(now: number): Promise<void> {
    let statuses: BudgetStatus[];
    try {
      statuses = await this.status(now);
    } catch (err) {
      this.#deps.logger.error({ err }, 'budgets: could not read usage');
      return;
    }
    for (const s of statuses) {
      for (const percent of s.alerts) {
        if (s.percent < percent || s.raised.includes(percent)) continue;
        const alert: BudgetAlert = { app: s.app, fn: s.fn, month: s.month, percent, cost: s.cost, at: now };
        let claimed = false;
        try {
          claimed = await this.#deps.store.claimBudgetAlert(alert);
          if (!claimed) continue;
          const scope = s.fn === null ? `app ${s.app}` : `function ${s.fn}`;
          this.#deps.logger.warn({ app: s.app, fn: s.fn ?? undefined, month: s.month, percent, cost: s.cost, monthly: s.monthly, currency: s.currency },
            `budget: ${scope} has used ${s.percent.toFixed(1)}% of its monthly ${s.monthly} ${s.currency} (alert at ${percent}%)`);
          await this.#deps.emit({
            app: s.app, function: s.fn, month: s.month, budget: s.monthly, currency: s.currency, alertPercent: percent,
            alertThreshold: (s.monthly * percent) / 100, cost: round(s.cost), percentUsed: round(s.percent),
          });
        } catch (err) {
          this.#deps.logger.error({ err, app: s.app, fn: s.fn }, 'budgets: could not raise an alert; the next check tries again');
          // Unclaimed, the next check raises it: better late than lost.
          if (claimed) await this.#deps.store.releaseBudgetAlert(alert).catch(() => undefined);
        }
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    await this.#serial.idle();
  }
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
