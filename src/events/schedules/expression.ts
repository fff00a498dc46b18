// Schedule expressions, as EventBridge rules and EventBridge Scheduler write them: rate(), cron()
// and at(). parseSchedule() validates one (at deploy, with AWS's rule in the error) and answers the
// scheduler's two questions: the next fire time after an instant, and the latest one at or before
// an instant (to fire a tick missed while Nimbus was down, once). Pure: no clock, no timers.
//
// Time zones (EventBridge Scheduler's ScheduleExpressionTimezone; UTC by default):
// - cron(): evaluated on the zone's wall clock. Per AWS Scheduler's documentation, a wall time that
//   a spring-forward gap skips does not fire that day, and one that a fall-back overlap repeats
//   fires once (we pick its first occurrence).
// - rate(): a fixed duration (rate(1 day) is 24 hours, also across DST, as AWS documents), counted
//   from an anchor; the zone plays no part.
// - at(): a local date and time in the zone. AWS documents no DST rule for it, and skipping would
//   mean never firing, so we follow RFC 5545: a time in a gap is read with the offset in force
//   before the gap (02:30 on a 02:00->03:00 night fires at 03:30), a repeated time fires at its
//   first occurrence.
import { NimbusError } from '../../errors.ts';
import { parseCronFields, WEEKDAY_NAMES, type CronSpec } from './cron-fields.ts';
import { cronFireTimes } from './cron.ts';
import { resolveZone, UTC_ZONE, type Zone } from './zone.ts';

/** AWS's limit on ScheduleExpression (both PutRule and CreateSchedule). */
export const MAX_SCHEDULE_EXPRESSION_CHARS = 256;
const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
/** Ours, not AWS's (which names none): a Java int, and far beyond any useful period. */
const MAX_RATE_VALUE = 2_147_483_647;

export interface ScheduleOptions {
  /** IANA zone name for cron() and at(); default UTC. */
  timezone?: string;
  /**
   * Where a rate() schedule's ticks are counted from: it fires at anchorMs, anchorMs + period, ...
   * Pass the schedule's start date, or its creation time when it has none (AWS Scheduler fires a
   * rate schedule without a StartDate as soon as it is created, then every period). Default 0, the
   * Unix epoch, which aligns rate(1 hour) to whole UTC hours. cron() and at() ignore it.
   */
  anchorMs?: number;
}

export interface Schedule {
  readonly kind: 'rate' | 'cron' | 'at';
  readonly expression: string;
  /** Canonical IANA name of the zone the expression is read in ("UTC" by default). */
  readonly timezone: string;
  /** The first fire time strictly after `afterMs`, or undefined when the schedule has no more. */
  next(afterMs: number): number | undefined;
  /** The latest fire time at or before `atOrBeforeMs`, or undefined when there was none. */
  previous(atOrBeforeMs: number): number | undefined;
  /** A sentence for people: CLI listings, the dashboard. */
  describe(): string;
}

/**
 * Parses and validates a schedule expression. Throws NimbusError BAD_REQUEST whose message starts
 * with AWS Scheduler's "Invalid Schedule Expression <expr>" and says which rule was broken, or
 * names the unknown time zone.
 */
export function parseSchedule(expression: string, opts: ScheduleOptions = {}): Schedule {
  const zone = opts.timezone === undefined ? UTC_ZONE : resolveZone(opts.timezone);
  if (!zone) throw new NimbusError('BAD_REQUEST', `Invalid ScheduleExpressionTimezone ${JSON.stringify(opts.timezone)}: not an IANA time zone name (such as America/New_York, Europe/London or UTC)`);
  if (typeof expression !== 'string') throw new NimbusError('BAD_REQUEST', 'Invalid Schedule Expression: it must be a string such as rate(5 minutes)');
  const fail = (rule: string): never => {
    throw new NimbusError('BAD_REQUEST', `Invalid Schedule Expression ${JSON.stringify(expression)}: ${rule}`);
  };
  if (expression.length > MAX_SCHEDULE_EXPRESSION_CHARS) fail(`it is longer than ${MAX_SCHEDULE_EXPRESSION_CHARS} characters`);
  const m = /^(rate|cron|at)\((.*)\)$/s.exec(expression);
  if (!m) fail('a schedule is rate(value unit), cron(fields) or at(yyyy-mm-ddThh:mm:ss), with nothing before or after');
  const [, kind, body] = m as unknown as [string, 'rate' | 'cron' | 'at', string];
  if (kind === 'rate') return rateSchedule(expression, body, opts.anchorMs ?? 0, zone, fail);
  if (kind === 'cron') return cronSchedule(expression, parseCronFields(body, fail), zone);
  return atSchedule(expression, body, zone, fail);
}

function rateSchedule(expression: string, body: string, anchorMs: number, zone: Zone, fail: (rule: string) => never): Schedule {
  finite(anchorMs);
  const parts = body.split(' ');
  if (parts.length !== 2 || parts.includes('')) fail('rate() takes a value and a unit separated by one space, with no other spaces, as in rate(5 minutes)');
  const [valueText, unit] = parts as [string, string];
  if (!/^\d+$/.test(valueText) || Number(valueText) < 1 || Number(valueText) > MAX_RATE_VALUE) fail(`the value of rate() must be a positive whole number, got ${valueText}`);
  const value = Number(valueText);
  const singular = unit.endsWith('s') ? unit.slice(0, -1) : unit;
  if (!Object.hasOwn(UNIT_MS, singular)) fail(`the unit of rate() must be minute, minutes, hour, hours, day or days, got ${unit}`);
  if (value === 1 && unit !== singular) fail(`a rate of 1 takes the singular unit: rate(1 ${singular})`);
  if (value > 1 && unit === singular) fail(`a rate above 1 takes the plural unit: rate(${value} ${singular}s)`);
  const periodMs = value * UNIT_MS[singular as keyof typeof UNIT_MS];
  return {
    kind: 'rate', expression, timezone: zone.name,
    next: (after) => (finite(after) < anchorMs ? anchorMs : anchorMs + (Math.floor((after - anchorMs) / periodMs) + 1) * periodMs),
    previous: (at) => (finite(at) < anchorMs ? undefined : anchorMs + Math.floor((at - anchorMs) / periodMs) * periodMs),
    describe: () => `every ${value === 1 ? singular : `${value} ${singular}s`}, counted from ${new Date(anchorMs).toISOString()}`,
  };
}

function atSchedule(expression: string, body: string, zone: Zone, fail: (rule: string) => never): Schedule {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(body);
  if (!m) fail('at() takes a local date and time as yyyy-mm-ddThh:mm:ss, with no zone suffix (set the time zone instead)');
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const wall = Date.UTC(y, mo - 1, d, h, mi, s);
  const t = new Date(wall);
  if (y < 1970) fail(`at() takes a year from 1970 on, got ${y}`);
  if (t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) fail(`at() names no real date and time: ${body}`);
  const fireMs = zone.instantsAt(wall)[0] ?? wall - zone.offsetBefore(wall);
  return {
    kind: 'at', expression, timezone: zone.name,
    next: (after) => (fireMs > finite(after) ? fireMs : undefined),
    previous: (at) => (fireMs <= finite(at) ? fireMs : undefined),
    describe: () => `once, at ${body} ${zone.name} (${new Date(fireMs).toISOString()})`,
  };
}

function cronSchedule(expression: string, spec: CronSpec, zone: Zone): Schedule {
  const { next, previous } = cronFireTimes(spec, zone);
  return {
    kind: 'cron', expression, timezone: zone.name,
    next: (after) => next(finite(after)),
    previous: (at) => previous(finite(at)),
    describe: () => describeCron(spec, zone.name),
  };
}

function finite(ms: number): number {
  if (!Number.isFinite(ms)) throw new RangeError(`a time must be a finite number of epoch milliseconds, got ${ms}`);
  return ms;
}

const ORDINAL = ['', 'first', 'second', 'third', 'fourth', 'fifth'];

function describeCron(spec: CronSpec, zoneName: string): string {
  const [mi, h, dom, mo, dow, y] = spec.fields.map((f) => f.toUpperCase()) as [string, string, string, string, string, string];
  const pad = (n: number): string => String(n).padStart(2, '0');
  const time = spec.minutes.length === 1 && spec.hours.length === 1
    ? `at ${pad(spec.hours[0]!)}:${pad(spec.minutes[0]!)}`
    : `at minute ${mi} of hour ${h}`;
  const r = spec.day;
  const day = r.kind === 'days' ? (dom === '*' ? 'every day' : `on day ${dom} of the month`)
    : r.kind === 'last' ? (r.before === 0 ? 'on the last day of the month' : `on the last day of the month minus ${r.before}`)
      : r.kind === 'lastWeekday' ? 'on the last weekday of the month'
        : r.kind === 'nearestWeekday' ? `on the weekday nearest day ${r.day} of the month`
          : r.kind === 'nth' ? `on the ${ORDINAL[r.nth]} ${WEEKDAY_NAMES[r.weekday - 1]} of the month`
            : r.kind === 'lastOf' ? `on the last ${WEEKDAY_NAMES[r.weekday - 1]} of the month`
              : dow === '*' ? 'every day' : `on ${r.weekdays.map((w) => WEEKDAY_NAMES[w - 1]).join(',')}`;
  const month = mo === '*' ? '' : `, in month ${mo}`;
  const year = y === '*' ? '' : `, in year ${y}`;
  return `${time} ${day}${month}${year} (${zoneName})`;
}
