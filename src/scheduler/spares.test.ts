// The spare pool's reporting: a spare that fails to boot is logged, unless the pool is closing.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../observability/logger.ts';
import type { Instance } from '../sandbox/instance.ts';
import { systemClock } from '../util/clock.ts';
import { SparePool } from './spares.ts';

function poolWithFailingBoot(): { pool: SparePool; fail: () => Promise<void>; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', destination: new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }) });
  let reject: (err: Error) => void = () => {};
  const booting = new Promise<Instance>((_ok, no) => { reject = no; });
  const pool = new SparePool({ min: 1, max: 1, defaultMemoryMb: 128, windowMs: 60_000, clock: systemClock, logger, boot: () => booting, startIdle: () => true });
  pool.start();
  // The rejection's handlers run a few turns later.
  const fail = async () => { reject(new Error('the runtime did not start')); await new Promise((r) => setImmediate(r)); };
  return { pool, fail, lines };
}

describe('spare pool', () => {
  it('logs a spare that could not boot', async () => {
    const { pool, fail, lines } = poolWithFailingBoot();
    await fail();
    await pool.close();
    assert.equal(lines.filter((l) => l.includes('could not boot a spare runtime')).length, 1, lines.join(''));
  });

  it('says nothing of a boot that fails because the pool is closing (the server is shutting down)', async () => {
    const { pool, fail, lines } = poolWithFailingBoot();
    await pool.close();
    await fail();
    assert.deepEqual(lines.filter((l) => l.includes('could not boot')), []);
  });
});
