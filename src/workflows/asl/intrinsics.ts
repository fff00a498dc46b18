// Intrinsic functions (`States.Format(...)` and friends) in `.$` fields: a parser for the call syntax
// (nested calls, 'strings' with \' \\ \{ \} escapes, numbers, true/false/null, $ and $$ paths) and
// the functions themselves. Randomness (MathRandom, UUID) comes from the caller's `IntrinsicEnv`, so
// an interpreter that replays events gets the same values.
import { createHash } from 'node:crypto';
import { StatesError } from './errors.ts';
import { readPath, pathError } from './jsonpath.ts';
import type { Json } from './types.ts';

export type IntrinsicArg =
  | { kind: 'literal'; value: Json; raw?: string }
  | { kind: 'path'; text: string }
  | { kind: 'call'; name: string; args: IntrinsicArg[] };

export interface IntrinsicEnv {
  /** A uniform number in [0, 1). */
  random(): number;
  uuid(): string;
}

const ARITY: Record<string, [number, number]> = {
  'States.Format': [1, Infinity], 'States.StringToJson': [1, 1], 'States.JsonToString': [1, 1],
  'States.Array': [0, Infinity], 'States.ArrayPartition': [2, 2], 'States.ArrayContains': [2, 2],
  'States.ArrayRange': [3, 3], 'States.ArrayGetItem': [2, 2], 'States.ArrayLength': [1, 1],
  'States.ArrayUnique': [1, 1], 'States.Base64Encode': [1, 1], 'States.Base64Decode': [1, 1],
  'States.Hash': [2, 2], 'States.JsonMerge': [3, 3], 'States.MathRandom': [2, 3], 'States.MathAdd': [2, 2],
  'States.StringSplit': [2, 2], 'States.UUID': [0, 0],
};

export const INTRINSIC_NAMES = Object.keys(ARITY);

export class IntrinsicSyntaxError extends Error {
  constructor(text: string, why: string) {
    super(`invalid intrinsic function call '${text}': ${why}`);
    this.name = 'IntrinsicSyntaxError';
  }
}

export function looksLikeIntrinsic(text: string): boolean { return /^\s*States\.[A-Za-z0-9]+\s*\(/.test(text); }

const parsed = new Map<string, IntrinsicArg & { kind: 'call' }>();

/** Parse a whole `States.X(...)` expression; throws IntrinsicSyntaxError. */
export function parseIntrinsic(text: string): IntrinsicArg & { kind: 'call' } {
  const hit = parsed.get(text);
  if (hit) return hit;
  let i = 0;
  const fail = (why: string): never => { throw new IntrinsicSyntaxError(text, why); };
  const ws = () => { while (text[i] === ' ' || text[i] === '\t') i++; };
  const call = (): IntrinsicArg & { kind: 'call' } => {
    const m = /^States\.[A-Za-z0-9]+/.exec(text.slice(i));
    if (!m) fail(`expected a function name at position ${i}`);
    const name = m![0];
    if (!ARITY[name]) fail(`unknown function ${name}`);
    i += name.length;
    ws();
    if (text[i] !== '(') fail(`expected '(' after ${name}`);
    i++;
    ws();
    const args: IntrinsicArg[] = [];
    if (text[i] === ')') i++;
    else {
      for (;;) {
        args.push(arg());
        ws();
        if (text[i] === ',') { i++; ws(); continue; }
        if (text[i] === ')') { i++; break; }
        fail(`expected ',' or ')' at position ${i}`);
      }
    }
    const [min, max] = ARITY[name];
    if (args.length < min || args.length > max) fail(`${name} takes ${min === max ? min : `${min} to ${max === Infinity ? 'any number of' : max}`} arguments, got ${args.length}`);
    return { kind: 'call', name, args };
  };
  const arg = (): IntrinsicArg => {
    const c = text[i];
    if (c === "'") {
      let raw = '';
      i++;
      while (i < text.length && text[i] !== "'") {
        if (text[i] === '\\' && i + 1 < text.length) { raw += text[i] + text[i + 1]; i += 2; continue; }
        raw += text[i++];
      }
      if (text[i] !== "'") fail('unterminated string literal');
      i++;
      return { kind: 'literal', value: raw.replace(/\\(.)/gs, '$1'), raw };
    }
    if (c === '$') {
      const start = i;
      let depth = 0;
      let quote = '';
      while (i < text.length) {
        const ch = text[i];
        if (quote) { if (ch === '\\') i++; else if (ch === quote) quote = ''; }
        else if (ch === "'" || ch === '"') quote = ch;
        else if (ch === '[' || ch === '(') depth++;
        else if (ch === ']' || (ch === ')' && depth > 0)) depth--;
        else if (depth === 0 && (ch === ',' || ch === ')')) break;
        i++;
      }
      const path = text.slice(start, i).trim();
      const err = pathError(path);
      if (err) fail(err);
      return { kind: 'path', text: path };
    }
    if (text.startsWith('States.', i)) return call();
    const num = /^-?\d+(\.\d+)?([eE][-+]?\d+)?/.exec(text.slice(i));
    if (num) { i += num[0].length; return { kind: 'literal', value: Number(num[0]) }; }
    for (const [word, value] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) { i += word.length; return { kind: 'literal', value }; }
    }
    return fail(`unexpected '${text.slice(i, i + 10)}' at position ${i}`);
  };
  ws();
  const out = call();
  ws();
  if (i !== text.length) fail(`unexpected '${text.slice(i)}' after the call`);
  if (parsed.size > 2000) parsed.clear();
  parsed.set(text, out);
  return out;
}

/** Static checks the validator can make beyond syntax (literal argument types). */
export function intrinsicError(text: string): string | null {
  let call;
  try { call = parseIntrinsic(text); } catch (e) { return (e as Error).message; }
  const check = (c: IntrinsicArg & { kind: 'call' }): string | null => {
    if (c.name === 'States.MathAdd' || c.name === 'States.MathRandom' || c.name === 'States.ArrayRange') {
      for (const a of c.args) if (a.kind === 'literal' && typeof a.value !== 'number') return `${c.name} takes numbers or paths, not ${JSON.stringify(a.value)}`;
    }
    if (c.name === 'States.Format' && !(c.args[0].kind === 'literal' && typeof c.args[0].value === 'string') && c.args[0].kind !== 'path') return 'States.Format needs a string template first';
    for (const a of c.args) if (a.kind === 'call') { const e = check(a); if (e) return e; }
    return null;
  };
  return check(call);
}

const fail = (why: string): never => { throw new StatesError('States.IntrinsicFailure', why); };

/** Evaluate an intrinsic expression against the state's data and the context object. */
export function evalIntrinsic(text: string, data: Json, context: Json, env: IntrinsicEnv): Json {
  let call;
  try { call = parseIntrinsic(text); } catch (e) { return fail((e as Error).message); }
  return evalCall(call, data, context, env);
}

function evalArg(a: IntrinsicArg, data: Json, context: Json, env: IntrinsicEnv): Json {
  if (a.kind === 'literal') return a.value;
  if (a.kind === 'call') return evalCall(a, data, context, env);
  const r = readPath(a.text, data, context);
  if (!r.found) throw new StatesError('States.Runtime', `The JSONPath '${a.text}' in an intrinsic function could not be found in the input`);
  return r.value;
}

const isInt = (v: Json): v is number => typeof v === 'number' && Number.isInteger(v);
const arr = (fn: string, v: Json): Json[] => (Array.isArray(v) ? v : fail(`${fn} needs an array, got ${JSON.stringify(v)}`));
const str = (fn: string, v: Json): string => (typeof v === 'string' ? v : fail(`${fn} needs a string, got ${JSON.stringify(v)}`));
const num = (fn: string, v: Json): number => (typeof v === 'number' ? v : fail(`${fn} needs a number, got ${JSON.stringify(v)}`));

/** Java's toString of a JSON value, which is how AWS prints objects and arrays inside States.Format. */
function javaString(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(javaString).join(', ')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${k}=${javaString(x)}`).join(', ')}}`;
  return String(v);
}

/** Deterministic (seeded) random in [0,1): a small integer hash chain, so MathRandom(a, b, seed) repeats. */
function seededRandom(seed: number): number {
  let h = Math.imul((seed | 0) ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

function evalCall(c: IntrinsicArg & { kind: 'call' }, data: Json, context: Json, env: IntrinsicEnv): Json {
  const a = c.args.map((x) => evalArg(x, data, context, env));
  const fn = c.name;
  switch (fn) {
    case 'States.Format': {
      const first = c.args[0];
      // A literal template keeps its escapes so that \{ and \} stay literal braces.
      const template = first.kind === 'literal' && first.raw !== undefined ? first.raw : str(fn, a[0]);
      let out = '';
      let next = 1;
      for (let i = 0; i < template.length; i++) {
        const ch = template[i];
        if (ch === '\\' && i + 1 < template.length) { out += template[++i]; continue; }
        if (ch === '{' && template[i + 1] === '}') {
          if (next >= a.length) fail('States.Format has more {} than arguments');
          out += javaString(a[next++]);
          i++;
          continue;
        }
        out += ch;
      }
      if (next !== a.length) fail('States.Format has more arguments than {}');
      return out;
    }
    case 'States.StringToJson': {
      const s = str(fn, a[0]).trim();
      if (s === '') return null;
      try { return JSON.parse(s) as Json; } catch { return fail(`States.StringToJson: not JSON: ${s.slice(0, 100)}`); }
    }
    case 'States.JsonToString': return JSON.stringify(a[0]);
    case 'States.Array': return a;
    case 'States.ArrayPartition': {
      const list = arr(fn, a[0]);
      const size = a[1];
      if (!isInt(size) || size <= 0) return fail('States.ArrayPartition needs a positive integer size');
      const out: Json[] = [];
      for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
      return out;
    }
    case 'States.ArrayContains': return arr(fn, a[0]).some((x) => sameJson(x, a[1]));
    case 'States.ArrayRange': {
      const [start, end, step] = a;
      if (!isInt(start) || !isInt(end) || !isInt(step) || step === 0) return fail('States.ArrayRange needs integer start, end and a non-zero integer step');
      const out: number[] = [];
      for (let x = start; step > 0 ? x <= end : x >= end; x += step) {
        out.push(x);
        if (out.length > 1000) fail('States.ArrayRange makes at most 1000 items');
      }
      return out;
    }
    case 'States.ArrayGetItem': {
      const list = arr(fn, a[0]);
      if (!isInt(a[1]) || a[1] < 0 || a[1] >= list.length) return fail(`States.ArrayGetItem: index ${JSON.stringify(a[1])} is outside the array (length ${list.length})`);
      return list[a[1]];
    }
    case 'States.ArrayLength': return arr(fn, a[0]).length;
    case 'States.ArrayUnique': {
      const seen = new Set<string>();
      return arr(fn, a[0]).filter((x) => { const k = canonical(x); if (seen.has(k)) return false; seen.add(k); return true; });
    }
    case 'States.Base64Encode': {
      const s = str(fn, a[0]);
      if (s.length > 10000) fail('States.Base64Encode takes at most 10000 characters');
      return Buffer.from(s, 'utf8').toString('base64');
    }
    case 'States.Base64Decode': {
      const s = str(fn, a[0]);
      if (s.length > 10000) fail('States.Base64Decode takes at most 10000 characters');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) fail('States.Base64Decode: not base64');
      return Buffer.from(s, 'base64').toString('utf8');
    }
    case 'States.Hash': {
      const algorithms: Record<string, string> = { MD5: 'md5', 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };
      const algo = algorithms[str(fn, a[1])] ?? fail(`States.Hash: algorithm must be one of ${Object.keys(algorithms).join(', ')}`);
      const input = typeof a[0] === 'string' ? a[0] : JSON.stringify(a[0]);
      if (input.length > 10000) fail('States.Hash takes at most 10000 characters');
      return createHash(algo).update(input, 'utf8').digest('hex');
    }
    case 'States.JsonMerge': {
      const [x, y, deep] = a;
      const isObj = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
      if (!isObj(x) || !isObj(y)) return fail('States.JsonMerge merges two objects');
      if (deep !== false) return fail('States.JsonMerge supports only shallow merging: the third argument must be false');
      return { ...x, ...y };
    }
    case 'States.MathRandom': {
      const start = Math.trunc(num(fn, a[0]));
      const end = Math.trunc(num(fn, a[1]));
      if (end <= start) fail('States.MathRandom needs start < end');
      const r = a.length === 3 ? seededRandom(num(fn, a[2])) : env.random();
      return start + Math.floor(r * (end - start));
    }
    case 'States.MathAdd': {
      // AWS rounds both operands to integers (half up) before adding.
      const x = Math.round(num(fn, a[0])), y = Math.round(num(fn, a[1]));
      return x + y + 0;
    }
    case 'States.StringSplit': {
      const s = str(fn, a[0]);
      const delims = new Set(str(fn, a[1]));
      const out: string[] = [];
      let cur = '';
      for (const ch of s) {
        if (delims.has(ch)) { if (cur) out.push(cur); cur = ''; } else cur += ch;
      }
      if (cur) out.push(cur);
      return out;
    }
    case 'States.UUID': return env.uuid();
  }
  return fail(`unknown function ${fn}`);
}

/** JSON text with sorted keys: equal JSON values give equal text. */
export function canonical(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

export function sameJson(a: Json, b: Json): boolean { return canonical(a) === canonical(b); }
