// Rollout strategies as people write them — `all-at-once`, `canary:10%:5m`, `linear:10%:1m` — in
// the manifest (`deployment.strategy`) and on `nimbus deploy --strategy`; and qualifiers (an alias
// name, a version number, `$LATEST`) as routes, rule targets and invokes name them.
import type { RolloutStrategy } from '../store/versions.ts';
import { parseDuration } from '../util/duration.ts';

const MAX_INTERVAL_MS = 24 * 3600_000;

/** The strategy, or why the text is not one. */
export function parseStrategy(text: string): RolloutStrategy | { problem: string } {
  const t = text.trim();
  if (t === 'all-at-once') return { kind: 'all-at-once' };
  const m = /^(canary|linear):(\d+(?:\.\d+)?)%:(\S+)$/.exec(t);
  const usage = 'all-at-once, canary:<percent>%:<interval> (e.g. canary:10%:5m) or linear:<percent>%:<interval> (e.g. linear:10%:1m)';
  if (!m) return { problem: `must be ${usage}, got ${JSON.stringify(text)}` };
  const percent = Number(m[2]);
  // At least 1%: a linear rollout takes at most 100 steps.
  if (!(percent >= 1 && percent < 100)) return { problem: `the percentage must be from 1 to less than 100, got ${m[2]}%` };
  const intervalMs = parseDuration(m[3]!);
  if (intervalMs === undefined || intervalMs < 1000 || intervalMs > MAX_INTERVAL_MS) return { problem: `the interval must be a duration from 1s to 24h (30s, 5m, 1h), got ${JSON.stringify(m[3])}` };
  return { kind: m[1] as 'canary' | 'linear', percent, intervalMs };
}

/** A strategy as people read it: `canary 10% every 300 s`. */
export function describeStrategy(s: RolloutStrategy): string {
  return s.kind === 'all-at-once' ? 'all-at-once' : `${s.kind} ${s.percent}% every ${s.intervalMs / 1000} s`;
}

/** Lambda's alias names: letters, digits, `-` and `_`, not all digits; `$LATEST` and numbers are versions. */
const ALIAS_NAME = /^(?!\d+$)[A-Za-z0-9_-]{1,128}$/;

export function isAliasName(s: string): boolean {
  return ALIAS_NAME.test(s) && s !== '$LATEST';
}

/** Why a qualifier is not one (an alias name, a version number or `$LATEST`), or undefined. */
export function qualifierProblem(q: string): string | undefined {
  if (q === '$LATEST' || /^[1-9]\d{0,9}$/.test(q) || ALIAS_NAME.test(q)) return undefined;
  return `must be an alias name (letters, digits, "-", "_"), a version number or $LATEST, got ${JSON.stringify(q)}`;
}

/** `name` or `name:qualifier` (a rule target, an SDK invoke): the function and its qualifier (undefined: `live`). */
export function splitQualified(ref: string): { fn: string; qualifier: string | undefined } {
  const i = ref.indexOf(':');
  return i < 0 ? { fn: ref, qualifier: undefined } : { fn: ref.slice(0, i), qualifier: ref.slice(i + 1) };
}
