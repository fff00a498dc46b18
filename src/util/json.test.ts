import assert from 'node:assert/strict';
import { it } from 'node:test';
import { jsonText } from './json.ts';

it('jsonText: what JSON cannot hold is the caller\'s 400, never an internal error', () => {
  assert.equal(jsonText({ a: [1, 'x'] }, 'the payload'), '{"a":[1,"x"]}');
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  for (const [value, message] of [[{ n: 10n }, /the payload is not JSON: it holds a BigInt/], [cyclic, /refers to itself/], [deep, /nested too deeply/]] as const) {
    assert.throws(() => jsonText(value, 'the payload'), (err: { code?: string; message: string }) => err.code === 'BAD_REQUEST' && message.test(err.message));
  }
});
