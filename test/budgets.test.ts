// Budgets end to end: a manifest's budget, real invocations metered, and the check raising the alert
// as a `nimbus.budgets` event that a rule delivers to a queue; the API and `nimbus budgets` show it;
// nobody else may put events with a `nimbus.` source; bad budgets are refused at deploy.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { cli, startWithApp, tempDir, type TestServer } from './helpers.ts';

const MANIFEST = `app: costly
budget: { monthly: 1000 }
functions:
  work:
    handler: src/work.handler
    budget: { monthly: 0.000001, alerts: [100] }
queues:
  alerts: {}
rules:
  budget-alerts:
    pattern: { source: [nimbus.budgets], detail-type: [Budget Threshold Crossed] }
    targets:
      - queue: alerts
`;

describe('budgets', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startWithApp({ 'nimbus.yml': MANIFEST, 'src/work.ts': 'export const handler = async () => 1;' });
  });
  after(() => srv.close());

  it('puts one event on the bus when a function crosses its budget, and shows it in the API and the CLI', async () => {
    await srv.budgets.check();
    assert.deepEqual(await srv.take('alerts', 1, 300), [], 'no usage, no alert');
    // Ten requests cost 0.000002 USD (requests alone), twice the budget.
    for (let i = 0; i < 10; i++) assert.equal((await srv.invoke('work', {})).status, 200);
    for (let i = 0; i < 100; i++) {
      const { body } = await srv.api<{ total: { requests: number } }>('GET', '/_nimbus/api/usage?since=1h');
      if (body.total.requests === 10) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await srv.budgets.check();
    await srv.budgets.check();
    const got = await srv.take('alerts', 2, 500);
    assert.equal(got.length, 1, 'raised once');
    const event = JSON.parse(got[0]!.body) as { source: string; 'detail-type': string; detail: Record<string, unknown> };
    assert.equal(event.source, 'nimbus.budgets');
    assert.equal(event['detail-type'], 'Budget Threshold Crossed');
    const month = new Date().toISOString().slice(0, 7);
    assert.deepEqual({ ...event.detail, cost: undefined, percentUsed: undefined }, { app: 'costly', function: 'work', month, budget: 0.000001, currency: 'USD', alertPercent: 100, alertThreshold: 0.000001, cost: undefined, percentUsed: undefined });
    assert.ok((event.detail.cost as number) >= 0.000002 && (event.detail.percentUsed as number) >= 200, JSON.stringify(event.detail));

    const { status, body } = await srv.api<{ budgets: { app: string; fn: string | null; monthly: number; raised: number[]; percent: number }[] }>('GET', '/_nimbus/api/budgets');
    assert.equal(status, 200);
    assert.deepEqual(body.budgets.map((b) => [b.app, b.fn, b.monthly, b.raised]), [['costly', null, 1000, []], ['costly', 'work', 0.000001, [100]]]);

    const work = tempDir('nimbus-cli-budgets-');
    try {
      const r = await cli(srv, work)('budgets');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^APP\s+FUNCTION\s+MONTH\s+BUDGET\s+SPENT\s+USED\s+ALERTS AT\s+RAISED$/m);
      assert.match(r.stdout, new RegExp(`^costly\\s+work\\s+${month}\\s+\\$0\\.0000010\\s+\\$0\\.00000\\d+\\s+\\d+\\.\\d%\\s+100%\\s+100%$`, 'm'));
      assert.match(r.stdout, /^costly\s+\(whole app\)\s+\S+\s+\$1000\.00\s+\S+\s+0\.0%\s+100%\s+-$/m);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('refuses put-events with a nimbus. source', async () => {
    const r = await srv.api<{ failedEntryCount: number; entries: { errorCode?: string; errorMessage?: string }[] }>('POST', '/_nimbus/api/events', { entries: [{ source: 'nimbus.budgets', detailType: 'Budget Threshold Crossed', detail: {} }] });
    assert.equal(r.body.failedEntryCount, 1);
    assert.match(r.body.entries[0]!.errorMessage!, /sources beginning with "nimbus\." are reserved/);
  });

  it('refuses a bad budget at deploy, naming the key', async () => {
    for (const [budget, message] of [
      ['{ monthly: -5 }', /functions\.f\.budget\.monthly: must be more than 0, got number -5/],
      ['{ alerts: [80] }', /functions\.f\.budget\.monthly: is required: the monthly budget/],
      ['{ monthly: 5, alerts: [0.5] }', /functions\.f\.budget\.alerts\[0\]: must be a whole percentage/],
      ['{ monthly: 5, limit: 3 }', /functions\.f\.budget: unknown key "limit"; allowed keys: monthly, alerts/],
    ] as const) {
      await assert.rejects(srv.deploy({ 'nimbus.yml': `app: badbudget\nfunctions:\n  f:\n    handler: src/f.handler\n    budget: ${budget}\n`, 'src/f.ts': 'export const handler = async () => 1;' }),
        (err: Error & { code?: string }) => err.code === 'MANIFEST_INVALID' && message.test(err.message));
    }
  });
});
