// Provisioned counts on a version's pool, with instances that start when the test says so: a count
// lowered while instances start, lowered then raised, above concurrency.max, and a busy instance
// demoted by a lower count (kept until released, then reaped by keep-alive).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Instance } from '../sandbox/instance.ts';
import type { FunctionRecord } from '../store/types.ts';
import { ManualClock } from '../util/clock.ts';
import { Capacity } from './capacity.ts';
import { type FirstInvocation, FunctionPool } from './pool.ts';

function setup(concurrencyMax = 10) {
  const clock = new ManualClock();
  const capacity = new Capacity({ maxInstances: 100, memoryBudgetMb: 100_000, maxConcurrentStarts: 100 });
  const pending: (() => void)[] = [];
  const live = new Set<{ exited: boolean }>();
  const fn = { name: 'f', revision: 1, memoryMb: 128, concurrencyMax, perInstance: 1, queueTimeoutMs: 1000, provisioned: 0 } as FunctionRecord;
  const pool = new FunctionPool(fn, {
    clock, keepAliveMs: 60_000, capacity, evictElsewhere: () => undefined, onProvisionError: () => undefined,
    startInstance: (_f, onExit) => new Promise((resolve) => {
      // Only what the pool touches of an instance.
      const inst = { id: `i${live.size}`, exited: false, initMs: 0, stop: async () => { if (!inst.exited) { inst.exited = true; live.delete(inst); onExit(inst as unknown as Instance); } } };
      live.add(inst);
      pending.push(() => resolve(inst as unknown as Instance));
    }),
  });
  const started = async () => { while (pending.length) pending.shift()!(); for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r)); };
  return { pool, clock, started, live };
}

it('a count lowered while its instances start leaves only the new count provisioned', async () => {
  const { pool, clock, started, live } = setup();
  pool.setProvisioned(3);
  pool.setProvisioned(1);
  await started();
  assert.equal(pool.stats.provisioned, 1);
  clock.advance(10 * 60_000);
  assert.equal(live.size, 1, 'the two extra instances were reaped by keep-alive');
});

it('lowered then raised, it takes the warm instances back instead of starting more', async () => {
  const { pool, started, live } = setup();
  pool.setProvisioned(3);
  await started();
  pool.setProvisioned(1);
  pool.setProvisioned(3);
  await started();
  assert.deepEqual([pool.stats.provisioned, live.size], [3, 3]);
});

it('never provisions more than concurrency.max', async () => {
  const { pool, started, live } = setup(2);
  pool.setProvisioned(5);
  await started();
  assert.deepEqual([pool.stats.provisioned, live.size], [2, 2]);
});

it('a busy instance demoted by a lower count runs to the end, then keep-alive reaps it', async () => {
  const { pool, clock, started } = setup();
  pool.setProvisioned(1);
  await started();
  const lease = await pool.acquire();
  pool.setProvisioned(0);
  clock.advance(120_000);
  assert.equal(lease.instance.exited, false);
  lease.release();
  clock.advance(120_000);
  assert.equal(lease.instance.exited, true);
});

it('hands a request a warm instance that is not in the middle of an idle collection, when there is one', async () => {
  const { pool, started } = setup(2);
  const first = pool.acquire();
  const second = pool.acquire();
  await started();
  const [a, b] = await Promise.all([first, second]);
  a.release();
  b.release(); // b is now the most recently used
  (b.instance as unknown as { collecting?: Promise<void> }).collecting = new Promise(() => undefined);
  const next = await pool.acquire();
  assert.equal(next.instance, a.instance, 'the idle instance that is not collecting');
  const after = await pool.acquire();
  assert.equal(after.instance, b.instance, 'the collecting one when it is the only one with room');
});

/** Starts that go through the host's start slots as the scheduler's do, and boot when the test says so. */
function setupStarts(maxConcurrentStarts: number) {
  const clock = new ManualClock();
  const capacity = new Capacity({ maxInstances: 100, memoryBudgetMb: 100_000, maxConcurrentStarts });
  const booting: { finish: () => void; fail: (err: Error) => void }[] = [];
  /** What each start sent with init (the scheduler binds a start once its process is ready, as here). */
  const sent: (FirstInvocation | undefined)[] = [];
  let begun = 0;
  const fn = { name: 'f', revision: 1, memoryMb: 128, concurrencyMax: 10, perInstance: 1, queueTimeoutMs: 1000, provisioned: 0 } as FunctionRecord;
  const pool = new FunctionPool(fn, {
    clock, keepAliveMs: 60_000, capacity, evictElsewhere: () => undefined, onProvisionError: () => undefined,
    startInstance: (_f, onExit, signal, bind) => capacity.startSlot(() => new Promise<Instance>((resolve, reject) => {
      begun++;
      sent.push(bind?.());
      const inst = { id: `i${begun}`, exited: false, initMs: 0, stop: async () => { if (!inst.exited) { inst.exited = true; onExit(inst as unknown as Instance); } } };
      booting.push({ finish: () => resolve(inst as unknown as Instance), fail: reject });
    }), signal),
  });
  const settle = async () => { for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r)); };
  return { pool, clock, capacity, booting, sent, begun: () => begun, settle };
}

const invocation = (requestId: string): FirstInvocation => ({ build: () => ({ frame: { requestId, kind: 'event', payload: {}, timeoutMs: 1000 }, styled: false }), onStart: () => undefined });

it('a request waiting on a start takes an instance that frees up first, and its start, not begun yet, is withdrawn', async () => {
  const { pool, capacity, booting, begun, settle } = setupStarts(1);
  const first = pool.acquire();
  await settle();
  booting.shift()!.finish();
  const a = await first;
  assert.equal(a.cold, true);
  // Another function's process boots in the host's one start slot.
  let elsewhereDone!: () => void;
  const elsewhere = capacity.startSlot(() => new Promise<void>((r) => { elsewhereDone = r; }));
  const second = pool.acquire(); // its start waits for that slot
  await settle();
  a.release();
  const b = await second;
  assert.equal(b.instance, a.instance, 'the freed instance served it');
  assert.equal(b.cold, false);
  elsewhereDone();
  await elsewhere;
  await settle();
  assert.equal(begun(), 1, 'the queued start never booted');
  assert.equal(pool.stats.starting, 0);
  assert.equal(capacity.usage.instances, 1, 'the withdrawn start gave its reservation back');
});

it('a start already booting when its request was served elsewhere leaves an idle instance for the next request', async () => {
  const { pool, clock, booting, begun, settle } = setupStarts(10);
  const first = pool.acquire();
  const second = pool.acquire();
  await settle();
  assert.equal(begun(), 2);
  booting.shift()!.finish();
  const a = await first;
  a.release();
  const b = await second;
  assert.equal(b.instance, a.instance);
  booting.shift()!.finish();
  await settle();
  assert.deepEqual([pool.stats.busy, pool.stats.idle, pool.stats.starting], [1, 1, 0]);
  const c = await pool.acquire();
  assert.notEqual(c.instance, a.instance, 'the next request takes the instance that finished booting');
  assert.equal(c.cold, false);
  c.release();
  b.release();
  clock.advance(60_000);
  assert.equal(pool.stats.idle, 0, 'keep-alive reaps both');
});

it('a request that owns a start is not throttled however long the start takes, and a failed start fails its own request', async () => {
  const { pool, clock, booting, settle } = setupStarts(1);
  let settled = false;
  const first = pool.acquire().finally(() => { settled = true; });
  const second = pool.acquire();
  await settle();
  clock.advance(5_000); // five times queueTimeoutMs
  await settle();
  assert.equal(settled, false);
  booting.shift()!.fail(new Error('init failed'));
  await assert.rejects(first, /init failed/);
  await settle();
  booting.shift()!.finish(); // the second request's own start, which began once the slot freed
  const b = await second;
  assert.equal(b.cold, true);
  assert.deepEqual([pool.stats.starting, pool.stats.waiting], [0, 0]);
});

it('a closed pool withdraws its starts still queued for a start slot, so the live version starts first', async () => {
  const { pool, capacity, begun, settle } = setupStarts(1);
  let elsewhereDone!: () => void;
  const elsewhere = capacity.startSlot(() => new Promise<void>((r) => { elsewhereDone = r; }));
  const waiting = pool.acquire(); // queued behind the other process's boot
  await settle();
  const closed = pool.close();
  await assert.rejects(waiting, /redeployed/);
  elsewhereDone();
  await elsewhere;
  await closed;
  await settle();
  assert.equal(begun(), 0, 'its start never booted');
  assert.equal(capacity.usage.instances, 0);
});

it('a request whose start sent its invocation with init is answered by that start, not by an instance that frees up', async () => {
  const { pool, booting, sent, settle } = setupStarts(2);
  const first = pool.acquire(invocation('r1'));
  await settle();
  booting.shift()!.finish();
  const a = await first;
  const second = pool.acquire(invocation('r2'));
  await settle();
  assert.equal(sent[1]?.build('lambda').frame.requestId, 'r2', 'its start sent its invocation');
  a.release();
  await settle();
  assert.deepEqual([pool.stats.idle, pool.stats.starting], [1, 1], 'the freed instance stays idle: the invocation runs in the new one');
  const third = await pool.acquire(invocation('r3'));
  assert.equal(third.instance, a.instance, 'the next request takes it');
  booting.shift()!.finish();
  const b = await second;
  assert.notEqual(b.instance, a.instance);
  assert.equal(b.cold, true);
  assert.equal(sent.length, 2, 'no start for the third request');
});

it('a pool closed while a start that sent its invocation runs answers that request from it, then stops the instance', async () => {
  const { pool, booting, begun, settle } = setupStarts(2);
  const plain = pool.acquire(); // a request without an invocation to send: its start is not bound
  const bound = pool.acquire(invocation('r1'));
  await settle();
  assert.equal(begun(), 2);
  const closed = pool.close();
  await assert.rejects(plain, /redeployed/);
  for (const b of booting.splice(0)) b.finish();
  await closed;
  const lease = await bound;
  assert.equal(lease.cold, true);
  assert.equal(lease.instance.exited, false);
  lease.release();
  await settle();
  assert.equal(lease.instance.exited, true, 'stopped once its invocation was answered');
});

it('a pool destroyed (server shutdown) while a start that sent its invocation runs fails that request as retired (the scheduler then says it is stopping), and stops the instance', async () => {
  const { pool, booting, settle } = setupStarts(1);
  const bound = pool.acquire(invocation('r1'));
  await settle();
  const destroyed = pool.destroy();
  booting.shift()!.finish();
  await assert.rejects(bound, /redeployed/);
  await destroyed;
  await settle();
  assert.deepEqual([pool.stats.idle, pool.stats.busy, pool.stats.starting], [0, 0, 0], 'the instance that finished starting was stopped');
});
