// Metering without a server: provisioned time split at hour boundaries, reports grouped three ways,
// costs from the price table, and price files.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { DEFAULT_PRICES, loadPrices } from '../config/prices.ts';
import { SqliteStore } from '../store/sqlite/index.ts';
import type { FunctionRecord } from '../store/types.ts';
import { ManualClock } from '../util/clock.ts';
import { silentLogger } from './logger.ts';
import { Metering } from './usage.ts';

const H = 3_600_000;

it('meters provisioned concurrency by time, split at hours, and prices it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-usage-'));
  const store = new SqliteStore(join(dir, 'nimbus.db'));
  const clock = new ManualClock(Date.UTC(2026, 10, 25, 10, 59, 30));
  const fns = new Map([['warm', { name: 'warm', provisioned: 2, memoryMb: 512 } as FunctionRecord], ['cold', { name: 'cold', provisioned: 0, memoryMb: 128 } as FunctionRecord]]);
  const m = new Metering({ store, clock, logger: silentLogger, functions: () => fns });
  try {
    clock.advance(60_000);
    await m.sample();
    const rows = await store.queryUsage({ sinceMs: 0 });
    assert.deepEqual(rows.map((r) => [r.fn, new Date(r.hour).toISOString(), r.provisionedMbMs]), [
      ['warm', '2026-11-25T10:00:00.000Z', 2 * 512 * 30_000],
      ['warm', '2026-11-25T11:00:00.000Z', 2 * 512 * 30_000],
    ]);
    const byHour = await m.report({ sinceMs: Date.UTC(2026, 10, 25), by: 'hour' }, DEFAULT_PRICES);
    assert.deepEqual(byHour.lines.map((l) => [l.key, l.provisionedGbSeconds]), [['2026-11-25T10:00:00.000Z', 30], ['2026-11-25T11:00:00.000Z', 30]]);
    const total = byHour.total;
    assert.equal(total.provisionedGbSeconds, 60);
    assert.ok(Math.abs(total.cost - 60 * DEFAULT_PRICES.provisionedGbSecond) < 1e-12);
    const byDay = await m.report({ sinceMs: Date.UTC(2026, 10, 25), by: 'day' }, DEFAULT_PRICES);
    assert.deepEqual(byDay.lines.map((l) => l.key), ['2026-11-25']);
    await assert.rejects(m.report({ sinceMs: 0, by: 'week' as 'day' }, DEFAULT_PRICES), /by: must be function, day or hour/);
  } finally {
    await m.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

it('loads a price table, keeping the defaults it leaves out, and refuses a bad one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-prices-'));
  try {
    writeFileSync(join(dir, 'arm.json'), JSON.stringify({ gbSecond: 0.0000133334, source: 'AWS Lambda Arm' }));
    assert.deepEqual(loadPrices(join(dir, 'arm.json')), { ...DEFAULT_PRICES, gbSecond: 0.0000133334, source: 'AWS Lambda Arm' });
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ gbSecond: -1, perRequest: 1 }));
    assert.throws(() => loadPrices(join(dir, 'bad.json')), /--prices .*bad\.json: .*gbSecond: must not be negative|unrecognized/);
    assert.throws(() => loadPrices(join(dir, 'none.json')), /no such file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
