// One field's share of the rule index (matcher.ts): things filed under the values that satisfy them —
// exact values in a Map with typed keys ("300" and 300 differ), equals-ignore-case in a Map of folded
// strings, prefixes and suffixes in character tries (suffixes reversed; plain and folded) — plus those
// filed under "the field has a value" because no key can stand for their predicate. Given one value of
// the field, collect() returns the buckets it hits in a few Map lookups and one trie walk per kind.
import { fold } from './operators.ts';
import type { Matcher, Scalar } from './pattern.ts';

/** The operators a value can be looked up by. */
export type KeyMatcher = Extract<Matcher, { kind: 'exact' | 'equals-ignore-case' | 'prefix' | 'suffix' }>;

export const isKeyMatcher = (m: Matcher): m is KeyMatcher =>
  m.kind === 'exact' || m.kind === 'equals-ignore-case' || m.kind === 'prefix' || m.kind === 'suffix';

interface TrieNode<T> {
  next: Map<string, TrieNode<T>> | null;
  items: T[] | null;
}

type TrieKind = 'prefix' | 'prefixFolded' | 'suffix' | 'suffixFolded';

const trieKind = (m: Extract<KeyMatcher, { kind: 'prefix' | 'suffix' }>): TrieKind =>
  m.kind === 'prefix' ? (m.ignoreCase ? 'prefixFolded' : 'prefix') : m.ignoreCase ? 'suffixFolded' : 'suffix';

/** Swap-removes one occurrence. */
export function removeFrom<T>(xs: T[], x: T): void {
  const i = xs.indexOf(x);
  if (i >= 0) {
    xs[i] = xs[xs.length - 1]!;
    xs.pop();
  }
}

export class FieldIndex<T> {
  /** Filed under "the field has a value". */
  readonly present: T[] = [];
  private readonly exact = new Map<Scalar, T[]>();
  private readonly folded = new Map<string, T[]>();
  private readonly tries: Record<TrieKind, TrieNode<T>> = {
    prefix: { next: null, items: null },
    prefixFolded: { next: null, items: null },
    suffix: { next: null, items: null },
    suffixFolded: { next: null, items: null },
  };
  /** How many things each structure holds, so collect() skips the empty ones. */
  private readonly counts = { exact: 0, folded: 0, prefix: 0, prefixFolded: 0, suffix: 0, suffixFolded: 0 };

  add(m: KeyMatcher, x: T): void {
    if (m.kind === 'exact' || m.kind === 'equals-ignore-case') {
      const map: Map<Scalar, T[]> = m.kind === 'exact' ? this.exact : this.folded;
      const list = map.get(m.value);
      if (list) list.push(x);
      else map.set(m.value, [x]);
      this.counts[m.kind === 'exact' ? 'exact' : 'folded']++;
      return;
    }
    const kind = trieKind(m);
    let n = this.tries[kind];
    for (let i = 0; i < m.value.length; i++) {
      const c = m.value[m.kind === 'suffix' ? m.value.length - 1 - i : i]!;
      n.next ??= new Map();
      let child = n.next.get(c);
      if (!child) n.next.set(c, (child = { next: null, items: null }));
      n = child;
    }
    (n.items ??= []).push(x);
    this.counts[kind]++;
  }

  remove(m: KeyMatcher, x: T): void {
    if (m.kind === 'exact' || m.kind === 'equals-ignore-case') {
      const map: Map<Scalar, T[]> = m.kind === 'exact' ? this.exact : this.folded;
      const list = map.get(m.value);
      if (!list) return;
      removeFrom(list, x);
      if (list.length === 0) map.delete(m.value);
      this.counts[m.kind === 'exact' ? 'exact' : 'folded']--;
      return;
    }
    const kind = trieKind(m);
    trieRemove(this.tries[kind], m.value, m.kind === 'suffix', 0, x);
    this.counts[kind]--;
  }

  /** How many things are filed under exactly `m`'s key: what choosing it as an anchor would share. */
  load(m: KeyMatcher): number {
    if (m.kind === 'exact') return this.exact.get(m.value)?.length ?? 0;
    if (m.kind === 'equals-ignore-case') return this.folded.get(m.value)?.length ?? 0;
    let n: TrieNode<T> | undefined = this.tries[trieKind(m)];
    for (let i = 0; n && i < m.value.length; i++) n = n.next?.get(m.value[m.kind === 'suffix' ? m.value.length - 1 - i : i]!);
    return n?.items?.length ?? 0;
  }

  /** Pushes onto `out` every bucket filed under a key that `v` satisfies. */
  collect(v: Scalar, out: T[][]): void {
    const c = this.counts;
    if (c.exact) {
      const hit = this.exact.get(v);
      if (hit) out.push(hit);
    }
    if (typeof v !== 'string') return;
    const t = this.tries;
    if (c.prefix) walkTrie(t.prefix, v, false, out);
    if (c.suffix) walkTrie(t.suffix, v, true, out);
    if (c.folded || c.prefixFolded || c.suffixFolded) {
      const lv = fold(v);
      if (c.folded) {
        const hit = this.folded.get(lv);
        if (hit) out.push(hit);
      }
      if (c.prefixFolded) walkTrie(t.prefixFolded, lv, false, out);
      if (c.suffixFolded) walkTrie(t.suffixFolded, lv, true, out);
    }
  }
}

/** Every node on `s`'s path from the root holds a prefix (or, reversed, a suffix) of `s`. */
function walkTrie<T>(root: TrieNode<T>, s: string, reverse: boolean, out: T[][]): void {
  let n: TrieNode<T> | undefined = root;
  for (let i = 0; n; i++) {
    if (n.items) out.push(n.items);
    if (i === s.length || !n.next) return;
    n = n.next.get(s[reverse ? s.length - 1 - i : i]!);
  }
}

/** Removes one filing of `x` under `key`; true when the node is left empty (so its parent drops it). */
function trieRemove<T>(n: TrieNode<T>, key: string, reverse: boolean, i: number, x: T): boolean {
  if (i === key.length) {
    if (n.items) removeFrom(n.items, x);
  } else {
    const c = key[reverse ? key.length - 1 - i : i]!;
    const child = n.next?.get(c);
    if (child && trieRemove(child, key, reverse, i + 1, x)) n.next!.delete(c);
  }
  return (n.items === null || n.items.length === 0) && (n.next === null || n.next.size === 0);
}
