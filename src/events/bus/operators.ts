// Leaf operators of the event-pattern language that need more than a comparison: wildcard globs,
// IP addresses and CIDR ranges, case folding. Parsed once when a pattern is validated; the parse
// functions return a reason string (AWS's wording) instead of throwing, so pattern.ts decides how to
// report it. The reference matcher (reference.ts) deliberately does not use these, so the property
// tests compare two independent readings of the rules.

/** Case folding for equals-ignore-case and its prefix/suffix forms. Applied to both sides. */
export const fold = (s: string): string => s.toLowerCase();

/**
 * Wildcards per value. AWS rejects "*:*:*:*:*:event-bus/*" (6) as "too complex" and accepts patterns
 * with 2; it does not publish its measure. Matching here is linear whatever the count (see globMatch),
 * so this limit exists only to refuse what AWS refuses, and is set as loose as the recordings allow.
 */
export const MAX_WILDCARDS_PER_VALUE = 5;

export const TOO_COMPLEX =
  'Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character';

/** A wildcard value split at its unescaped `*`s: `parts.length` is the number of wildcards plus one. */
export interface Glob {
  readonly source: string;
  readonly parts: readonly string[];
}

/** `\*` is a literal star and `\\` a literal backslash; any other escape and `**` are errors. */
export function parseGlob(source: string): Glob | string {
  const parts: string[] = [];
  let cur = '';
  let lastWasStar = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '*') {
      if (lastWasStar) return `Consecutive wildcard characters at pos ${i}`;
      parts.push(cur);
      cur = '';
      lastWasStar = true;
      continue;
    }
    lastWasStar = false;
    if (c === '\\') {
      const next = source[i + 1];
      if (next !== '*' && next !== '\\') return `Invalid escape character at pos ${i}`;
      cur += next;
      i++;
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  if (parts.length - 1 > MAX_WILDCARDS_PER_VALUE) return TOO_COMPLEX;
  return { source, parts };
}

/**
 * Whether `s` matches the glob. With `*` the only metacharacter, taking each middle part at its
 * leftmost place after the previous one never loses a match, so this is O(|s| · parts), no backtracking.
 */
export function globMatch(g: Glob, s: string): boolean {
  const p = g.parts;
  const first = p[0]!;
  if (p.length === 1) return s === first;
  const last = p[p.length - 1]!;
  if (s.length < first.length + last.length || !s.startsWith(first) || !s.endsWith(last)) return false;
  let pos = first.length;
  const end = s.length - last.length;
  for (let i = 1; i < p.length - 1; i++) {
    const part = p[i]!;
    const at = s.indexOf(part, pos);
    if (at < 0 || at + part.length > end) return false;
    pos = at + part.length;
  }
  return true;
}

// --- IP addresses ---------------------------------------------------------------------------------

const IPV4_PART = /^(0|[1-9]\d{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Dotted-quad IPv4, no leading zeros ("010.0.0.1" is not an address). */
function parseIPv4(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!IPV4_PART.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

/** IPv6 in any RFC 4291 text form: `::` once at most, 1–4 hex digits a group, optional dotted-quad tail. */
function parseIPv6(s: string): number[] | null {
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (text: string, mayEndInV4: boolean): number[] | null => {
    if (text === '') return [];
    const out: number[] = [];
    const items = text.split(':');
    for (let i = 0; i < items.length; i++) {
      const g = items[i]!;
      if (mayEndInV4 && i === items.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (!v4) return null;
        out.push(v4[0]! * 256 + v4[1]!, v4[2]! * 256 + v4[3]!);
      } else if (HEX_GROUP.test(g)) {
        out.push(parseInt(g, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1]!, true) : [];
  if (!head || !tail) return null;
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return null;
  const all = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

/** The address as 4 or 16 bytes, or null when `s` is not a standard IPv4 or IPv6 address. */
export function parseIp(s: string): number[] | null {
  return s.includes(':') ? parseIPv6(s) : parseIPv4(s);
}

/** A CIDR block: the network's bytes and how many leading bits must agree. */
export interface IpRange {
  readonly source: string;
  readonly bytes: readonly number[];
  readonly bits: number;
}

/** Checks in AWS's order: one '/', an integer mask, a standard address, a mask that fits it. */
export function parseCidr(source: string): IpRange | string {
  const slash = source.split('/');
  if (slash.length !== 2) return "Malformed CIDR, one '/' required";
  const [addr, mask] = slash as [string, string];
  if (!/^\d{1,3}$/.test(mask)) return 'Malformed CIDR, mask bits must be an integer';
  const bytes = parseIp(addr);
  if (!bytes) return `Nonstandard IP address: ${addr}`;
  const bits = Number(mask);
  if (bits > bytes.length * 8) return `Malformed CIDR, mask bits must be at most ${bytes.length * 8} for ${bytes.length === 4 ? 'IPv4' : 'IPv6'}`;
  return { source, bytes, bits };
}

// Rules with a CIDR on the same field test the same event string one after another: parse it once.
let lastText: string | undefined;
let lastIp: number[] | null = null;

/** Whether the string `s` is an address inside the range (same family only). */
export function cidrContains(r: IpRange, s: string): boolean {
  if (s !== lastText) {
    lastIp = parseIp(s);
    lastText = s;
  }
  const ip = lastIp;
  if (!ip || ip.length !== r.bytes.length) return false;
  let bits = r.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip[i]! & mask) !== (r.bytes[i]! & mask)) return false;
  }
  return true;
}
