// Budgets in the embedded store: each app's monthly cost thresholds (replaced by every deploy) and
// the alerts they raised, one row per budget, month and percentage so an alert fires once — also
// across restarts, and across nodes sharing one database.
import type { BudgetAlert, BudgetRecord, DesiredApp } from '../types.ts';
import type { Row, Sql } from './sql.ts';

export class SqliteBudgets {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /**
   * Inside applyApp's transaction: the app's budgets become the manifest's. A budget whose amount
   * changed starts its month over: the alerts it raised this month were for another amount.
   */
  apply(desired: DesiredApp, now: number): void {
    const month = new Date(now).toISOString().slice(0, 7);
    const before = new Map(this.#sql.all('SELECT fn, monthly FROM budgets WHERE app = ?', desired.name).map((r) => [String(r.fn), Number(r.monthly)]));
    for (const b of desired.budgets) {
      const old = before.get(b.fn ?? '');
      if (old !== undefined && old !== b.monthly) this.#sql.run('DELETE FROM budget_alerts WHERE app = ? AND fn = ? AND month = ?', desired.name, b.fn ?? '', month);
    }
    this.#sql.run('DELETE FROM budgets WHERE app = ?', desired.name);
    for (const b of desired.budgets) {
      this.#sql.run('INSERT INTO budgets(app, fn, monthly, alerts) VALUES (?, ?, ?, ?)', desired.name, b.fn ?? '', b.monthly, JSON.stringify(b.alerts));
    }
  }

  list(): BudgetRecord[] {
    return this.#sql.all('SELECT * FROM budgets ORDER BY app, fn').map((r) => ({
      app: String(r.app), fn: r.fn === '' ? null : String(r.fn), monthly: Number(r.monthly), alerts: JSON.parse(String(r.alerts)) as number[],
    }));
  }

  claimAlert(a: BudgetAlert): boolean {
    return this.#sql.run('INSERT INTO budget_alerts(app, fn, month, percent, cost, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      a.app, a.fn ?? '', a.month, a.percent, a.cost, a.at) > 0;
  }

  releaseAlert(a: BudgetAlert): void {
    this.#sql.run('DELETE FROM budget_alerts WHERE app = ? AND fn = ? AND month = ? AND percent = ?', a.app, a.fn ?? '', a.month, a.percent);
  }

  alerts(month: string): BudgetAlert[] {
    return this.#sql.all('SELECT * FROM budget_alerts WHERE month = ? ORDER BY at, app, fn, percent', month).map((r: Row) => ({
      app: String(r.app), fn: r.fn === '' ? null : String(r.fn), month: String(r.month), percent: Number(r.percent), cost: Number(r.cost), at: Number(r.at),
    }));
  }
}
