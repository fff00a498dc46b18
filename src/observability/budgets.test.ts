// Budgets without a server: month-to-date cost per function and per app against each alert
// percentage, each alert raised once per month (also after a restart), again in the next month, and
// raised later — not lost — when its event could not be put.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import { DEFAULT_PRICES, type Prices } from '../config/prices.ts';
import { desiredApp } from '../store/desired.ts';
import { SqliteStore } from '../store/sqlite/index.ts';
import type { UsageRow } from '../store/types.ts';
import { ManualClock } from '../util/clock.ts';
import { BudgetWatcher, monthOf } from './budgets.ts';
import { createLogger, silentLogger } from './logger.ts';
import { Metering } from './usage.ts';

// One dollar per million requests, nothing else: costs are easy to read.
const PRICES: Prices = { ...DEFAULT_PRICES, requestsPerMillion: 1, gbSecond: 0, provisionedGbSecond: 0, provisionedDurationGbSecond: 0 };
const usage = (fn: string, hour: number, requests: number): UsageRow => ({ fn, hour, requests, errors: 0, throttles: 0, coldStarts: 0, billedMbMs: 0, provisionedBilledMbMs: 0, provisionedMbMs: 0, initMs: 0 });

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-budgets-'));
  const path = join(dir, 'nimbus.db');
  let store = new SqliteStore(path);
  const clock = new ManualClock(Date.UTC(2026, 10, 20, 12));
  await store.applyApp(desiredApp('shop', {
    specHash: 'x',
    budgets: [{ fn: null, monthly: 10, alerts: [100] }, { fn: 'api', monthly: 4, alerts: [50, 100] }],
  }), clock.now());
  const emitted: Record<string, unknown>[] = [];
  // What the watcher logs, a JSON line each.
  const logged: { level: number; msg: string; fn?: string; percent?: number }[] = [];
  const logger = createLogger({ level: 'info', destination: new Writable({ write(chunk, _enc, done) { logged.push(JSON.parse(String(chunk))); done(); } }) });
  let failEmit = false;
  const make = () => {
    const metering = new Metering({ store, clock, logger: silentLogger, functions: () => new Map() });
    return {
      metering,
      watcher: new BudgetWatcher({
        store, metering, prices: PRICES, clock, logger,
        appFunctions: () => new Map([['shop', ['api', 'worker']]]),
        emit: async (d) => { if (failEmit) throw new Error('bus down'); emitted.push(d); },
      }),
    };
  };
  let w = make();
  return {
    clock, emitted, logged, get store() { return store; }, get watcher() { return w.watcher; },
    failEmit(on: boolean) { failEmit = on; },
    async restart() { await w.watcher.close(); await w.metering.close(); await store.close(); store = new SqliteStore(path); w = make(); },
    async close() { await w.watcher.close(); await w.metering.close(); await store.close(); rmSync(dir, { recursive: true, force: true }); },
  };
}

const H = 3_600_000;

it('alerts once per budget and percentage as the month-to-date cost crosses it, for a function and for the whole app', async () => {
  const t = await setup();
  try {
    const hour = Math.floor(t.clock.now() / H) * H;
    await t.store.addUsage([usage('api', hour, 1_000_000)]); // $1 of $4: 25%
    await t.watcher.check();
    assert.equal(t.emitted.length, 0);
    await t.store.addUsage([usage('api', hour - 5 * 24 * H, 1_500_000)]); // earlier this month: $2.50, 62.5%
    await t.watcher.check();
    assert.equal(t.emitted.length, 1);
    assert.deepEqual(t.emitted[0], { app: 'shop', function: 'api', month: '2026-11', budget: 4, currency: 'USD', alertPercent: 50, alertThreshold: 2, cost: 2.5, percentUsed: 62.5 });
    // The crossing is logged as a warning too (pino's 40), saying what crossed what.
    assert.deepEqual(t.logged.map((l) => [l.level, l.fn, l.percent, l.msg]), [[40, 'api', 50, 'budget: function api has used 62.5% of its monthly 4 USD (alert at 50%)']]);
    await t.watcher.check();
    assert.equal(t.emitted.length, 1, 'an alert is raised once');
    // Last month's usage does not count.
    await t.store.addUsage([usage('worker', monthOf(t.clock.now()).startMs - H, 50_000_000)]);
    await t.watcher.check();
    assert.equal(t.emitted.length, 1);
    // The app's budget adds up its functions: $2.50 + $8 = $10.50 of $10; the function's is at $2.50.
    await t.store.addUsage([usage('worker', hour, 8_000_000)]);
    await t.watcher.check();
    assert.deepEqual(t.emitted.slice(1).map((e) => [e.function, e.alertPercent, e.cost]), [[null, 100, 10.5]]);
    const status = await t.watcher.status();
    assert.deepEqual(status.map((s) => [s.fn, s.cost, s.percent, s.raised]), [[null, 10.5, 105, [100]], ['api', 2.5, 62.5, [50]]]);
    // A restart (or another node) finds the alerts in the store.
    await t.restart();
    await t.watcher.check();
    assert.equal(t.emitted.length, 2);
    // A new month starts from zero and alerts again.
    t.clock.advance(12 * 24 * H);
    assert.equal(monthOf(t.clock.now()).month, '2026-12');
    await t.store.addUsage([usage('api', Math.floor(t.clock.now() / H) * H, 4_000_000)]);
    await t.watcher.check();
    assert.deepEqual(t.emitted.slice(2).map((e) => [e.month, e.function, e.alertPercent]), [['2026-12', 'api', 50], ['2026-12', 'api', 100]]);
  } finally {
    await t.close();
  }
});

it('raises an alert at the next check when its event could not be put', async () => {
  const t = await setup();
  try {
    await t.store.addUsage([usage('api', Math.floor(t.clock.now() / H) * H, 3_000_000)]);
    t.failEmit(true);
    await t.watcher.check();
    assert.equal(t.emitted.length, 0);
    assert.deepEqual((await t.watcher.status()).find((s) => s.fn === 'api')!.raised, []);
    t.failEmit(false);
    await t.watcher.check();
    assert.deepEqual(t.emitted.map((e) => e.alertPercent), [50]);
  } finally {
    await t.close();
  }
});

it('forgets an app\'s budgets when a deploy drops them', async () => {
  const t = await setup();
  try {
    await t.store.applyApp(desiredApp('shop', { specHash: 'y', budgets: [{ fn: 'worker', monthly: 1, alerts: [100] }] }), t.clock.now());
    assert.deepEqual((await t.store.listBudgets()).map((b) => [b.app, b.fn, b.monthly]), [['shop', 'worker', 1]]);
    await t.store.deleteApp('shop');
    assert.deepEqual(await t.store.listBudgets(), []);
  } finally {
    await t.close();
  }
});

it('starts a budget\'s month over when its amount changes', async () => {
  const t = await setup();
  try {
    await t.store.addUsage([usage('api', Math.floor(t.clock.now() / H) * H, 2_500_000)]); // $2.50 of $4
    await t.watcher.check();
    assert.deepEqual(t.emitted.map((e) => e.alertPercent), [50]);
    // Raised to $40: 50% of it is $20, which has not been reached; the 50% alert may fire again then.
    await t.store.applyApp(desiredApp('shop', { specHash: 'z', budgets: [{ fn: 'api', monthly: 40, alerts: [50, 100] }] }), t.clock.now());
    assert.deepEqual((await t.watcher.status()).find((s) => s.fn === 'api')!.raised, []);
    await t.store.addUsage([usage('api', Math.floor(t.clock.now() / H) * H, 18_000_000)]); // $20.50 of $40
    await t.watcher.check();
    assert.deepEqual(t.emitted.map((e) => [e.budget, e.alertPercent]), [[4, 50], [40, 50]]);
  } finally {
    await t.close();
  }
});
