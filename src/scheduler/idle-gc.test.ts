// When the host asks idle instances to collect garbage: after they have been idle IDLE_COLLECT_MS,
// in the order they went idle, one at a time, not within CALM_MS of a start beginning (unless
// overdue by MAX_DEFER_MS), and not at all for an instance that took an invocation again or is gone.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Instance } from '../sandbox/instance.ts';
import { ManualClock } from '../util/clock.ts';
import { CALM_MS, IDLE_COLLECT_MS, IdleCollector, MAX_DEFER_MS } from './idle-gc.ts';

function setup() {
  const clock = new ManualClock();
  const asked: string[] = [];
  const finish: (() => void)[] = [];
  const collector = new IdleCollector(clock);
  // Only what the collector touches of an instance; each collection ends when the test says so.
  const inst = (id: string) => ({ id, collectGarbage: () => new Promise<void>((resolve) => { asked.push(id); finish.push(resolve); }) }) as unknown as Instance;
  const done = async () => { finish.shift()!(); for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r)); };
  return { clock, collector, inst, asked, done };
}

it('asks instances idle for IDLE_COLLECT_MS, one at a time, in the order they went idle', async () => {
  const { clock, collector, inst, asked, done } = setup();
  const a = inst('a'), b = inst('b'), c = inst('c');
  collector.idled(a);
  clock.advance(100);
  collector.idled(b);
  collector.idled(c);
  clock.advance(IDLE_COLLECT_MS - 101);
  assert.deepEqual(asked, [], 'nothing is due yet');
  clock.advance(1);
  assert.deepEqual(asked, ['a']);
  clock.advance(IDLE_COLLECT_MS);
  assert.deepEqual(asked, ['a'], 'the next waits until the first is done');
  await done();
  clock.advance(0);
  assert.deepEqual(asked, ['a', 'b']);
  await done();
  clock.advance(0);
  assert.deepEqual(asked, ['a', 'b', 'c']);
  await done();
  clock.advance(10 * IDLE_COLLECT_MS);
  assert.deepEqual(asked, ['a', 'b', 'c'], 'once per idle period');
});

it('skips an instance that took an invocation again or is gone, and counts its idle time afresh', () => {
  const { clock, collector, inst, asked } = setup();
  const a = inst('a'), b = inst('b');
  collector.idled(a);
  collector.idled(b);
  clock.advance(IDLE_COLLECT_MS / 2);
  collector.busy(a);
  collector.busy(b);
  collector.idled(a);
  clock.advance(IDLE_COLLECT_MS / 2);
  assert.deepEqual(asked, [], 'a went idle again half a period ago; b is gone');
  clock.advance(IDLE_COLLECT_MS / 2);
  assert.deepEqual(asked, ['a']);
});

it('waits until CALM_MS after a start began', () => {
  const { clock, collector, inst, asked } = setup();
  collector.idled(inst('a'));
  clock.advance(IDLE_COLLECT_MS - 100);
  collector.startBegan();
  clock.advance(100);
  assert.deepEqual(asked, [], 'due, but a start began 100 ms ago');
  clock.advance(CALM_MS - 101);
  assert.deepEqual(asked, []);
  clock.advance(1);
  assert.deepEqual(asked, ['a']);
});

it('collects an instance overdue by MAX_DEFER_MS even if starts never stop', () => {
  const { clock, collector, inst, asked } = setup();
  collector.idled(inst('a'));
  clock.advance(IDLE_COLLECT_MS - 50);
  collector.startBegan();
  clock.advance(50);
  for (let t = 0; t < MAX_DEFER_MS - 100; t += 100) {
    collector.startBegan();
    clock.advance(100);
  }
  assert.deepEqual(asked, [], 'a start every 100 ms keeps it waiting');
  collector.startBegan();
  clock.advance(100);
  assert.deepEqual(asked, ['a'], 'until it is MAX_DEFER_MS overdue');
});

it('asks nothing once closed', () => {
  const { clock, collector, inst, asked } = setup();
  collector.idled(inst('a'));
  collector.close();
  collector.idled(inst('b'));
  clock.advance(2 * IDLE_COLLECT_MS);
  assert.deepEqual(asked, []);
});
