// The record writer's retention: logs and invocation records kept to their caps without holding the
// server still, one prune at a time, and a prune in progress stopped at close.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { SqliteStore } from '../store/sqlite/index.ts';
import { silentLogger } from './logger.ts';
import { RecordWriter } from './records.ts';

it('keeps logs to their cap in steps that let requests in, runs one prune at a time, and stops one at close', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-records-'));
  const store = new SqliteStore(join(dir, 'nimbus.db'));
  try {
    const writer = new RecordWriter(store, silentLogger, { maxRows: 500, maxAgeMs: 3_600_000 });
    const write = async (n: number) => {
      for (let i = 0; i < n; i++) writer.log({ ts: Date.now(), fn: 'f', requestId: `r${i}`, level: 'INFO', message: `line ${i}` });
      await writer.flush();
    };
    await write(10_000);
    // What a request needs of the event loop comes between the steps.
    let answered = false;
    setImmediate(() => { answered = true; });
    const first = writer.prune();
    assert.equal(writer.prune(), first, 'a prune asked for while one runs joins it');
    assert.equal(answered, false);
    assert.equal(await first, 9_500);
    assert.equal(answered, true, 'the event loop had turns while 9,500 lines were deleted');
    assert.equal((await store.queryLogs({ limit: 10_000 })).length, 500);
    assert.deepEqual((await store.queryLogs({ limit: 1 })).map((l) => l.message), ['line 9999']);
    // At close a prune in progress stops between two steps; the next start's prune does the rest.
    await write(10_000);
    const pruning = writer.prune();
    await writer.close();
    const went = await pruning;
    assert.ok(went > 0 && went < 10_000, `${went} lines pruned before close stopped it`);
    assert.equal((await store.queryLogs({ limit: 20_000 })).length, 10_500 - went);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
