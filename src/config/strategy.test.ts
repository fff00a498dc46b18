// Rollout strategies and qualifiers as written, and the guard that rolls a rollout back.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { guardFailure } from '../control/rollouts.ts';
import { parseStrategy, qualifierProblem, splitQualified } from './strategy.ts';

it('reads all-at-once, canary and linear strategies, and says what is wrong with the rest', () => {
  assert.deepEqual(parseStrategy('all-at-once'), { kind: 'all-at-once' });
  assert.deepEqual(parseStrategy('canary:10%:5m'), { kind: 'canary', percent: 10, intervalMs: 300_000 });
  assert.deepEqual(parseStrategy(' linear:2.5%:30s '), { kind: 'linear', percent: 2.5, intervalMs: 30_000 });
  for (const [text, problem] of [
    ['canary:10:5m', /must be all-at-once, canary:<percent>%:<interval>/],
    ['canary:0%:5m', /from 1 to less than 100, got 0%/],
    ['linear:0.5%:1m', /from 1 to less than 100, got 0\.5%/],
    ['linear:100%:1m', /less than 100, got 100%/],
    ['canary:10%:500ms', /from 1s to 24h/],
    ['canary:10%:2d', /from 1s to 24h/],
    ['blue-green', /must be all-at-once/],
  ] as const) {
    const r = parseStrategy(text);
    assert.ok('problem' in r && problem.test(r.problem), `${text}: ${JSON.stringify(r)}`);
  }
});

it('tells qualifiers (alias names, version numbers, $LATEST) from everything else', () => {
  for (const ok of ['live', 'beta-2', 'v_1', '3', '$LATEST']) assert.equal(qualifierProblem(ok), undefined, ok);
  for (const bad of ['', '0', 'a b', 'x:y', '$latest', 'a'.repeat(129)]) assert.ok(qualifierProblem(bad), bad);
  assert.deepEqual(splitQualified('fn:beta'), { fn: 'fn', qualifier: 'beta' });
  assert.deepEqual(splitQualified('fn'), { fn: 'fn', qualifier: undefined });
});

it('rolls back on the error rate only after the minimum requests, and on p99 when bounded', () => {
  const guard = { maxErrorRate: 1, minRequests: 20, maxP99Ms: 200 };
  assert.equal(guardFailure({ guard, toVersion: 2 }, { invocations: 19, errors: 19, p99Ms: 10 }), undefined);
  assert.equal(guardFailure({ guard, toVersion: 2 }, { invocations: 200, errors: 2, p99Ms: 10 }), undefined, '1% is not over 1%');
  assert.equal(guardFailure({ guard, toVersion: 2 }, { invocations: 200, errors: 3, p99Ms: 10 }), 'error rate 1.5% (3 of 200 invocations of version 2) is over 1%');
  assert.equal(guardFailure({ guard, toVersion: 2 }, { invocations: 50, errors: 0, p99Ms: 250 }), 'p99 250.0 ms over 50 invocations of version 2 is over 200 ms');
  assert.equal(guardFailure({ guard: { ...guard, maxP99Ms: null }, toVersion: 2 }, { invocations: 50, errors: 0, p99Ms: 250 }), undefined);
});
