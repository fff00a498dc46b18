// An invocation handed an instance in the middle of its idle collection waits for the collection,
// and its clock (duration, billed duration, timeout) starts after it: the host's housekeeping is
// not billed to the function. The scheduler, records and instance are stand-ins: only what the
// invoker touches of them.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { silentLogger } from '../observability/logger.ts';
import type { RecordWriter } from '../observability/records.ts';
import { Tracing } from '../observability/tracing.ts';
import type { InvokeFrame, Instance } from '../sandbox/instance.ts';
import type { Scheduler } from '../scheduler/index.ts';
import type { FunctionRecord, InvocationRecord } from '../store/types.ts';
import { Invoker } from './index.ts';

it('starts the invocation, and its clock, once the instance has finished collecting', async () => {
  let collected!: () => void;
  let sentAt = 0;
  const inst = {
    style: 'lambda',
    initMs: 0,
    collecting: new Promise<void>((resolve) => { collected = resolve; }) as Promise<void> | undefined,
    invoke: async (_f: InvokeFrame) => { sentAt = performance.now(); return { ok: true as const, json: '"done"', maxRssBytes: 0 }; },
  };
  const records: InvocationRecord[] = [];
  const scheduler = { acquire: async () => ({ instance: inst as unknown as Instance, cold: false, provisioned: false, release: () => undefined }) } as unknown as Scheduler;
  const writer = { log: () => undefined, invocation: (r: InvocationRecord) => { records.push(r); } } as unknown as RecordWriter;
  const invoker = new Invoker(scheduler, writer, new Tracing({ logger: silentLogger, endpoint: '', tracesEndpoint: '' }));
  const fn = { name: 'f', revision: 1, memoryMb: 128, timeoutMs: 3000 } as FunctionRecord;

  const t0 = performance.now();
  const result = invoker.invoke({ fn, requestId: 'r1', trigger: 'invoke', prepare: () => ({ kind: 'event', payload: {} }) });
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(sentAt, 0, 'nothing is sent to the instance while it collects');
  inst.collecting = undefined;
  collected();
  const r = await result;
  assert.equal(r.outcome, 'success');
  assert.ok(sentAt - t0 >= 140, 'sent after the collection');
  assert.ok(r.durationMs < 100, `the 150 ms of collection is not in the duration (${r.durationMs.toFixed(1)} ms)`);
  assert.equal(records.length, 1);
  assert.ok(records[0]!.billedDurationMs < 100, 'nor in the billed duration');
});
