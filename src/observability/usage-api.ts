// GET /_nimbus/api/usage: usage and cost per function, day or hour (docs/metering.md).
import type { Prices } from '../config/prices.ts';
import type { ApiRoute } from '../control/route.ts';
import { sinceToMs } from '../util/duration.ts';
import { sendJson } from '../util/http.ts';
import type { Metering, UsageGrouping } from './usage.ts';

const DAY_MS = 24 * 3600_000;

/** `flush` writes the invocation records still buffered: a report counts every invocation that has answered. */
export function usageRoutes(metering: Metering, prices: Prices, flush: () => Promise<void>): ApiRoute[] {
  return [{
    method: 'GET', path: '/_nimbus/api/usage',
    handler: async (req, res, _p, q) => {
      req.resume();
      const since = q.get('since');
      const fn = q.get('function') ?? undefined;
      await flush();
      const report = await metering.report({ sinceMs: since ? sinceToMs(since) : Date.now() - 30 * DAY_MS, by: (q.get('by') ?? 'function') as UsageGrouping, fn }, prices);
      sendJson(res, 200, report);
    },
    openapi: {
      summary: 'Usage and estimated cost: requests, errors, throttles, cold starts, GB-seconds (on demand, on provisioned instances, provisioned), init seconds — by function, day or hour',
      parameters: [
        { name: 'since', in: 'query', schema: { type: 'string' }, description: 'a duration back from now (30d, 12h) or an ISO time; default 30d' },
        { name: 'by', in: 'query', schema: { type: 'string', enum: ['function', 'day', 'hour'] }, description: 'grouping (default function)' },
        { name: 'function', in: 'query', schema: { type: 'string' }, description: 'only this function' },
      ],
      responses: { 200: { description: 'The report: since, until, by, prices, lines, total', content: { 'application/json': { schema: { type: 'object' } } } }, 400: { $ref: '#/components/responses/Error' } },
    },
  }];
}
