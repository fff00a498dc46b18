// Test fixtures for object storage (imported by tests only): a StorageService over a real SQLite
// store and a real disk blob store in a temp dir, with an app that declares buckets and triggers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../observability/logger.ts';
import { SqliteStore } from '../../store/sqlite/index.ts';
import type { Delivery, DesiredApp, DesiredFunction, StorageTriggerRecord } from '../../store/types.ts';
import { ManualClock } from '../../util/clock.ts';
import { StorageService } from './service.ts';
import { desiredApp } from '../../store/desired.ts';

export const fnSpec = (name: string): DesiredFunction => ({
  name, handler: `src/${name}.handler`, exportName: 'handler', memoryMb: 128, timeoutMs: 3000, environment: {}, concurrencyMax: 10, queueTimeoutMs: 1000,
  provisioned: 0, perInstance: 1, async: { retries: 2, maxEventAgeMs: 21_600_000 }, secrets: [],
  permissions: { buckets: {}, tables: {}, queues: {}, topics: {}, functions: {}, bus: [] }, codeSha: 'a'.repeat(64),
});

export function appWith(buckets: string[], triggers: Omit<StorageTriggerRecord, 'app'>[] = [], fns = ['on-upload']): DesiredApp {
  return desiredApp('files', { specHash: String(Math.random()), functions: fns.map(fnSpec), buckets: buckets.map((name) => ({ name })), storageTriggers: triggers });
}

export interface Fixture {
  dir: string;
  store: SqliteStore;
  clock: ManualClock;
  svc: StorageService;
  delivered: Delivery[];
  close(): Promise<void>;
}

export async function storageFixture(buckets = ['photos', 'archive'], triggers: Omit<StorageTriggerRecord, 'app'>[] = [], opts: { fsync?: boolean } = {}): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-storage-'));
  const store = new SqliteStore(join(dir, 'nimbus.db'));
  await store.applyApp(appWith(buckets, triggers, [...new Set(['on-upload', ...triggers.map((t) => t.fn)])]), 1);
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 12));
  const delivered: Delivery[] = [];
  const svc = new StorageService({
    store, dataDir: dir, clock, logger: silentLogger, onDelivered: (d) => delivered.push(d), presignSecret: 'test-secret', fsync: opts.fsync ?? false, baseUrl: () => 'http://nimbus.test',
  });
  await svc.start();
  return {
    dir, store, clock, svc, delivered,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
