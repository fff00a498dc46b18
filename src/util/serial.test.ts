// Serial: one run at a time, a run asked for during another runs after it, and a failed run does
// not stop the next.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Serial } from './serial.ts';

it('runs one at a time, each call after the one before, even when that one failed', async () => {
  const s = new Serial();
  const order: string[] = [];
  let release!: () => void;
  const a = s.run(() => new Promise<void>((ok) => { order.push('a'); release = ok; }));
  const b = s.run(async () => { order.push('b'); throw new Error('b failed'); });
  const c = s.run(async () => { order.push('c'); });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['a'], 'b waits for a');
  release();
  await a;
  await assert.rejects(b, /b failed/);
  await c;
  assert.deepEqual(order, ['a', 'b', 'c']);
  await s.idle();
});
