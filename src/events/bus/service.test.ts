// The bus against the real embedded store: what a put hands each target kind, as the metrics see it,
// including a delivery whose target went away between the rules' load and the put.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { silentLogger } from '../../observability/logger.ts';
import { desiredApp } from '../../store/desired.ts';
import { SqliteStore } from '../../store/sqlite/index.ts';
import type { QueueRecord } from '../../store/types.ts';
import { systemClock } from '../../util/clock.ts';
import type { TopicService } from '../topics/service.ts';
import { EventBus } from './service.ts';

const queue = (name: string): QueueRecord => ({
  name, app: 'a', fifo: false, visibilityTimeoutMs: 30_000, retentionMs: 345_600_000, delayMs: 0, maxMessageBytes: 262_144, contentBasedDeduplication: false,
});

/** A bus over a real store holding one queue, "kept"; its puts' counts, as the metrics get them, in `seen`. */
async function withBus(test: (bus: EventBus, seen: unknown[], store: SqliteStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-bus-'));
  const store = new SqliteStore(join(dir, 'nimbus.db'));
  try {
    await store.applyApp(desiredApp('a', { specHash: 'x', queues: [queue('kept')] }), Date.now());
    // No topic targets here: the topic service is never asked.
    const bus = new EventBus({ store, topics: undefined as unknown as TopicService, clock: systemClock, logger: silentLogger, onDelivered: () => undefined });
    const seen: unknown[] = [];
    bus.onPut = (...counts) => { seen.push(counts); };
    await test(bus, seen, store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

it('counts, by target kind, the deliveries written and those whose target no longer exists', () => withBus(async (bus, seen, store) => {
  // Rules loaded before "gone" was removed: the put still matches its target.
  bus.load([{ app: 'a', name: 'r', pattern: '{"source":["shop"]}', enabled: true, targets: [
    { kind: 'queue', name: 'kept', input: null }, { kind: 'queue', name: 'gone', input: null }, { kind: 'queue', name: 'kept', input: { inputPath: '$.detail' } },
  ] }], []);
  const out = await bus.put([{ source: 'shop', detailType: 'X' }, { source: 'else', detailType: 'Y' }, { source: 'aws.no', detailType: 'Z' }]);
  assert.equal(out.failedEntryCount, 1);
  assert.deepEqual(seen, [[1, 1, 1, { queue: { written: 2, missing: 1 } }]]);
  assert.equal((await store.queueStats('kept', Date.now())).visible, 2);
}));

it('a rule whose target input does not compile matches nothing, rather than counting matches it cannot deliver', () => withBus(async (bus, seen) => {
  bus.load([{ app: 'a', name: 'bad', pattern: '{"source":["shop"]}', enabled: true, targets: [{ kind: 'queue', name: 'kept', input: { inputPath: 'not a path' } }] }], []);
  await bus.put([{ source: 'shop', detailType: 'X' }]);
  assert.deepEqual(seen, [[0, 1, 0, {}]]);
}));
