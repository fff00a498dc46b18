// Conformance: every definition in shared/conformance/states-language/validator-definitions, every
// intrinsic-function case and every Choice-operator case recorded from AWS, run through the validator
// and the interpreter. Skips (saying why) when ../shared/conformance is not beside the repo.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validateDefinition } from './index.ts';
import { runMachine } from './test-executor.ts';
import type { Json, Machine } from './types.ts';

const ROOT = fileURLToPath(new URL('../../../../shared/conformance/states-language/', import.meta.url));
const present = existsSync(ROOT);
const SKIP = 'needs ../shared/conformance/states-language beside the repo';

// Valid AWS definitions that Nimbus rejects on purpose, each only with `unsupported` errors.
const UNSUPPORTED_VALID: Record<string, string> = {
  'valid-assign.asl.json': 'JSONata + Assign',
  'valid-comments-are-not-parsed.asl.json': 'JSONata',
  'valid-json-surround-syntax.json': 'JSONata',
  'valid-jsonata-syntax-function-call.json': 'JSONata',
  'valid-jsonata-syntax-path-expression.json': 'JSONata',
  'valid-jsonata-syntax-simple-arithmetic.json': 'JSONata',
  'valid-jsonata.asl.json': 'JSONata + Assign',
  'valid-map-items.asl.json': 'JSONata (Items)',
  'valid-map-with-item-batcher-jsonata.json': 'JSONata + distributed Map',
  'valid-task-timeout-jsonata.json': 'JSONata',
  'valid-wait-jsonata.asl.json': 'JSONata',
  'valid-fail-paths.json': 'a workflow variable ($field2) in ErrorPath',
  'valid-map-distributed.asl.json': 'distributed Map (ItemReader, ResultWriter)',
  'valid-map-noconfig.asl.json': 'distributed Map (ItemReader, ResultWriter)',
  'valid-map-with-item-batcher.json': 'distributed Map (ItemBatcher)',
  'valid-task-batch.json': 'AWS Batch resource',
  'valid-task-credentials.json': 'SWF resource',
  'valid-task-parameters.json': 'SWF resource',
  'valid-cfn-definition-substitutions.json': 'unresolved ${...} substitution',
  'valid-task-intrisic-function.json': 'CloudFormation Ref/Fn::GetAtt as Resource',
};

// Invalid definitions: the path of the error that must be among those reported (the intended fault).
// Those marked `unsupported` are JSONata definitions: Nimbus rejects them as unsupported, so the
// JSONata syntax fault they were written for is not what is checked.
const INVALID: Record<string, string | 'unsupported'> = {
  'invalid-assign.asl.json': 'unsupported',
  'invalid-cfn-definition-substitutions.json': '$.States.X.Resource',
  'invalid-choice-state-variable.json': '$.States.ChoiceState.Choices[0].Variable',
  'invalid-choice-state.json': '$.States.ChoiceState.Choices[0].Next',
  'invalid-dupe-fields.asl.json': '$.States.PassState.Parameters.dynamic["conflict.$"]',
  'invalid-duplicate-fields-nested.json': '$.States["Publish to Slack"].Parameters.slackMessage.blocks[0].text["type.$"]',
  'invalid-duplicate-fields.json': '$.States["Publish to Slack"].Parameters.slackMessage.channel',
  'invalid-error-equals-type.json': '$.States.Testing.Catch[0].ErrorEquals',
  'invalid-error-equals.json': '$.States.Testing.Catch[0]["Error Equals"]',
  'invalid-exercise-ajv-additional-properties.asl.json': '$.States.PassState.bugInputPath',
  'invalid-exercise-ajv.asl.json': '$.States.PassState.InputPath',
  'invalid-fail-dupe-cause.json': '$.States.Hello.CausePath',
  'invalid-fail-dupe-error.json': '$.States.Hello.ErrorPath',
  'invalid-inexistant-state.json': '$.States["Start State"].Next',
  'invalid-json-path.json': '$.States.Invalid4.ResultPath',
  'invalid-json-surround-syntax-extra-spaces.json': 'unsupported',
  'invalid-jsonata-fields.json': 'unsupported',
  'invalid-jsonata-path-fields.asl.json': 'unsupported',
  'invalid-jsonata-surround-syntax-no-close.json': 'unsupported',
  'invalid-jsonata-surround-syntax-no-open.json': 'unsupported',
  'invalid-jsonata-surround-syntax-no-spaces.json': 'unsupported',
  'invalid-jsonata-syntax-arithmetic.json': 'unsupported',
  'invalid-jsonata-syntax-jsonpath-in-jsonata-surround.json': 'unsupported',
  'invalid-jsonata-syntax-mismatched-parens.json': 'unsupported',
  'invalid-map-distributed.asl.json': 'unsupported',
  'invalid-map-dupe-state.json': '$.States["Final State"]',
  'invalid-map-item-batcher-dupe-subfields.json': 'unsupported',
  'invalid-map-items.asl.json': 'unsupported',
  'invalid-map-missing-iterator.json': '$.States.Map.ItemProcessor',
  'invalid-map-ob-link.json': '$.States.Map.Iterator.States.ChoiceState.Choices[1].Next',
  'invalid-map-tolerated-value.json': '$.States.Map.ToleratedFailurePercentage',
  'invalid-map-tolerated.json': '$.States.Map.ToleratedFailureCountPath',
  'invalid-math-add.json': '$.States["validate input"].Parameters["foo.$"]',
  'invalid-missing-terminal-map.json': '$.States.Map.Iterator.States',
  'invalid-missing-terminal-parallel.json': '$.States.Parallel.Branches[0].States',
  'invalid-missing-terminal.json': '$.States',
  'invalid-next-with-end.json': '$.States["Send SNS Message"].End',
  'invalid-parallel-branch-type.json': '$.States.A.Branches[0]',
  'invalid-parallel-missing-branches.json': '$.States.Parallel.Branches',
  'invalid-parallel-ob-link.json': '$.States.Parallel.Branches[1].States.ChoiceState.Choices[1].Next',
  'invalid-payload-template.asl.json': '$.States["Hello, World"].Parameters["lorem.$"]',
  'invalid-state-name-too-long.json': '$.States["This is an exceptionally long state name that I know will fail when I try to deploy to AWS"]',
  'invalid-task-alias-function.json': '$.States.InvalidAlias.Resource',
  'invalid-task-credentials-null.json': '$.States.X.Credentials',
  'invalid-task-credentials-object.json': '$.States.X.Credentials["expectPath.$"]',
  'invalid-task-heartbeat.json': '$.States.X.HeartbeatSecondsPath',
  'invalid-task-timout.json': '$.States.X.TimeoutSecondsPath',
  'invalid-unreachable-state.json': '$.States["Finished Choice"]',
  'invalid-variable-result-path.json': 'unsupported',
  'invalid-wait-duration.json': '$.States.wait_using_seconds',
};

describe('validator-definitions', () => {
  it('every definition has its expected outcome', (t) => {
    if (!present) return t.skip(SKIP);
    const files = readdirSync(`${ROOT}validator-definitions`).filter((f) => f.endsWith('.json')).sort();
    assert.equal(files.length, 112);
    let accepted = 0, unsupported = 0, rejected = 0;
    for (const f of files) {
      const r = validateDefinition(JSON.parse(readFileSync(`${ROOT}validator-definitions/${f}`, 'utf8')));
      const errors = r.ok ? [] : r.errors;
      if (f.startsWith('valid-')) {
        if (UNSUPPORTED_VALID[f]) {
          assert.ok(!r.ok, `${f} should be rejected as unsupported (${UNSUPPORTED_VALID[f]})`);
          assert.deepEqual(errors.filter((e) => !e.unsupported), [], `${f}: only unsupported errors`);
          unsupported++;
        } else {
          assert.deepEqual(errors, [], `${f} should be accepted`);
          accepted++;
        }
      } else {
        const want = INVALID[f];
        assert.ok(want, `${f} has no expectation in INVALID`);
        assert.ok(!r.ok, `${f} should be rejected`);
        if (want === 'unsupported') assert.ok(errors.every((e) => e.unsupported), `${f}: rejected as unsupported`);
        else assert.ok(errors.some((e) => e.path === want && !e.unsupported), `${f}: expected an error at ${want}, got ${JSON.stringify(errors)}`);
        rejected++;
      }
    }
    assert.deepEqual({ accepted, unsupported, rejected }, { accepted: 42, unsupported: 20, rejected: 50 });
  });
});

/** Equal, where expected strings may hold redactions: `<...>` matches anything. */
function matches(actual: Json, expected: Json, special: (actual: Json, expected: string) => boolean | null): boolean {
  if (typeof expected === 'string') {
    const s = special(actual, expected);
    if (s !== null) return s;
    if (!expected.includes('<')) return actual === expected;
    const re = expected.split(/<[^<>]+>/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.+');
    return typeof actual === 'string' && new RegExp(`^${re}$`, 's').test(actual);
  }
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => matches(actual[i], e, special));
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    const keys = Object.keys(expected);
    return keys.length === Object.keys(actual).length && keys.every((k) => matches(actual[k], expected[k], special));
  }
  return Object.is(actual, expected) || actual === expected;
}

interface IntrinsicCase { test: string; input: Json; status: string; output?: Json; error?: Json; definition: Machine }

describe('intrinsic-function-cases', () => {
  it('runs every JSONPath case through the interpreter and matches AWS', (t) => {
    if (!present) return t.skip(SKIP);
    const cases = JSON.parse(readFileSync(`${ROOT}intrinsic-function-cases.json`, 'utf8')) as IntrinsicCase[];
    assert.equal(cases.length, 168);
    // JSONata cases ($partition, $range, $parse, $randomSeeded) need the JSONata query language, which
    // Nimbus does not support: they are counted, and their definitions must be rejected as unsupported.
    const jsonata = cases.filter((c) => JSON.stringify(c.definition).includes('"QueryLanguage":"JSONata"'));
    assert.equal(jsonata.length, 32);
    for (const c of jsonata) {
      const v = validateDefinition(c.definition);
      assert.ok(!v.ok && v.errors.every((e) => e.unsupported), c.test);
    }
    const special = (actual: Json, expected: string) => {
      if (expected === 'RandomNumberGenerated') return typeof actual === 'number' && Number.isInteger(actual);
      if (expected === 'generated-uuid') return typeof actual === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(actual);
      return null;
    };
    let run = 0;
    const failures: string[] = [];
    for (const c of cases) {
      if (jsonata.includes(c)) continue;
      const v = validateDefinition(c.definition);
      assert.ok(v.ok, `${c.test}: ${JSON.stringify(!v.ok && v.errors)}`);
      const r = runMachine(v.machine, c.input);
      run++;
      if (c.status === 'SUCCEEDED') {
        let expected = c.output as Json;
        // The cross-account case records StartExecution's response around the Pass state's output.
        if (c.test.includes('test_credentials_base')) expected = JSON.parse((c.output as { Output: string }).Output) as Json;
        if (r.state.status !== 'succeeded' || !matches(r.state.output!, expected, special)) failures.push(`${c.test} input=${JSON.stringify(c.input)} got ${r.state.status} ${JSON.stringify(r.state.output ?? r.state.error)} want ${JSON.stringify(expected)}`);
      } else {
        const err = c.error as { Error: string };
        if (r.state.status !== 'failed' || r.state.error !== err.Error) failures.push(`${c.test}: want ${err.Error}, got ${r.state.status} ${r.state.error}`);
      }
    }
    assert.deepEqual(failures, []);
    assert.equal(run, 136);
  });
});

interface ChoiceCase { test: string; operator: string; definition: Machine; input: Json; expectedOutput: Json }

describe('choice-operator-cases', () => {
  it('runs the 491 cases (Choice → Pass) and matches AWS, all but the 22 whose timestamps are redacted', (t) => {
    if (!present) return t.skip(SKIP);
    const cases = JSON.parse(readFileSync(`${ROOT}choice-operator-cases.json`, 'utf8')) as ChoiceCase[];
    assert.equal(cases.length, 491);
    const failures: string[] = [];
    let run = 0, redacted = 0;
    for (const c of cases) {
      // The recorder replaced timestamps by the word "date". Where both sides of a Timestamp
      // comparison are redacted the outcome depends on values it hid (identical cases expect
      // different results): those are counted, not run. Elsewhere a redacted literal operand stands
      // for some valid timestamp; the Variable is not a timestamp, so any one gives the same result.
      const rule = c.definition.States.CheckValues.Choices![0] as Record<string, Json>;
      if (c.operator.startsWith('Timestamp')) {
        const input = c.input as { Variable: Json; Value: Json };
        if (input.Variable === 'date') { redacted++; continue; }
        if (rule[c.operator] === 'date') rule[c.operator] = '2016-03-14T01:59:00Z';
      }
      run++;
      const v = validateDefinition(c.definition);
      if (!v.ok) { failures.push(`${c.test}: invalid ${JSON.stringify(v.errors)}`); continue; }
      const r = runMachine(v.machine, c.input);
      if (r.state.status !== 'succeeded' || !matches(r.state.output!, c.expectedOutput, () => null)) {
        failures.push(`${c.operator} ${JSON.stringify(c.definition.States.CheckValues)} input=${JSON.stringify(c.input)} got ${r.state.status} ${JSON.stringify(r.state.output ?? [r.state.error, r.state.cause])} want ${JSON.stringify(c.expectedOutput)}`);
      }
    }
    assert.deepEqual(failures, []);
    assert.deepEqual({ run, redacted }, { run: 469, redacted: 22 });
  });
});
