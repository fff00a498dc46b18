// JSONPath as Step Functions reads it: definite vs indefinite results, filters, slices, descendants,
// reference paths and ResultPath writes; and the intrinsic call parser's edge cases.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseIntrinsic } from './intrinsics.ts';
import { pathError, readPath, writeReferencePath } from './jsonpath.ts';
import type { Json } from './types.ts';

const store: Json = { book: [{ t: 'a', price: 8, tag: 'x' }, { t: 'b', price: 12 }, { t: 'c', price: 5, tag: 'y' }], 'my-key': { 'a b': 1 } };
const read = (p: string, ctx: Json = null) => { const r = readPath(p, store, ctx); return r.found ? r.value : 'NOT FOUND'; };

it('definite paths give one value or nothing; indefinite ones a list', () => {
  assert.equal(read('$.book[0].t'), 'a');
  assert.equal(read('$.book[-1].t'), 'c');
  assert.equal(read("$['my-key']['a b']"), 1);
  assert.equal(read('$.my-key'), read("$['my-key']"));
  assert.equal(read('$.book[5]'), 'NOT FOUND');
  assert.deepEqual(read('$.book[*].t'), ['a', 'b', 'c']);
  assert.deepEqual(read('$..price'), [8, 12, 5]);
  assert.deepEqual(read('$.book[1:].t'), ['b', 'c']);
  assert.deepEqual(read('$.book[::2].t'), ['a', 'c']);
  assert.deepEqual(read('$.book[0,2].t'), ['a', 'c']);
  assert.deepEqual(read('$.book[?(@.price < 10 && @.tag)].t'), ['a', 'c']);
  assert.deepEqual(read("$.book[?(@.tag == 'y' || @.price > 10)].t"), ['b', 'c']);
  assert.deepEqual(read('$.book[?(!(@.tag))].t'), ['b']);
  assert.equal(read('$.book[(@.length-1)].t'), 'c');
  assert.deepEqual(read('$.nothing[*]'), []);
  assert.equal(read('$$.Execution.Id', { Execution: { Id: 'e' } }), 'e');
});

it('syntax errors and reference paths', () => {
  for (const bad of ['.a', '$..', '$.a[', "$['a", '$[?(@.a <)]', 'a$', '$.a b']) assert.ok(pathError(bad), bad);
  assert.equal(pathError('$.a[0].b', { reference: true }), null);
  assert.ok(pathError('$.a[*]', { reference: true }));
  assert.ok(pathError('$..a', { reference: true }));
});

it('ResultPath writes make objects on the way, and refuse to go through other values', () => {
  assert.deepEqual(writeReferencePath('$.a.b', { x: 1 }, 2), { ok: true, value: { x: 1, a: { b: 2 } } });
  assert.deepEqual(writeReferencePath('$.l[1]', { l: [0, 0] }, 9), { ok: true, value: { l: [0, 9] } });
  assert.deepEqual(writeReferencePath('$.a.b', { a: 'str' }, 2), { ok: false });
  assert.deepEqual(writeReferencePath('$.l[3]', { l: [] }, 2), { ok: false });
});

it('intrinsic calls parse nested calls, escapes, numbers, paths with brackets', () => {
  const c = parseIntrinsic("States.Format('it\\'s {} \\{x\\}', States.ArrayGetItem($.a[?(@.k == 'v,w')].n, -1), 1.5e2, null, true)");
  assert.equal(c.args.length, 5);
  assert.deepEqual(c.args[0], { kind: 'literal', value: "it's {} {x}", raw: "it\\'s {} \\{x\\}" });
  assert.deepEqual(c.args[1], { kind: 'call', name: 'States.ArrayGetItem', args: [{ kind: 'path', text: "$.a[?(@.k == 'v,w')].n" }, { kind: 'literal', value: -1 }] });
  assert.deepEqual(c.args.slice(2), [{ kind: 'literal', value: 150 }, { kind: 'literal', value: null }, { kind: 'literal', value: true }]);
  for (const bad of ['States.Nope()', 'States.UUID(1)', "States.Format('x'", 'States.Array(,)']) assert.throws(() => parseIntrinsic(bad), bad);
});

it('ResultPath "$.__proto__" writes a field named __proto__, not the prototype', () => {
  const w = writeReferencePath('$.__proto__', { a: 1 }, { r: 2 });
  assert.ok(w.ok);
  assert.equal(JSON.stringify(w.value), '{"a":1,"__proto__":{"r":2}}');
  assert.equal(Object.getPrototypeOf(w.value), Object.prototype);
});
