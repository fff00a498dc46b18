// Choice rules: every comparison operator (literal and *Path forms), And/Or/Not, the Is* tests,
// StringMatches with `*` wildcards, and RFC 3339 timestamps compared as instants.
// A Variable (or a *Path operand) that is absent fails the state with States.Runtime, as AWS does;
// only IsPresent may look at an absent Variable. A value of the wrong type makes a comparison false.
import { StatesError } from './errors.ts';
import { readPath } from './jsonpath.ts';
import type { ChoiceRule, Json } from './types.ts';

type Kind = 'String' | 'Numeric' | 'Boolean' | 'Timestamp';
const COMPARISONS = ['Equals', 'LessThan', 'GreaterThan', 'LessThanEquals', 'GreaterThanEquals'] as const;

/** Every comparison operator name, literal and Path forms, and the Is* tests. */
export const CHOICE_OPERATORS: ReadonlySet<string> = new Set([
  ...(['String', 'Numeric', 'Timestamp'] as const).flatMap((k) => COMPARISONS.flatMap((c) => [`${k}${c}`, `${k}${c}Path`])),
  'BooleanEquals', 'BooleanEqualsPath', 'StringMatches',
  'IsNull', 'IsPresent', 'IsNumeric', 'IsString', 'IsBoolean', 'IsTimestamp',
]);

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Parse an RFC 3339 timestamp (uppercase T and Z, as AWS wants) into [epoch seconds, fraction as a string]. */
export function parseTimestamp(s: unknown): { seconds: number; fraction: string } | null {
  if (typeof s !== 'string') return null;
  const m = RFC3339.exec(s);
  if (!m) return null;
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  if (+mo < 1 || +mo > 12 || +d < 1 || +d > 31 || +h > 23 || +mi > 59 || +sec > 60) return null;
  const base = Date.UTC(+y, +mo - 1, +d, +h, +mi, +sec);
  const check = new Date(Date.UTC(+y, +mo - 1, +d));
  if (check.getUTCDate() !== +d) return null;
  let offsetMin = 0;
  if (zone !== 'Z') offsetMin = (zone[0] === '-' ? -1 : 1) * (+zone.slice(1, 3) * 60 + +zone.slice(4, 6));
  // Fractions compared as digit strings keep nanosecond precision beyond what a double holds.
  return { seconds: base / 1000 - offsetMin * 60, fraction: (frac ?? '.').slice(1).replace(/0+$/, '') };
}

function compareTimestamps(a: { seconds: number; fraction: string }, b: { seconds: number; fraction: string }): number {
  if (a.seconds !== b.seconds) return a.seconds < b.seconds ? -1 : 1;
  const len = Math.max(a.fraction.length, b.fraction.length);
  const fa = a.fraction.padEnd(len, '0'), fb = b.fraction.padEnd(len, '0');
  return fa === fb ? 0 : fa < fb ? -1 : 1;
}

/** `*` matches any run of characters; `\*` is a literal star and `\\` a literal backslash. */
export function stringMatches(value: string, pattern: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) { re += escapeRe(pattern[++i]); continue; }
    re += c === '*' ? '[\\s\\S]*' : escapeRe(c);
  }
  return new RegExp(`${re}$`).test(value);
}

const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function read(path: string, data: Json, context: Json, what: string): Json {
  const r = readPath(path, data, context);
  if (!r.found) throw new StatesError('States.Runtime', `Invalid path '${path}' : The choice state's condition path references an undefined value (${what}).`);
  return r.value;
}

function kindOf(op: string): Kind | null {
  for (const k of ['String', 'Numeric', 'Boolean', 'Timestamp'] as const) if (op.startsWith(k)) return k;
  return null;
}

function compare(kind: Kind, cmp: string, a: Json, b: Json): boolean {
  let order: number;
  if (kind === 'String') {
    if (typeof a !== 'string' || typeof b !== 'string') return false;
    order = a === b ? 0 : a < b ? -1 : 1;
  } else if (kind === 'Numeric') {
    if (typeof a !== 'number' || typeof b !== 'number') return false;
    order = a === b ? 0 : a < b ? -1 : 1;
  } else if (kind === 'Boolean') {
    if (typeof a !== 'boolean' || typeof b !== 'boolean') return false;
    return a === b;
  } else {
    const ta = parseTimestamp(a), tb = parseTimestamp(b);
    if (!ta || !tb) return false;
    order = compareTimestamps(ta, tb);
  }
  switch (cmp) {
    case 'Equals': return order === 0;
    case 'LessThan': return order < 0;
    case 'GreaterThan': return order > 0;
    case 'LessThanEquals': return order <= 0;
    case 'GreaterThanEquals': return order >= 0;
  }
  return false;
}

/** Evaluate one rule (without looking at its Next). `context` is the `$$` object. */
export function evalRule(rule: ChoiceRule, data: Json, context: Json): boolean {
  if (rule.And) return rule.And.every((r) => evalRule(r, data, context));
  if (rule.Or) return rule.Or.some((r) => evalRule(r, data, context));
  if (rule.Not) return !evalRule(rule.Not, data, context);
  const op = Object.keys(rule).find((k) => CHOICE_OPERATORS.has(k));
  if (!op || typeof rule.Variable !== 'string') throw new StatesError('States.Runtime', 'a Choice rule has no Variable or no comparison operator');
  const operand = rule[op] as Json;
  const variable = rule.Variable;
  if (op === 'IsPresent') return readPath(variable, data, context).found === operand;
  const value = read(variable, data, context, 'Variable');
  switch (op) {
    case 'IsNull': return (value === null) === operand;
    case 'IsNumeric': return (typeof value === 'number') === operand;
    case 'IsString': return (typeof value === 'string') === operand;
    case 'IsBoolean': return (typeof value === 'boolean') === operand;
    case 'IsTimestamp': return (parseTimestamp(value) !== null) === operand;
    case 'StringMatches': return typeof value === 'string' && typeof operand === 'string' && stringMatches(value, operand);
  }
  const kind = kindOf(op)!;
  const isPath = op.endsWith('Path');
  const cmp = op.slice(kind.length, isPath ? -4 : undefined);
  const other = isPath ? read(operand as string, data, context, op) : operand;
  return compare(kind, cmp, value, other);
}

/** The Next of the first matching rule, else the Default, else null (States.NoChoiceMatched). */
export function chooseNext(choices: readonly ChoiceRule[], defaultNext: string | undefined, data: Json, context: Json): string | null {
  for (const rule of choices) if (evalRule(rule, data, context)) return rule.Next!;
  return defaultNext ?? null;
}
