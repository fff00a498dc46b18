// Parses the six fields of an EventBridge cron() expression into value sets, checking AWS's
// documented rules and naming the broken one in AWS's terms (field names, value ranges and
// wildcards as the EventBridge cron reference lists them):
//
//   Minutes 0-59 , - * /        Month 1-12 or JAN-DEC , - * /
//   Hours 0-23 , - * /          Day-of-week 1-7 or SUN-SAT , - * ? L #
//   Day-of-month 1-31 , - * ? / L W        Year 1970-2199 , - * /
//
// plus: one of Day-of-month and Day-of-week is ? (a value or * in one needs ? in the other), and
// a Day-of-week using # or L holds that one expression only. Beyond AWS's table we accept `L-n`
// in Day-of-month (n days before the last; Quartz has it and the conformance vectors use it).
// Names and letters are case-insensitive, as in Quartz, whose dialect AWS's cron follows.

/** Which days of a month fire: exactly one rule, from Day-of-month or from Day-of-week. */
export type DayRule =
  | { kind: 'days'; days: readonly number[] } //            1,15 / 1-31 / */5 (Day-of-month)
  | { kind: 'last'; before: number } //                     L, L-n
  | { kind: 'nearestWeekday'; day: number } //              15W
  | { kind: 'lastWeekday' } //                              LW
  | { kind: 'weekdays'; weekdays: readonly number[] } //    MON-FRI, 1,7, L (= 7, Saturday)
  | { kind: 'nth'; weekday: number; nth: number } //        MON#1 (weekday 1 = SUN ... 7 = SAT)
  | { kind: 'lastOf'; weekday: number }; //                 6L (the last Friday)

export interface CronSpec {
  minutes: readonly number[];
  hours: readonly number[];
  day: DayRule;
  months: readonly number[];
  years: readonly number[];
  /** The fields as written, for describe(). */
  fields: readonly string[];
}

interface Field { name: string; min: number; max: number; names?: readonly string[]; wildcards: string }

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
export const WEEKDAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

const MINUTES: Field = { name: 'Minutes', min: 0, max: 59, wildcards: ', - * /' };
const HOURS: Field = { name: 'Hours', min: 0, max: 23, wildcards: ', - * /' };
const DAY_OF_MONTH: Field = { name: 'Day-of-month', min: 1, max: 31, wildcards: ', - * ? / L W' };
const MONTH: Field = { name: 'Month', min: 1, max: 12, names: MONTH_NAMES, wildcards: ', - * /' };
const DAY_OF_WEEK: Field = { name: 'Day-of-week', min: 1, max: 7, names: WEEKDAY_NAMES, wildcards: ', - * ? L #' };
const YEAR: Field = { name: 'Year', min: 1970, max: 2199, wildcards: ', - * /' };

const values = (f: Field): string => (f.names ? `${f.min}-${f.max} or ${f.names[0]}-${f.names.at(-1)}` : `${f.min}-${f.max}`);

/** Parses the text between `cron(` and `)`; `fail` throws with the rule that was broken. */
export function parseCronFields(body: string, fail: (rule: string) => never): CronSpec {
  const fields = body.split(' ');
  if (body === '' || fields.some((f) => f === '') || fields.length !== 6) {
    fail('cron expressions have six required fields separated by single spaces: Minutes Hours Day-of-month Month Day-of-week Year');
  }
  const [mi, h, dom, mo, dow, y] = fields as [string, string, string, string, string, string];
  for (const [text, field] of [[mi, MINUTES], [h, HOURS], [mo, MONTH], [y, YEAR]] as const) {
    if (text.includes('?')) fail(`the ? wildcard is only for Day-of-month and Day-of-week, not ${field.name}`);
  }
  const minutes = parseList(mi, MINUTES, fail);
  const hours = parseList(h, HOURS, fail);
  const byMonthDay = dom === '?' ? undefined : parseDayOfMonth(dom, fail);
  const months = parseList(mo, MONTH, fail);
  const byWeekday = dow === '?' ? undefined : parseDayOfWeek(dow, fail);
  const years = parseList(y, YEAR, fail);
  if (byMonthDay && byWeekday) fail("you can't specify both Day-of-month and Day-of-week: a value or * in one needs ? in the other");
  const day = byMonthDay ?? byWeekday;
  if (!day) fail('only one of Day-of-month and Day-of-week can be ?; give a value or * in the other');
  return { minutes, hours, day, months, years, fields };
}

function parseDayOfMonth(text: string, fail: (rule: string) => never): DayRule {
  const u = text.toUpperCase();
  if (u === 'LW') return { kind: 'lastWeekday' };
  const last = /^L(?:-(\d{1,2}))?$/.exec(u);
  if (last) {
    const before = last[1] === undefined ? 0 : Number(last[1]);
    if (before > 30) fail(`in Day-of-month L-n, n counts days before the last day and must be within 0-30, got ${before}`);
    return { kind: 'last', before };
  }
  const near = /^(\d{1,2})W$/.exec(u);
  if (near) return { kind: 'nearestWeekday', day: value(near[1]!, DAY_OF_MONTH, fail) };
  if (/[LW]/.test(u)) fail(`in Day-of-month, L and W stand alone (L, L-n, nW or LW), not in a list or range: ${text}`);
  return { kind: 'days', days: parseList(text, DAY_OF_MONTH, fail) };
}

function parseDayOfWeek(text: string, fail: (rule: string) => never): DayRule {
  const u = text.toUpperCase();
  if (u === 'L') return { kind: 'weekdays', weekdays: [7] };
  const nth = /^(\w+)#(\d+)$/.exec(u);
  if (nth) {
    const n = Number(nth[2]);
    if (n < 1 || n > 5) fail(`in Day-of-week d#n, n is the week of the month and must be within 1-5, got ${nth[2]}`);
    return { kind: 'nth', weekday: value(nth[1]!, DAY_OF_WEEK, fail), nth: n };
  }
  const last = /^(\w+)L$/.exec(u);
  if (last) return { kind: 'lastOf', weekday: value(last[1]!, DAY_OF_WEEK, fail) };
  if (/#/.test(u) || /L(,|-|$)/.test(u)) {
    fail(`a Day-of-week with # or L holds that one expression only (such as 2#1 or 6L), not a list or range: ${text}`);
  }
  if (text.includes('/')) fail(`Day-of-week takes the wildcards ${DAY_OF_WEEK.wildcards}, not /`);
  return { kind: 'weekdays', weekdays: parseList(text, DAY_OF_WEEK, fail) };
}

/** A comma list of values, ranges and increments; the sorted set it selects. */
function parseList(text: string, f: Field, fail: (rule: string) => never): number[] {
  const set = new Set<number>();
  for (const item of text.split(',')) {
    if (item === '') fail(`${f.name} has an empty value in its list: ${text}`);
    const parts = item.split('/');
    if (parts.length > 2) fail(`${f.name}: an increment takes one /, as in 0/15: ${item}`);
    const [range, stepText] = parts as [string, string | undefined];
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = f.min;
      hi = f.max;
    } else {
      const ends = range.split('-');
      if (ends.length > 2) fail(`${f.name}: a range has one -, as in 1-5: ${item}`);
      lo = value(ends[0]!, f, fail);
      hi = ends.length === 2 ? value(ends[1]!, f, fail) : stepText === undefined ? lo : f.max;
      if (lo > hi) fail(`${f.name}: the range ${range} runs backwards; write it as two ranges, such as 22-23,0-2`);
    }
    let step = 1;
    if (stepText !== undefined) {
      step = /^\d{1,4}$/.test(stepText) ? Number(stepText) : 0;
      if (step < 1 || step > f.max - f.min + 1) fail(`${f.name}: the increment after / must be a whole number from 1 to ${f.max - f.min + 1}, got ${stepText}`);
    }
    for (let v = lo; v <= hi; v += step) set.add(v);
  }
  return [...set].sort((a, b) => a - b);
}

function value(text: string, f: Field, fail: (rule: string) => never): number {
  const named = f.names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) return named + 1;
  if (!/^\d{1,4}$/.test(text)) fail(`${f.name} takes the values ${values(f)} and the wildcards ${f.wildcards}; got ${text}`);
  const n = Number(text);
  if (n < f.min || n > f.max) fail(`${f.name} must be within ${values(f)}, got ${n}`);
  return n;
}
