// GET /_nimbus/api/budgets: every budget's month-to-date cost and the alerts it raised (docs/metering.md).
import type { ApiRoute } from '../control/route.ts';
import { sendJson } from '../util/http.ts';
import type { BudgetWatcher } from './budgets.ts';

/** `flush` writes the invocation records still buffered: the costs count every invocation that has answered. */
export function budgetRoutes(budgets: BudgetWatcher, flush: () => Promise<void>): ApiRoute[] {
  return [{
    method: 'GET', path: '/_nimbus/api/budgets',
    handler: async (req, res) => {
      req.resume();
      await flush();
      sendJson(res, 200, { budgets: await budgets.status() });
    },
    openapi: {
      summary: 'Budgets: each app or function budget with its month-to-date cost, the percentage used and the alerts raised this month (UTC)',
      responses: { 200: { description: '{ budgets: [{ app, fn, monthly, alerts, month, cost, currency, percent, raised }] }', content: { 'application/json': { schema: { type: 'object' } } } } },
    },
  }];
}
