// EventBridge event patterns: validation with AWS's error wording, and compilation into what the rule
// index (matcher.ts) needs — a list of alternatives (one per way through the `$or`s), each a list of
// per-field predicates that must all hold. matchesReference (reference.ts) reads the same language
// directly and slowly; the tests hold the index to it.
//
// The language, as AWS's TestEventPattern answers it (shared/conformance/eventbridge):
// - A pattern is a JSON object. Nested objects name nested fields; every leaf is a non-empty array
//   whose entries are ORed: exact values (string, number, true, false, null) or one-key operator
//   objects (prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, cidr, exists).
//   Fields are ANDed. `"$or": [{...}, {...}]` ORs whole sub-patterns, at any level.
// - Field names join with '.', in patterns and events alike: {"a": {"b": ...}} is {"a.b": ...}.
// - Values are the event's leaves (strings, numbers, booleans, null). An object is not a value and an
//   empty array holds none; arrays are transparent (a field matches if any element matches). Fields
//   taken from objects in different elements of one array never combine into a match.
// - `exists: false` holds when a field has no value; every other operator needs one, so anything-but
//   never matches a missing field (but does match null).
// - Types are strict: "300" is not 300, "null" is not null; numbers compare by value.
import { NimbusError } from '../../errors.ts';
import { cidrContains, fold, type Glob, globMatch, type IpRange, parseCidr, parseGlob } from './operators.ts';
import { isOrRelationship, isPlainObject } from './syntax.ts';

export { matchesReference } from './reference.ts';

/** AWS's default quota for an event pattern's length (it can be raised to 4096 on request). */
export const MAX_EVENT_PATTERN_CHARS = 2048;
/** Alternatives a pattern's `$or`s may multiply into; Nimbus's own bound on compiled size. */
export const MAX_PATTERN_ALTERNATIVES = 1000;
/** Object nesting in a pattern; Nimbus's own bound (2048 characters allow ~300 levels). */
export const MAX_PATTERN_DEPTH = 100;

/** The code invalid patterns are reported with (400, from the error table). */
export const PATTERN_ERROR_CODE = 'INVALID_PATTERN' as const;
const MESSAGE_START = 'Event pattern is not valid. Reason: ';
const TOO_MANY_ALTERNATIVES = 'Rule is too complex - its $or alternatives multiply to more than';

export type Scalar = string | number | boolean | null;

export type Exclusion =
  | { readonly kind: 'values'; readonly values: ReadonlySet<Scalar> }
  | { readonly kind: 'equals-ignore-case'; readonly values: ReadonlySet<string> }
  | { readonly kind: 'prefix' | 'suffix'; readonly values: readonly string[] }
  | { readonly kind: 'wildcard'; readonly globs: readonly Glob[] };

/** One entry of a field's match list. Strings of the ignore-case forms are stored folded. */
export type Matcher =
  | { readonly kind: 'exact'; readonly value: Scalar }
  | { readonly kind: 'equals-ignore-case'; readonly value: string }
  | { readonly kind: 'prefix' | 'suffix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'wildcard'; readonly glob: Glob }
  | { readonly kind: 'numeric'; readonly lo: number; readonly loOpen: boolean; readonly hi: number; readonly hiOpen: boolean }
  | { readonly kind: 'cidr'; readonly range: IpRange }
  | { readonly kind: 'exists'; readonly value: boolean }
  | { readonly kind: 'anything-but'; readonly but: Exclusion };

/** A field and its match list: holds if some value of the field passes `test`, or none exists and `absentOk`. */
export interface Predicate {
  readonly path: string;
  readonly matchers: readonly Matcher[];
  readonly absentOk: boolean;
  readonly test: (v: Scalar) => boolean;
}

export interface CompiledPattern {
  /** The pattern as given (parsed, when given as text). */
  readonly source: unknown;
  /** Alternatives: the pattern matches when every predicate of one of them holds. */
  readonly alternatives: readonly (readonly Predicate[])[];
}

export interface ValidateOptions {
  maxChars?: number;
}

/** Throws the error for an invalid pattern: AWS's message, the field it is about, both in details. */
function fail(reason: string, where: readonly string[] = []): never {
  const field = where.join('.');
  const message = MESSAGE_START + reason + (field ? ` (field "${field}")` : '');
  throw new NimbusError(PATTERN_ERROR_CODE, message, { details: field ? { field, reason } : { reason } });
}

/**
 * Checks a pattern (a JSON object, or its JSON text as AWS takes it) and compiles it. Throws a
 * NimbusError (code PATTERN_ERROR_CODE) whose message starts with AWS's wording and names the field.
 */
export function validatePattern(pattern: unknown, opts: ValidateOptions = {}): CompiledPattern {
  const maxChars = opts.maxChars ?? MAX_EVENT_PATTERN_CHARS;
  let text: string | undefined;
  let value = pattern;
  if (typeof pattern === 'string') {
    text = pattern;
    if (text.length <= maxChars) {
      try {
        value = JSON.parse(text);
      } catch (err) {
        fail(`not valid JSON: ${(err as Error).message}`);
      }
    }
  } else {
    try {
      text = JSON.stringify(pattern);
    } catch {
      fail('the pattern is not JSON (it refers to itself or is nested too deeply)');
    }
  }
  if (text !== undefined && text.length > maxChars) fail(`Event pattern is ${text.length} characters long; the limit is ${maxChars}`);
  if (!isPlainObject(value)) fail('Filter is not an object');
  const compiled: CompiledPattern = { source: value, alternatives: compileFields(value, '', [], 1) };
  compiledPatterns.add(compiled);
  return compiled;
}

const compiledPatterns = new WeakSet<object>();

/** Whether `p` came out of validatePattern (a raw pattern may well have a field named "source"). */
export function isCompiledPattern(p: unknown): p is CompiledPattern {
  return typeof p === 'object' && p !== null && compiledPatterns.has(p);
}

function compileFields(obj: Record<string, unknown>, prefix: string, where: readonly string[], depth: number): Predicate[][] {
  if (depth > MAX_PATTERN_DEPTH) fail(`the pattern nests objects more than ${MAX_PATTERN_DEPTH} levels deep`, where);
  const keys = Object.keys(obj);
  if (keys.length === 0) fail('Empty objects are not allowed', where);
  let alts: Predicate[][] = [[]];
  for (const key of keys) {
    const val = obj[key];
    const at = [...where, key];
    if (key === '$or' && isOrRelationship(val)) {
      const branches = val.flatMap((b, i) => compileFields(b, prefix, [...where, `$or[${i}]`], depth + 1));
      alts = product(alts, branches, at);
    } else if (Array.isArray(val)) {
      const p = compileMatchList(val, prefix + key, at);
      alts = alts.map((a) => [...a, p]);
    } else if (isPlainObject(val)) {
      alts = product(alts, compileFields(val, `${prefix}${key}.`, at, depth + 1), at);
    } else {
      fail(`"${key}" must be an object or an array`, at);
    }
  }
  return alts;
}

/** Every alternative of `a` ANDed with every one of `b`, refused before it is built if too many. */
function product(a: Predicate[][], b: Predicate[][], where: readonly string[]): Predicate[][] {
  if (a.length * b.length > MAX_PATTERN_ALTERNATIVES) fail(`${TOO_MANY_ALTERNATIVES} ${MAX_PATTERN_ALTERNATIVES}`, where);
  return a.flatMap((x) => b.map((y) => [...x, ...y]));
}

const isScalar = (v: unknown): v is Scalar =>
  v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

function compileMatchList(list: unknown[], path: string, where: readonly string[]): Predicate {
  if (list.length === 0) fail('Empty arrays are not allowed', where);
  const matchers = list.map((entry): Matcher => {
    if (isScalar(entry)) return { kind: 'exact', value: entry };
    if (isPlainObject(entry)) return compileOperator(entry, where);
    return fail('Match value must be String, number, true, false, or null', where);
  });
  return { path, matchers, absentOk: matchers.some((m) => m.kind === 'exists' && !m.value), test: predicateTest(matchers) };
}

function compileOperator(obj: Record<string, unknown>, where: readonly string[]): Matcher {
  const keys = Object.keys(obj);
  if (keys.length === 0) fail('Empty objects are not allowed', where);
  if (keys.length > 1) fail(`Only one key allowed in match expression, got ${keys.map((k) => JSON.stringify(k)).join(', ')}`, where);
  const op = keys[0]!;
  const arg = obj[op];
  switch (op) {
    case 'prefix':
    case 'suffix': {
      if (typeof arg === 'string') return { kind: op, value: arg, ignoreCase: false };
      if (isPlainObject(arg) && Object.keys(arg).length === 1 && 'equals-ignore-case' in arg) {
        const s = arg['equals-ignore-case'];
        if (typeof s !== 'string') fail('equals-ignore-case match pattern must be a string', where);
        return { kind: op, value: fold(s), ignoreCase: true };
      }
      return fail(`${op} match pattern must be a string`, where);
    }
    case 'equals-ignore-case':
      if (typeof arg !== 'string') fail('equals-ignore-case match pattern must be a string', where);
      return { kind: op, value: fold(arg) };
    case 'wildcard':
      if (typeof arg !== 'string') fail('wildcard match pattern must be a string', where);
      return { kind: op, glob: globOrFail(arg, where) };
    case 'numeric':
      if (!Array.isArray(arg)) fail('Value of numeric must be an array.', where);
      return compileNumeric(arg, where);
    case 'cidr': {
      // AWS's own wording for a CIDR that is not a string.
      if (typeof arg !== 'string') fail('prefix match pattern must be a string', where);
      const range = parseCidr(arg);
      if (typeof range === 'string') fail(range, where);
      return { kind: op, range };
    }
    case 'exists':
      if (typeof arg !== 'boolean') fail('exists match pattern must be either true or false.', where);
      return { kind: op, value: arg };
    case 'anything-but':
      return { kind: op, but: compileExclusion(arg, where) };
    default:
      return fail(`Unrecognized match type ${op}`, where);
  }
}

function globOrFail(s: string, where: readonly string[]): Glob {
  const g = parseGlob(s);
  if (typeof g === 'string') fail(g, where);
  return g;
}

const NUMERIC_OPS = new Set(['=', '<', '<=', '>', '>=']);

/** `["=", x]`, or a lower bound (`>`/`>=`), an upper bound (`<`/`<=`), or a lower then an upper one. */
function compileNumeric(terms: unknown[], where: readonly string[]): Matcher {
  if (terms.length === 0) fail('Empty arrays are not allowed', where);
  let lo = -Infinity, loOpen = true, hi = Infinity, hiOpen = true;
  let stage: 'start' | 'lower' | 'done' = 'start';
  let bounds = 0;
  for (let i = 0; i < terms.length; i += 2) {
    const op = terms[i];
    if (typeof op !== 'string' || !NUMERIC_OPS.has(op)) fail(`Unrecognized numeric range operator: ${JSON.stringify(op)}`, where);
    const isLower = op === '>' || op === '>=';
    if (stage === 'done' || (stage === 'lower' && (isLower || op === '='))) fail(`Bad numeric range operator: ${op}`, where);
    const v = terms[i + 1];
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`Value of ${op} must be numeric`, where);
    if (op === '=') {
      lo = hi = v;
      loOpen = hiOpen = false;
      stage = 'done';
    } else if (isLower) {
      lo = v;
      loOpen = op === '>';
      stage = 'lower';
      bounds++;
    } else {
      hi = v;
      hiOpen = op === '<';
      stage = 'done';
      bounds++;
    }
  }
  if (bounds === 2 && !(lo < hi)) fail('Bottom must be less than top', where);
  return { kind: 'numeric', lo, loOpen, hi, hiOpen };
}

const ANYTHING_BUT_VALUE = 'Value of anything-but must be an array or single string/number value.';
const ANYTHING_BUT_LIST = 'Inside anything but list, start|null|boolean is not supported.';
const ANYTHING_BUT_IGNORE_CASE = 'Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.';

function compileExclusion(arg: unknown, where: readonly string[]): Exclusion {
  if (typeof arg === 'string' || (typeof arg === 'number' && Number.isFinite(arg))) return { kind: 'values', values: new Set([arg]) };
  if (Array.isArray(arg)) {
    if (arg.length === 0) fail('Empty arrays are not allowed', where);
    for (const v of arg) if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) fail(ANYTHING_BUT_LIST, where);
    if (new Set(arg.map((v) => typeof v)).size > 1) fail('Inside anything but list, values must be all strings or all numbers', where);
    return { kind: 'values', values: new Set(arg as Scalar[]) };
  }
  if (!isPlainObject(arg) || Object.keys(arg).length !== 1) fail(ANYTHING_BUT_VALUE, where);
  const [op, inner] = Object.entries(arg)[0]!;
  const list = (v: unknown): unknown[] => {
    const xs = Array.isArray(v) ? v : [v];
    if (xs.length === 0) fail('Empty arrays are not allowed', where);
    return xs;
  };
  switch (op) {
    case 'prefix':
    case 'suffix': {
      if (isPlainObject(inner)) fail(ANYTHING_BUT_VALUE, where);
      const values = list(inner).map((s) => {
        if (typeof s !== 'string') fail('prefix/suffix match pattern must be a string', where);
        if (s === '') fail('Null prefix/suffix not allowed', where);
        return s;
      });
      return { kind: op, values };
    }
    case 'equals-ignore-case': {
      const values = list(inner).map((s) => (typeof s === 'string' ? fold(s) : fail(ANYTHING_BUT_IGNORE_CASE, where)));
      return { kind: op, values: new Set(values) };
    }
    case 'wildcard': {
      const globs = list(inner).map((s) => (typeof s === 'string' ? globOrFail(s, where) : fail('wildcard match pattern must be a string', where)));
      return { kind: op, globs };
    }
    default:
      return fail(`Unsupported anything-but pattern: ${op}`, where);
  }
}

// --- compiled tests ---------------------------------------------------------------------------------

function excluded(b: Exclusion, v: Scalar): boolean {
  switch (b.kind) {
    case 'values':
      return b.values.has(v);
    case 'equals-ignore-case':
      return typeof v === 'string' && b.values.has(fold(v));
    case 'prefix':
      return typeof v === 'string' && b.values.some((p) => v.startsWith(p));
    case 'suffix':
      return typeof v === 'string' && b.values.some((p) => v.endsWith(p));
    case 'wildcard':
      return typeof v === 'string' && b.globs.some((g) => globMatch(g, v));
  }
}

function matcherTest(m: Matcher): (v: Scalar) => boolean {
  switch (m.kind) {
    case 'exact': {
      const x = m.value;
      return (v) => v === x;
    }
    case 'equals-ignore-case': {
      const x = m.value;
      return (v) => typeof v === 'string' && fold(v) === x;
    }
    case 'prefix': {
      const x = m.value;
      return m.ignoreCase ? (v) => typeof v === 'string' && fold(v).startsWith(x) : (v) => typeof v === 'string' && v.startsWith(x);
    }
    case 'suffix': {
      const x = m.value;
      return m.ignoreCase ? (v) => typeof v === 'string' && fold(v).endsWith(x) : (v) => typeof v === 'string' && v.endsWith(x);
    }
    case 'wildcard': {
      const g = m.glob;
      return (v) => typeof v === 'string' && globMatch(g, v);
    }
    case 'numeric': {
      const { lo, loOpen, hi, hiOpen } = m;
      return (v) => typeof v === 'number' && (loOpen ? v > lo : v >= lo) && (hiOpen ? v < hi : v <= hi);
    }
    case 'cidr': {
      const r = m.range;
      return (v) => typeof v === 'string' && cidrContains(r, v);
    }
    case 'exists':
      return m.value ? () => true : () => false;
    case 'anything-but': {
      const b = m.but;
      return (v) => !excluded(b, v);
    }
  }
}

/** One function for a whole match list: exact values through a Set, the rest in turn. */
function predicateTest(matchers: readonly Matcher[]): (v: Scalar) => boolean {
  const exact = new Set<Scalar>();
  const others: ((v: Scalar) => boolean)[] = [];
  for (const m of matchers) {
    if (m.kind === 'exact') exact.add(m.value);
    else if (!(m.kind === 'exists' && !m.value)) others.push(matcherTest(m));
  }
  if (others.length === 0) {
    if (exact.size === 1) return matcherTest({ kind: 'exact', value: exact.values().next().value as Scalar });
    return (v) => exact.has(v);
  }
  if (exact.size === 0 && others.length === 1) return others[0]!;
  return (v) => exact.has(v) || others.some((t) => t(v));
}
