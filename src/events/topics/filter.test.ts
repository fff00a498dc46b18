// Filter policies: one table per operator (attribute and body scope), the validation errors with
// their key paths, SNS's limits, and properties: validation fails only with a clear error, $or is
// the union of its branches, anything-but is the negation of exact matching, numeric ranges agree
// with JavaScript's comparisons, and a flat policy means the same in both scopes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isNimbusError } from '../../errors.ts';
import type { MessageAttribute } from '../../store/types.ts';
import { FILTER_POLICY_MAX_BYTES, matches, validateFilterPolicy, type FilterPolicyScope } from './filter.ts';

type Json = string | number | boolean | null | Json[];
/** Shorthand for attributes: a string is String, a number Number, a list String.Array. */
type Attr = string | number | Json[] | { binary: string } | { number: string };

const attribute = (v: Attr): MessageAttribute => {
  if (typeof v === 'string') return { DataType: 'String', StringValue: v };
  if (typeof v === 'number') return { DataType: 'Number', StringValue: String(v) };
  if (Array.isArray(v)) return { DataType: 'String.Array', StringValue: JSON.stringify(v) };
  return 'binary' in v ? { DataType: 'Binary', BinaryValue: v.binary } : { DataType: 'Number', StringValue: v.number };
};
const attrs = (o: Record<string, Attr>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, attribute(v)]));

/** Rows of [message, expected]: attributes in MessageAttributes scope, a body (object or raw text) in MessageBody scope. */
function check(scope: FilterPolicyScope, policy: unknown, rows: Array<[unknown, boolean]>): void {
  const p = validateFilterPolicy(policy, scope);
  for (const [m, want] of rows) {
    const message = scope === 'MessageAttributes' ? { body: 'x', attributes: attrs(m as Record<string, Attr>) } : { body: typeof m === 'string' ? m : JSON.stringify(m) };
    assert.equal(matches(p, message), want, `${JSON.stringify(policy)} on ${JSON.stringify(m)}`);
  }
}
const A = 'MessageAttributes';
const B = 'MessageBody';

describe('matching message attributes', () => {
  it('exact strings: a list is OR, case counts, a String.Array matches when an element does', () => {
    check(A, { sport: ['rugby', 'tennis'] }, [
      [{ sport: 'rugby' }, true], [{ sport: 'tennis' }, true], [{ sport: 'baseball' }, false], [{ sport: 'Rugby' }, false], [{}, false],
      [{ sport: ['baseball', 'rugby'] }, true], [{ sport: ['baseball'] }, false], [{ sport: [] }, false], [{ other: 'rugby' }, false],
    ]);
  });

  it('exact numbers compare as numbers at five decimal places, and only with numbers', () => {
    check(A, { price: [301.5] }, [
      [{ price: 301.5 }, true], [{ price: { number: '3.015e2' } }, true], [{ price: { number: '301.500001' } }, true],
      [{ price: { number: '301.50001' } }, false], [{ price: '301.5' }, false], [{ price: [1, 301.5] }, true], [{ price: ['301.5'] }, false],
    ]);
    check(A, { price: ['100'] }, [[{ price: '100' }, true], [{ price: 100 }, false]]);
  });

  it('true, false and null match themselves inside a String.Array, not as strings', () => {
    check(A, { flag: [true, null] }, [[{ flag: [true] }, true], [{ flag: [null, 'x'] }, true], [{ flag: [false] }, false], [{ flag: 'true' }, false]]);
  });

  it('prefix, suffix and equals-ignore-case work on strings and String.Array elements', () => {
    check(A, { sport: [{ prefix: 'bas' }] }, [[{ sport: 'baseball' }, true], [{ sport: 'basketball' }, true], [{ sport: 'rugby' }, false], [{ sport: ['rugby', 'bass'] }, true], [{ sport: 5 }, false]]);
    check(A, { file: [{ suffix: '.png' }] }, [[{ file: 'cat.png' }, true], [{ file: 'cat.png.jpg' }, false], [{ file: ['a.jpg', 'b.png'] }, true]]);
    check(A, { name: [{ 'equals-ignore-case': 'Hello' }] }, [[{ name: 'hELLO' }, true], [{ name: 'hello!' }, false], [{ name: ['x', 'HELLO'] }, true]]);
  });

  it('anything-but a value, a list, numbers or a prefix needs the attribute, and no listed element', () => {
    check(A, { sport: [{ 'anything-but': 'rugby' }] }, [[{ sport: 'tennis' }, true], [{ sport: 'rugby' }, false], [{}, false], [{ sport: ['baseball', 'golf'] }, true], [{ sport: ['rugby', 'golf'] }, false]]);
    check(A, { sport: [{ 'anything-but': ['rugby', 'tennis'] }] }, [[{ sport: 'baseball' }, true], [{ sport: 'tennis' }, false]]);
    // A string "100" is not the number 100: types are strict.
    check(A, { price: [{ 'anything-but': [100, 500] }] }, [[{ price: 101 }, true], [{ price: 100.1 }, true], [{ price: { number: '1e2' } }, false], [{ price: [100, 50] }, false], [{ price: '100' }, true]]);
    check(A, { event: [{ 'anything-but': { prefix: 'order-' } }] }, [[{ event: 'data-entry' }, true], [{ event: 'order_number' }, true], [{ event: 'order-cancelled' }, false], [{}, false]]);
    check(A, { sport: [{ 'anything-but': 'rugby' }, { exists: false }] }, [[{}, true], [{ sport: 'rugby' }, false], [{ sport: 'golf' }, true]]);
  });

  it('numeric comparisons and ranges take Number attributes and numbers in a String.Array', () => {
    check(A, { n: [{ numeric: ['=', 301.5] }] }, [[{ n: { number: '3.015e2' } }, true], [{ n: 301 }, false]]);
    check(A, { n: [{ numeric: ['<', 0] }] }, [[{ n: -1 }, true], [{ n: 0 }, false], [{ n: '-1' }, false]]);
    check(A, { n: [{ numeric: ['<=', 0] }] }, [[{ n: 0 }, true], [{ n: 0.00001 }, false]]);
    check(A, { n: [{ numeric: ['>', 0, '<=', 150] }] }, [[{ n: 150 }, true], [{ n: 0 }, false], [{ n: 0.00001 }, true], [{ n: 150.00001 }, false], [{ n: ['a', 200, 42] }, true]]);
    check(A, { n: [{ numeric: ['>=', 10, '<', 20] }] }, [[{ n: 10 }, true], [{ n: 19.99999 }, true], [{ n: 20 }, false], [{}, false]]);
    check(A, { n: [{ numeric: ['>', 1e9 - 1] }] }, [[{ n: { number: '1e10' } }, true]]);
  });

  it('exists: present or not; Binary attributes are ignored, as if absent', () => {
    check(A, { store: [{ exists: true }] }, [[{ store: 'x' }, true], [{ store: [] }, true], [{}, false], [{ store: { binary: 'AQI=' } }, false]]);
    check(A, { store: [{ exists: false }] }, [[{}, true], [{ store: 'x' }, false], [{ store: { binary: 'AQI=' } }, true]]);
    check(A, { b: ['AQI='] }, [[{ b: { binary: 'AQI=' } }, false]]);
  });

  it('cidr matches IPv4 and IPv6 addresses in the block', () => {
    check(A, { ip: [{ cidr: '10.0.0.0/24' }] }, [[{ ip: '10.0.0.0' }, true], [{ ip: '10.0.0.255' }, true], [{ ip: '10.0.1.0' }, false], [{ ip: 'ten' }, false], [{ ip: '::1' }, false]]);
    check(A, { ip: [{ cidr: '2001:db8::/32' }] }, [[{ ip: '2001:db8::1' }, true], [{ ip: '2001:db9::1' }, false]]);
  });

  it('keys are AND, $or is OR across keys (the docs\' example), and $or nests', () => {
    check(A, { a: ['x'], b: ['y'] }, [[{ a: 'x', b: 'y' }, true], [{ a: 'x' }, false], [{ a: 'x', b: 'z' }, false]]);
    check(A, { source: ['aws.cloudwatch'], $or: [{ metricName: ['CPUUtilization'] }, { namespace: ['AWS/EC2'] }] }, [
      [{ source: 'aws.cloudwatch', metricName: 'CPUUtilization' }, true], [{ source: 'aws.cloudwatch', namespace: 'AWS/EC2' }, true],
      [{ source: 'aws.cloudwatch' }, false], [{ metricName: 'CPUUtilization' }, false],
    ]);
    check(A, { $or: [{ a: ['1'] }, { b: ['2'], $or: [{ c: ['3'] }, { d: ['4'] }] }] }, [[{ a: '1' }, true], [{ b: '2', d: '4' }, true], [{ b: '2' }, false], [{ c: '3' }, false]]);
  });

  it('an empty policy matches everything; keys are own properties only', () => {
    check(A, {}, [[{}, true], [{ a: 'x' }, true]]);
    check(A, { toString: [{ exists: true }] }, [[{}, false]]);
  });
});

describe('matching the message body', () => {
  it('nested keys, arrays of values and arrays of objects', () => {
    check(B, { a: { b: ['x'] } }, [[{ a: { b: 'x' } }, true], [{ a: { b: 'y' } }, false], [{ a: [{ b: 'y' }, { b: 'x' }] }, true], [{ a: 'x' }, false], [{ b: 'x' }, false]]);
    check(B, { sport: ['rugby'] }, [[{ sport: ['tennis', 'rugby'] }, true], [{ sport: [['rugby']] }, true], [{ sport: { rugby: 1 } }, false]]);
    check(B, { a: { b: ['x'], c: [1] } }, [[{ a: [{ b: 'x', c: 1 }] }, true], [{ a: [{ b: 'x' }, { c: 1 }] }, false]]);
  });

  it('numbers, strings, true, false and null keep their JSON types', () => {
    check(B, { price: [301.5] }, [[{ price: 3.015e2 }, true], [{ price: '301.5' }, false]]);
    check(B, { a: [null] }, [[{ a: null }, true], [{}, false], [{ a: 'null' }, false]]);
    check(B, { a: [false] }, [[{ a: false }, true], [{ a: 0 }, false]]);
    check(B, { price: [{ numeric: ['>', 100] }] }, [[{ price: 101 }, true], [{ price: '101' }, false], [{ price: [5, 500] }, true]]);
  });

  it('exists looks at leaves: null counts, objects and empty arrays do not', () => {
    check(B, { a: [{ exists: true }] }, [[{ a: null }, true], [{ a: 0 }, true], [{ a: {} }, false], [{ a: [] }, false], [{ a: { b: 1 } }, false], [{}, false]]);
    check(B, { a: { b: [{ exists: false }] } }, [[{}, true], [{ a: 'scalar' }, true], [{ a: { b: 1 } }, false], [{ a: { c: 1 } }, true]]);
  });

  it('anything-but over a JSON array needs no element listed; the other operators as for attributes', () => {
    check(B, { sport: [{ 'anything-but': ['rugby', 'tennis'] }] }, [[{ sport: 'baseball' }, true], [{ sport: ['rugby', 'baseball'] }, false], [{ sport: ['golf', 'baseball'] }, true], [{ sport: [] }, false]]);
    check(B, { f: [{ prefix: 'a' }, { suffix: 'z' }, { 'equals-ignore-case': 'MiD' }] }, [[{ f: 'abc' }, true], [{ f: 'xyz' }, true], [{ f: 'mid' }, true], [{ f: 'x' }, false]]);
    check(B, { ip: [{ cidr: '192.168.0.0/16' }] }, [[{ ip: '192.168.4.2' }, true], [{ ip: '192.169.0.1' }, false]]);
  });

  it('$or at the top and inside a nested object', () => {
    check(B, { a: { $or: [{ b: ['1'] }, { c: ['2'] }] } }, [[{ a: { c: '2' } }, true], [{ a: { b: '1' } }, true], [{ a: { d: '3' } }, false], [{ c: '2' }, false]]);
    check(B, { $or: [{ a: { b: ['1'] } }, { c: [{ exists: true }] }] }, [[{ c: 0 }, true], [{ a: { b: '1' } }, true], [{ a: { b: '2' } }, false]]);
  });

  it('a body that is not a JSON object matches nothing, whatever the policy', () => {
    check(B, { a: [{ exists: false }] }, [['not json', false], ['[1,2]', false], ['"text"', false], ['null', false], ['{}', true]]);
  });

  it('keys are own properties: __proto__ is an ordinary key, toString is not inherited', () => {
    check(B, '{"__proto__": ["x"]}', [['{"__proto__": "x"}', true], ['{}', false]]);
    check(B, { toString: [{ exists: true }] }, [[{}, false]]);
  });

  it('survives deeply nested bodies', () => {
    const deep = `{"a":${'['.repeat(100_000)}"x"${']'.repeat(100_000)}}`;
    check(B, { a: ['x'] }, [[deep, true]]);
  });
});

describe('validateFilterPolicy', () => {
  const reject = (policy: unknown, scope: FilterPolicyScope, pattern: RegExp) =>
    assert.throws(() => validateFilterPolicy(policy, scope), (e: unknown) => {
      assert.ok(isNimbusError(e) && e.code === 'BAD_REQUEST', String(e));
      assert.match(e.message, pattern);
      return true;
    }, `should be refused with ${pattern}`);

  it('names the key path and the rule', () => {
    reject({ price: [{ numeric: ['>', 'ten'] }] }, A, /^filterPolicy\.price\[0\]\.numeric\[1\]: must be a number, got "ten"$/);
    reject({ 'odd key': [] }, A, /^filterPolicy\["odd key"\]: lists no values/);
    reject({ a: { b: { c: 'x' } } }, B, /^filterPolicy\.a\.b\.c: must be a list of values .* or a nested policy object, got "x"/);
    assert.throws(() => validateFilterPolicy({ a: [] }, A, 'subscriptions[2].filterPolicy'), (e: Error) => e.message.startsWith('subscriptions[2].filterPolicy.a: lists no values'));
  });

  it('refuses what is not a policy object', () => {
    reject([], A, /^filterPolicy: must be an object mapping attribute names to lists of values, got a list/);
    reject(null, B, /must be an object mapping body properties/);
    reject('{"a": ', A, /^filterPolicy: is not valid JSON/);
    reject('"text"', A, /got "text"/);
    reject({ a: ['x'] }, 'Body' as FilterPolicyScope, /^filterPolicyScope: must be "MessageAttributes" or "MessageBody"/);
  });

  it('refuses bad values and lists', () => {
    reject({ a: [] }, A, /lists no values/);
    reject({ a: 'x' }, A, /^filterPolicy\.a: must be a list of values such as \["a", \{"prefix": "b"\}\], got "x"$/);
    reject({ a: [['x']] }, A, /^filterPolicy\.a\[0\]: must be a string, a number, true, false, null or an operator object/);
    reject({ a: [1e10] }, A, /^filterPolicy\.a\[0\]: numbers in a filter policy must be from -1e9 to 1e9, got 10000000000/);
    reject({ a: { b: ['x'] } }, A, /nested policies apply to the message body \(scope MessageBody\)/);
    reject({ a: {} }, B, /^filterPolicy\.a: is an empty object/);
  });

  it('refuses bad operators', () => {
    reject({ a: [{ prefix: 'x', suffix: 'y' }] }, A, /exactly one operator .* got "prefix", "suffix"/);
    reject({ a: [{}] }, A, /exactly one operator .* got none/);
    reject({ a: [{ wildcard: 'x*' }] }, A, /^filterPolicy\.a\[0\]: unknown operator "wildcard"; SNS filter policies know prefix, suffix, equals-ignore-case, anything-but, numeric, exists, cidr and \$or/);
    reject({ a: [{ prefix: 5 }] }, A, /^filterPolicy\.a\[0\]\.prefix: takes a string, got 5/);
    reject({ a: [{ suffix: null }] }, A, /suffix: takes a string, got null/);
    reject({ a: [{ 'equals-ignore-case': ['x'] }] }, A, /equals-ignore-case: takes a string, got a list/);
    reject({ a: [{ exists: 'yes' }] }, A, /exists: takes true or false, got "yes"/);
  });

  it('refuses bad anything-but', () => {
    reject({ a: [{ 'anything-but': [] }] }, A, /anything-but: lists no values/);
    reject({ a: [{ 'anything-but': ['x', 1] }] }, A, /a list of strings or a list of numbers, not a mix/);
    reject({ a: [{ 'anything-but': [true] }] }, A, /not a mix \(nor true, false, null or objects\)/);
    reject({ a: [{ 'anything-but': { suffix: 'x' } }] }, A, /inside anything-but SNS supports only \{"prefix": "..."\}, got "suffix"/);
    reject({ a: [{ 'anything-but': { prefix: 1 } }] }, A, /anything-but\.prefix: takes a string, got 1/);
    reject({ a: [{ 'anything-but': true }] }, A, /anything-but: takes a string, a number, a list of either, or \{"prefix": "..."\}, got true/);
    reject({ a: [{ 'anything-but': [1, 2e9] }] }, A, /anything-but\[1\]: numbers in a filter policy must be from -1e9 to 1e9/);
  });

  it('refuses bad numeric expressions', () => {
    reject({ a: [{ numeric: 5 }] }, A, /numeric: takes \["<op>", number\]/);
    reject({ a: [{ numeric: ['>', 1, '<'] }] }, A, /numeric: takes .* got a list of 3/);
    reject({ a: [{ numeric: ['!=', 1] }] }, A, /numeric\[0\]: must be one of =, <, <=, >, >=, got "!="/);
    reject({ a: [{ numeric: ['<', 5, '>', 1] }] }, A, /numeric\[0\]: a range starts with ">" or ">=", got "<"/);
    reject({ a: [{ numeric: ['>', 1, '=', 5] }] }, A, /numeric\[2\]: a range ends with "<" or "<=", got "="/);
    reject({ a: [{ numeric: ['>', 1, '<', '5'] }] }, A, /numeric\[3\]: must be a number, got "5"/);
    reject({ a: [{ numeric: ['>', 5, '<', 5] }] }, A, /lower bound \(5\) must be below its upper bound \(5\)/);
    reject({ a: [{ numeric: ['<', -2e9] }] }, A, /numeric\[1\]: numbers in a filter policy must be from -1e9 to 1e9/);
  });

  it('refuses bad cidr blocks', () => {
    for (const block of ['10.0.0.0', '10.0.0.0/33', 'ten/8', '10.0.0.0/8/8', '::/129', 5]) reject({ ip: [{ cidr: block }] }, A, /cidr: (must be an IPv4 or IPv6 block|takes a block)/);
  });

  it('refuses malformed $or', () => {
    reject({ $or: { a: ['x'] } }, A, /^filterPolicy\.\$or: must be a list of at least two policy objects.*got an object$/);
    reject({ $or: [{ a: ['x'] }] }, A, /got a list of 1$/);
    reject({ $or: [{ a: ['x'] }, ['y']] }, A, /got a list holding something other than objects$/);
    reject({ $or: [{ a: ['x'] }, {}] }, A, /^filterPolicy\.\$or\[1\]: is an empty object/);
    reject({ $or: [{ numeric: 123 }, { prefix: 'abc' }] }, A, /^filterPolicy\.\$or\[0\]\.numeric: "numeric" is an operator/);
    reject({ $or: [{ a: { b: ['x'] } }, { c: ['y'] }] }, A, /\$or\[0\]\.a: nested policies apply to the message body/);
  });

  it('allows five keys, counted along each $or branch (top-level only for body policies)', () => {
    const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, ['x']]));
    validateFilterPolicy(keys(5), A);
    reject(keys(6), A, /^filterPolicy: has 6 keys; SNS allows at most 5, counted along each \$or branch$/);
    validateFilterPolicy({ ...keys(3), $or: [{ x: ['1'] }, { y: ['1'] }] }, A);
    reject({ ...keys(4), $or: [{ x: ['1'] }, { y: ['1'], z: ['1'] }] }, A, /has 6 keys/);
    validateFilterPolicy({ top: keys(7) }, B); // 2^7 = 128 combinations: each nested key weighs its depth, 2
    reject(keys(6), B, /has 6 keys; SNS allows at most 5 \(top-level properties; keys nested below them do not count\)/);
  });

  it('allows 150 combinations: values multiplied across keys, by depth in a body, summed over $or', () => {
    const values = (n: number) => Array.from({ length: n }, (_, i) => `v${i}`);
    validateFilterPolicy({ a: values(150) }, A);
    reject({ a: values(151) }, A, /^filterPolicy: is too complex: 151 combinations; SNS allows at most 150, counting the product of the number of values of each key, summed over \$or branches$/);
    validateFilterPolicy({ a: values(6), b: values(5), c: values(5) }, A);
    reject({ a: values(6), b: values(5), c: values(6) }, A, /180 combinations/);
    // The SNS docs' example: four values three levels down, three values two levels down: 3 × 4 × 2 × 3 = 72.
    validateFilterPolicy({ key_a: { key_b: { key_c: values(4) } }, key_d: { key_e: values(3) } }, B);
    reject({ key_a: { key_b: { key_c: { key_d: values(13) } } }, x: values(3) }, B, /156 combinations; .* counting the product over keys of \(values × nesting depth\)/);
    validateFilterPolicy({ $or: [{ a: values(75) }, { b: values(75) }] }, A);
    reject({ $or: [{ a: values(76) }, { b: values(75) }] }, A, /151 combinations/);
    reject({ a: values(100), b: values(100), c: values(100), d: values(100), e: values(100) }, A, /at least a billion combinations/);
  });

  it('refuses deep nesting and large policies with the limit, not a crash', () => {
    let deep: Record<string, unknown> = { leaf: ['x'] };
    for (let i = 0; i < 10_000; i++) deep = { n: deep };
    reject(deep, B, /^filterPolicy(\.n)+: is too complex; SNS allows at most 150/);
    let ors: Record<string, unknown> = { a: ['x'] };
    for (let i = 0; i < 10_000; i++) ors = { $or: [ors, { b: ['y'] }] };
    reject(ors, A, /is too complex/);
    const big = { a: Array.from({ length: 150 }, () => 'x'.repeat(2000)) };
    reject(big, A, new RegExp(`is \\d+ bytes as JSON; SNS allows at most ${FILTER_POLICY_MAX_BYTES} \\(256 KB\\)`));
    reject(JSON.stringify(big), A, /bytes; SNS allows at most 262144/);
  });

  it('accepts a policy as JSON text and keeps the source to show back', () => {
    const p = validateFilterPolicy('{"store": ["example_corp"], "price_usd": [{"numeric": [">=", 100]}]}', A);
    assert.deepEqual(p.source, { store: ['example_corp'], price_usd: [{ numeric: ['>=', 100] }] });
    assert.equal(p.scope, A);
    assert.deepEqual(JSON.parse(JSON.stringify(p)), p, 'a compiled policy is plain data: it survives a JSON round trip');
  });
});

// ---- properties ----

const KEYS = ['a', 'b', 'c'] as const;
const word = fc.constantFrom('x', 'xy', 'y', 'X', 'yx', '');
const condition = fc.oneof(
  word, fc.integer({ min: -3, max: 3 }), fc.constantFrom(true, false, null),
  word.map((s) => ({ prefix: s })), word.map((s) => ({ suffix: s })), word.map((s) => ({ 'equals-ignore-case': s })),
  fc.array(word, { minLength: 1, maxLength: 2 }).map((l) => ({ 'anything-but': l })),
  fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 1, maxLength: 2 }).map((l) => ({ 'anything-but': l })),
  word.map((s) => ({ 'anything-but': { prefix: s } })),
  fc.tuple(fc.constantFrom('=', '<', '<=', '>', '>='), fc.integer({ min: -3, max: 3 })).map(([op, n]) => ({ numeric: [op, n] })),
  fc.boolean().map((b) => ({ exists: b })),
);
const flatPolicy = fc.dictionary(fc.constantFrom(...KEYS), fc.array(condition, { minLength: 1, maxLength: 3 }), { minKeys: 1, maxKeys: 2 });
const scalar = fc.oneof(word, fc.integer({ min: -3, max: 3 }), fc.constantFrom(true, false, null));
const attrValue: fc.Arbitrary<Attr> = fc.oneof(word, fc.integer({ min: -3, max: 3 }), fc.array(scalar, { minLength: 1, maxLength: 3 }) as fc.Arbitrary<Json[]>);
const attrMap = fc.dictionary(fc.constantFrom(...KEYS), attrValue, { maxKeys: 3 });
const onAttributes = (policy: unknown, m: Record<string, Attr>) => matches(validateFilterPolicy(policy, A), { body: 'x', attributes: attrs(m) });

describe('filter policy properties', () => {
  it('validation never fails with anything but a clear BAD_REQUEST, whatever it is given', () => {
    const nearPolicy = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, fc.jsonValue(), condition, fc.constantFrom('numeric', 'prefix', 'anything-but', '$or', 'exists', 'cidr').chain((op) => tie('value').map((v) => ({ [op]: v })))),
      policy: fc.dictionary(fc.constantFrom(...KEYS, '$or', 'prefix', 'numeric'), fc.oneof(fc.array(tie('value'), { maxLength: 3 }), tie('policy')), { maxKeys: 4 }),
    })).policy;
    const scope = fc.constantFrom<FilterPolicyScope>(A, B);
    fc.assert(fc.property(fc.oneof(fc.anything(), fc.jsonValue(), fc.json(), fc.string(), nearPolicy), scope, (policy, s) => {
      try {
        validateFilterPolicy(policy, s);
      } catch (err) {
        assert.ok(isNimbusError(err) && err.code === 'BAD_REQUEST' && /^filterPolicy/.test(err.message), String(err));
      }
    }), { numRuns: 2000 });
  });

  it('$or matches exactly when one of its branches does', () => {
    fc.assert(fc.property(flatPolicy, flatPolicy, fc.option(flatPolicy, { nil: undefined }), attrMap, (p1, p2, p3, m) => {
      const branches = p3 ? [p1, p2, p3] : [p1, p2];
      assert.equal(onAttributes({ $or: branches }, m), branches.some((b) => onAttributes(b, m)));
    }), { numRuns: 1000 });
  });

  it('keys are a conjunction: a policy matches when each of its keys alone does', () => {
    fc.assert(fc.property(flatPolicy, attrMap, (p, m) => {
      assert.equal(onAttributes(p, m), Object.entries(p).every(([k, v]) => onAttributes({ [k]: v }, m)));
    }), { numRuns: 500 });
  });

  it('anything-but is the negation of exact matching when the attribute has values', () => {
    const values = fc.oneof(fc.array(word, { minLength: 1, maxLength: 3 }), fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 1, maxLength: 3 }));
    fc.assert(fc.property(values, fc.oneof(word, fc.integer({ min: -3, max: 3 }), fc.array(scalar, { minLength: 1, maxLength: 3 }) as fc.Arbitrary<Json[]>), (listed, v) => {
      assert.equal(onAttributes({ a: [{ 'anything-but': listed }] }, { a: v }), !onAttributes({ a: listed }, { a: v }));
    }), { numRuns: 500 });
  });

  it('numeric ranges agree with JavaScript comparisons', () => {
    const n = fc.integer({ min: -1_000_000, max: 1_000_000 }).map((i) => i / 1000);
    fc.assert(fc.property(n, n, n, fc.boolean(), fc.boolean(), (lo, hi, v, loIn, hiIn) => {
      fc.pre(lo < hi);
      const policy = { a: [{ numeric: [loIn ? '>=' : '>', lo, hiIn ? '<=' : '<', hi] }] };
      const want = (loIn ? v >= lo : v > lo) && (hiIn ? v <= hi : v < hi);
      assert.equal(onAttributes(policy, { a: v }), want);
      assert.equal(matches(validateFilterPolicy(policy, B), { body: JSON.stringify({ a: v }) }), want);
    }), { numRuns: 1000 });
  });

  it('prefix, suffix and equals-ignore-case agree with startsWith, endsWith and toLowerCase', () => {
    fc.assert(fc.property(fc.string({ maxLength: 6 }), fc.string({ maxLength: 10 }), (p, v) => {
      assert.equal(onAttributes({ a: [{ prefix: p }] }, { a: v }), v.startsWith(p));
      assert.equal(onAttributes({ a: [{ suffix: p }] }, { a: v }), v.endsWith(p));
      assert.equal(onAttributes({ a: [{ 'equals-ignore-case': p }] }, { a: v }), v.toLowerCase() === p.toLowerCase());
    }), { numRuns: 500 });
  });

  it('a flat policy means the same on attributes as on the equivalent JSON body', () => {
    fc.assert(fc.property(flatPolicy, attrMap, (p, m) => {
      const body = JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v])));
      assert.equal(matches(validateFilterPolicy(p, B), { body }), onAttributes(p, m), `${JSON.stringify(p)} on ${body}`);
    }), { numRuns: 1000 });
  });
});
