// The stream runner against the real embedded store and a recording invoker: per-key order under
// interleaved concurrent writes, checkpoints, batchItemFailures, retries then skip, idle sleep.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import type { InvokeRequest, InvokeResult } from '../../invoker/index.ts';
import { silentLogger } from '../../observability/logger.ts';
import { SqliteStore } from '../../store/sqlite/index.ts';
import type { FunctionRecord, TableTriggerRecord } from '../../store/types.ts';
import { systemClock } from '../../util/clock.ts';
import { KvService } from './service.ts';
import type { KvStreamRecord } from './stream.ts';
import { TableTriggers } from './triggers.ts';
import { desiredApp } from '../../store/desired.ts';

type Handler = (records: KvStreamRecord[]) => unknown;

async function setup(trigger: Partial<TableTriggerRecord>, handler: Handler) {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-kvtrig-'));
  const store = new SqliteStore(join(dir, 'nimbus.db'));
  const t = { fn: 'f', table: 't', batchSize: 7, batchWindowMs: 0, startingPosition: 'trim_horizon' as const, maxRetries: -1, ...trigger };
  await store.applyApp(desiredApp('a', {
    specHash: 'x',
    tables: [{ name: 't', partitionKey: 'id', sortKey: null, ttlAttribute: null }], tableTriggers: [t],
    functions: [{ name: 'f', handler: 'src/f.handler', exportName: 'handler', memoryMb: 128, timeoutMs: 3000, environment: {}, concurrencyMax: 1, queueTimeoutMs: 1000, provisioned: 0, perInstance: 1, async: { retries: 0, maxEventAgeMs: 3600_000 }, secrets: [], permissions: { buckets: {}, tables: {}, queues: {}, topics: {}, functions: {}, bus: [] }, codeSha: 'c' }],
  }), Date.now());
  const fn = (await store.getFunction('f'))!;
  const svc = new KvService(store.kv, systemClock, silentLogger, { sweepEveryMs: 0 });
  let reads = 0;
  const readStream = store.kv.readStream.bind(store.kv);
  store.kv.readStream = (...a) => { reads++; return readStream(...a); };
  const batches: KvStreamRecord[][] = [];
  const invoker = {
    async invoke(req: InvokeRequest): Promise<InvokeResult> {
      const { Records } = req.prepare('lambda').payload as { Records: KvStreamRecord[] };
      batches.push(Records);
      let out: unknown;
      let outcome: InvokeResult['outcome'] = 'success';
      try { out = await handler(Records); } catch { outcome = 'error'; }
      return { requestId: req.requestId, style: 'lambda', outcome, json: out === undefined ? undefined : JSON.stringify(out), durationMs: 1, billedDurationMs: 1, initDurationMs: null, cold: false, maxMemoryUsedMb: 1, version: 1 };
    },
  };
  const triggers = new TableTriggers({ kv: svc, invoker, functions: () => new Map<string, FunctionRecord>([['f', fn]]), clock: systemClock, logger: silentLogger, retryBaseMs: 5 });
  triggers.sync(await store.kv.listTableTriggers());
  return {
    store, svc, batches, reads: () => reads,
    seen: () => batches.flat(),
    async until(pred: () => boolean, ms = 5000) {
      const end = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > end) throw new Error('timed out');
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    async close() { await triggers.stop(); svc.close(); await store.close(); rmSync(dir, { recursive: true, force: true }); },
  };
}

it('delivers each key\'s changes in commit order under many interleaved concurrent writes', async () => {
  const s = await setup({}, () => undefined);
  try {
    const keys = ['a', 'b', 'c', 'd', 'e'];
    const writes: Promise<unknown>[] = [];
    for (let n = 1; n <= 40; n++) {
      for (const id of keys) writes.push(n % 10 === 0 ? s.svc.increment('t', { id }, 'n', 1) : s.svc.put('t', { id, n }));
    }
    await Promise.all(writes);
    const total = keys.length * 40;
    await s.until(() => s.seen().length >= total);
    const seen = s.seen();
    assert.equal(seen.length, total);
    const seqs = seen.map((r) => r.dynamodb.SequenceNumber);
    assert.deepEqual(seqs, [...seqs].sort(), 'sequence numbers arrive in order');
    for (const id of keys) {
      const mine = seen.filter((r) => r.dynamodb.Keys.id === id);
      assert.equal(mine[0]!.eventName, 'INSERT');
      // Each record's old image is the previous record's new image: nothing reordered, nothing lost.
      for (let i = 1; i < mine.length; i++) assert.deepEqual(mine[i]!.dynamodb.OldImage, mine[i - 1]!.dynamodb.NewImage);
    }
    assert.ok(s.batches.every((b) => b.length <= 7));
    // The checkpoint moves once the last invocation has returned (right after the handler saw the batch).
    const last = Number(seqs.at(-1));
    for (let i = 0; i < 200 && (await s.store.kv.getCheckpoint('f', 't')) !== last; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(await s.store.kv.getCheckpoint('f', 't'), last);
  } finally { await s.close(); }
});

it('with batchItemFailures, resumes at the first failed record and does not repeat the ones before', async () => {
  let failOnce = true;
  const s = await setup({ batchSize: 10 }, (records) => {
    const i = records.findIndex((r) => r.dynamodb.NewImage?.id === 'k3');
    if (i >= 0 && failOnce) {
      failOnce = false;
      return { batchItemFailures: [{ itemIdentifier: records[i]!.dynamodb.SequenceNumber }] };
    }
    return { batchItemFailures: [] };
  });
  try {
    await s.svc.batchWrite('t', Array.from({ length: 6 }, (_, i) => ({ put: { id: `k${i}` } })));
    await s.until(() => s.batches.length >= 2);
    assert.deepEqual(s.batches.map((b) => b.map((r) => r.dynamodb.Keys.id)), [['k0', 'k1', 'k2', 'k3', 'k4', 'k5'], ['k3', 'k4', 'k5']]);
  } finally { await s.close(); }
});

it('retries a failing batch maxRetries times with backoff, then skips it and goes on', async () => {
  const s = await setup({ batchSize: 2, maxRetries: 2 }, (records) => {
    if (records.some((r) => r.dynamodb.NewImage?.poison)) throw new Error('cannot handle this');
  });
  try {
    await s.svc.put('t', { id: 'bad', poison: true });
    await s.until(() => s.batches.length >= 3);
    await s.svc.put('t', { id: 'good' });
    await s.until(() => s.seen().some((r) => r.dynamodb.Keys.id === 'good'));
    const ids = s.batches.map((b) => b.map((r) => r.dynamodb.Keys.id).join());
    assert.deepEqual(ids, ['bad', 'bad', 'bad', 'good']); // the first attempt and 2 retries
  } finally { await s.close(); }
});

it('an idle reader sleeps until a write to its table wakes it', async () => {
  const s = await setup({}, () => undefined);
  try {
    await s.until(() => s.reads() >= 1);
    await new Promise((r) => setTimeout(r, 300));
    const before = s.reads();
    assert.ok(before <= 2, `read the stream ${before} times while idle`);
    await s.svc.put('t', { id: 'x' });
    await s.until(() => s.seen().length === 1);
    assert.equal(s.seen()[0]!.eventName, 'INSERT');
  } finally { await s.close(); }
});
