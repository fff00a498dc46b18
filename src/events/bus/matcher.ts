// RuleIndex: which of thousands of rules match an event, without trying every rule.
//
// Design. validatePattern turns each pattern into alternatives (one per way through its `$or`s), each
// a list of per-field predicates that must all hold. The index files every alternative under ONE of
// its predicates, the anchor, chosen when the rule is added:
//   - a predicate whose entries are all exact values, equals-ignore-case, prefix or suffix is filed
//     under each of those keys in its field's FieldIndex (field-index.ts: Maps of typed exact values
//     and folded strings, character tries of prefixes and reversed suffixes). Among such predicates
//     the anchor is the one whose buckets are emptiest right now, so 200 rules on `source: aws.ec2`
//     spread over their detail-types instead of piling up.
//   - otherwise a predicate that needs the field present (numeric, cidr, wildcard, anything-but,
//     exists:true) is filed under "field present".
//   - an alternative whose every predicate can hold on a missing field (exists:false) is checked for
//     every event; these are rare.
// Matching an event walks it once, guided by a trie of the field paths the rules mention (fields no
// rule names are skipped without building their paths), collecting each named field's values. Each
// value is looked up in its field's maps and tries; every alternative found is a candidate, verified
// by running its predicates' compiled tests over the collected values — so numeric ranges, wildcards
// and the rest run only for rules whose anchor already matched. Cost per event: the walk, a few map
// lookups per named value, and the candidates' checks; not a pass over the rules.
//
// Array consistency: a value inside an object that is an element of an array records (array, element);
// a candidate needs one value per predicate with no two of them from different elements of the same
// array. Verification searches that choice with backtracking over values grouped by element, which
// costs nothing when the values come from outside arrays of objects (the usual case) and stays linear
// in the array's length for rules naming several fields of its elements. `exists: false` looks at the
// whole event, not at one element.
import { FieldIndex, isKeyMatcher, removeFrom } from './field-index.ts';
import { type CompiledPattern, isCompiledPattern, type Predicate, type Scalar, validatePattern } from './pattern.ts';

/** A value in the event and the (array id, element index) pairs that place it, flattened. */
interface Leaf {
  v: Scalar;
  at: number[];
}

interface Grouping {
  stamp: number;
  free: Leaf[];
  byArray: Map<number, Map<number, Leaf[]>>;
}

interface Check {
  pathId: number;
  absentOk: boolean;
  test: (v: Scalar) => boolean;
}

interface Rule {
  id: string;
  alternatives: Alternative[];
  pathIds: number[];
  hit: number;
}

interface Alternative {
  rule: Rule;
  checks: Check[];
  anchor: Anchor;
  seen: number;
}

type Anchor =
  | { kind: 'keys'; pathId: number; pred: Predicate }
  | { kind: 'present'; pathId: number }
  | { kind: 'always' };

interface PathNode {
  children: Map<string, PathNode> | null;
  id: number;
  refs: number;
  parent: PathNode | null;
  seg: string;
}

const NO_PLACE: number[] = [];

/** Levels of objects and arrays read in an event; deeper values are not seen (PutEvents' own limit). */
export const MAX_EVENT_DEPTH = 1100;

export class RuleIndex {
  private readonly rules = new Map<string, Rule>();
  private readonly root: PathNode = { children: null, id: -1, refs: 0, parent: null, seg: '' };
  private readonly pathIds = new Map<string, PathNode>();
  private readonly nodes: (PathNode | undefined)[] = [];
  private readonly fields: (FieldIndex<Alternative> | undefined)[] = [];
  private readonly freeIds: number[] = [];
  private readonly always: Alternative[] = [];
  // Per-event scratch, reused: values per path id, the ids that got any, arrays seen, chosen elements.
  private readonly slots: Leaf[][] = [];
  private readonly touched: number[] = [];
  private readonly buckets: Alternative[][] = [];
  private arrays = 0;
  private readonly chosen = new Map<number, number>();
  private readonly chosenLog: number[] = [];
  /** Per path id: the stamp of the last event that put a value of it inside an array of objects. */
  private readonly placed: number[] = [];
  private readonly groupings: (Grouping | undefined)[] = [];
  private stamp = 0;

  get size(): number {
    return this.rules.size;
  }

  /** How the alternatives are filed: by value (the cheap case), by field presence, or checked always. */
  stats(): { rules: number; alternatives: number; byValue: number; byPresence: number; always: number; fields: number } {
    const out = { rules: this.rules.size, alternatives: 0, byValue: 0, byPresence: 0, always: 0, fields: this.pathIds.size };
    for (const r of this.rules.values()) {
      for (const a of r.alternatives) {
        out.alternatives++;
        if (a.anchor.kind === 'keys') out.byValue++;
        else if (a.anchor.kind === 'present') out.byPresence++;
        else out.always++;
      }
    }
    return out;
  }

  has(ruleId: string): boolean {
    return this.rules.has(ruleId);
  }

  /** Adds (or replaces) a rule. `pattern` is raw (validated here; throws the pattern error) or compiled. */
  add(ruleId: string, pattern: unknown): void {
    const compiled = isCompiledPattern(pattern) ? pattern : validatePattern(pattern);
    this.remove(ruleId);
    const rule: Rule = { id: ruleId, alternatives: [], pathIds: [], hit: 0 };
    for (const preds of compiled.alternatives) {
      const checks = preds.map((p) => ({ pathId: this.acquirePath(p.path, rule), absentOk: p.absentOk, test: p.test }));
      const anchor = this.chooseAnchor(preds, checks);
      // The anchor's check is known to pass for some value; run the others first, they fail sooner.
      const ordered = anchor.kind === 'always' ? checks : [...checks.filter((c) => c.pathId !== anchor.pathId), ...checks.filter((c) => c.pathId === anchor.pathId)];
      const alt: Alternative = { rule, checks: ordered, anchor, seen: 0 };
      this.file(alt);
      rule.alternatives.push(alt);
    }
    this.rules.set(ruleId, rule);
  }

  remove(ruleId: string): boolean {
    const rule = this.rules.get(ruleId);
    if (!rule) return false;
    for (const alt of rule.alternatives) this.unfile(alt);
    for (const id of rule.pathIds) this.releasePath(id);
    this.rules.delete(ruleId);
    return true;
  }

  /** The ids of the rules whose pattern matches `event`, each once, in no particular order. */
  match(event: unknown): string[] {
    const stamp = ++this.stamp;
    const out: string[] = [];
    try {
      this.arrays = 0;
      this.walk(event, this.root, NO_PLACE, NO_PLACE, 0);
      const buckets = this.buckets;
      for (const id of this.touched) {
        const f = this.fields[id];
        if (!f) continue;
        if (f.present.length) this.consider(f.present, stamp, out);
        for (const leaf of this.slots[id]!) f.collect(leaf.v, buckets);
        for (const b of buckets) this.consider(b, stamp, out);
        buckets.length = 0;
      }
      if (this.always.length) this.consider(this.always, stamp, out);
    } finally {
      for (const id of this.touched) this.slots[id]!.length = 0;
      this.touched.length = 0;
      this.buckets.length = 0;
      if (this.chosenLog.length) this.unbind(0);
    }
    return out;
  }

  // --- matching -----------------------------------------------------------------------------------

  private consider(alts: Alternative[], stamp: number, out: string[]): void {
    for (let i = 0; i < alts.length; i++) {
      const a = alts[i]!;
      if (a.seen === stamp) continue;
      a.seen = stamp;
      if (a.rule.hit === stamp) continue;
      const ok = this.satisfy(a.checks, 0);
      if (this.chosenLog.length) this.unbind(0); // a success leaves its choice of elements bound
      if (ok) {
        a.rule.hit = stamp;
        out.push(a.rule.id);
      }
    }
  }

  /** Whether checks[k..] can all hold with values from compatible array elements. */
  private satisfy(checks: Check[], k: number): boolean {
    for (; k < checks.length; k++) {
      const c = checks[k]!;
      const leaves = this.slots[c.pathId]!;
      if (leaves.length === 0) {
        if (c.absentOk) continue;
        return false;
      }
      if (this.placed[c.pathId] === this.stamp) return this.satisfyPlaced(checks, k, this.grouping(c.pathId)) === YES;
      // No value of this field sits inside an array of objects: any passing value will do.
      let found = false;
      for (let i = 0; i < leaves.length && !found; i++) found = c.test(leaves[i]!.v);
      if (!found) return false;
    }
    return true;
  }

  /**
   * checks[k] on a field with values inside arrays of objects. Only the elements the current choice
   * allows are visited (values are grouped by their outermost array element), so two fields inside one
   * big array cost the array's length, not its square.
   */
  private satisfyPlaced(checks: Check[], k: number, g: Grouping): number {
    const c = checks[k]!;
    for (const leaf of g.free) if (c.test(leaf.v)) return this.satisfy(checks, k + 1) ? YES : NEVER;
    for (const [arr, byElement] of g.byArray) {
      const el = this.chosen.get(arr);
      if (el !== undefined) {
        const r = this.tryLeaves(checks, k, byElement.get(el));
        if (r !== NO) return r;
      } else {
        for (const leaves of byElement.values()) {
          const r = this.tryLeaves(checks, k, leaves);
          if (r !== NO) return r;
        }
      }
    }
    return NO;
  }

  /** YES: chosen and the rest hold; NEVER: no other value can do better; NO: try other values. */
  private tryLeaves(checks: Check[], k: number, leaves: Leaf[] | undefined): number {
    if (!leaves) return NO;
    const c = checks[k]!;
    for (const leaf of leaves) {
      if (!c.test(leaf.v)) continue;
      const mark = this.chosenLog.length;
      const bound = this.bind(leaf.at);
      if (bound === CONFLICT) continue;
      // A value that adds no constraint is the best choice there is: if the rest fails with it, it
      // fails with any other.
      if (bound === FREE) return this.satisfy(checks, k + 1) ? YES : NEVER;
      if (this.satisfy(checks, k + 1)) return YES;
      this.unbind(mark);
    }
    return NO;
  }

  /** The field's values grouped by outermost (array, element), built once per event when needed. */
  private grouping(pathId: number): Grouping {
    let g = this.groupings[pathId];
    if (g && g.stamp === this.stamp) return g;
    g = { stamp: this.stamp, free: [], byArray: new Map() };
    for (const leaf of this.slots[pathId]!) {
      if (leaf.at.length === 0) {
        g.free.push(leaf);
        continue;
      }
      let byElement = g.byArray.get(leaf.at[0]!);
      if (!byElement) g.byArray.set(leaf.at[0]!, (byElement = new Map()));
      const list = byElement.get(leaf.at[1]!);
      if (list) list.push(leaf);
      else byElement.set(leaf.at[1]!, [leaf]);
    }
    this.groupings[pathId] = g;
    return g;
  }

  private bind(at: number[]): number {
    let added = false;
    const mark = this.chosenLog.length;
    for (let i = 0; i < at.length; i += 2) {
      const was = this.chosen.get(at[i]!);
      if (was === undefined) {
        this.chosen.set(at[i]!, at[i + 1]!);
        this.chosenLog.push(at[i]!);
        added = true;
      } else if (was !== at[i + 1]) {
        this.unbind(mark);
        return CONFLICT;
      }
    }
    return added ? BOUND : FREE;
  }

  private unbind(mark: number): void {
    while (this.chosenLog.length > mark) this.chosen.delete(this.chosenLog.pop()!);
  }

  /**
   * Collects the values of named fields. `place` is where the current object sits (array/element
   * pairs); `pending` the arrays entered since the last object, which count only for values inside a
   * further object (a bare value in an array is not "inside an element").
   */
  private walk(v: unknown, node: PathNode, place: number[], pending: number[], depth: number): void {
    if (depth > MAX_EVENT_DEPTH) return;
    if (typeof v !== 'object' || v === null) {
      if (node.id >= 0 && (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) this.emit(node.id, v, place);
      return;
    }
    if (Array.isArray(v)) {
      if (depth === MAX_EVENT_DEPTH) return; // its elements are one level deeper
      const id = this.arrays++;
      for (let i = 0; i < v.length; i++) {
        const el: unknown = v[i];
        if (typeof el === 'object' && el !== null) this.walk(el, node, place, [...pending, id, i], depth + 1);
        else if (node.id >= 0 && (el === null || typeof el === 'string' || typeof el === 'number' || typeof el === 'boolean')) this.emit(node.id, el, place);
      }
      return;
    }
    const children = node.children;
    if (children === null) return;
    const inside = pending.length ? [...place, ...pending] : place;
    const obj = v as Record<string, unknown>;
    for (const key in obj) {
      if (!Object.hasOwn(obj, key)) continue;
      const child = key.indexOf('.') < 0 ? children.get(key) : this.descend(node, key);
      if (child) this.walk(obj[key], child, inside, NO_PLACE, depth + 1);
    }
  }

  private descend(node: PathNode, dotted: string): PathNode | undefined {
    let n: PathNode | undefined = node;
    for (const seg of dotted.split('.')) {
      n = n.children?.get(seg);
      if (!n) return undefined;
    }
    return n;
  }

  private emit(id: number, v: Scalar, at: number[]): void {
    const s = this.slots[id]!;
    if (s.length === 0) this.touched.push(id);
    s.push({ v, at });
    if (at.length) this.placed[id] = this.stamp;
  }

  // --- filing -------------------------------------------------------------------------------------

  private chooseAnchor(preds: readonly Predicate[], checks: Check[]): Anchor {
    let best: Anchor = { kind: 'always' };
    let bestCost = Infinity;
    preds.forEach((p, i) => {
      if (p.absentOk) return;
      const pathId = checks[i]!.pathId;
      const f = this.fields[pathId];
      let cost = 0;
      if (p.matchers.every(isKeyMatcher)) {
        for (const m of p.matchers) {
          // Prefixes and suffixes catch more values than exact keys, short ones many more.
          const own = m.kind === 'prefix' || m.kind === 'suffix' ? 4 + (m.value.length < 3 ? 16 : 0) : 1;
          cost += own + (f?.load(m) ?? 0);
        }
      } else {
        cost = PRESENCE_COST + (f?.present.length ?? 0);
      }
      if (cost < bestCost) {
        bestCost = cost;
        best = cost < PRESENCE_COST ? { kind: 'keys', pathId, pred: p } : { kind: 'present', pathId };
      }
    });
    return best;
  }

  private file(a: Alternative): void {
    const an = a.anchor;
    if (an.kind === 'always') return void this.always.push(a);
    const f = (this.fields[an.pathId] ??= new FieldIndex());
    if (an.kind === 'present') return void f.present.push(a);
    for (const m of an.pred.matchers) if (isKeyMatcher(m)) f.add(m, a);
  }

  private unfile(a: Alternative): void {
    const an = a.anchor;
    if (an.kind === 'always') return removeFrom(this.always, a);
    const f = this.fields[an.pathId]!;
    if (an.kind === 'present') return removeFrom(f.present, a);
    for (const m of an.pred.matchers) if (isKeyMatcher(m)) f.remove(m, a);
  }

  /** The id of a field path (its node in the path trie), counting one more reference from `rule`. */
  private acquirePath(path: string, rule: Rule): number {
    let node = this.pathIds.get(path);
    if (!node) {
      node = this.root;
      for (const seg of path.split('.')) {
        node.children ??= new Map();
        let child = node.children.get(seg);
        if (!child) node.children.set(seg, (child = { children: null, id: -1, refs: 0, parent: node, seg }));
        node = child;
      }
      node.id = this.freeIds.pop() ?? this.slots.length;
      this.slots[node.id] ??= [];
      this.nodes[node.id] = node;
      this.pathIds.set(path, node);
    }
    node.refs++;
    rule.pathIds.push(node.id);
    return node.id;
  }

  private releasePath(id: number): void {
    let node = this.nodes[id];
    if (!node || --node.refs > 0) return;
    this.pathIds.delete(pathOf(node));
    this.fields[id] = undefined;
    this.nodes[id] = undefined;
    this.groupings[id] = undefined;
    this.freeIds.push(id);
    node.id = -1;
    // Prune nodes that no longer lead to any named field.
    while (node.parent && node.id < 0 && (node.children === null || node.children.size === 0)) {
      node.parent.children!.delete(node.seg);
      node = node.parent;
    }
  }
}

/** An anchor by field presence costs more than any anchor by keys a pattern can hold. */
const PRESENCE_COST = 1_000_000;
const FREE = 0;
const BOUND = 1;
const CONFLICT = 2;
const NO = 0;
const YES = 1;
const NEVER = 2;

function pathOf(n: PathNode): string {
  const segs: string[] = [];
  for (let x: PathNode | null = n; x && x.parent; x = x.parent) segs.unshift(x.seg);
  return segs.join('.');
}

/** Whether one compiled pattern matches one event (the test-pattern endpoint; no index needed). */
export function matchesPattern(pattern: CompiledPattern, event: unknown): boolean {
  const index = new RuleIndex();
  index.add('pattern', pattern);
  return index.match(event).length > 0;
}
