// Tests for target input (input.ts): each mode, EventBridge's documented template examples (the user
// guide's "Input transformation" page and the API reference's InputTransformer), the validation rules
// with their messages, and properties: a validated input renders for any event without throwing, and
// a JSON template always renders valid JSON.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isNimbusError } from '../../errors.ts';
import { MAX_INPUT_CHARS, PREDEFINED_VARIABLES, renderTargetInput, type TargetInput, validateTargetInput } from './input.ts';

type Spec = Parameters<typeof validateTargetInput>[0];

const CTX = { ruleName: 'example', ruleArn: 'arn:aws:events:us-east-2:123456789012:rule/example', ingestionTime: '2015-11-11T21:29:55Z' };

/** The EC2 state-change event the user guide's examples start from. */
const EC2_EVENT = {
  version: '0', id: '7bf73129-1428-4cd3-a780-95db273d1602', 'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2', account: '123456789012', time: '2015-11-11T21:29:54Z', region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111'],
  detail: { 'instance-id': 'i-0123456789', state: 'RUNNING' },
};
const EC2_PATHS = { timestamp: '$.time', instance: '$.detail.instance-id', state: '$.detail.state', resource: '$.resources[0]' };

const transformer = (inputTemplate: string, inputPathsMap: Record<string, string> = EC2_PATHS): Spec => ({ inputTransformer: { inputPathsMap, inputTemplate } });
const render = (spec: Spec, event: object = EC2_EVENT): string => renderTargetInput(validateTargetInput(spec, 'target'), event, CTX);

function assertRefused(spec: Spec, message: RegExp, where = 'target'): void {
  assert.throws(() => validateTargetInput(spec, where), (err: unknown) => {
    assert.ok(isNimbusError(err), `not a NimbusError: ${String(err)}`);
    assert.equal(err.code, 'BAD_REQUEST');
    assert.ok(err.message.startsWith(`${where}.`), `message does not start with "${where}.": ${err.message}`);
    assert.match(err.message, message);
    return true;
  });
}

describe('modes', () => {
  const detailed = { ...EC2_EVENT, detail: { items: [{ sku: 'a-1', qty: 2 }, { sku: 'b-2' }], 'odd key': { 'it\'s': 1 }, empty: null } };
  const cases: [string, Spec, string][] = [
    ['no input: the whole event', {}, JSON.stringify(detailed)],
    ['input: the constant, as written', { input: '{ "fixed" : [1, 2] }' }, '{ "fixed" : [1, 2] }'],
    ['input: a JSON string', { input: '"hello"' }, '"hello"'],
    ['inputPath $: the whole event', { inputPath: '$' }, JSON.stringify(detailed)],
    ['inputPath $.detail', { inputPath: '$.detail' }, JSON.stringify(detailed.detail)],
    ['inputPath to an array element', { inputPath: '$.detail.items[0]' }, '{"sku":"a-1","qty":2}'],
    ['inputPath through an array element', { inputPath: '$.detail.items[1].sku' }, '"b-2"'],
    ['inputPath to a string is its JSON', { inputPath: '$.source' }, '"aws.ec2"'],
    ['inputPath to null', { inputPath: '$.detail.empty' }, 'null'],
    ['inputPath with a dashed name', { inputPath: '$.detail-type' }, '"EC2 Instance State-change Notification"'],
    ['inputPath with bracketed names', { inputPath: "$['detail'][\"odd key\"]" }, '{"it\'s":1}'],
    ['inputPath with an escaped quote', { inputPath: "$.detail['odd key']['it\\'s']" }, '1'],
    ['inputPath to nothing: ""', { inputPath: '$.detail.nope' }, '""'],
    ['inputPath past the end of an array', { inputPath: '$.detail.items[2]' }, '""'],
    ['an index into an object matches nothing', { inputPath: '$.detail[0]' }, '""'],
    ['a name on an array matches nothing', { inputPath: '$.resources.length' }, '""'],
    ['inherited names match nothing', { inputPath: '$.detail.constructor' }, '""'],
  ];
  for (const [name, spec, expected] of cases) test(name, () => assert.equal(render(spec, detailed), expected));

  test('validate returns the compiled kind', () => {
    assert.equal(validateTargetInput({}, 't').kind, 'event');
    assert.equal(validateTargetInput({ input: '1' }, 't').kind, 'constant');
    assert.equal(validateTargetInput({ inputPath: '$' }, 't').kind, 'path');
    const t = validateTargetInput(transformer('<state>'), 't') as Extract<TargetInput, { kind: 'transformer' }>;
    assert.deepEqual([t.kind, t.format], ['transformer', 'json']);
    assert.equal((validateTargetInput(transformer('state <state>'), 't') as typeof t).format, 'text');
  });
});

describe("EventBridge's documented examples", () => {
  // User guide, "Input transform examples": the EC2 event, its Input Path and each template's output.
  const guide: [string, string, unknown][] = [
    ['simple string', '"instance <instance> is in <state>"', 'instance i-0123456789 is in RUNNING'],
    ['string with escaped quotes', '"instance \\"<instance>\\" is in <state>"', 'instance "i-0123456789" is in RUNNING'],
    ['simple JSON', '{\n  "instance" : <instance>,\n  "state": <state>\n}', { instance: 'i-0123456789', state: 'RUNNING' }],
    ['JSON with strings and variables', '{\n "instance" : <instance>,\n "state": "<state>",\n "instanceStatus": "instance \\"<instance>\\" is in <state>"\n}',
      { instance: 'i-0123456789', state: 'RUNNING', instanceStatus: 'instance "i-0123456789" is in RUNNING' }],
    ['JSON with a mix of variables and static information', '{\n  "instance" : <instance>,\n  "state": [ 9, <state>, true ],\n  "Transformed" : "Yes"\n}',
      { instance: 'i-0123456789', state: [9, 'RUNNING', true], Transformed: 'Yes' }],
    ['reserved variables in JSON', '{\n  "instance" : <instance>,\n  "state": <state>,\n  "ruleArn" : <aws.events.rule-arn>,\n  "ruleName" : <aws.events.rule-name>,\n  "originalEvent" : <aws.events.event>\n}',
      { instance: 'i-0123456789', state: 'RUNNING', ruleArn: CTX.ruleArn, ruleName: 'example', originalEvent: { ...EC2_EVENT, detail: undefined } }],
    ['reserved variables in a string', '"<aws.events.rule-name> triggered"', 'example triggered'],
    ['an array element', '{"resource": <resource>, "at": <timestamp>}', { resource: EC2_EVENT.resources[0], at: '2015-11-11T21:29:54Z' }],
  ];
  for (const [name, template, expected] of guide) {
    test(`user guide: ${name}`, () => {
      const out = JSON.parse(render(transformer(template)));
      assert.deepEqual(out, JSON.parse(JSON.stringify(expected)));
    });
  }

  test('the JSON passed to the target is minified; whitespace inside strings stays', () => {
    assert.equal(render(transformer('{\n  "instance" : <instance>,\n  "state": [ 9, <state>, true ],\n  "note": " a  b "\n}')),
      '{"instance":"i-0123456789","state":[9,"RUNNING",true],"note":" a  b "}');
  });

  // API reference, InputTransformer: the same three templates over $.detail.instance and $.detail.status.
  const apiEvent = { ...EC2_EVENT, detail: { instance: 'i-0123456789', status: 'running' } };
  const apiPaths = { instance: '$.detail.instance', status: '$.detail.status' };
  test('API reference: a plain-text template', () => {
    assert.equal(render(transformer('<instance> is in state <status>', apiPaths), apiEvent), 'i-0123456789 is in state running');
  });
  test('API reference: quotes in a plain-text template', () => {
    assert.equal(render(transformer('<instance> is in state "<status>"', apiPaths), apiEvent), 'i-0123456789 is in state "running"');
  });
  test('API reference: variables in quotes or out in a JSON template', () => {
    assert.equal(render(transformer('{"myInstance": <instance>,"myStatus": "<instance> is in state \\"<status>\\""}', apiPaths), apiEvent),
      '{"myInstance":"i-0123456789","myStatus":"i-0123456789 is in state \\"running\\""}');
  });

  // User guide, "Common issues with transforming input".
  const event = { ...EC2_EVENT, detail: { foo: 'bar', n: 7, list: ['x', 1], ok: true, none: null } };
  const paths = { detail: '$.detail', foo: '$.detail.foo', n: '$.detail.n', list: '$.detail.list', ok: '$.detail.ok', none: '$.detail.none', gone: '$.detail.gone' };
  const issues: [string, string, string][] = [
    ['string values get quotes in a value position', '{"a": <foo>}', '{"a":"bar"}'],
    ['quoting a string variable is allowed too', '{"a": "<foo>"}', '{"a":"bar"}'],
    ['objects and arrays are not quoted in a value position', '{"d": <detail>, "l": <list>}', '{"d":{"foo":"bar","n":7,"list":["x",1],"ok":true,"none":null},"l":["x",1]}'],
    ['an object inside a string loses its inner quotes', '"Detail is <detail>"', '"Detail is {foo:bar,n:7,list:[x,1],ok:true,none:null}"'],
    ['numbers, booleans and null keep their JSON type', '[<n>, <ok>, <none>]', '[7,true,null]'],
    ['…and read as text inside a string', '"<n> <ok> <none>"', '"7 true null"'],
    ['a missing variable is not in a string', '"x<gone>y"', '"xy"'],
    ['a missing variable in a value position is ""', '{"g": <gone>}', '{"g":""}'],
    ['the whole event as a value', '{"e": <aws.events.event.json>}', JSON.stringify({ e: event })],
    ['the event without its detail', '{"e": <aws.events.event>}', JSON.stringify({ e: { ...event, detail: undefined } })],
    ['the ingestion time is an ISO 8601 string', '{"t": <aws.events.event.ingestion-time>, "s": "at <aws.events.event.ingestion-time>"}', `{"t":"${CTX.ingestionTime}","s":"at ${CTX.ingestionTime}"}`],
  ];
  for (const [name, template, expected] of issues) test(`common issues: ${name}`, () => assert.equal(render(transformer(template, paths), event), expected));
});

describe('templates', () => {
  const event = { ...EC2_EVENT, detail: { q: 'say "hi"\\ok\nnext', obj: { k: 'v"w' }, n: 1 } };
  const paths = { q: '$.detail.q', obj: '$.detail.obj', n: '$.detail.n' };
  const cases: [string, string, string][] = [
    ['text inserted into a JSON string is escaped', '{"m": "<q>"}', JSON.stringify({ m: event.detail.q })],
    ['an object in a string loses only the quotes JSON adds', '"<obj>"', JSON.stringify('{k:v"w}')],
    ['a plain-text template inserts text as it is', 'q=<q> obj=<obj> n=<n>', `q=${event.detail.q} obj={"k":"v\\"w"} n=1`],
    ['a lone placeholder is a JSON template', '<obj>', '{"k":"v\\"w"}'],
    ['a JSON literal with no placeholder', '[1, 2]', '[1,2]'],
    ['"<" that is no placeholder stays', '"1 < 2 and <n> > 0"', '"1 < 2 and 1 > 0"'],
    ['a backslash before a placeholder in a string', '"a\\\\<n>"', '"a\\\\1"'],
    ['a backslash before a placeholder in text', 'C:\\<n>', 'C:\\1'],
    ['the same placeholder twice', '[<n>, "<n><n>"]', '[1,"11"]'],
    ['unused entries in the map are fine', '"fixed"', '"fixed"'],
  ];
  for (const [name, template, expected] of cases) test(name, () => assert.equal(render(transformer(template, paths), event), expected));

  test('predefined variables need no inputPathsMap', () => {
    assert.equal(render({ inputTransformer: { inputTemplate: '"<aws.events.rule-name> <aws.events.rule-arn> <aws.events.event.ingestion-time>"' } }),
      `"example ${CTX.ruleArn} ${CTX.ingestionTime}"`);
  });
});

describe('validation', () => {
  const longName = 'n'.repeat(256);
  const accepted: [string, Spec][] = [
    ['a 256-character path', { inputPath: `$.${'a'.repeat(254)}` }],
    ['an 8192-character input', { input: JSON.stringify('x'.repeat(MAX_INPUT_CHARS - 2)) }],
    ['an 8192-character template', transformer(`"${'x'.repeat(MAX_INPUT_CHARS - 2)}"`)],
    ['100 entries', transformer('1', Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`v${i}`, '$.id'])))],
    ['a 256-character name', transformer(`<${longName}>`, { [longName]: '$.id' })],
    ['names with ".", "-" and "_"', transformer('[<a.b>, <c-d>, <e_f>]', { 'a.b': '$.id', 'c-d': '$.id', e_f: '$.id' })],
    ['a name that merely contains "aws"', transformer('<my.aws.x>', { 'my.aws.x': '$.id' })],
    ['paths with "/" and array indexes', transformer('<a>', { a: '$.detail.a/b[0][12]' })],
  ];
  for (const [name, spec] of accepted) test(`accepts ${name}`, () => assert.doesNotThrow(() => validateTargetInput(spec, 'target')));

  const refused: [string, Spec, RegExp][] = [
    ['input with inputPath', { input: '1', inputPath: '$' }, /^target\.inputPath: only one of input, inputPath and inputTransformer.*input is given too/],
    ['inputPath with inputTransformer', { inputPath: '$', inputTransformer: {} }, /^target\.inputTransformer: only one of/],
    ['all three', { input: '1', inputPath: '$', inputTransformer: {} }, /^target\.inputPath: only one of/],
    ['input that is not a string', { input: { a: 1 } }, /^target\.input: must be JSON text.*\{"a":1\}/],
    ['input that is not JSON', { input: '{oops' }, /^target\.input: must be valid JSON text/],
    ['empty input', { input: '' }, /^target\.input: must be valid JSON text/],
    ['input over 8192 characters', { input: JSON.stringify('x'.repeat(MAX_INPUT_CHARS - 1)) }, /^target\.input: at most 8192 characters, got 8193/],
    ['inputPath that is not a string', { inputPath: 5 }, /^target\.inputPath: must be a JSON path/],
    ['inputPath over 256 characters', { inputPath: `$.${'a'.repeat(255)}` }, /^target\.inputPath: a JSON path has at most 256 characters, got 257/],
    ['a path without $', { inputPath: 'detail' }, /must start with \$/],
    ['a path ending in "."', { inputPath: '$.' }, /after "\." comes a name/],
    ['recursive descent', { inputPath: '$..id' }, /recursive descent/],
    ['a wildcard', { inputPath: '$.detail.*' }, /wildcards \(\*\) are not supported/],
    ['a bracketed wildcard', { inputPath: '$.resources[*]' }, /wildcards, slices, filters/],
    ['a negative index', { inputPath: '$.resources[-1]' }, /negative indexes are not supported/],
    ['a slice', { inputPath: '$.resources[0:2]' }, /array index/],
    ['a filter', { inputPath: '$.resources[?(@.a)]' }, /filters/],
    ['a leading zero', { inputPath: '$.resources[01]' }, /array index/],
    ['a space in a dot name', { inputPath: '$.a b' }, /expected "\." or "\["/],
    ['an unclosed quoted name', { inputPath: "$['a" }, /a quoted name ends with '\]/],
    ['a bad escape in a quoted name', { inputPath: "$['a\\x']" }, /only \\\\ and \\' are escapes/],
    ['inputTransformer that is not a mapping', { inputTransformer: 'x' }, /^target\.inputTransformer: must be a mapping/],
    ['an unknown key', { inputTransformer: { inputTemplate: '1', extra: 1 } }, /^target\.inputTransformer: unknown key "extra"/],
    ["EventBridge's spelling", { inputTransformer: { InputTemplate: '1' } }, /unknown key "InputTemplate".*camelCase/],
    ['inputPathsMap that is not a mapping', { inputTransformer: { inputPathsMap: ['$.id'], inputTemplate: '1' } }, /^target\.inputTransformer\.inputPathsMap: must be a mapping/],
    ['101 entries', transformer('1', Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`v${i}`, '$.id']))), /inputPathsMap: at most 100 entries.*got 101/],
    ['a name with a space', transformer('1', { 'a b': '$.id' }), /inputPathsMap\["a b"\]: a name is 1 to 256 letters, digits/],
    ['an empty name', transformer('1', { '': '$.id' }), /inputPathsMap\[""\]: a name is/],
    ['a name with "/"', transformer('1', { 'a/b': '$.id' }), /a name is/],
    ['a 257-character name', transformer('1', { [`${longName}x`]: '$.id' }), /a name is 1 to 256/],
    ['a reserved name', transformer('1', { 'aws.events.rule-name': '$.id' }), /\["aws\.events\.rule-name"\]: names starting with "aws\." are reserved/],
    ['a name starting with AWS.', transformer('1', { 'AWS.mine': '$.id' }), /names starting with "aws\." are reserved/],
    ['a path that is not a string', transformer('1', { a: 1 as unknown as string }), /inputPathsMap\.a: must be a JSON path/],
    ['bracket notation in inputPathsMap', transformer('<a>', { a: "$['detail']" }), /inputPathsMap\.a: .*use dot notation/],
    ['a bad path in inputPathsMap', transformer('<a>', { a: '$.detail.*' }), /inputPathsMap\.a: .*wildcards/],
    ['no template', { inputTransformer: { inputPathsMap: {} } }, /^target\.inputTransformer\.inputTemplate: is required/],
    ['an empty template', transformer(''), /inputTemplate: is required.*got 0 characters/],
    ['a template over 8192 characters', transformer(`"${'x'.repeat(MAX_INPUT_CHARS - 1)}"`), /got 8193 characters/],
    ['a placeholder with no mapping', transformer('"<instance> <status>"'), /inputTemplate: placeholder <status> has no entry in inputPathsMap/],
    ['an unknown aws.* placeholder', transformer('<aws.events.rule>'), /placeholder <aws\.events\.rule> has no entry/],
    ['HTML-like text, since "<" cannot be escaped', transformer('"<b>bold</b>"'), /placeholder <b> has no entry/],
    ['a placeholder as an object key', transformer('{<instance>: 1}'), /inputTemplate: a placeholder cannot be used as an object key/],
    ['a placeholder inside a quoted key', transformer('{"id-<instance>": 1}'), /cannot be used as an object key/],
    ['a placeholder as a nested key', transformer('[{"a": {<state>: 1}}]'), /cannot be used as an object key/],
    ['the event inside a string', transformer('"got <aws.events.event.json>"'), /<aws\.events\.event\.json> can only be used as a JSON value/],
    ['the event in a plain-text template', transformer('got <aws.events.event>'), /<aws\.events\.event> can only be used as a JSON value/],
  ];
  for (const [name, spec, message] of refused) test(`refuses ${name}`, () => assertRefused(spec, message));

  test('errors start with the caller\'s location', () => assertRefused({ inputPath: 'x' }, /^rules\.orders\.inputPath: /, 'rules.orders'));
  test('there are five predefined variables', () => assert.equal(PREDEFINED_VARIABLES.length, 5));
});

describe('properties', () => {
  const event = fc.record({ id: fc.uuid(), source: fc.string(), detail: fc.dictionary(fc.string(), fc.jsonValue()), extra: fc.jsonValue() }, { requiredKeys: ['id', 'source'] });
  const name = fc.stringMatching(/^[A-Za-z0-9_-]{1,6}$/);
  const path = fc.array(fc.oneof(fc.stringMatching(/^[A-Za-z0-9_/-]{1,6}$/).map((n) => `.${n}`), fc.nat(3).map((i) => `[${i}]`)), { maxLength: 4 })
    .map((steps) => `$${['.detail', '.extra', '.source', ''][steps.length % 4]}${steps.join('')}`);
  const pathsMap = fc.dictionary(name, path, { minKeys: 1, maxKeys: 6 });
  const noPlaceholders = (s: string) => s.replace(/</g, '(');

  /** A JSON template whose values are placeholders, literals, or strings with placeholders inside. */
  const jsonTemplate = (names: string[]) => {
    const placeholder = fc.constantFrom(...names, ...PREDEFINED_VARIABLES).map((n) => `<${n}>`);
    const inString = fc.constantFrom(...names, 'aws.events.rule-name', 'aws.events.event.ingestion-time').map((n) => `<${n}>`);
    const str = fc.array(fc.oneof(inString, fc.string().map((s) => JSON.stringify(noPlaceholders(s)).slice(1, -1))), { maxLength: 4 }).map((parts) => `"${parts.join('')}"`);
    const { value } = fc.letrec<{ value: string }>((tie) => ({
      value: fc.oneof({ depthSize: 'small', withCrossShrink: true },
        placeholder, str, fc.jsonValue({ maxDepth: 1 }).map((v) => noPlaceholders(JSON.stringify(v))),
        fc.array(tie('value'), { maxLength: 4 }).map((vs) => ` [ ${vs.join(' , ')} ] `),
        fc.array(fc.tuple(fc.stringMatching(/^[a-z]{0,4}$/), tie('value')), { maxLength: 4 }).map((kvs) => `{${kvs.map(([k, v]) => `\n"${k}": ${v}`).join(',')}}`)),
    }));
    return value;
  };

  test('a JSON template validates, renders for any event without throwing, and renders valid JSON', () => {
    fc.assert(fc.property(pathsMap.chain((m) => fc.tuple(fc.constant(m), jsonTemplate(Object.keys(m)))), event, ([map, template], ev) => {
      const input = validateTargetInput(transformer(template, map), 'p');
      assert.equal((input as { format?: string }).format, 'json');
      JSON.parse(renderTargetInput(input, ev, CTX));
    }));
  });

  test('a template made only of placeholders in value positions yields valid JSON', () => {
    fc.assert(fc.property(pathsMap, event, fc.constantFrom('[', '{'), (map, ev, shape) => {
      const names = [...Object.keys(map), ...PREDEFINED_VARIABLES];
      const template = shape === '[' ? `[${names.map((n) => `<${n}>`).join(',')}]` : `{${names.map((n, i) => `"k${i}": <${n}>`).join(',')}}`;
      const out = JSON.parse(renderTargetInput(validateTargetInput(transformer(template, map), 'p'), ev, CTX)) as unknown;
      assert.equal(Object.keys(out as object).length, names.length);
    }));
  });

  test('any template that validates renders without throwing, and valid JSON when it is a JSON template', () => {
    const fragment = (names: string[]) => fc.oneof(
      fc.constantFrom('{', '}', '[', ']', ',', ':', '"', ' ', '\\', '\\"', 'true', '1', '"k"', '<', '>', 'x', '\n'),
      fc.constantFrom(...names, ...PREDEFINED_VARIABLES).map((n) => `<${n}>`));
    const arb = pathsMap.chain((m) => fc.tuple(fc.constant(m), fc.array(fragment(Object.keys(m)), { minLength: 1, maxLength: 12 }).map((f) => f.join(''))));
    fc.assert(fc.property(arb, event, ([map, template], ev) => {
      let input: TargetInput;
      try {
        input = validateTargetInput(transformer(template, map), 'p');
      } catch (err) {
        assert.ok(isNimbusError(err) && err.code === 'BAD_REQUEST', String(err));
        return;
      }
      const out = renderTargetInput(input, ev, CTX);
      if ((input as { format?: string }).format === 'json') JSON.parse(out);
    }), { numRuns: 500 });
  });

  test('inputPath renders the JSON of what plain property access finds', () => {
    fc.assert(fc.property(event, path, (ev, p) => {
      const steps = [...p.slice(1).matchAll(/\.([^.[]+)|\[(\d+)\]/g)].map((m) => (m[1] !== undefined ? m[1] : Number(m[2])));
      let v: unknown = ev;
      for (const s of steps) {
        const ok = typeof s === 'number' ? Array.isArray(v) && s < v.length : typeof v === 'object' && v !== null && !Array.isArray(v) && Object.hasOwn(v, s);
        v = ok ? (v as Record<string | number, unknown>)[s] : undefined;
        if (!ok) break;
      }
      assert.equal(renderTargetInput(validateTargetInput({ inputPath: p }, 'p'), ev, CTX), v === undefined ? '""' : JSON.stringify(v));
    }));
  });
});
