// Tests for the event-pattern engine, in four parts:
// 1. conformance: the 155 patterns and events recorded against AWS's TestEventPattern (read at test
//    time from the shared conformance folder, never copied here): match / no-match exactly, invalid
//    patterns rejected with AWS's message; and all valid ones loaded into one index at once;
// 2. a table of edge cases the recordings do not cover (array consistency, types, limits, messages);
// 3. RuleIndex bookkeeping (replace, remove, ids once, event depth) and the test-pattern handler;
// 4. properties: the index agrees with the reference matcher over generated rule sets (with adds and
//    removes) and events, and validatePattern fails only with the pattern error, whatever it is given.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isNimbusError } from '../../errors.ts';
import { testEventPattern } from './api.ts';
import { MAX_EVENT_DEPTH, matchesPattern, RuleIndex } from './matcher.ts';
import { MAX_EVENT_PATTERN_CHARS, matchesReference, PATTERN_ERROR_CODE, validatePattern } from './pattern.ts';

const CASES = new URL('../../../../shared/conformance/eventbridge/pattern-cases.json', import.meta.url);
const skipIfMissing = (file: URL): string | false =>
  existsSync(file) ? false : `AWS recordings ${file.pathname} are absent (the shared conformance folder sits beside the repo); conformance not checked`;

interface Case {
  name: string;
  expected: 'match' | 'no-match' | 'invalid-pattern';
  pattern: unknown;
  event: unknown;
  awsError?: { Code: string; Message: string };
}

const isPatternError = (err: unknown): boolean =>
  isNimbusError(err) && err.code === PATTERN_ERROR_CODE && err.message.startsWith('Event pattern is not valid. Reason: ');

function rejects(pattern: unknown, reason: RegExp | string, field?: string): void {
  assert.throws(() => validatePattern(pattern), (err: unknown) => {
    assert.ok(isPatternError(err), `not the pattern error: ${String(err)}`);
    const e = err as { message: string; details?: { field?: string; reason?: string } };
    if (typeof reason === 'string') assert.equal(e.details?.reason, reason);
    else assert.match(e.details?.reason ?? '', reason);
    assert.equal(e.details?.field, field);
    return true;
  });
}

/** Both matchers' answer, after checking they agree. */
function bothMatch(pattern: unknown, event: unknown): boolean {
  const indexed = matchesPattern(validatePattern(pattern), event);
  assert.equal(matchesReference(pattern, event), indexed, 'reference and index disagree');
  return indexed;
}

// ---------------------------------------------------------------------------------------------

describe('conformance: AWS TestEventPattern recordings', { skip: skipIfMissing(CASES) }, () => {
  const cases = existsSync(CASES) ? (JSON.parse(readFileSync(CASES, 'utf8')) as Case[]) : [];

  it('has all 155 cases', () => assert.equal(cases.length, 155));

  for (const c of cases) {
    it(`${c.name}: ${c.expected}`, () => {
      if (c.expected === 'invalid-pattern') {
        assert.throws(() => validatePattern(c.pattern), (err: unknown) => {
          assert.ok(isPatternError(err), String(err));
          const message = (err as Error).message;
          assert.ok(message.startsWith(c.awsError!.Message), `message ${JSON.stringify(message)} does not carry AWS's ${JSON.stringify(c.awsError!.Message)}`);
          return true;
        });
        // AWS takes the pattern as JSON text; so do we.
        assert.throws(() => validatePattern(JSON.stringify(c.pattern)), isPatternError);
      } else {
        assert.equal(bothMatch(c.pattern, c.event), c.expected === 'match');
        assert.equal(matchesPattern(validatePattern(JSON.stringify(c.pattern)), c.event), c.expected === 'match');
      }
    });
  }

  it('gives the same answers with every valid pattern loaded into one index', () => {
    const valid = cases.filter((c) => c.expected !== 'invalid-pattern');
    const index = new RuleIndex();
    for (const c of valid) index.add(c.name, c.pattern);
    for (const c of cases) {
      const want = valid.filter((r) => matchesReference(r.pattern, c.event)).map((r) => r.name).sort();
      assert.deepEqual(index.match(c.event).sort(), want, `event of ${c.name}`);
      if (c.expected !== 'invalid-pattern') assert.equal(want.includes(c.name), c.expected === 'match', c.name);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('matching: cases beyond the recordings', () => {
  const employees = { employees: [{ first: 'John', last: 'Doe' }, { first: 'Anna', last: 'Smith' }, { first: 'Peter', last: 'Jones' }] };
  const table: [string, unknown, unknown, boolean][] = [
    ['fields from one array element combine', { employees: { first: ['Anna'], last: ['Smith'] } }, employees, true],
    ['fields from different elements of one array do not', { employees: { first: ['Anna'], last: ['Jones'] } }, employees, false],
    ['nested arrays keep elements apart', { a: { x: [1], y: [2] } }, { a: [[{ x: 1 }], [{ y: 2 }]] }, false],
    ['nested arrays, same element', { a: { x: [1], y: [2] } }, { a: [[{ x: 1, y: 2 }]] }, true],
    ['an object inside an element still belongs to it', { a: { b: { x: [1] }, y: [2] } }, { a: [{ b: { x: 1 }, y: 3 }, { y: 2 }] }, false],
    ['consistency across $or alternatives', { a: { x: [1], $or: [{ y: [2] }, { z: [3] }] } }, { a: [{ x: 1, y: 9 }, { z: 3 }, { x: 1, z: 3 }] }, true],
    ['one field twice (dotted key) needs both values', { detail: { tags: ['a'] }, 'detail.tags': ['b'] }, { detail: { tags: ['a', 'b'] } }, true],
    ['one field twice, one value missing', { detail: { tags: ['a'] }, 'detail.tags': ['b'] }, { detail: { tags: ['a'] } }, false],
    ['a bare value in an array is not inside an element', { t: ['a'], 't.x': [{ exists: false }] }, { t: ['b', 'a'] }, true],
    ['"300" is not 300', { n: ['300'] }, { n: 300 }, false],
    ['300 is 3.0e2', { n: [300] }, JSON.parse('{"n": 3.0e2}'), true],
    ['0 is -0', { n: [0] }, { n: -0 }, true],
    ['true is not "true"', { b: [true] }, { b: 'true' }, false],
    ['null is a value for exists', { v: [{ exists: true }] }, { v: null }, true],
    ['an object is not a value for exists', { v: [{ exists: true }] }, { v: { w: 1 } }, false],
    ['exists:false holds for an empty array', { v: [{ exists: false }] }, { v: [] }, true],
    ['exists:false holds for an object-valued field', { v: [{ exists: false }] }, { v: { w: 1 } }, true],
    ['exists:false fails when any element has the field', { a: { b: [{ exists: false }] } }, { a: [{ c: 1 }, { b: 2 }] }, false],
    ['anything-but matches when some element differs', { s: [{ 'anything-but': 'a' }] }, { s: ['a', 'b'] }, true],
    ['anything-but fails when every element is excluded', { s: [{ 'anything-but': ['a', 'b'] }] }, { s: ['a', 'b'] }, false],
    ['anything-but a string matches the number', { s: [{ 'anything-but': '101' }] }, { s: 101 }, true],
    ['anything-but matches booleans', { s: [{ 'anything-but': 'x' }] }, { s: false }, true],
    ['numeric bounds are inclusive or not as written', { n: [{ numeric: ['>', 0, '<=', 5] }] }, { n: 5 }, true],
    ['numeric lower bound open', { n: [{ numeric: ['>', 0, '<=', 5] }] }, { n: 0 }, false],
    ['numeric works on arrays of numbers', { n: [{ numeric: ['>=', 10] }] }, { n: [1, 2, 10] }, true],
    ['prefix does not match numbers', { n: [{ prefix: '1' }] }, { n: 123 }, false],
    ['empty prefix matches every string', { n: [{ prefix: '' }] }, { n: '' }, true],
    ['prefix ignoring case', { s: [{ prefix: { 'equals-ignore-case': 'ÉVÉ' } }] }, { s: 'éVénement' }, true],
    ['suffix ignoring case', { s: [{ suffix: { 'equals-ignore-case': '.JPG' } }] }, { s: 'a.jpg' }, true],
    ['equals-ignore-case is whole-string', { s: [{ 'equals-ignore-case': 'ab' }] }, { s: 'abc' }, false],
    ['wildcard star matches nothing too', { s: [{ wildcard: 'a*b' }] }, { s: 'ab' }, true],
    ['wildcard parts in order', { s: [{ wildcard: '*b*a*' }] }, { s: 'ab' }, false],
    ['wildcard escaped star is literal', { s: [{ wildcard: 'a\\*b' }] }, { s: 'a*b' }, true],
    ['wildcard escaped star does not match others', { s: [{ wildcard: 'a\\*b' }] }, { s: 'axb' }, false],
    ['wildcard escaped backslash', { s: [{ wildcard: 'a\\\\*' }] }, { s: 'a\\zz' }, true],
    ['wildcard spans newlines', { s: [{ wildcard: 'a*b' }] }, { s: 'a\nb' }, true],
    ['cidr IPv6 compressed forms', { ip: [{ cidr: '2001:db8::/32' }] }, { ip: '2001:db8:ffff::1' }, true],
    ['cidr IPv4 mask', { ip: [{ cidr: '10.1.0.0/16' }] }, { ip: '10.2.0.1' }, false],
    ['cidr /0 matches any address of the family', { ip: [{ cidr: '0.0.0.0/0' }] }, { ip: '203.0.113.9' }, true],
    ['cidr does not cross families', { ip: [{ cidr: '0.0.0.0/0' }] }, { ip: '::1' }, false],
    ['cidr refuses leading zeros in an event address', { ip: [{ cidr: '10.0.0.0/8' }] }, { ip: '010.0.0.1' }, false],
    ['$or at the top', { $or: [{ a: [1] }, { b: [2] }] }, { b: 2 }, true],
    ['$or nested in $or', { $or: [{ a: [1] }, { $or: [{ b: [2] }, { c: [3] }] }] }, { c: 3 }, true],
    ['$or AND a sibling field', { s: ['x'], $or: [{ a: [1] }, { b: [2] }] }, { s: 'y', a: 1 }, false],
    ['"$or" holding operators is a field name', { $or: [{ prefix: 'a' }, { suffix: 'z' }] }, { $or: 'abz' }, true],
    ['"$or" as an object is a field name', { $or: { a: ['x'] } }, { $or: { a: 'x' } }, true],
    ['dotted event key is the nested field', { a: { b: { c: ['x'] } } }, { 'a.b': { c: 'x' } }, true],
    ['an empty key is a field', { '': ['x'] }, { '': 'x' }, true],
    ['a key named __proto__ is a field', JSON.parse('{"__proto__": ["x"]}'), JSON.parse('{"__proto__": "x"}'), true],
    ['an event that is not an object has no fields', { a: [{ exists: false }] }, 'text', true],
    ['so it matches no field test', { a: [{ exists: true }] }, 'text', false],
    ['an array event is read element by element', { a: [1] }, [{ a: 2 }, { a: 1 }], true],
  ];
  for (const [name, pattern, event, want] of table) it(name, () => assert.equal(bothMatch(pattern, event), want));
});

describe('validatePattern: what it refuses, and how it says so', () => {
  it('names the field, in AWS words', () => {
    rejects({ detail: { pipeline: { slug: 'x' } } }, '"slug" must be an object or an array', 'detail.pipeline.slug');
    rejects({ detail: { n: [{ numeric: ['>', 5, '<', 5] }] } }, 'Bottom must be less than top', 'detail.n');
    rejects({ n: [{ numeric: ['=', 1, '>', 0] }] }, 'Bad numeric range operator: >', 'n');
    rejects({ n: [{ numeric: ['<', 1, '<', 0] }] }, 'Bad numeric range operator: <', 'n');
    rejects({ n: [{ numeric: ['~', 1] }] }, 'Unrecognized numeric range operator: "~"', 'n');
    rejects({ n: [{ numeric: ['>', '1'] }] }, 'Value of > must be numeric', 'n');
    rejects({ s: [{ 'anything-but': ['a', 1] }] }, /all strings or all numbers/, 's');
    rejects({ s: [{ 'anything-but': [] }] }, 'Empty arrays are not allowed', 's');
    rejects({ s: [{ 'anything-but': { numeric: ['>', 1] } }] }, 'Unsupported anything-but pattern: numeric', 's');
    rejects({ s: [{ 'anything-but': { prefix: 'a', suffix: 'b' } }] }, 'Value of anything-but must be an array or single string/number value.', 's');
    rejects({ s: [{ wildcard: 'a\\x' }] }, 'Invalid escape character at pos 1', 's');
    rejects({ s: [{ wildcard: 'a*b*c*d*e*f*' }] }, /^Rule is too complex/, 's');
    rejects({ ip: [{ cidr: '10.0.0.0/33' }] }, /mask bits must be at most 32/, 'ip');
    rejects({ ip: [{ cidr: '::/129' }] }, /mask bits must be at most 128/, 'ip');
    rejects({ s: [{ exists: 'yes' }] }, 'exists match pattern must be either true or false.', 's');
    rejects({ s: [{ prefix: 'a', suffix: 'b' }] }, /^Only one key allowed in match expression/, 's');
    rejects({ s: [['a']] }, 'Match value must be String, number, true, false, or null', 's');
    rejects({ s: [{}] }, 'Empty objects are not allowed', 's');
    rejects({ detail: {} }, 'Empty objects are not allowed', 'detail');
    rejects({ $or: [{ a: [1] }, { b: 'x' }] }, '"b" must be an object or an array', '$or[1].b');
    rejects({ $or: [{ a: [1] }] }, 'Unrecognized match type a', '$or');
  });

  it('refuses what is not a pattern at all', () => {
    rejects({}, 'Empty objects are not allowed');
    for (const p of [null, 5, [], [{ a: [1] }], '[1]', 'true']) rejects(p, 'Filter is not an object');
    rejects('{"a": [1]', /^not valid JSON/);
    const cyclic: Record<string, unknown> = { a: [1] };
    cyclic.self = cyclic;
    rejects(cyclic, /refers to itself/);
  });

  it('enforces the size and shape limits', () => {
    const long = { source: ['x'.repeat(MAX_EVENT_PATTERN_CHARS)] };
    rejects(long, /characters long; the limit is 2048/);
    assert.doesNotThrow(() => validatePattern(long, { maxChars: 4096 }));
    // Eleven two-way $ors multiply to 2048 alternatives.
    const ors = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`f${i}`, { $or: [{ a: [1] }, { b: [2] }] }]));
    rejects(ors, /^Rule is too complex - its \$or alternatives multiply to more than 1000/, 'f9');
    let deep: Record<string, unknown> = { leaf: [1] };
    for (let i = 0; i < 120; i++) deep = { n: deep };
    rejects(deep, /nests objects more than 100 levels deep/, Array(100).fill('n').join('.'));
  });

  it('accepts the same pattern as text and as an object', () => {
    const p = { source: ['a'], detail: { n: [{ numeric: ['>', 1] }], $or: [{ x: ['1'] }, { y: [{ prefix: 'q' }] }] } };
    assert.equal(validatePattern(JSON.stringify(p)).alternatives.length, validatePattern(p).alternatives.length);
  });
});

// ---------------------------------------------------------------------------------------------

describe('RuleIndex', () => {
  it('adds, replaces and removes rules', () => {
    const index = new RuleIndex();
    index.add('r1', { source: ['a'] });
    index.add('r2', { source: [{ prefix: 'a' }] });
    assert.deepEqual(index.match({ source: 'a' }).sort(), ['r1', 'r2']);
    index.add('r1', { source: ['b'] });
    assert.deepEqual(index.match({ source: 'a' }), ['r2']);
    assert.deepEqual(index.match({ source: 'b' }), ['r1']);
    assert.equal(index.remove('r2'), true);
    assert.equal(index.remove('r2'), false);
    assert.deepEqual(index.match({ source: 'a' }), []);
    assert.equal(index.size, 1);
  });

  it('keeps the old rule when the replacement is invalid', () => {
    const index = new RuleIndex();
    index.add('r', { source: ['a'] });
    assert.throws(() => index.add('r', { source: 'a' }), isPatternError);
    assert.deepEqual(index.match({ source: 'a' }), ['r']);
  });

  it('returns a rule once however many of its alternatives match', () => {
    const index = new RuleIndex();
    index.add('r', { $or: [{ a: [1] }, { b: [2] }, { a: [{ numeric: ['>', 0] }] }] });
    assert.deepEqual(index.match({ a: [1, 3], b: 2 }), ['r']);
  });

  it('does not try rules whose anchor does not match', () => {
    const index = new RuleIndex();
    let calls = 0;
    for (let i = 0; i < 1000; i++) {
      const compiled = validatePattern({ source: [`s${i}`], detail: { n: [{ numeric: ['>', 0] }] } });
      for (const alt of compiled.alternatives) for (const p of alt) {
        const test = p.test;
        (p as { test: typeof test }).test = (v) => (calls++, test(v));
      }
      index.add(`r${i}`, compiled);
    }
    assert.deepEqual(index.match({ source: 's7', detail: { n: 1 } }), ['r7']);
    assert.ok(calls <= 2, `${calls} predicate checks for one candidate`);
  });

  it("does not carry one rule's choice of array elements into the next rule's check", () => {
    const index = new RuleIndex();
    index.add('empty-suffix', { 'a.b': [{ suffix: '' }] });
    index.add('null', { 'a.b': [null] });
    assert.deepEqual(index.match({ a: [{ b: [''] }, { b: [null] }] }).sort(), ['empty-suffix', 'null']);
  });

  it('reads events 1,100 levels deep and no deeper, without overflowing the stack', () => {
    const nest = (levels: number): unknown => {
      let v: unknown = 1;
      for (let i = 0; i < levels; i++) v = [v];
      return { a: v };
    };
    assert.equal(bothMatch({ a: [1] }, nest(MAX_EVENT_DEPTH - 1)), true);
    assert.equal(bothMatch({ a: [1] }, nest(MAX_EVENT_DEPTH)), false);
    assert.equal(bothMatch({ a: [{ exists: false }] }, nest(MAX_EVENT_DEPTH)), true);
    const index = new RuleIndex();
    index.add('r', { a: [1] });
    assert.deepEqual(index.match(nest(200_000)), []);
  });

  it('forgets field paths no rule names any more', () => {
    const index = new RuleIndex();
    index.add('r', { a: { b: [1] } });
    index.remove('r');
    index.add('q', { a: [{ exists: false }] });
    assert.deepEqual(index.match({ a: { b: 1 } }), ['q']);
  });
});

describe('testEventPattern (POST /_nimbus/api/events/test-pattern)', () => {
  const event = { source: 'aws.ec2', 'detail-type': 'EC2 Instance State-change Notification', detail: { state: 'running' } };

  it('answers {match}, for a pattern and event given as objects or as JSON text', () => {
    assert.deepEqual(testEventPattern({ pattern: { detail: { state: ['running'] } }, event }), { match: true });
    assert.deepEqual(testEventPattern({ pattern: '{"detail":{"state":["stopped"]}}', event: JSON.stringify(event) }), { match: false });
  });

  it('is a 400 naming the field for an invalid pattern, and for a malformed body', () => {
    assert.throws(() => testEventPattern({ pattern: { detail: { state: 'running' } }, event }), (err: unknown) =>
      isPatternError(err) && (err as Error).message === 'Event pattern is not valid. Reason: "state" must be an object or an array (field "detail.state")');
    const bad = (body: unknown, re: RegExp) =>
      assert.throws(() => testEventPattern(body), (err: unknown) => isNimbusError(err) && err.status === 400 && re.test(err.message));
    bad(null, /must be a JSON object/);
    bad({ pattern: { a: [1] } }, /event is required/);
    bad({ event }, /pattern is required/);
    bad({ pattern: { a: [1] }, event, extra: 1 }, /unknown key "extra"/);
    bad({ pattern: { a: [1] }, event: '{' }, /event: not valid JSON/);
    bad({ pattern: { a: [1] }, event: [event] }, /event must be a JSON object/);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties. Generated patterns and events draw on small vocabularies so that they collide often.

const KEYS = ['a', 'b', 'c', 'a.b'];
const STRINGS = ['', 'x', 'X', 'xy', 'xY', 'yx', 'a*b', '1', '300', 'null', 'true', '10.0.0.7', '10.1.2.3', '::1', '2001:db8::5'];
const NUMBERS = [0, 1, -1, 1.5, 300, 1e9];
const scalar = fc.oneof(fc.constantFrom<unknown>(...STRINGS), fc.constantFrom<unknown>(...NUMBERS), fc.boolean(), fc.constant(null));
const shortString = fc.stringMatching(/^[xyXY]{0,3}$/);
const nonEmpty = fc.stringMatching(/^[xyXY]{1,3}$/);
const glob = fc.stringMatching(/^[xy]{0,2}(\*[xy]{1,2}){0,2}\*?$/);
const strings = fc.array(nonEmpty, { minLength: 1, maxLength: 2 });
const numericRange = fc.oneof(
  fc.tuple(fc.constantFrom('=', '<', '<=', '>', '>='), fc.constantFrom(...NUMBERS)).map(([op, n]) => [op, n]),
  fc.tuple(fc.constantFrom('>', '>='), fc.constantFrom('<', '<='), fc.uniqueArray(fc.constantFrom(...NUMBERS), { minLength: 2, maxLength: 2 }))
    .map(([lo, hi, [p, q]]) => [lo, Math.min(p!, q!), hi, Math.max(p!, q!)]),
);
const operator = fc.oneof(
  shortString.map((s) => ({ prefix: s })),
  shortString.map((s) => ({ suffix: s })),
  shortString.map((s) => ({ prefix: { 'equals-ignore-case': s } })),
  shortString.map((s) => ({ suffix: { 'equals-ignore-case': s } })),
  shortString.map((s) => ({ 'equals-ignore-case': s })),
  glob.map((s) => ({ wildcard: s })),
  numericRange.map((r) => ({ numeric: r })),
  fc.constantFrom('10.0.0.0/8', '10.1.0.0/16', '::/0', '2001:db8::/32').map((c) => ({ cidr: c })),
  fc.boolean().map((b) => ({ exists: b })),
  fc.oneof(
    fc.constantFrom<unknown>(...STRINGS, ...NUMBERS),
    fc.array(fc.constantFrom(...STRINGS), { minLength: 1, maxLength: 3 }),
    fc.array(fc.constantFrom(...NUMBERS), { minLength: 1, maxLength: 3 }),
    fc.oneof(nonEmpty, strings).map((p) => ({ prefix: p })),
    fc.oneof(nonEmpty, strings).map((p) => ({ suffix: p })),
    fc.oneof(shortString, strings).map((p) => ({ 'equals-ignore-case': p })),
    fc.oneof(glob, fc.array(glob, { minLength: 1, maxLength: 2 })).map((p) => ({ wildcard: p })),
  ).map((x) => ({ 'anything-but': x })),
);
const matchList = fc.array(fc.oneof({ weight: 2, arbitrary: scalar }, { weight: 3, arbitrary: operator }), { minLength: 1, maxLength: 3 });

/** Patterns up to `depth` levels of nested objects or `$or`s below the top. */
function patternAt(depth: number): fc.Arbitrary<Record<string, unknown>> {
  const node = depth === 0 ? matchList : fc.oneof({ weight: 3, arbitrary: matchList }, { weight: 1, arbitrary: patternAt(depth - 1) });
  const fields = fc.dictionary(fc.constantFrom(...KEYS), node, { minKeys: 1, maxKeys: 2 });
  if (depth === 0) return fields;
  const or = fc.tuple(fc.array(patternAt(depth - 1), { minLength: 2, maxLength: 3 }), fc.dictionary(fc.constantFrom(...KEYS), node, { maxKeys: 1 }))
    .map(([branches, rest]) => ({ ...rest, $or: branches }));
  return fc.oneof({ weight: 4, arbitrary: fields }, { weight: 1, arbitrary: or });
}
const patternArb = patternAt(2);

function eventAt(depth: number): fc.Arbitrary<Record<string, unknown>> {
  const leafy = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }));
  const value = depth === 0 ? leafy : fc.oneof({ weight: 3, arbitrary: leafy }, { weight: 1, arbitrary: eventAt(depth - 1) }, { weight: 1, arbitrary: fc.array(eventAt(depth - 1), { maxLength: 3 }) });
  return fc.dictionary(fc.constantFrom(...KEYS, 'd'), value, { minKeys: depth === 3 ? 2 : 0, maxKeys: 5 });
}
const eventArb = eventAt(3);

describe('properties', () => {
  it('the index returns exactly the rules the reference matcher matches, through adds and removes', () => {
    const op = fc.oneof({ weight: 3, arbitrary: fc.tuple(fc.constant('add' as const), fc.nat(15), patternArb) }, { weight: 1, arbitrary: fc.tuple(fc.constant('remove' as const), fc.nat(15), fc.constant(null)) });
    let pairs = 0, matched = 0;
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), fc.array(eventArb, { minLength: 1, maxLength: 6 }), (ops, events) => {
      const index = new RuleIndex();
      const live = new Map<string, unknown>();
      for (const [kind, n, pattern] of ops) {
        const id = `r${n}`;
        if (kind === 'add') {
          index.add(id, pattern);
          live.set(id, pattern);
        } else {
          assert.equal(index.remove(id), live.delete(id));
        }
      }
      for (const event of events) {
        const want = [...live].filter(([, p]) => matchesReference(p, event)).map(([id]) => id).sort();
        assert.deepEqual(index.match(event).sort(), want, JSON.stringify(event));
        pairs += live.size;
        matched += want.length;
      }
    }), { numRuns: 2000 });
    // Not vacuous: generated rules match generated events often, but not always.
    assert.ok(matched > pairs * 0.05 && matched < pairs * 0.95, `${matched} of ${pairs} rule/event pairs matched`);
  });

  it('validatePattern fails only with the pattern error, whatever it is given', () => {
    const check = (p: unknown): void => {
      try {
        validatePattern(p);
      } catch (err) {
        assert.ok(isPatternError(err), `${String(err)} for ${JSON.stringify(p)}`);
        const e = err as { status: number; details?: { reason?: unknown } };
        assert.equal(e.status, 400);
        assert.equal(typeof e.details?.reason, 'string');
      }
    };
    fc.assert(fc.property(fc.anything(), check), { numRuns: 500 });
    fc.assert(fc.property(fc.jsonValue(), (v) => check(JSON.stringify(v))), { numRuns: 300 });
    fc.assert(fc.property(fc.string(), check), { numRuns: 300 });
    // Near-misses: a generated pattern with one node swapped for an arbitrary JSON value.
    fc.assert(fc.property(patternArb, fc.jsonValue(), fc.nat(), (p, junk, pick) => {
      const nodes: [Record<string, unknown> | unknown[], string | number][] = [];
      const visit = (x: unknown): void => {
        if (Array.isArray(x)) x.forEach((v, i) => (nodes.push([x, i]), visit(v)));
        else if (x && typeof x === 'object') for (const [k, v] of Object.entries(x)) (nodes.push([x as Record<string, unknown>, k]), visit(v));
      };
      const copy = structuredClone(p);
      visit(copy);
      const [parent, key] = nodes[pick % nodes.length]!;
      (parent as Record<string | number, unknown>)[key] = junk;
      check(copy);
    }), { numRuns: 500 });
  });

  it('generated patterns are valid (the generator is sound)', () => {
    fc.assert(fc.property(patternArb, (p) => void validatePattern(p)), { numRuns: 300 });
  });
});
