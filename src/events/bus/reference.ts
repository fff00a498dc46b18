// The reference matcher: the pattern language read as directly as it is described, for tests to hold
// the rule index to. It interprets the pattern's JSON as it stands (no compilation, no shared operator
// code: wildcards become regular expressions, CIDRs go to node:net), walks `$or` and nested fields
// recursively, and handles array consistency by carrying the array elements chosen so far. It assumes
// the pattern passed validatePattern. Slow on purpose; never on a hot path.
import { BlockList, isIP } from 'node:net';
import { isOrRelationship, isPlainObject } from './syntax.ts';

/** Kept equal to matcher.ts's MAX_EVENT_DEPTH (not imported: this file shares no code with the index). */
const MAX_EVENT_DEPTH = 1100;

type Scalar = string | number | boolean | null;

/** A value in the event: its dot-joined field path, and the element taken in each array of objects above it. */
interface Leaf {
  path: string;
  value: Scalar;
  elements: ReadonlyMap<number, number>;
}

type Chosen = ReadonlyMap<number, number>;

/** Whether `event` matches `pattern` (a pattern that passed validatePattern). */
export function matchesReference(pattern: unknown, event: unknown): boolean {
  const leaves: Leaf[] = [];
  flatten(event, null, new Map(), [], leaves, { next: 0 }, 0);
  const p = typeof pattern === 'string' ? (JSON.parse(pattern) as unknown) : pattern;
  return !satisfy(p as Record<string, unknown>, '', new Map(), leaves).next().done;
}

/**
 * Collects the event's leaves. `pending` lists the arrays entered since the last object: they count
 * for a leaf only once an object lies between them and it (a bare value in an array is not "inside an
 * element" in the sense that splits matches).
 */
function flatten(v: unknown, path: string | null, elements: Map<number, number>, pending: [number, number][], out: Leaf[], ids: { next: number }, depth: number): void {
  if (depth > MAX_EVENT_DEPTH) return;
  if (Array.isArray(v)) {
    const id = ids.next++;
    v.forEach((el, i) => flatten(el, path, elements, [...pending, [id, i]], out, ids, depth + 1));
  } else if (typeof v === 'object' && v !== null) {
    const inside = new Map([...elements, ...pending]);
    for (const key of Object.keys(v)) flatten((v as Record<string, unknown>)[key], path === null ? key : `${path}.${key}`, inside, [], out, ids, depth + 1);
  } else if (path !== null && (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) {
    out.push({ path, value: v, elements });
  }
}

/** Every way (choice of array elements) in which the event satisfies all fields of `obj`. */
function* satisfy(obj: Record<string, unknown>, prefix: string, chosen: Chosen, leaves: Leaf[]): Generator<Chosen> {
  yield* allOf(Object.entries(obj), 0, prefix, chosen, leaves);
}

function* allOf(fields: [string, unknown][], i: number, prefix: string, chosen: Chosen, leaves: Leaf[]): Generator<Chosen> {
  if (i === fields.length) {
    yield chosen;
    return;
  }
  const [key, spec] = fields[i]!;
  for (const next of field(key, spec, prefix, chosen, leaves)) yield* allOf(fields, i + 1, prefix, next, leaves);
}

function* field(key: string, spec: unknown, prefix: string, chosen: Chosen, leaves: Leaf[]): Generator<Chosen> {
  if (key === '$or' && isOrRelationship(spec)) {
    for (const branch of spec) yield* satisfy(branch, prefix, chosen, leaves);
    return;
  }
  const path = prefix + key;
  if (!Array.isArray(spec)) {
    yield* satisfy(spec as Record<string, unknown>, `${path}.`, chosen, leaves);
    return;
  }
  const here = leaves.filter((l) => l.path === path);
  if (here.length === 0) {
    if (spec.some((m) => isPlainObject(m) && m.exists === false)) yield chosen;
    return;
  }
  for (const leaf of here) {
    if (!spec.some((m) => entryMatches(m, leaf.value))) continue;
    if ([...leaf.elements].some(([arr, i]) => chosen.has(arr) && chosen.get(arr) !== i)) continue;
    yield new Map([...chosen, ...leaf.elements]);
  }
}

/** One entry of a match list against one value. */
function entryMatches(m: unknown, v: Scalar): boolean {
  if (!isPlainObject(m)) return m === v;
  const [op, arg] = Object.entries(m)[0]!;
  const str = typeof v === 'string' ? v : null;
  const ignoringCase = (a: unknown): string | null => (isPlainObject(a) ? String(a['equals-ignore-case']).toLowerCase() : null);
  switch (op) {
    case 'exists':
      return arg === true;
    case 'prefix': {
      const ic = ignoringCase(arg);
      return str !== null && (ic === null ? str.startsWith(arg as string) : str.toLowerCase().startsWith(ic));
    }
    case 'suffix': {
      const ic = ignoringCase(arg);
      return str !== null && (ic === null ? str.endsWith(arg as string) : str.toLowerCase().endsWith(ic));
    }
    case 'equals-ignore-case':
      return str !== null && str.toLowerCase() === (arg as string).toLowerCase();
    case 'wildcard':
      return str !== null && wildcardRegExp(arg as string).test(str);
    case 'numeric':
      return typeof v === 'number' && inRange(arg as unknown[], v);
    case 'cidr':
      return str !== null && inCidr(arg as string, str);
    case 'anything-but':
      return !isExcluded(arg, v);
    default:
      throw new Error(`unvalidated pattern: operator ${op}`);
  }
}

function isExcluded(arg: unknown, v: Scalar): boolean {
  if (!isPlainObject(arg)) return (Array.isArray(arg) ? arg : [arg]).some((x) => x === v);
  const [op, inner] = Object.entries(arg)[0]!;
  if (typeof v !== 'string') return false;
  const list = (Array.isArray(inner) ? inner : [inner]) as string[];
  switch (op) {
    case 'prefix':
      return list.some((p) => v.startsWith(p));
    case 'suffix':
      return list.some((s) => v.endsWith(s));
    case 'equals-ignore-case':
      return list.some((s) => s.toLowerCase() === v.toLowerCase());
    case 'wildcard':
      return list.some((w) => wildcardRegExp(w).test(v));
    default:
      throw new Error(`unvalidated pattern: anything-but ${op}`);
  }
}

function inRange(terms: unknown[], v: number): boolean {
  for (let i = 0; i < terms.length; i += 2) {
    const bound = terms[i + 1] as number;
    const ok = { '=': v === bound, '<': v < bound, '<=': v <= bound, '>': v > bound, '>=': v >= bound }[terms[i] as string];
    if (!ok) return false;
  }
  return true;
}

/** `*` is any run of characters; `\*` and `\\` are a literal star and backslash. */
function wildcardRegExp(w: string): RegExp {
  let re = '';
  for (let i = 0; i < w.length; i++) {
    const c = w[i]!;
    if (c === '*') re += '.*';
    else re += (c === '\\' ? w[++i]! : c).replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

function inCidr(cidr: string, address: string): boolean {
  const family = isIP(address);
  if (family === 0 || address.includes('%')) return false;
  const [net, bits] = cidr.split('/') as [string, string];
  const netFamily = isIP(net);
  if (netFamily !== family) return false;
  const list = new BlockList();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  list.addSubnet(net, Number(bits), type);
  return list.check(address, type);
}
