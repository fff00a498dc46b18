// JSONPath as Step Functions uses it (the Jayway flavour): `$` (input) or `$$` (context object),
// `.name`, `['name']`, `[0]`, `[-1]`, `[*]`, `.*`, `..name`, unions `[0,2]`/`['a','b']`, slices
// `[1:3]`/`[::2]`, filters `[?(@.price < 10 && @.tag == 'x')]` and `[(@.length-1)]`.
// A *definite* path (no wildcard, descendant, filter, slice or union) selects one value, or fails;
// any other selects a list (maybe empty). *Reference paths* (ResultPath, Choice Variable) are the
// definite subset made of names and non-negative indexes only; writing through them is here too.
// Written here rather than taken from an npm package: AWS's definite/indefinite rule, reference
// paths and ResultPath writing are the parts that matter, and no package gives those.
import type { Json, JsonObject } from './types.ts';
import { parseFilter, evalFilter, type FilterExpr } from './jsonpath-filter.ts';

export type Selector =
  | { kind: 'name'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'wildcard' }
  | { kind: 'union'; items: (string | number)[] }
  | { kind: 'slice'; start: number | null; end: number | null; step: number | null }
  | { kind: 'filter'; expr: FilterExpr }
  | { kind: 'lengthOffset'; offset: number };

export interface Segment { descendant: boolean; sel: Selector }

export interface ParsedPath {
  text: string;
  /** `$` reads the state's data, `$$` the context object. */
  root: '$' | '$$';
  segments: Segment[];
  definite: boolean;
  reference: boolean;
}

export class PathSyntaxError extends Error {
  constructor(text: string, why: string) {
    super(`invalid JSONPath '${text}': ${why}`);
    this.name = 'PathSyntaxError';
  }
}

const cache = new Map<string, ParsedPath>();

export function parsePath(text: string): ParsedPath {
  const hit = cache.get(text);
  if (hit) return hit;
  const p = new PathParser(text);
  const parsed = p.parseRoot();
  if (cache.size > 5000) cache.clear();
  cache.set(text, parsed);
  return parsed;
}

/** Is `text` a valid path (JSONPath, or a reference path when `reference` is asked for)? */
export function pathError(text: string, opts: { reference?: boolean; context?: boolean } = {}): string | null {
  let p: ParsedPath;
  try { p = parsePath(text); } catch (e) { return (e as Error).message; }
  if (p.root === '$$' && opts.context === false) return `'${text}' may not use the context object ($$)`;
  if (opts.reference && !p.reference) return `'${text}' is not a reference path (only names and indexes, one value)`;
  return null;
}

export class PathParser {
  readonly s: string;
  i = 0;
  constructor(s: string) { this.s = s; }

  fail(why: string): never { throw new PathSyntaxError(this.s, why); }

  parseRoot(): ParsedPath {
    if (this.s[0] !== '$') this.fail('a path starts with $');
    let root: '$' | '$$' = '$';
    this.i = 1;
    if (this.s[1] === '$') { root = '$$'; this.i = 2; }
    const segments = this.parseSegments(false);
    if (this.i < this.s.length) this.fail(`unexpected '${this.s.slice(this.i)}'`);
    const definite = segments.every((g) => !g.descendant && (g.sel.kind === 'name' || g.sel.kind === 'index' || g.sel.kind === 'lengthOffset'));
    const reference = segments.every((g) => !g.descendant && (g.sel.kind === 'name' || (g.sel.kind === 'index' && g.sel.index >= 0)));
    return { text: this.s, root, segments, definite, reference };
  }

  /** Segments until the text ends, or (inside a filter) until a character that cannot continue a path. */
  parseSegments(inFilter: boolean): Segment[] {
    const out: Segment[] = [];
    const s = this.s;
    while (this.i < s.length) {
      const c = s[this.i];
      if (c === '.') {
        let descendant = false;
        if (s[this.i + 1] === '.') { descendant = true; this.i += 2; } else this.i += 1;
        if (s[this.i] === '[') { if (!descendant) this.fail("'.' before '['"); out.push({ descendant, sel: this.parseBracket() }); continue; }
        if (s[this.i] === '*') { this.i++; out.push({ descendant, sel: { kind: 'wildcard' } }); continue; }
        const name = this.readName(inFilter);
        if (!name) this.fail(`a name is needed at position ${this.i}`);
        if (inFilter && (name === 'length' || name === 'size') && s.startsWith('()', this.i)) { this.i += 2; out.push({ descendant, sel: { kind: 'name', name: '()length' } }); continue; }
        out.push({ descendant, sel: { kind: 'name', name } });
      } else if (c === '[') {
        out.push({ descendant: false, sel: this.parseBracket() });
      } else if (inFilter) {
        break;
      } else {
        this.fail(`unexpected '${c}' at position ${this.i}`);
      }
    }
    return out;
  }

  readName(inFilter: boolean): string {
    const rest = this.s.slice(this.i);
    // Jayway accepts nearly any character in a dot name; inside a filter the name stops at operators.
    const m = inFilter ? /^[A-Za-z0-9_$:-]+/.exec(rest) : /^[^.[\]\s()'",=<>!&|?@*]+/.exec(rest);
    if (!m) return '';
    this.i += m[0].length;
    return m[0];
  }

  skipSpaces(): void { while (this.s[this.i] === ' ') this.i++; }

  parseBracket(): Selector {
    this.i++; // [
    this.skipSpaces();
    const s = this.s;
    let sel: Selector;
    if (s[this.i] === '*') { this.i++; sel = { kind: 'wildcard' }; }
    else if (s[this.i] === '?') {
      this.i++;
      this.skipSpaces();
      if (s[this.i] !== '(') this.fail("a filter is written [?(...)]");
      sel = { kind: 'filter', expr: parseFilter(this) };
    } else if (s[this.i] === '(') {
      const m = /^\(\s*@\.length\s*([-+])\s*(\d+)\s*\)/.exec(s.slice(this.i));
      if (!m) this.fail('only [(@.length-N)] is supported as a script expression');
      this.i += m[0].length;
      sel = { kind: 'lengthOffset', offset: (m[1] === '-' ? -1 : 1) * Number(m[2]) };
    } else if (s[this.i] === "'" || s[this.i] === '"') {
      const names: string[] = [];
      for (;;) {
        names.push(this.readQuoted());
        this.skipSpaces();
        if (s[this.i] !== ',') break;
        this.i++;
        this.skipSpaces();
      }
      sel = names.length === 1 ? { kind: 'name', name: names[0] } : { kind: 'union', items: names };
    } else {
      const m = /^(-?\d+)?\s*(?::\s*(-?\d+)?\s*(?::\s*(-?\d+)?)?)?/.exec(s.slice(this.i))!;
      if (m[0].includes(':')) {
        this.i += m[0].length;
        const n = (x: string | undefined) => (x === undefined ? null : Number(x));
        sel = { kind: 'slice', start: n(m[1]), end: n(m[2]), step: n(m[3]) };
        if (sel.step === 0) this.fail('a slice step cannot be 0');
      } else {
        const items: number[] = [];
        for (;;) {
          const d = /^-?\d+/.exec(s.slice(this.i));
          if (!d) this.fail(`expected an index, a quoted name, '*', a slice or a filter at position ${this.i}`);
          items.push(Number(d[0]));
          this.i += d[0].length;
          this.skipSpaces();
          if (s[this.i] !== ',') break;
          this.i++;
          this.skipSpaces();
        }
        sel = items.length === 1 ? { kind: 'index', index: items[0] } : { kind: 'union', items };
      }
    }
    this.skipSpaces();
    if (s[this.i] !== ']') this.fail(`missing ']' at position ${this.i}`);
    this.i++;
    return sel;
  }

  readQuoted(): string {
    const q = this.s[this.i];
    let out = '';
    this.i++;
    while (this.i < this.s.length && this.s[this.i] !== q) {
      if (this.s[this.i] === '\\' && this.i + 1 < this.s.length) this.i++;
      out += this.s[this.i++];
    }
    if (this.s[this.i] !== q) this.fail('unterminated quoted name');
    this.i++;
    return out;
  }
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function children(v: Json): Json[] {
  if (Array.isArray(v)) return v;
  if (isObject(v)) return Object.values(v);
  return [];
}

function descendants(v: Json, out: Json[]): void {
  out.push(v);
  for (const c of children(v)) descendants(c, out);
}

function select(node: Json, sel: Selector, root: Json, out: Json[]): void {
  switch (sel.kind) {
    case 'name':
      if (sel.name === '()length') { if (Array.isArray(node)) out.push(node.length); else if (typeof node === 'string') out.push(node.length); return; }
      if (isObject(node) && Object.hasOwn(node, sel.name)) out.push(node[sel.name]);
      return;
    case 'index': {
      if (!Array.isArray(node)) return;
      const i = sel.index < 0 ? node.length + sel.index : sel.index;
      if (i >= 0 && i < node.length) out.push(node[i]);
      return;
    }
    case 'lengthOffset': {
      if (!Array.isArray(node)) return;
      const i = node.length + sel.offset;
      if (i >= 0 && i < node.length) out.push(node[i]);
      return;
    }
    case 'wildcard':
      out.push(...children(node));
      return;
    case 'union':
      for (const item of sel.items) select(node, typeof item === 'number' ? { kind: 'index', index: item } : { kind: 'name', name: item }, root, out);
      return;
    case 'slice': {
      if (!Array.isArray(node)) return;
      const len = node.length;
      const step = sel.step ?? 1;
      const norm = (x: number) => (x < 0 ? Math.max(0, len + x) : Math.min(len, x));
      if (step > 0) {
        const start = sel.start === null ? 0 : norm(sel.start);
        const end = sel.end === null ? len : norm(sel.end);
        for (let i = start; i < end; i += step) out.push(node[i]);
      } else {
        const start = sel.start === null ? len - 1 : Math.min(len - 1, sel.start < 0 ? len + sel.start : sel.start);
        const end = sel.end === null ? -1 : (sel.end < 0 ? len + sel.end : sel.end);
        for (let i = start; i > end && i >= 0; i += step) out.push(node[i]);
      }
      return;
    }
    case 'filter':
      for (const c of children(node)) if (evalFilter(sel.expr, c, root)) out.push(c);
      return;
  }
}

/** All values the segments select from `data` (no error when nothing matches). */
export function selectAll(segments: readonly Segment[], data: Json, root: Json = data): Json[] {
  let nodes: Json[] = [data];
  for (const seg of segments) {
    const next: Json[] = [];
    for (const n of nodes) {
      if (seg.descendant) {
        const all: Json[] = [];
        descendants(n, all);
        for (const d of all) select(d, seg.sel, root, next);
      } else select(n, seg.sel, root, next);
    }
    nodes = next;
  }
  return nodes;
}

export type PathRead = { found: true; value: Json } | { found: false };

/**
 * Read a path: a definite path gives its one value (found: false when absent), an indefinite path
 * gives the list of matches (always found). `context` is the `$$` object.
 */
export function readPath(text: string, data: Json, context: Json = null): PathRead {
  const p = parsePath(text);
  const base = p.root === '$$' ? context : data;
  const values = selectAll(p.segments, base);
  if (!p.definite) return { found: true, value: values };
  return values.length ? { found: true, value: values[0] } : { found: false };
}

/**
 * Write `value` at a reference path inside a copy of `data` (ResultPath). Missing objects on the way
 * are created; going through a value that is not an object (or an index outside an array) fails,
 * as AWS's States.ResultPathMatchFailure does. Returns null when it cannot be done.
 */
export function writeReferencePath(text: string, data: Json, value: Json): { ok: true; value: Json } | { ok: false } {
  const p = parsePath(text);
  if (!p.reference || p.root !== '$') return { ok: false };
  const set = (node: Json | undefined, i: number): Json | undefined => {
    if (i === p.segments.length) return value;
    const sel = p.segments[i].sel;
    if (sel.kind === 'name') {
      if (node !== undefined && !isObject(node)) return undefined;
      const copy: JsonObject = { ...(node ?? {}) };
      const v = set(Object.hasOwn(copy, sel.name) ? copy[sel.name] : undefined, i + 1);
      if (v === undefined) return undefined;
      // defineProperty, not `copy[name] = v`: a name like `__proto__` is then a field, not the prototype.
      Object.defineProperty(copy, sel.name, { value: v, enumerable: true, writable: true, configurable: true });
      return copy;
    }
    if (sel.kind === 'index' && Array.isArray(node) && sel.index < node.length) {
      const copy = node.slice();
      const v = set(copy[sel.index], i + 1);
      if (v === undefined) return undefined;
      copy[sel.index] = v;
      return copy;
    }
    return undefined;
  };
  const out = set(data, 0);
  return out === undefined ? { ok: false } : { ok: true, value: out };
}
