// Subscription filter policies in SNS's syntax: validation with SNS's documented limits (5 keys,
// 150 combinations, 256 KB, numbers within ±1e9, nesting only for body policies), compiled into a
// small plain tree, and matching against a message's attributes (MessageAttributes scope) or its
// JSON body (MessageBody scope).
//
// Where SNS's docs leave room, Nimbus chooses (and the tests pin):
// - Types are strict: a string in the policy matches strings, a number matches numbers (Number
//   attributes, JSON numbers, numbers inside a String.Array), true/false/null match themselves. A
//   String attribute "100" does not match 100 nor {"numeric": ...}.
// - Numbers compare at SNS's five decimal places (301.500001 equals 301.5).
// - Binary attributes are ignored, as SNS does: for the policy they do not exist.
// - A body key "exists" when it holds at least one scalar (null counts; {} and [] do not), as in
//   EventBridge; an attribute exists when the message has it.
// - anything-but needs the key to exist and none of its values to be excluded: for a String.Array
//   attribute or a JSON array, no element may be listed (SNS's current docs; older docs said any
//   element not listed was enough).
// - "$or" is always the operator: a malformed one is an error (SNS would read it as a key name,
//   which then fails validation anyway, with a vaguer message).
// - An empty policy {} filters nothing: it matches every message, JSON or not.
import { BlockList, isIP } from 'node:net';
import { NimbusError } from '../../errors.ts';
import type { MessageAttribute } from '../../store/types.ts';

export type FilterPolicyScope = 'MessageAttributes' | 'MessageBody';

export const FILTER_POLICY_MAX_KEYS = 5;
export const FILTER_POLICY_MAX_COMBINATIONS = 150;
export const FILTER_POLICY_MAX_BYTES = 256 * 1024;
/** Numbers in a policy lie within ±FILTER_POLICY_NUMBER_MAX and compare at five decimal places. */
export const FILTER_POLICY_NUMBER_MAX = 1e9;

const OPERATORS = ['prefix', 'suffix', 'equals-ignore-case', 'anything-but', 'numeric', 'exists', 'cidr'] as const;
const COMPARISONS = new Set(['=', '<', '<=', '>', '>=']);

type Scalar = string | number | boolean | null;

export type Condition =
  | { kind: 'equals'; value: Scalar }
  | { kind: 'prefix' | 'suffix' | 'equals-ignore-case'; value: string }
  | { kind: 'anything-but'; values: Array<string | number> }
  | { kind: 'anything-but-prefix'; value: string }
  | { kind: 'numeric'; lower?: number; lowerInclusive?: boolean; upper?: number; upperInclusive?: boolean }
  | { kind: 'exists'; value: boolean }
  | { kind: 'cidr'; family: 'ipv4' | 'ipv6'; address: string; prefix: number };

export type PolicyField = { key: string; conditions: Condition[] } | { key: string; nested: PolicyNode };

/** One object level of a policy: every field must match, and in every $or group one branch. */
export interface PolicyNode {
  fields: PolicyField[];
  anyOf: PolicyNode[][];
}

/** A validated policy: plain data, so it can be stored as JSON and matched again after loading. */
export interface FilterPolicy {
  scope: FilterPolicyScope;
  /** The policy as given (parsed, when it came as JSON text), to store and show back. */
  source: Record<string, unknown>;
  root: PolicyNode;
}

export interface FilterableMessage {
  attributes?: Record<string, MessageAttribute> | null;
  body: string;
}

const bad = (path: string, msg: string) => new NimbusError('BAD_REQUEST', `${path}: ${msg}`);
const child = (path: string, key: string) => (/^[A-Za-z_$][\w$-]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`);
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && [Object.prototype, null].includes(Object.getPrototypeOf(v));

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (isPlainObject(v)) return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v);
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return typeof v;
}

/** Five decimal places, as SNS compares. Past 1e15 the rounding would only lose precision. */
const norm = (n: number) => (Math.abs(n) < 1e15 ? Math.round(n * 1e5) / 1e5 : n);

/**
 * Checks a policy (an object, or its JSON text) and compiles it. Errors are BAD_REQUEST and name
 * the key path and the rule: `filterPolicy.price[0].numeric: ...`.
 */
export function validateFilterPolicy(policy: unknown, scope: FilterPolicyScope, where = 'filterPolicy'): FilterPolicy {
  if (scope !== 'MessageAttributes' && scope !== 'MessageBody') throw bad(`${where}Scope`, `must be "MessageAttributes" or "MessageBody", got ${describe(scope)}`);
  let source = policy;
  if (typeof policy === 'string') {
    if (Buffer.byteLength(policy) > FILTER_POLICY_MAX_BYTES) throw bad(where, `is ${Buffer.byteLength(policy)} bytes; SNS allows at most ${FILTER_POLICY_MAX_BYTES} (256 KB)`);
    try { source = JSON.parse(policy); } catch (err) { throw bad(where, `is not valid JSON (${(err as Error).message})`); }
  }
  if (!isPlainObject(source)) throw bad(where, `must be an object mapping ${scope === 'MessageBody' ? 'body properties' : 'attribute names'} to lists of values, got ${describe(source)}`);
  const root = compileNode(source, scope, 1, 1, where);
  const bytes = Buffer.byteLength(JSON.stringify(source));
  if (bytes > FILTER_POLICY_MAX_BYTES) throw bad(where, `is ${bytes} bytes as JSON; SNS allows at most ${FILTER_POLICY_MAX_BYTES} (256 KB)`);
  const keys = topKeys(root);
  if (keys > FILTER_POLICY_MAX_KEYS) {
    throw bad(where, `has ${keys} keys; SNS allows at most ${FILTER_POLICY_MAX_KEYS}${scope === 'MessageBody' ? ' (top-level properties; keys nested below them do not count)' : ''}, counted along each $or branch`);
  }
  const combinations = combinationsOf(root, 1);
  if (combinations > FILTER_POLICY_MAX_COMBINATIONS) throw tooComplex(where, combinations, scope);
  return { scope, source, root };
}

function tooComplex(where: string, n: number | undefined, scope: FilterPolicyScope): NimbusError {
  const how = scope === 'MessageBody' ? 'the product over keys of (values × nesting depth)' : 'the product of the number of values of each key';
  return bad(where, `is too complex${n === undefined ? '' : `: ${n >= 1e9 ? 'at least a billion' : n} combinations`}; SNS allows at most ${FILTER_POLICY_MAX_COMBINATIONS}, counting ${how}, summed over $or branches`);
}

/** `depth` is the object nesting (it weighs combinations); `level` also counts $or nesting, to bound recursion. */
function compileNode(obj: Record<string, unknown>, scope: FilterPolicyScope, depth: number, level: number, path: string): PolicyNode {
  // Every nesting level or $or adds at least one combination, so past the limit the policy is invalid anyway.
  if (level > FILTER_POLICY_MAX_COMBINATIONS) throw tooComplex(path, undefined, scope);
  const node: PolicyNode = { fields: [], anyOf: [] };
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    const at = child(path, key);
    if (key === '$or') {
      node.anyOf.push(compileOr(v, scope, depth, level, at));
    } else if (Array.isArray(v)) {
      if (v.length === 0) throw bad(at, 'lists no values; give at least one (an empty list would match nothing)');
      node.fields.push({ key, conditions: v.map((x, i) => compileValue(x, `${at}[${i}]`)) });
    } else if (isPlainObject(v)) {
      if (scope === 'MessageAttributes') throw bad(at, 'nested policies apply to the message body (scope MessageBody); in scope MessageAttributes each key takes a list of values');
      if (Object.keys(v).length === 0) throw bad(at, 'is an empty object; a nested policy needs at least one key');
      node.fields.push({ key, nested: compileNode(v, scope, depth + 1, level + 1, at) });
    } else {
      throw bad(at, `must be a list of values such as ["a", {"prefix": "b"}]${scope === 'MessageBody' ? ' or a nested policy object' : ''}, got ${describe(v)}`);
    }
  }
  return node;
}

function compileOr(v: unknown, scope: FilterPolicyScope, depth: number, level: number, path: string): PolicyNode[] {
  if (!Array.isArray(v) || v.length < 2 || !v.every(isPlainObject)) {
    const got = !Array.isArray(v) ? describe(v) : v.length < 2 ? `a list of ${v.length}` : 'a list holding something other than objects';
    throw bad(path, `must be a list of at least two policy objects, such as [{"a": ["x"]}, {"b": ["y"]}], got ${got}`);
  }
  return v.map((branch, i) => {
    const at = `${path}[${i}]`;
    const keys = Object.keys(branch);
    if (keys.length === 0) throw bad(at, 'is an empty object; a $or branch needs at least one key');
    const op = keys.find((k) => (OPERATORS as readonly string[]).includes(k));
    if (op) throw bad(child(at, op), `"${op}" is an operator; a $or branch maps keys to lists of values, such as {"key": [{"${op}": ...}]}`);
    return compileNode(branch, scope, depth, level + 1, at);
  });
}

function policyNumber(n: number, path: string): number {
  if (!Number.isFinite(n) || Math.abs(n) > FILTER_POLICY_NUMBER_MAX) throw bad(path, `numbers in a filter policy must be from -1e9 to 1e9, got ${describe(n)}`);
  return norm(n);
}

function compileValue(v: unknown, path: string): Condition {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return { kind: 'equals', value: v };
  if (typeof v === 'number') return { kind: 'equals', value: policyNumber(v, path) };
  if (!isPlainObject(v)) throw bad(path, `must be a string, a number, true, false, null or an operator object such as {"prefix": "abc"}, got ${describe(v)}`);
  const keys = Object.keys(v);
  if (keys.length !== 1) throw bad(path, `an operator object holds exactly one operator (${OPERATORS.join(', ')}), got ${keys.length ? keys.map((k) => `"${k}"`).join(', ') : 'none'}`);
  const op = keys[0]!;
  const arg = v[op];
  const at = child(path, op);
  switch (op) {
    case 'prefix':
    case 'suffix':
    case 'equals-ignore-case':
      if (typeof arg !== 'string') throw bad(at, `takes a string, got ${describe(arg)}`);
      return { kind: op, value: op === 'equals-ignore-case' ? arg.toLowerCase() : arg };
    case 'anything-but':
      return compileAnythingBut(arg, at);
    case 'numeric':
      return compileNumeric(arg, at);
    case 'exists':
      if (typeof arg !== 'boolean') throw bad(at, `takes true or false, got ${describe(arg)}`);
      return { kind: 'exists', value: arg };
    case 'cidr':
      return compileCidr(arg, at);
    default:
      throw bad(path, `unknown operator "${op}"; SNS filter policies know ${OPERATORS.join(', ')} and $or`);
  }
}

function compileAnythingBut(arg: unknown, path: string): Condition {
  if (typeof arg === 'string') return { kind: 'anything-but', values: [arg] };
  if (typeof arg === 'number') return { kind: 'anything-but', values: [policyNumber(arg, path)] };
  if (Array.isArray(arg)) {
    if (arg.length === 0) throw bad(path, 'lists no values; give at least one');
    if (arg.every((x) => typeof x === 'string')) return { kind: 'anything-but', values: arg };
    if (arg.every((x) => typeof x === 'number')) return { kind: 'anything-but', values: arg.map((n, i) => policyNumber(n, `${path}[${i}]`)) };
    throw bad(path, 'takes a list of strings or a list of numbers, not a mix (nor true, false, null or objects)');
  }
  if (isPlainObject(arg)) {
    const keys = Object.keys(arg);
    if (keys.length !== 1 || keys[0] !== 'prefix') {
      throw bad(path, `inside anything-but SNS supports only {"prefix": "..."}, got ${keys.length ? keys.map((k) => `"${k}"`).join(', ') : 'an empty object'}`);
    }
    if (typeof arg.prefix !== 'string') throw bad(`${path}.prefix`, `takes a string, got ${describe(arg.prefix)}`);
    return { kind: 'anything-but-prefix', value: arg.prefix };
  }
  throw bad(path, `takes a string, a number, a list of either, or {"prefix": "..."}, got ${describe(arg)}`);
}

function compileNumeric(arg: unknown, path: string): Condition {
  const shape = 'takes ["<op>", number] with <op> one of =, <, <=, >, >=, or a range such as [">", 0, "<=", 150]';
  if (!Array.isArray(arg) || (arg.length !== 2 && arg.length !== 4)) throw bad(path, `${shape}, got ${describe(arg)}${Array.isArray(arg) ? ` of ${arg.length}` : ''}`);
  const [op1, n1, op2, n2] = arg as unknown[];
  if (typeof op1 !== 'string' || !COMPARISONS.has(op1)) throw bad(`${path}[0]`, `must be one of =, <, <=, >, >=, got ${describe(op1)}`);
  if (typeof n1 !== 'number') throw bad(`${path}[1]`, `must be a number, got ${describe(n1)}`);
  const a = policyNumber(n1, `${path}[1]`);
  if (arg.length === 2) {
    if (op1 === '=') return { kind: 'numeric', lower: a, lowerInclusive: true, upper: a, upperInclusive: true };
    return op1.startsWith('>') ? { kind: 'numeric', lower: a, lowerInclusive: op1 === '>=' } : { kind: 'numeric', upper: a, upperInclusive: op1 === '<=' };
  }
  if (op1 !== '>' && op1 !== '>=') throw bad(`${path}[0]`, `a range starts with ">" or ">=", got "${op1}"`);
  if (op2 !== '<' && op2 !== '<=') throw bad(`${path}[2]`, `a range ends with "<" or "<=", got ${describe(op2)}`);
  if (typeof n2 !== 'number') throw bad(`${path}[3]`, `must be a number, got ${describe(n2)}`);
  const b = policyNumber(n2, `${path}[3]`);
  if (b <= a) throw bad(path, `the range's lower bound (${a}) must be below its upper bound (${b})`);
  return { kind: 'numeric', lower: a, lowerInclusive: op1 === '>=', upper: b, upperInclusive: op2 === '<=' };
}

function compileCidr(arg: unknown, path: string): Condition {
  if (typeof arg !== 'string') throw bad(path, `takes a block such as "10.0.0.0/24", got ${describe(arg)}`);
  const [address = '', bits, ...rest] = arg.split('/');
  const version = isIP(address);
  const prefix = Number(bits);
  if (rest.length || version === 0 || !/^\d{1,3}$/.test(bits ?? '') || prefix > (version === 4 ? 32 : 128)) {
    throw bad(path, `must be an IPv4 or IPv6 block such as "10.0.0.0/24" or "2001:db8::/32", got ${describe(arg)}`);
  }
  return { kind: 'cidr', family: version === 4 ? 'ipv4' : 'ipv6', address, prefix };
}

/** Top-level keys, taking from each $or group its branch with the most. */
function topKeys(node: PolicyNode): number {
  return node.fields.length + node.anyOf.reduce((n, group) => n + Math.max(...group.map(topKeys)), 0);
}

/** SNS's complexity: a product over keys (values × depth), $or branches summed. Capped to stay finite. */
function combinationsOf(node: PolicyNode, depth: number): number {
  let n = 1;
  for (const f of node.fields) n *= 'conditions' in f ? f.conditions.length * depth : combinationsOf(f.nested, depth + 1);
  for (const group of node.anyOf) n *= group.reduce((sum, b) => sum + combinationsOf(b, depth), 0);
  return Math.min(n, 1e9);
}

// ---- matching ----

/** What a policy key finds in the message: whether it is there, and its scalar values. */
interface Found { present: boolean; values: Scalar[] }

/** Does the message pass the policy? Body scope needs a JSON object body; anything else matches nothing. */
export function matches(policy: FilterPolicy, message: FilterableMessage): boolean {
  const { root } = policy;
  if (root.fields.length === 0 && root.anyOf.length === 0) return true;
  if (policy.scope === 'MessageAttributes') return matchNode(root, message.attributes ?? {}, attributeFound);
  let body: unknown;
  try { body = JSON.parse(message.body); } catch { return false; }
  return isPlainObject(body) && matchNode(root, body, bodyFound);
}

function matchNode(node: PolicyNode, at: Record<string, unknown>, found: (at: Record<string, unknown>, key: string) => Found): boolean {
  for (const f of node.fields) {
    if ('conditions' in f) {
      const v = found(at, f.key);
      if (!f.conditions.some((c) => matchCondition(c, v))) return false;
    } else if (!objectsAt(at, f.key).some((o) => matchNode(f.nested, o, found))) {
      return false;
    }
  }
  return node.anyOf.every((group) => group.some((branch) => matchNode(branch, at, found)));
}

const own = (o: Record<string, unknown>, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);

function attributeFound(attributes: Record<string, unknown>, key: string): Found {
  const a = own(attributes, key) as MessageAttribute | undefined;
  if (!a || typeof a.DataType !== 'string' || a.DataType.startsWith('Binary')) return { present: false, values: [] };
  const text = a.StringValue ?? '';
  if (/^(String|Number)\.Array$/.test(a.DataType)) {
    let list: unknown;
    try { list = JSON.parse(text); } catch { list = undefined; }
    return { present: true, values: Array.isArray(list) ? scalars(list) : [] };
  }
  if (a.DataType.startsWith('Number')) {
    const n = Number(text);
    return { present: true, values: text.trim() !== '' && !Number.isNaN(n) ? [n] : [] };
  }
  return { present: true, values: [text] };
}

function bodyFound(obj: Record<string, unknown>, key: string): Found {
  const values = scalars(own(obj, key));
  return { present: values.length > 0, values };
}

/** The scalars of a JSON value, through nested arrays (iteratively: bodies can nest deeply). */
function scalars(v: unknown): Scalar[] {
  const out: Scalar[] = [];
  const stack = [v];
  while (stack.length) {
    const x = stack.pop();
    if (Array.isArray(x)) for (let i = x.length - 1; i >= 0; i--) stack.push(x[i]);
    else if (x === null || typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') out.push(x);
  }
  return out;
}

/** The objects a nested policy looks into: the value itself, or the objects in an array; {} when none. */
function objectsAt(obj: Record<string, unknown>, key: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const stack = [own(obj, key)];
  while (stack.length) {
    const x = stack.pop();
    if (Array.isArray(x)) for (let i = x.length - 1; i >= 0; i--) stack.push(x[i]);
    else if (isPlainObject(x)) out.push(x);
  }
  return out.length ? out : [{}];
}

const same = (want: Scalar, v: Scalar) => (typeof want === 'number' && typeof v === 'number' ? norm(v) === want : want === v);

function matchCondition(c: Condition, f: Found): boolean {
  switch (c.kind) {
    case 'exists': return c.value === f.present;
    case 'anything-but': return f.values.length > 0 && !f.values.some((v) => c.values.some((x) => same(x, v)));
    case 'anything-but-prefix': return f.values.length > 0 && !f.values.some((v) => typeof v === 'string' && v.startsWith(c.value));
    default: return f.values.some((v) => matchValue(c, v));
  }
}

function matchValue(c: Condition, v: Scalar): boolean {
  switch (c.kind) {
    case 'equals': return same(c.value, v);
    case 'prefix': return typeof v === 'string' && v.startsWith(c.value);
    case 'suffix': return typeof v === 'string' && v.endsWith(c.value);
    case 'equals-ignore-case': return typeof v === 'string' && v.toLowerCase() === c.value;
    case 'numeric': {
      if (typeof v !== 'number' || Number.isNaN(v)) return false;
      const n = norm(v);
      if (c.lower !== undefined && (c.lowerInclusive ? n < c.lower : n <= c.lower)) return false;
      return c.upper === undefined || (c.upperInclusive ? n <= c.upper : n < c.upper);
    }
    case 'cidr': return typeof v === 'string' && isIP(v) === (c.family === 'ipv4' ? 4 : 6) && blockFor(c).check(v, c.family);
    default: return false;
  }
}

const blocks = new WeakMap<Condition, BlockList>();
function blockFor(c: Extract<Condition, { kind: 'cidr' }>): BlockList {
  let b = blocks.get(c);
  if (!b) {
    b = new BlockList();
    b.addSubnet(c.address, c.prefix, c.family);
    blocks.set(c, b);
  }
  return b;
}
