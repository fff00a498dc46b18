// The host's side of the instance channel (Node's "json" IPC format: a message per line): lines
// split across reads or packed into one, text that is not ASCII, and a runtime that sends nonsense
// gets an error instead of a server that buffers without end. (That Node's own runtime side reads
// and writes the same format is checked against real processes in spawner.test.ts.)
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES } from './channel.ts';

const message = { type: 'result', id: 7, ok: true, json: '{"a":"é — ✓ 🎉\\n"}', nested: { list: [1, 'two', null] } };
const bytes = (m: unknown) => Buffer.from(encodeFrame(m));

it('decodes a frame it encoded', () => {
  assert.deepEqual(new FrameDecoder().push(bytes(message)), [message]);
});

it('waits for the rest of a line that arrives in pieces, even inside a multi-byte character', () => {
  const all = bytes(message);
  const d = new FrameDecoder();
  const got: unknown[] = [];
  for (let i = 0; i < all.length; i++) got.push(...d.push(all.subarray(i, i + 1)));
  assert.deepEqual(got, [message]);
});

it('returns every line of a read that holds several, and keeps a trailing partial one', () => {
  const a = bytes({ n: 1 }), b = bytes({ n: 2 }), c = bytes({ n: 3 });
  const d = new FrameDecoder();
  assert.deepEqual(d.push(Buffer.concat([a, b, c.subarray(0, 5)])), [{ n: 1 }, { n: 2 }]);
  assert.deepEqual(d.push(c.subarray(5)), [{ n: 3 }]);
});

it('refuses a line longer than MAX_FRAME_BYTES before it ends', () => {
  const d = new FrameDecoder();
  const piece = Buffer.alloc(16 * 1024 * 1024, 0x20);
  assert.throws(() => { for (let i = 0; i < 5; i++) d.push(piece); }, /over the channel's limit/);
});

it('refuses a line that is not JSON', () => {
  assert.throws(() => new FrameDecoder().push(Buffer.from('{"type":\n')));
});
