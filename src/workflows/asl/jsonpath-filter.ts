// Filter expressions inside JSONPath brackets: `[?(@.price < 10 && !(@.sold) || @.tag == 'x')]`.
// Operands are `@...` (the candidate), `$...` (the root), numbers, quoted strings, true/false/null,
// and bare words (taken as strings, as some definitions in the wild write `@.key == Name`).
// Operators: == != < <= > >= && || ! and parentheses; a lone path tests that the value exists.
import type { Json } from './types.ts';
import { selectAll, type PathParser, type Segment } from './jsonpath.ts';

type Operand =
  | { kind: 'path'; root: '@' | '$'; segments: Segment[] }
  | { kind: 'literal'; value: Json };

export type FilterExpr =
  | { kind: 'or' | 'and'; left: FilterExpr; right: FilterExpr }
  | { kind: 'not'; expr: FilterExpr }
  | { kind: 'exists'; operand: Operand }
  | { kind: 'compare'; op: string; left: Operand; right: Operand };

/** Parse `( expr )` starting at the parser's '(' and leave the parser after the ')'. */
export function parseFilter(p: PathParser): FilterExpr {
  p.i++; // (
  const expr = parseOr(p);
  p.skipSpaces();
  if (p.s[p.i] !== ')') p.fail(`missing ')' in filter at position ${p.i}`);
  p.i++;
  return expr;
}

function parseOr(p: PathParser): FilterExpr {
  let left = parseAnd(p);
  for (;;) {
    p.skipSpaces();
    if (!p.s.startsWith('||', p.i)) return left;
    p.i += 2;
    left = { kind: 'or', left, right: parseAnd(p) };
  }
}

function parseAnd(p: PathParser): FilterExpr {
  let left = parseUnary(p);
  for (;;) {
    p.skipSpaces();
    if (!p.s.startsWith('&&', p.i)) return left;
    p.i += 2;
    left = { kind: 'and', left, right: parseUnary(p) };
  }
}

function parseUnary(p: PathParser): FilterExpr {
  p.skipSpaces();
  if (p.s[p.i] === '!' && p.s[p.i + 1] !== '=') { p.i++; return { kind: 'not', expr: parseUnary(p) }; }
  if (p.s[p.i] === '(') {
    p.i++;
    const e = parseOr(p);
    p.skipSpaces();
    if (p.s[p.i] !== ')') p.fail(`missing ')' in filter at position ${p.i}`);
    p.i++;
    return e;
  }
  const left = parseOperand(p);
  p.skipSpaces();
  const op = /^(==|!=|<=|>=|<|>)/.exec(p.s.slice(p.i));
  if (!op) {
    if (left.kind !== 'path') p.fail('a literal alone is not a condition');
    return { kind: 'exists', operand: left };
  }
  p.i += op[0].length;
  return { kind: 'compare', op: op[0], left, right: parseOperand(p) };
}

function parseOperand(p: PathParser): Operand {
  p.skipSpaces();
  const c = p.s[p.i];
  if (c === '@' || c === '$') {
    p.i++;
    return { kind: 'path', root: c, segments: p.parseSegments(true) };
  }
  if (c === "'" || c === '"') return { kind: 'literal', value: p.readQuoted() };
  const num = /^-?\d+(\.\d+)?([eE][-+]?\d+)?/.exec(p.s.slice(p.i));
  if (num) { p.i += num[0].length; return { kind: 'literal', value: Number(num[0]) }; }
  const word = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(p.s.slice(p.i));
  if (word) {
    p.i += word[0].length;
    const w = word[0];
    return { kind: 'literal', value: w === 'true' ? true : w === 'false' ? false : w === 'null' ? null : w };
  }
  return p.fail(`expected a value in filter at position ${p.i}`);
}

type Resolved = { found: boolean; value: Json };

function resolve(o: Operand, current: Json, root: Json): Resolved {
  if (o.kind === 'literal') return { found: true, value: o.value };
  const vals = selectAll(o.segments, o.root === '@' ? current : root, root);
  return vals.length ? { found: true, value: vals[0] } : { found: false, value: null };
}

export function evalFilter(e: FilterExpr, current: Json, root: Json): boolean {
  switch (e.kind) {
    case 'or': return evalFilter(e.left, current, root) || evalFilter(e.right, current, root);
    case 'and': return evalFilter(e.left, current, root) && evalFilter(e.right, current, root);
    case 'not': return !evalFilter(e.expr, current, root);
    case 'exists': return resolve(e.operand, current, root).found;
    case 'compare': {
      const l = resolve(e.left, current, root);
      const r = resolve(e.right, current, root);
      if (!l.found || !r.found) return e.op === '!=' && l.found !== r.found;
      const a = l.value, b = r.value;
      if (e.op === '==') return JSON.stringify(a) === JSON.stringify(b);
      if (e.op === '!=') return JSON.stringify(a) !== JSON.stringify(b);
      if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) return false;
      const x = a as number | string, y = b as number | string;
      return e.op === '<' ? x < y : e.op === '<=' ? x <= y : e.op === '>' ? x > y : x >= y;
    }
  }
}
