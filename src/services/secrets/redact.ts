// Redacts secret values from what a function prints, before its log lines are stored or shown.
// A safety net for accidental prints, not a wall: code that holds a secret can always print it
// reversed or split. So we cover the forms a value takes when printed by accident, no more.
//
// Matching: one Aho-Corasick automaton built in the constructor, so a call costs O(text length +
// matches) however many secrets (and forms of each) there are. A single alternation regex would
// also be built once, but V8 tries the alternatives one by one at each position (cost grows with
// the number of patterns), and it reports non-overlapping matches only: with secrets "abcdef" and
// "defghi", "abcdefghi" would become "***ghi", printing part of the second one. The automaton sees
// every occurrence, overlapping or not, and we mask the union of them.

export const REDACTED = '***';
/**
 * Values shorter than this are not redacted: "true", "1", "dev" would turn up everywhere, garbling
 * logs while protecting nothing. It must stay above REDACTED.length, so each replacement shortens
 * the text (see redact's loop).
 */
export const MIN_REDACT_LENGTH = 4;

const longEnough = (s: string): boolean => [...s].length >= MIN_REDACT_LENGTH;
const jsonEscape = (s: string): string => JSON.stringify(s).slice(1, -1);

/**
 * The forms a value is redacted in, beside itself:
 * - JSON-escaped, once and twice: logs carry JSON.stringify'd objects, sometimes holding a
 *   stringified body;
 * - trimmed, and each line of a multi-line value (a PEM key): stdin adds a trailing newline, and code
 *   prints such values line by line;
 * - base64 at the three byte alignments, standard and URL alphabets: `Authorization: Basic
 *   base64(user:password)` is the commonest way a password reaches a log unrecognised (the GitHub
 *   Actions runner masks the same forms);
 * - URL-encoded (encodeURIComponent and form encoding): connection strings such as
 *   postgres://u:p%40ss@host, and query strings.
 * Not hex or Buffer dumps: rare in practice, and short hex fragments would match too much.
 */
export function secretForms(value: string): string[] {
  if (!longEnough(value)) return [];
  const forms = new Set<string>([value, jsonEscape(value), jsonEscape(jsonEscape(value))]);
  forms.add(value.trim());
  for (const line of value.split(/\r?\n/)) forms.add(line.trim());
  for (const b64 of base64Forms(value)) forms.add(b64).add(b64.replaceAll('+', '-').replaceAll('/', '_'));
  forms.add(encodeURIComponent(value));
  forms.add(new URLSearchParams({ v: value }).toString().slice(2));
  return [...forms].filter(longEnough);
}

/**
 * The value encoded alone, and the base64 characters that depend only on the value's bytes when it
 * starts at byte offset 0, 1 or 2 of a larger encoded message (a character carries 6 bits; the ones straddling the value's
 * edges depend on its neighbours and are left out).
 */
function base64Forms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const out = [bytes.toString('base64')]; // the value encoded alone, its padding included
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const firstBit = shift * 8;
    const endBit = (shift + bytes.length) * 8;
    const from = Math.ceil(firstBit / 6);
    const to = Math.floor(endBit / 6); // characters [from, to) lie wholly inside the value
    if (to > from) out.push(encoded.slice(from, to));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

export class Redactor {
  // Trie edges in one map keyed by state * 65536 + UTF-16 code unit; fail links and, per state,
  // the length of the longest pattern that ends there (its own or via its fail chain).
  readonly #edges = new Map<number, number>();
  readonly #fail: Int32Array;
  readonly #longest: Int32Array;
  // Most characters start no pattern: this bitmap answers that without a map lookup.
  readonly #starts = new Uint8Array(65536);
  readonly #empty: boolean;

  constructor(secrets: string[]) {
    const patterns = new Set<string>();
    for (const s of secrets) for (const f of secretForms(s)) patterns.add(f);
    this.#empty = patterns.size === 0;

    const children: number[][] = [[]]; // per state: child states, for the breadth-first pass
    const ownLength: number[] = [0];
    for (const p of patterns) {
      let state = 0;
      for (let i = 0; i < p.length; i++) {
        const c = p.charCodeAt(i);
        if (state === 0) this.#starts[c] = 1;
        let next = this.#edges.get(state * 65536 + c);
        if (next === undefined) {
          next = children.length;
          children.push([]);
          ownLength.push(0);
          this.#edges.set(state * 65536 + c, next);
          children[state]!.push(next);
        }
        state = next;
      }
      ownLength[state] = p.length;
    }

    const n = children.length;
    this.#fail = new Int32Array(n);
    this.#longest = Int32Array.from(ownLength);
    const charOf = new Int32Array(n); // the code unit on the edge into each state
    for (const [key, state] of this.#edges) charOf[state] = key % 65536;
    const queue: number[] = [...children[0]!];
    for (let q = 0; q < queue.length; q++) {
      const u = queue[q]!;
      for (const v of children[u]!) {
        this.#fail[v] = u === 0 ? 0 : this.#step(this.#fail[u]!, charOf[v]!);
        this.#longest[v] = Math.max(this.#longest[v]!, this.#longest[this.#fail[v]!]!);
        queue.push(v);
      }
    }
  }

  /** The state after reading code unit c in state s. */
  #step(s: number, c: number): number {
    for (;;) {
      if (s === 0) return this.#starts[c] ? this.#edges.get(c)! : 0;
      const next = this.#edges.get(s * 65536 + c);
      if (next !== undefined) return next;
      s = this.#fail[s]!;
    }
  }

  /** Each stretch of text covered by one or more secret occurrences becomes `***`. */
  redact(text: string): string {
    if (this.#empty) return text;
    // Replacing can join the text around a match into a new occurrence ("x" + secret + "yz" where
    // "x***yz" is itself a secret), so repeat until a pass finds nothing. Each replacement shortens
    // the text, so this ends, and a second pass is rare and cheap.
    for (;;) {
      const next = this.#pass(text);
      if (next === text) return text;
      text = next;
    }
  }

  #pass(text: string): string {
    const starts: number[] = [];
    const ends: number[] = [];
    let s = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (s === 0 && this.#starts[c] === 0) continue;
      s = this.#step(s, c);
      const len = this.#longest[s]!;
      if (len === 0) continue;
      // Matches arrive in order of their end; fold any that overlap the ones before.
      let start = i + 1 - len;
      while (ends.length > 0 && start < ends[ends.length - 1]!) {
        start = Math.min(start, starts.pop()!);
        ends.pop();
      }
      starts.push(start);
      ends.push(i + 1);
    }
    if (starts.length === 0) return text;
    let out = '';
    let at = 0;
    for (let k = 0; k < starts.length; k++) {
      out += text.slice(at, starts[k]) + REDACTED;
      at = ends[k]!;
    }
    return out + text.slice(at);
  }
}
