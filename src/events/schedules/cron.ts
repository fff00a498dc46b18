// Fire times of an EventBridge cron() expression in a time zone.
//
// Why not a library: croner (the best-kept JS cron library, with L, W, #, a year field and time
// zones) passes 90 of the 97 shared next/previous vectors but has no `L-n`, and its DST rules are
// Vixie cron's (a fixed time in a gap runs after the gap; an interval job runs twice in an
// overlap), the opposite of what AWS documents for EventBridge Scheduler. aws-cron-parser passes
// the vectors but is UTC-only, computes weekdays in the process's local zone (wrong "last Friday"
// near a DST change), and gives up after ten recursions on sparse schedules. We would keep our
// own validation either way, so the evaluator is ours too: it is a nested walk over value sets.
//
// The walk runs on the zone's wall clock (see zone.ts) and is then mapped to instants with AWS
// Scheduler's documented DST behaviour: a wall time that does not exist (spring forward) is
// skipped; a wall time that happens twice (fall back) fires once, at its first occurrence.
import type { CronSpec, DayRule } from './cron-fields.ts';
import type { Zone } from './zone.ts';

const MINUTE_MS = 60_000;
/** Larger than any single UTC offset change in the tz database (Antarctica/Troll moves 2 h). */
const SHIFT_MS = 3 * 3_600_000;
/** Larger than any UTC offset (+14 h): wall times of 1970-2199 lie within this of those years. */
const MARGIN_MS = 86_400_000;
const FIRST_CRON_MS = Date.UTC(1970, 0, 1) - MARGIN_MS;
const END_CRON_MS = Date.UTC(2200, 0, 1) + MARGIN_MS;

const daysInMonth = (y: number, m: number): number => new Date(Date.UTC(y, m, 0)).getUTCDate();
/** AWS numbering: 1 = Sunday ... 7 = Saturday. */
const weekday = (y: number, m: number, d: number): number => new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 1;

/** The days of month `m` (1-12) of year `y` that the rule selects, ascending. */
export function daysOf(rule: DayRule, y: number, m: number): number[] {
  const last = daysInMonth(y, m);
  switch (rule.kind) {
    case 'days':
      return rule.days.filter((d) => d <= last);
    case 'last':
      return last - rule.before >= 1 ? [last - rule.before] : [];
    case 'lastWeekday': {
      const wd = weekday(y, m, last);
      return [wd === 7 ? last - 1 : wd === 1 ? last - 2 : last];
    }
    case 'nearestWeekday': {
      // The weekday nearest the given day without leaving the month: a Saturday moves to Friday
      // (or Monday the 3rd when the 1st is a Saturday), a Sunday to Monday (or Friday when the
      // Sunday is the month's last day). A day the month does not have never fires.
      const d = rule.day;
      if (d > last) return [];
      const wd = weekday(y, m, d);
      if (wd === 7) return [d === 1 ? 3 : d - 1];
      if (wd === 1) return [d === last ? d - 2 : d + 1];
      return [d];
    }
    case 'weekdays': {
      const first = weekday(y, m, 1);
      const out: number[] = [];
      for (let d = 1; d <= last; d++) if (rule.weekdays.includes(((first - 1 + d - 1) % 7) + 1)) out.push(d);
      return out;
    }
    case 'nth': {
      const d = 1 + ((rule.weekday - weekday(y, m, 1) + 7) % 7) + 7 * (rule.nth - 1);
      return d <= last ? [d] : [];
    }
    case 'lastOf':
      return [last - ((weekday(y, m, last) - rule.weekday + 7) % 7)];
  }
}

/** The earliest wall-clock minute at or after `wall` that the spec selects. */
export function nextWall(spec: CronSpec, wall: number): number | undefined {
  const t = new Date(Math.ceil(wall / MINUTE_MS) * MINUTE_MS);
  const [y0, mo0, d0, h0, mi0] = [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate(), t.getUTCHours(), t.getUTCMinutes()];
  for (const y of spec.years) {
    if (y < y0) continue;
    for (const mo of spec.months) {
      const atMonth = y === y0 && mo === mo0;
      if (y === y0 && mo < mo0) continue;
      for (const d of daysOf(spec.day, y, mo)) {
        if (atMonth && d < d0) continue;
        const atDay = atMonth && d === d0;
        for (const h of spec.hours) {
          if (atDay && h < h0) continue;
          const atHour = atDay && h === h0;
          for (const mi of spec.minutes) if (!atHour || mi >= mi0) return Date.UTC(y, mo - 1, d, h, mi);
        }
      }
    }
  }
  return undefined;
}

/** The latest wall-clock minute at or before `wall` that the spec selects. */
export function prevWall(spec: CronSpec, wall: number): number | undefined {
  const t = new Date(Math.floor(wall / MINUTE_MS) * MINUTE_MS);
  const [y0, mo0, d0, h0, mi0] = [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate(), t.getUTCHours(), t.getUTCMinutes()];
  for (const y of backwards(spec.years)) {
    if (y > y0) continue;
    for (const mo of backwards(spec.months)) {
      const atMonth = y === y0 && mo === mo0;
      if (y === y0 && mo > mo0) continue;
      for (const d of backwards(daysOf(spec.day, y, mo))) {
        if (atMonth && d > d0) continue;
        const atDay = atMonth && d === d0;
        for (const h of backwards(spec.hours)) {
          if (atDay && h > h0) continue;
          const atHour = atDay && h === h0;
          for (const mi of backwards(spec.minutes)) if (!atHour || mi <= mi0) return Date.UTC(y, mo - 1, d, h, mi);
        }
      }
    }
  }
  return undefined;
}

function* backwards<T>(list: readonly T[]): Generator<T> {
  for (let i = list.length - 1; i >= 0; i--) yield list[i]!;
}

/**
 * next/previous fire instants. A wall time fires at its first instant; because that map is
 * increasing, walking wall times in order walks fire times in order, and the walk only has to
 * start far enough back (or ahead) to cover a clock that was just set back.
 */
export function cronFireTimes(spec: CronSpec, zone: Zone): { next(afterMs: number): number | undefined; previous(atOrBeforeMs: number): number | undefined } {
  const firstInstant = (wall: number): number | undefined => zone.instantsAt(wall)[0];
  return {
    next(afterMs) {
      if (afterMs >= END_CRON_MS) return undefined;
      const after = Math.max(afterMs, FIRST_CRON_MS);
      const from = Math.min(zone.wallAt(after), zone.wallAt(after + SHIFT_MS) - SHIFT_MS);
      for (let w = nextWall(spec, Math.floor(from / MINUTE_MS) * MINUTE_MS); w !== undefined; w = nextWall(spec, w + MINUTE_MS)) {
        const at = firstInstant(w);
        if (at !== undefined && at > afterMs) return at;
      }
      return undefined;
    },
    previous(atOrBeforeMs) {
      if (atOrBeforeMs < FIRST_CRON_MS) return undefined;
      const t = Math.min(atOrBeforeMs, END_CRON_MS);
      const from = Math.max(zone.wallAt(t), zone.wallAt(t - SHIFT_MS) + SHIFT_MS);
      for (let w = prevWall(spec, from); w !== undefined; w = prevWall(spec, w - MINUTE_MS)) {
        const at = firstInstant(w);
        if (at !== undefined && at <= atOrBeforeMs) return at;
      }
      return undefined;
    },
  };
}
