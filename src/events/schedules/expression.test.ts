// Tests for schedule expressions (expression.ts, cron-fields.ts, cron.ts, zone.ts):
// 1. conformance: every expression AWS accepted or rejected (EventBridge rules and Scheduler), and
//    all 97 next/previous vectors, read at test time from the shared conformance folder;
// 2. our own tables: L, L-n, LW, W, #, year ranges, names, steps, the ? rules, error wording;
// 3. rate() and at(), DST gaps and overlaps in America/New_York and Europe/London, and a
//    ManualClock driving the schedule the way the scheduler will;
// 4. properties: random cron expressions against a brute-force oracle written from the definitions.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isNimbusError } from '../../errors.ts';
import { ManualClock } from '../../util/clock.ts';
import { parseSchedule, type Schedule } from './expression.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const iso = (t: number | undefined): string | undefined => (t === undefined ? undefined : new Date(t).toISOString());
const ms = (s: string): number => Date.parse(s);

function errorOf(expr: string, opts?: { timezone?: string }): string {
  try {
    parseSchedule(expr, opts);
  } catch (err) {
    assert.ok(isNimbusError(err) && err.code === 'BAD_REQUEST', `not a BAD_REQUEST NimbusError: ${String(err)}`);
    return err.message;
  }
  assert.fail(`accepted ${JSON.stringify(expr)}`);
}

/** The next `n` fire times after `from`, as ISO strings. */
function nextN(s: Schedule, from: string, n: number): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  let t = ms(from);
  for (let i = 0; i < n; i++) {
    const x = s.next(t);
    out.push(iso(x));
    if (x === undefined) break;
    t = x;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. Conformance

const CONFORMANCE = new URL('../../../../shared/conformance/schedules/', import.meta.url);
const VALIDITY = new URL('schedule-validity-vectors.json', CONFORMANCE);
const NEXT_PREV = new URL('cron-next-prev-vectors.json', CONFORMANCE);
const skipIfMissing = (file: URL): string | false =>
  existsSync(file) ? false : `${file.pathname} is absent (the shared conformance folder sits beside the repo); conformance not checked`;

describe('conformance: expressions AWS accepted or rejected', () => {
  test('EventBridge PutRule and Scheduler CreateSchedule, every vector', { skip: skipIfMissing(VALIDITY) }, () => {
    const data = JSON.parse(readFileSync(VALIDITY, 'utf8')) as Record<string, { valid?: string[]; invalid?: string[] }>;
    let count = 0;
    for (const [api, set] of Object.entries(data)) {
      if (!set || typeof set !== 'object' || !Array.isArray(set.valid)) continue;
      for (const expr of set.valid) {
        assert.doesNotThrow(() => parseSchedule(expr), `${api}: AWS accepted ${JSON.stringify(expr)}`);
        count++;
      }
      for (const expr of set.invalid ?? []) {
        assert.match(errorOf(expr), /^Invalid Schedule Expression ".*": \S/, `${api}: AWS rejected ${JSON.stringify(expr)}`);
        count++;
      }
    }
    assert.equal(count, 62, 'every vector in the file ran');
  });
});

describe('conformance: cron next/previous vectors', () => {
  test('all 97 vectors', { skip: skipIfMissing(NEXT_PREV) }, () => {
    const vectors = JSON.parse(readFileSync(NEXT_PREV, 'utf8')) as { cron: string; op: 'next' | 'prev'; from: string; expectedUTC: string }[];
    assert.equal(vectors.length, 97);
    const failures: string[] = [];
    for (const v of vectors) {
      const s = parseSchedule(`cron(${v.cron})`);
      // The vectors' "prev" is the latest fire strictly before `from` (the chains step from one
      // fire to the one before it); previous() is at-or-before, so ask one millisecond earlier.
      const got = iso(v.op === 'next' ? s.next(ms(v.from)) : s.previous(ms(v.from) - 1));
      if (got !== v.expectedUTC) failures.push(`cron(${v.cron}) ${v.op} from ${v.from}: expected ${v.expectedUTC}, got ${got}`);
    }
    assert.deepEqual(failures, []);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Our own tables

describe('cron: next fire times', () => {
  // [expression, from (UTC), the next fire times]
  const table: [string, string, string[]][] = [
    // L, L-n, LW in Day-of-month; a leap year
    ['cron(0 12 L * ? *)', '2024-02-01T00:00:00Z', ['2024-02-29T12:00:00.000Z', '2024-03-31T12:00:00.000Z']],
    ['cron(0 12 L 2 ? *)', '2023-01-01T00:00:00Z', ['2023-02-28T12:00:00.000Z', '2024-02-29T12:00:00.000Z']],
    ['cron(0 0 L-3 * ? *)', '2024-02-01T00:00:00Z', ['2024-02-26T00:00:00.000Z', '2024-03-28T00:00:00.000Z']],
    ['cron(0 0 L-30 * ? *)', '2023-12-31T00:00:00Z', ['2024-01-01T00:00:00.000Z', '2024-03-01T00:00:00.000Z', '2024-05-01T00:00:00.000Z']], // no February, no April
    ['cron(0 18 LW * ? *)', '2024-03-01T00:00:00Z', ['2024-03-29T18:00:00.000Z', '2024-04-30T18:00:00.000Z', '2024-05-31T18:00:00.000Z', '2024-06-28T18:00:00.000Z']],
    // nW: the nearest weekday, never leaving the month
    ['cron(0 9 15W * ? *)', '2024-09-01T00:00:00Z', ['2024-09-16T09:00:00.000Z', '2024-10-15T09:00:00.000Z', '2024-11-15T09:00:00.000Z', '2024-12-16T09:00:00.000Z']],
    ['cron(0 9 1W * ? *)', '2024-06-01T00:00:00Z', ['2024-06-03T09:00:00.000Z', '2024-07-01T09:00:00.000Z']], // Sat 1 June -> Mon 3
    ['cron(0 9 30W 6 ? *)', '2024-01-01T00:00:00Z', ['2024-06-28T09:00:00.000Z']], // Sun 30 June -> Fri 28
    ['cron(0 9 31W * ? *)', '2025-04-01T00:00:00Z', ['2025-05-30T09:00:00.000Z', '2025-07-31T09:00:00.000Z']], // Sat 31 May -> Fri 30; no 31 June
    // #, nL and L in Day-of-week (1 = SUN ... 7 = SAT)
    ['cron(0 10 ? * 2#1 *)', '2024-09-01T00:00:00Z', ['2024-09-02T10:00:00.000Z', '2024-10-07T10:00:00.000Z']],
    ['cron(0 10 ? * FRI#5 *)', '2024-01-01T00:00:00Z', ['2024-03-29T10:00:00.000Z', '2024-05-31T10:00:00.000Z', '2024-08-30T10:00:00.000Z']],
    ['cron(0 2 ? * sat#3 *)', '2024-01-01T00:00:00Z', ['2024-01-20T02:00:00.000Z', '2024-02-17T02:00:00.000Z']],
    ['cron(0 17 ? * 6L *)', '2024-10-01T00:00:00Z', ['2024-10-25T17:00:00.000Z', '2024-11-29T17:00:00.000Z']],
    ['cron(0 0 ? * L *)', '2024-01-01T00:00:00Z', ['2024-01-06T00:00:00.000Z', '2024-01-13T00:00:00.000Z']], // L alone: Saturday
    // names, ranges and lists in Month and Day-of-week, any case
    ['cron(0 8 ? JAN-MAR MON-FRI *)', '2024-03-29T09:00:00Z', ['2025-01-01T08:00:00.000Z', '2025-01-02T08:00:00.000Z', '2025-01-03T08:00:00.000Z', '2025-01-06T08:00:00.000Z']],
    ['cron(0 0 1 jan,Jul ? *)', '2024-02-01T00:00:00Z', ['2024-07-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z']],
    ['cron(30 6 ? * 1,7 *)', '2024-06-03T00:00:00Z', ['2024-06-08T06:30:00.000Z', '2024-06-09T06:30:00.000Z', '2024-06-15T06:30:00.000Z']],
    // steps: a/s starts at a, */s at the field's first value, a-b/s stays within a-b
    ['cron(5/20 3/8 * * ? *)', '2024-01-01T00:00:00Z', ['2024-01-01T03:05:00.000Z', '2024-01-01T03:25:00.000Z', '2024-01-01T03:45:00.000Z', '2024-01-01T11:05:00.000Z']],
    ['cron(0 0 1/10 * ? *)', '2024-02-02T00:00:00Z', ['2024-02-11T00:00:00.000Z', '2024-02-21T00:00:00.000Z', '2024-03-01T00:00:00.000Z', '2024-03-11T00:00:00.000Z']],
    ['cron(0-10/5 0 1 1 ? *)', '2024-01-01T00:00:00Z', ['2024-01-01T00:05:00.000Z', '2024-01-01T00:10:00.000Z', '2025-01-01T00:00:00.000Z']],
    ['cron(0 0 1 */5 ? *)', '2024-01-02T00:00:00Z', ['2024-06-01T00:00:00.000Z', '2024-11-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z']],
    // the Year field: ranges, steps, the end of the schedule, the last year AWS allows
    ['cron(0 0 1 1 ? 2030-2032)', '2024-06-01T00:00:00Z', ['2030-01-01T00:00:00.000Z', '2031-01-01T00:00:00.000Z', '2032-01-01T00:00:00.000Z', undefined as unknown as string]],
    ['cron(0 0 29 2 ? 2024/4)', '2024-03-01T00:00:00Z', ['2028-02-29T00:00:00.000Z', '2032-02-29T00:00:00.000Z']],
    ['cron(59 23 31 12 ? 2199)', '2100-01-01T00:00:00Z', ['2199-12-31T23:59:00.000Z', undefined as unknown as string]],
    ['cron(0 0 30 2 ? *)', '2024-01-01T00:00:00Z', [undefined as unknown as string]], // 30 February never comes
    // * in Day-of-month with ? in Day-of-week, and the other way round
    ['cron(0 12 * * ? *)', '2024-01-31T13:00:00Z', ['2024-02-01T12:00:00.000Z']],
    ['cron(0 12 ? * * *)', '2024-01-31T13:00:00Z', ['2024-02-01T12:00:00.000Z']],
  ];
  for (const [expr, from, expected] of table) {
    test(`${expr} after ${from}`, () => {
      assert.deepEqual(nextN(parseSchedule(expr), from, expected.length), expected);
    });
  }

  test('next is strictly after; previous is at or before', () => {
    const s = parseSchedule('cron(0 12 * * ? *)');
    const noon = ms('2024-05-05T12:00:00Z');
    assert.equal(iso(s.next(noon)), '2024-05-06T12:00:00.000Z');
    assert.equal(iso(s.next(noon - 1)), '2024-05-05T12:00:00.000Z');
    assert.equal(iso(s.previous(noon)), '2024-05-05T12:00:00.000Z');
    assert.equal(iso(s.previous(noon - 1)), '2024-05-04T12:00:00.000Z');
    assert.equal(s.previous(ms('1970-01-01T11:59:59Z')), undefined);
    assert.equal(iso(parseSchedule('cron(0 0 1 1 ? *)').next(ms('1900-01-01T00:00:00Z'))), '1970-01-01T00:00:00.000Z');
    // The first and last wall times AWS allows, in zones far from UTC.
    const kiritimati = parseSchedule('cron(0 0 1 1 ? 1970)', { timezone: 'Pacific/Kiritimati' }); // UTC-10:40 in 1970
    assert.equal(iso(kiritimati.next(ms('1900-01-01T00:00:00Z'))), '1970-01-01T10:40:00.000Z');
    assert.equal(iso(kiritimati.previous(ms('2100-01-01T00:00:00Z'))), '1970-01-01T10:40:00.000Z');
    const last = parseSchedule('cron(59 23 31 12 ? 2199)', { timezone: 'America/New_York' });
    assert.equal(iso(last.next(ms('2200-01-01T01:00:00Z'))), '2200-01-01T04:59:00.000Z');
    assert.equal(iso(last.previous(ms('2300-01-01T00:00:00Z'))), '2200-01-01T04:59:00.000Z');
    assert.equal(last.next(ms('2200-01-01T04:59:00Z')), undefined);
  });
});

describe('validation names the broken rule', () => {
  const table: [string, RegExp][] = [
    ['cron(0 1 * * * *)', /can't specify both Day-of-month and Day-of-week: a value or \* in one needs \? in the other/],
    ['cron(0 1 1 * MON *)', /can't specify both Day-of-month and Day-of-week/],
    ['cron(0 1 ? * ? *)', /only one of Day-of-month and Day-of-week can be \?/],
    ['cron(? 1 * * ? *)', /\? wildcard is only for Day-of-month and Day-of-week, not Minutes/],
    ['cron(0 1 * * ?)', /six required fields/],
    ['cron(0 1 * * ? * *)', /six required fields/],
    ['cron(0  1 * * ? *)', /six required fields separated by single spaces/],
    ['cron(60 1 * * ? *)', /Minutes must be within 0-59, got 60/],
    ['cron(0 24 * * ? *)', /Hours must be within 0-23, got 24/],
    ['cron(0 1 32 * ? *)', /Day-of-month must be within 1-31, got 32/],
    ['cron(0 1 0 * ? *)', /Day-of-month must be within 1-31, got 0/],
    ['cron(0 1 1 13 ? *)', /Month must be within 1-12 or JAN-DEC, got 13/],
    ['cron(0 1 1 JANUARY ? *)', /Month takes the values 1-12 or JAN-DEC and the wildcards , - \* \/; got JANUARY/],
    ['cron(0 1 ? * 8 *)', /Day-of-week must be within 1-7 or SUN-SAT, got 8/],
    ['cron(0 1 ? * 0 *)', /Day-of-week must be within 1-7 or SUN-SAT, got 0/],
    ['cron(7 20 ? * NOT *)', /Day-of-week takes the values 1-7 or SUN-SAT and the wildcards , - \* \? L #; got NOT/],
    ['cron(0 1 * * ? 1969)', /Year must be within 1970-2199, got 1969/],
    ['cron(0 1 * * ? 2200)', /Year must be within 1970-2199, got 2200/],
    ['cron(0 1 ? * MON/2 *)', /Day-of-week takes the wildcards , - \* \? L #, not \//],
    ['cron(0 1 ? * 3#1,6#3 *)', /Day-of-week with # or L holds that one expression only/],
    ['cron(0 1 ? * 2#6 *)', /must be within 1-5, got 6/],
    ['cron(0 1 ? * 6L,2 *)', /Day-of-week with # or L holds that one expression only/],
    ['cron(0 1 1,L * ? *)', /L and W stand alone/],
    ['cron(0 1 1-5W * ? *)', /L and W stand alone/],
    ['cron(0 1 L-31 * ? *)', /L-n, n counts days before the last day and must be within 0-30/],
    ['cron(0 22-2 * * ? *)', /the range 22-2 runs backwards/],
    ['cron(*/0 * * * ? *)', /increment after \/ must be a whole number from 1 to 60, got 0/],
    ['cron(0/5/5 * * * ? *)', /an increment takes one \//],
    ['cron(1,,2 * * * ? *)', /Minutes has an empty value/],
    ['rate(1 minutes)', /a rate of 1 takes the singular unit: rate\(1 minute\)/],
    ['rate(2 hour)', /a rate above 1 takes the plural unit: rate\(2 hours\)/],
    ['rate(5 weeks)', /unit of rate\(\) must be minute, minutes, hour, hours, day or days, got weeks/],
    ['rate(1.5 hours)', /value of rate\(\) must be a positive whole number, got 1.5/],
    ['rate(0 minutes)', /positive whole number, got 0/],
    ['rate(5  minutes)', /separated by one space/],
    ['RATE(5 minutes)', /a schedule is rate\(value unit\), cron\(fields\) or at\(yyyy-mm-ddThh:mm:ss\)/],
    ['rate(5 minutes) ', /with nothing before or after/],
    ['every 5 minutes', /a schedule is rate/],
    ['at(2024-02-30T00:00:00)', /at\(\) names no real date and time/],
    ['at(2024-01-01T24:00:00)', /at\(\) names no real date and time/],
    ['at(2024-01-01T10:00)', /yyyy-mm-ddThh:mm:ss, with no zone suffix/],
    ['at(2024-01-01T10:00:00+01:00)', /with no zone suffix/],
    [`cron(${'0,'.repeat(130)}0 * * * ? *)`, /longer than 256 characters/],
  ];
  for (const [expr, rule] of table) {
    test(expr.length > 60 ? `${expr.slice(0, 60)}...` : expr, () => {
      const message = errorOf(expr);
      assert.ok(message.startsWith(`Invalid Schedule Expression ${JSON.stringify(expr)}: `), message);
      assert.match(message, rule);
    });
  }

  test('an unknown or offset time zone is refused with its own message', () => {
    assert.match(errorOf('rate(1 hour)', { timezone: 'Mars/Olympus' }), /^Invalid ScheduleExpressionTimezone "Mars\/Olympus": not an IANA time zone name/);
    assert.match(errorOf('cron(0 1 * * ? *)', { timezone: '+05:00' }), /not an IANA time zone name/);
    assert.equal(parseSchedule('cron(0 1 * * ? *)', { timezone: 'US/Eastern' }).timezone, 'America/New_York');
    assert.equal(parseSchedule('rate(1 hour)').timezone, 'UTC');
  });

  test('describe() reads as a sentence', () => {
    assert.equal(parseSchedule('cron(0 2 ? * SAT#3 *)', { timezone: 'Europe/London' }).describe(), 'at 02:00 on the third SAT of the month (Europe/London)');
    assert.equal(parseSchedule('cron(0/15 8-17 ? * MON-FRI *)').describe(), 'at minute 0/15 of hour 8-17 on MON,TUE,WED,THU,FRI (UTC)');
    assert.equal(parseSchedule('cron(15 10 L * ? 2030)').describe(), 'at 10:15 on the last day of the month, in year 2030 (UTC)');
    assert.equal(parseSchedule('rate(5 minutes)', { anchorMs: 0 }).describe(), 'every 5 minutes, counted from 1970-01-01T00:00:00.000Z');
    assert.equal(parseSchedule('at(2030-01-01T09:00:00)', { timezone: 'America/New_York' }).describe(), 'once, at 2030-01-01T09:00:00 America/New_York (2030-01-01T14:00:00.000Z)');
  });
});

// ---------------------------------------------------------------------------------------------
// 3. rate(), at(), DST, an injected clock

describe('rate()', () => {
  test('fires at the anchor, then every period; previous() finds the latest tick', () => {
    const anchorMs = ms('2024-05-01T10:07:30Z');
    const s = parseSchedule('rate(5 minutes)', { anchorMs });
    assert.equal(iso(s.next(0)), '2024-05-01T10:07:30.000Z');
    assert.equal(iso(s.next(anchorMs)), '2024-05-01T10:12:30.000Z');
    assert.equal(iso(s.next(anchorMs + 5 * MIN - 1)), '2024-05-01T10:12:30.000Z');
    assert.equal(iso(s.previous(anchorMs + 17 * MIN)), '2024-05-01T10:22:30.000Z');
    assert.equal(s.previous(anchorMs - 1), undefined);
    assert.equal(iso(parseSchedule('rate(1 hour)').next(ms('2024-05-01T10:07:30Z'))), '2024-05-01T11:00:00.000Z'); // default anchor: the epoch
  });

  test('rate(1 day) is 24 hours, also across a DST change (the zone plays no part)', () => {
    const anchorMs = ms('2024-03-09T14:00:00Z'); // 09:00 in New York, EST
    const s = parseSchedule('rate(1 day)', { anchorMs, timezone: 'America/New_York' });
    assert.deepEqual(nextN(s, '2024-03-09T14:00:00Z', 2), ['2024-03-10T14:00:00.000Z', '2024-03-11T14:00:00.000Z']); // 10:00 EDT
  });
});

describe('at()', () => {
  test('fires once, in UTC by default or in the given zone', () => {
    const s = parseSchedule('at(2030-06-01T12:00:00)');
    assert.equal(iso(s.next(0)), '2030-06-01T12:00:00.000Z');
    assert.equal(s.next(ms('2030-06-01T12:00:00Z')), undefined);
    assert.equal(s.previous(ms('2030-06-01T11:59:59Z')), undefined);
    assert.equal(iso(s.previous(ms('2031-01-01T00:00:00Z'))), '2030-06-01T12:00:00.000Z');
    assert.equal(iso(parseSchedule('at(2030-06-01T12:00:00)', { timezone: 'Asia/Kolkata' }).next(0)), '2030-06-01T06:30:00.000Z');
  });

  test('a time in a DST gap is read with the offset before the gap (RFC 5545); a repeated time fires at its first occurrence', () => {
    assert.equal(iso(parseSchedule('at(2024-03-10T02:30:00)', { timezone: 'America/New_York' }).next(0)), '2024-03-10T07:30:00.000Z'); // 03:30 EDT
    assert.equal(iso(parseSchedule('at(2024-11-03T01:30:00)', { timezone: 'America/New_York' }).next(0)), '2024-11-03T05:30:00.000Z'); // 01:30 EDT
    assert.equal(iso(parseSchedule('at(2024-03-31T01:30:00)', { timezone: 'Europe/London' }).next(0)), '2024-03-31T01:30:00.000Z'); // 02:30 BST
  });
});

describe('DST: a skipped wall time does not fire, a repeated one fires once (AWS Scheduler)', () => {
  const ny = { timezone: 'America/New_York' };
  const london = { timezone: 'Europe/London' };

  test('America/New_York, spring forward (02:00 EST -> 03:00 EDT on 10 March 2024)', () => {
    assert.deepEqual(nextN(parseSchedule('cron(30 2 * * ? *)', ny), '2024-03-08T12:00:00Z', 3), ['2024-03-09T07:30:00.000Z', '2024-03-11T06:30:00.000Z', '2024-03-12T06:30:00.000Z']);
    assert.deepEqual(nextN(parseSchedule('cron(0/30 * * * ? *)', ny), '2024-03-10T05:00:00Z', 4), ['2024-03-10T05:30:00.000Z', '2024-03-10T06:00:00.000Z', '2024-03-10T06:30:00.000Z', '2024-03-10T07:00:00.000Z']); // 00:30, 01:00, 01:30 EST, then 03:00 EDT
    assert.deepEqual(nextN(parseSchedule('cron(0 9 ? * MON-FRI *)', ny), '2024-03-08T00:00:00Z', 2), ['2024-03-08T14:00:00.000Z', '2024-03-11T13:00:00.000Z']);
  });

  test('America/New_York, fall back (02:00 EDT -> 01:00 EST on 3 November 2024)', () => {
    assert.deepEqual(nextN(parseSchedule('cron(30 1 * * ? *)', ny), '2024-11-02T12:00:00Z', 2), ['2024-11-03T05:30:00.000Z', '2024-11-04T06:30:00.000Z']);
    assert.deepEqual(nextN(parseSchedule('cron(0/20 * * * ? *)', ny), '2024-11-03T04:50:00Z', 5), [
      '2024-11-03T05:00:00.000Z', '2024-11-03T05:20:00.000Z', '2024-11-03T05:40:00.000Z', // 01:00-01:40 EDT
      '2024-11-03T07:00:00.000Z', '2024-11-03T07:20:00.000Z', // 02:00 EST: the repeated hour does not fire again
    ]);
    // A restart inside the repeated hour finds the tick of its first pass, and fires nothing twice.
    const s = parseSchedule('cron(0/20 * * * ? *)', ny);
    assert.equal(iso(s.previous(ms('2024-11-03T06:30:00Z'))), '2024-11-03T05:40:00.000Z'); // 01:30 EST -> 01:40 EDT
    assert.equal(iso(s.next(ms('2024-11-03T06:30:00Z'))), '2024-11-03T07:00:00.000Z');
  });

  test('Europe/London, spring forward (01:00 GMT -> 02:00 BST on 31 March 2024)', () => {
    assert.deepEqual(nextN(parseSchedule('cron(30 1 * * ? *)', london), '2024-03-30T12:00:00Z', 2), ['2024-04-01T00:30:00.000Z', '2024-04-02T00:30:00.000Z']);
    assert.equal(iso(parseSchedule('cron(30 1 * * ? *)', london).previous(ms('2024-04-01T00:00:00Z'))), '2024-03-30T01:30:00.000Z');
  });

  test('Europe/London, fall back (02:00 BST -> 01:00 GMT on 27 October 2024)', () => {
    assert.deepEqual(nextN(parseSchedule('cron(30 1 * * ? *)', london), '2024-10-26T12:00:00Z', 2), ['2024-10-27T00:30:00.000Z', '2024-10-28T01:30:00.000Z']);
    assert.deepEqual(nextN(parseSchedule('cron(15 * * * ? *)', london), '2024-10-26T23:30:00Z', 3), ['2024-10-27T00:15:00.000Z', '2024-10-27T02:15:00.000Z', '2024-10-27T03:15:00.000Z']); // 01:15 BST, 02:15 GMT
  });
});

describe('driven by an injected clock, as the scheduler will', () => {
  /** Arms one timer for the next fire, re-arming after each; returns the fire times seen. */
  function run(s: Schedule, clock: ManualClock, forMs: number): string[] {
    const fired: string[] = [];
    let last = clock.now() - 1; // a tick due right now fires too
    const arm = (): void => {
      const at = s.next(last);
      if (at !== undefined) clock.setTimeout(() => { fired.push(iso(clock.now())!); last = at; arm(); }, at - clock.now());
    };
    arm();
    clock.advance(forMs);
    return fired;
  }

  test('a cron schedule across the New York spring-forward night', () => {
    const clock = new ManualClock(ms('2024-03-09T00:00:00Z'));
    assert.deepEqual(run(parseSchedule('cron(30 2 * * ? *)', { timezone: 'America/New_York' }), clock, 3 * DAY), ['2024-03-09T07:30:00.000Z', '2024-03-11T06:30:00.000Z']);
  });

  test('a rate schedule, and the one missed tick to fire after a restart', () => {
    const created = ms('2026-01-01T00:00:00Z');
    const clock = new ManualClock(created);
    const s = parseSchedule('rate(2 hours)', { anchorMs: created });
    assert.deepEqual(run(s, clock, 3 * HOUR), ['2026-01-01T00:00:00.000Z', '2026-01-01T02:00:00.000Z']);
    // Nimbus was down from 03:00 to 07:30, so the ticks at 04:00 and 06:00 were missed: the
    // restarted scheduler fires the latest of them once, then carries on.
    const lastFired = ms('2026-01-01T02:00:00Z');
    const restarted = new ManualClock(ms('2026-01-01T07:30:00Z'));
    const missed = s.previous(restarted.now());
    assert.ok(missed !== undefined && missed > lastFired);
    assert.equal(iso(missed), '2026-01-01T06:00:00.000Z');
    assert.equal(iso(s.next(restarted.now())), '2026-01-01T08:00:00.000Z');
  });
});

// ---------------------------------------------------------------------------------------------
// 4. Properties: random expressions against an oracle written from the definitions

/** A generated cron expression and predicates saying which wall-clock days and minutes it selects. */
interface Case { expr: string; dayOk(y: number, mo: number, d: number): boolean; timeOk(h: number, mi: number): boolean }
const matches = (c: Case, [y, mo, d, h, mi]: number[]): boolean => c.dayOk(y!, mo!, d!) && c.timeOk(h!, mi!);

const range = (lo: number, hi: number, step = 1): number[] => Array.from({ length: Math.floor((hi - lo) / step) + 1 }, (_, i) => lo + i * step);
const lastDay = (y: number, mo: number): number => new Date(Date.UTC(y, mo, 0)).getUTCDate();
const weekdayOf = (y: number, mo: number, d: number): number => new Date(Date.UTC(y, mo - 1, d)).getUTCDay() + 1;

/** A field as [text, values]: *, a list, a range, a/s, * /s or a-b/s. */
function fieldArb(min: number, max: number, steps = true): fc.Arbitrary<[string, number[]]> {
  const v = fc.integer({ min, max });
  const forms: fc.Arbitrary<[string, number[]]>[] = [
    fc.constant(['*', range(min, max)]),
    fc.uniqueArray(v, { minLength: 1, maxLength: 5 }).map((a) => [a.join(','), a]),
    fc.tuple(v, v).map(([a, b]) => [`${Math.min(a, b)}-${Math.max(a, b)}`, range(Math.min(a, b), Math.max(a, b))]),
  ];
  if (steps) {
    const s = fc.integer({ min: 1, max: Math.min(12, max - min + 1) });
    forms.push(fc.tuple(v, s).map(([a, st]) => [`${a}/${st}`, range(a, max, st)]));
    forms.push(s.map((st) => [`*/${st}`, range(min, max, st)]));
    forms.push(fc.tuple(v, v, s).map(([a, b, st]) => [`${Math.min(a, b)}-${Math.max(a, b)}/${st}`, range(Math.min(a, b), Math.max(a, b), st)]));
  }
  return fc.oneof(...forms);
}

type DayPred = (y: number, mo: number, d: number) => boolean;
const dayArb: fc.Arbitrary<[string, string, DayPred]> = fc.oneof(
  fieldArb(1, 31).map(([t, days]): [string, string, DayPred] => [t, '?', (_y, _m, d) => days.includes(d)]),
  fc.integer({ min: 0, max: 5 }).map((n): [string, string, DayPred] => [n === 0 ? 'L' : `L-${n}`, '?', (y, m, d) => d === lastDay(y, m) - n]),
  fc.constant<[string, string, DayPred]>(['LW', '?', (y, m, d) => {
    const weekdays = range(1, lastDay(y, m)).filter((x) => weekdayOf(y, m, x) % 7 > 1);
    return d === weekdays.at(-1);
  }]),
  fc.integer({ min: 1, max: 31 }).map((n): [string, string, DayPred] => [`${n}W`, '?', (y, m, d) => {
    if (n > lastDay(y, m)) return false;
    const nearest = range(1, lastDay(y, m)).filter((x) => weekdayOf(y, m, x) % 7 > 1).sort((a, b) => Math.abs(a - n) - Math.abs(b - n))[0];
    return d === nearest;
  }]),
  fieldArb(1, 7, false).map(([t, wds]): [string, string, DayPred] => ['?', t, (y, m, d) => wds.includes(weekdayOf(y, m, d))]),
  fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 5 })).map(([w, n]): [string, string, DayPred] =>
    ['?', `${w}#${n}`, (y, m, d) => weekdayOf(y, m, d) === w && Math.ceil(d / 7) === n]),
  fc.integer({ min: 1, max: 7 }).map((w): [string, string, DayPred] => ['?', `${w}L`, (y, m, d) => weekdayOf(y, m, d) === w && d + 7 > lastDay(y, m)]),
);

const caseArb: fc.Arbitrary<Case> = fc.tuple(fieldArb(0, 59), fieldArb(0, 23), dayArb, fieldArb(1, 12), fc.oneof(
  fc.constant<[string, number[]]>(['*', range(1970, 2199)]),
  fc.integer({ min: 2018, max: 2040 }).map((a): [string, number[]] => [`${a}-2199`, range(a, 2199)]),
)).map(([[mi, mis], [h, hs], [dom, dow, dayOk], [mo, mos], [y, ys]]) => ({
  expr: `cron(${mi} ${h} ${dom} ${mo} ${dow} ${y})`,
  dayOk: (yy, mm, dd) => ys.includes(yy) && mos.includes(mm) && dayOk(yy, mm, dd),
  timeOk: (hh, mn) => hs.includes(hh) && mis.includes(mn),
}));
/** Every day, so that fires are close together and the scan between them covers DST nights. */
const few = (min: number, max: number): fc.Arbitrary<[string, number[]]> =>
  fc.uniqueArray(fc.integer({ min, max }), { minLength: 1, maxLength: 3 }).map((a) => [a.join(','), a]);
const dailyArb: fc.Arbitrary<Case> = fc.oneof(
  fc.tuple(fieldArb(0, 59), fieldArb(0, 23)),
  fc.tuple(few(0, 59), few(0, 4)), // a few minutes in the night hours, when DST changes happen
).map(([[mi, mis], [h, hs]]) => ({
  expr: `cron(${mi} ${h} * * ? *)`, dayOk: () => true, timeOk: (hh, mn) => hs.includes(hh) && mis.includes(mn),
}));

/** Brute force in UTC: walk days, then minutes, for the first selected minute after `t`. */
function oracleNext(c: Case, t: number, horizonDays: number): number | undefined {
  const day0 = Math.floor(t / DAY) * DAY;
  for (let day = day0; day <= day0 + horizonDays * DAY; day += DAY) {
    const d = new Date(day);
    if (!c.dayOk(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate())) continue;
    for (let m = 0; m < 1440; m++) {
      const at = day + m * MIN;
      if (at > t && c.timeOk(Math.floor(m / 60), m % 60)) return at;
    }
  }
  return undefined;
}

/** The wall clock of an instant in a zone as "yyyy-mm-dd hh:mm:ss", read with Intl independently of zone.ts. */
const formats = new Map<string, Intl.DateTimeFormat>();
function wallText(t: number, timeZone: string): string {
  let f = formats.get(timeZone);
  if (!f) formats.set(timeZone, f = new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }));
  return f.format(t);
}

const t2020s = fc.integer({ min: ms('2020-01-01T00:00:00Z'), max: ms('2030-01-01T00:00:00Z') });

describe('properties', () => {
  test('UTC: next() and previous() agree with a brute-force walk of the definitions', () => {
    fc.assert(fc.property(caseArb, t2020s, (c, t) => {
      const s = parseSchedule(c.expr);
      const n = s.next(t);
      const expected = oracleNext(c, t, 3 * 366);
      if (expected !== undefined) assert.equal(iso(n), iso(expected), c.expr);
      else assert.ok(n === undefined || n > t + 3 * 365 * DAY, c.expr);
      if (n === undefined) return;
      assert.equal(s.previous(n), n);
      const p = s.previous(n - 1);
      if (p !== undefined) assert.equal(s.next(p), n, 'nothing fires between previous(n - 1) and n');
      const before = s.previous(t);
      if (before !== undefined) assert.equal(s.next(before), n, 'next(previous(t)) is next(t)');
    }), { numRuns: 150 });
  });

  // Near DST changes, for 30 hours from t: fires are increasing, each on a selected wall minute at
  // its first instant, and no instant between two fires (scanned minute by minute) is one.
  const TRANSITIONS: Record<string, string[]> = {
    'America/New_York': ['2024-03-10T07:00:00Z', '2024-11-03T06:00:00Z'],
    'Europe/London': ['2024-03-31T01:00:00Z', '2024-10-27T01:00:00Z'],
    'Australia/Sydney': ['2024-04-06T16:00:00Z', '2024-10-05T16:00:00Z'],
    'Australia/Lord_Howe': ['2024-04-06T15:00:00Z', '2024-10-05T15:30:00Z'], // moves 30 minutes
    'Antarctica/Troll': ['2024-03-31T01:00:00Z', '2024-10-27T01:00:00Z'], // moves 2 hours
  };
  const zoneAndTime = fc.oneof(
    fc.constantFrom(...Object.entries(TRANSITIONS)).chain(([zone, at]) =>
      fc.tuple(fc.constant(zone), fc.constantFrom(...at.map(ms)), fc.integer({ min: -30 * HOUR, max: 2 * HOUR })).map(([z, a, d]): [string, number] => [z, a + d])),
    fc.tuple(fc.constantFrom('Asia/Kolkata', 'America/New_York', 'Europe/London'), t2020s),
  );

  test('zones: fires are increasing, selected, first occurrences, and none is skipped', () => {
    fc.assert(fc.property(fc.oneof({ arbitrary: dailyArb, weight: 3 }, { arbitrary: caseArb, weight: 1 }), zoneAndTime, (c, [timeZone, t]) => {
      const s = parseSchedule(c.expr, { timezone: timeZone });
      const first = s.previous(t);
      if (first !== undefined) assert.equal(s.next(first), s.next(t), `${c.expr} in ${timeZone}: next(previous(t)) is next(t) at ${iso(t)}`);
      // A fire: a selected wall minute, at the first instant the clock shows it.
      const isFire = (i: number): boolean => {
        const wall = wallText(i, timeZone);
        if (i % MIN !== 0 || !wall.endsWith(':00') || !matches(c, wall.split(/[-: ]/).map(Number))) return false;
        return ![30 * MIN, HOUR, 2 * HOUR].some((k) => wallText(i - k, timeZone) === wall);
      };
      let prev = t;
      for (let k = 0; k < 60 && prev < t + 30 * HOUR; k++) {
        const n = s.next(prev);
        if (n === undefined) return;
        assert.ok(n > prev, `${c.expr} in ${timeZone}: not increasing after ${iso(prev)}`);
        assert.ok(isFire(n), `${c.expr} in ${timeZone}: ${iso(n)} is not a fire time`);
        assert.equal(s.previous(n), n);
        if (n - prev <= 6 * HOUR) {
          for (let i = Math.floor(prev / MIN) * MIN + MIN; i < n; i += MIN) assert.ok(!isFire(i), `${c.expr} in ${timeZone}: skipped ${iso(i)} between ${iso(prev)} and ${iso(n)}`);
        }
        const before = s.previous(n - 1);
        if (before !== undefined) assert.equal(s.next(before), n);
        prev = n;
      }
    }), { numRuns: 400 });
  });

  test('rate(): ticks are anchor + k * period, previous(next(t)) is next(t)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 500 }), fc.constantFrom('minute', 'hour', 'day'), t2020s, t2020s, (value, unit, anchorMs, t) => {
      const s = parseSchedule(`rate(${value} ${value === 1 ? unit : `${unit}s`})`, { anchorMs });
      const periodMs = value * { minute: MIN, hour: HOUR, day: DAY }[unit];
      const n = s.next(t)!;
      assert.ok(n > t && (n - anchorMs) % periodMs === 0 && n >= anchorMs);
      assert.ok(n === anchorMs || n - periodMs <= t);
      assert.equal(s.previous(n), n);
      assert.equal(s.previous(n - 1), n === anchorMs ? undefined : n - periodMs);
    }));
  });
});
