// The host's side of the instance channel: frames split across reads or packed into one, binary
// values kept as typed arrays, and a runtime that sends nonsense gets an error instead of a server
// that buffers without end. (That Node's own runtime side reads and writes the same bytes is
// checked against real processes in spawner.test.ts.)
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES } from './channel.ts';

const message = { type: 'result', id: 7, ok: true, json: '{"a":"é"}', body: new Uint8Array([0, 1, 255]), buf: Buffer.from('hi'), missing: undefined, nested: { list: [1, 'two', null] } };

it('decodes a frame it encoded, keeping typed arrays and undefined', () => {
  const [out] = new FrameDecoder().push(encodeFrame(message)) as [typeof message];
  assert.deepEqual({ ...out, body: [...out.body], buf: [...out.buf] }, { ...message, body: [0, 1, 255], buf: [...Buffer.from('hi')] });
  assert.ok(out.body instanceof Uint8Array);
  assert.ok('missing' in out);
});

it('waits for the rest of a frame that arrives in pieces, even a split length', () => {
  const bytes = encodeFrame(message);
  const d = new FrameDecoder();
  const got: unknown[] = [];
  for (let i = 0; i < bytes.length; i++) got.push(...d.push(bytes.subarray(i, i + 1)));
  assert.equal(got.length, 1);
  assert.equal((got[0] as typeof message).json, message.json);
});

it('returns every frame of a read that holds several, and keeps a trailing partial one', () => {
  const a = encodeFrame({ n: 1 }), b = encodeFrame({ n: 2 }), c = encodeFrame({ n: 3 });
  const d = new FrameDecoder();
  assert.deepEqual(d.push(Buffer.concat([a, b, c.subarray(0, 5)])), [{ n: 1 }, { n: 2 }]);
  assert.deepEqual(d.push(c.subarray(5)), [{ n: 3 }]);
});

it('refuses a frame longer than MAX_FRAME_BYTES as soon as its length is read', () => {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(MAX_FRAME_BYTES + 1);
  assert.throws(() => new FrameDecoder().push(head), /over the channel/);
});

it('refuses bytes that are not a serialized value', () => {
  const junk = Buffer.from([0, 0, 0, 3, 1, 2, 3]);
  assert.throws(() => new FrameDecoder().push(junk));
});
