// Wall-clock time in an IANA time zone, computed with Intl alone (the runtime's ICU data is the tz
// database; no library of ours). A "wall" value is the zone's local date and time written as if it
// were UTC epoch milliseconds, so calendar arithmetic on it is plain Date.UTC arithmetic.

const DAY_MS = 86_400_000;

export interface Zone {
  /** Canonical IANA name, as Intl resolves it ("US/Eastern" -> "America/New_York"). */
  readonly name: string;
  /** The wall clock at an instant. */
  wallAt(ms: number): number;
  /**
   * The instants at which the wall clock shows `wall`, earliest first: none when the time falls in
   * a DST gap, two when it falls in an overlap (the clock was set back), one otherwise.
   */
  instantsAt(wall: number): number[];
  /** The UTC offset in force just before `wall` (for a time in a gap: RFC 5545 reads it with this offset). */
  offsetBefore(wall: number): number;
}

export const UTC_ZONE: Zone = {
  name: 'UTC',
  wallAt: (ms) => ms,
  instantsAt: (wall) => [wall],
  offsetBefore: () => 0,
};

const zones = new Map<string, Zone>();

/**
 * The zone with this IANA name, or undefined when the runtime does not know it. Fixed offsets
 * ("+05:00"), which Intl also accepts, are refused: a schedule names a zone, as AWS requires.
 */
export function resolveZone(name: string): Zone | undefined {
  const cached = zones.get(name);
  if (cached) return cached;
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/.test(name)) return undefined;
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: name, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
  } catch {
    return undefined;
  }
  const canonical = format.resolvedOptions().timeZone;
  const zone = canonical === 'UTC' ? UTC_ZONE : intlZone(canonical, format);
  zones.set(name, zone);
  return zone;
}

function intlZone(name: string, format: Intl.DateTimeFormat): Zone {
  /** Offset (wall minus instant) in force at an instant. Intl answers to the second; keep the instant's ms. */
  const offsetAt = (ms: number): number => {
    const f: Record<string, number> = {};
    for (const p of format.formatToParts(ms)) if (p.type !== 'literal') f[p.type] = Number(p.value);
    const whole = ms - (((ms % 1000) + 1000) % 1000);
    return Date.UTC(f.year!, f.month! - 1, f.day!, f.hour!, f.minute!, f.second!) - whole;
  };
  // Offsets a day either side bracket any single transition near `wall`; the tz database has no
  // zone with two transitions within two days in the years a schedule can name (1970-2199).
  const instantsAt = (wall: number): number[] => {
    const before = offsetAt(wall - DAY_MS);
    const after = offsetAt(wall + DAY_MS);
    const out: number[] = [];
    for (const o of before === after ? [before] : [before, after]) if (offsetAt(wall - o) === o) out.push(wall - o);
    return out.sort((a, b) => a - b);
  };
  return {
    name,
    wallAt: (ms) => ms + offsetAt(ms),
    instantsAt,
    offsetBefore: (wall) => offsetAt(wall - DAY_MS),
  };
}
