// validateDefinition(): is a state machine definition valid States Language (JSONPath query language)
// that Nimbus can run? Each error names the offending field as a path (`$.States.Pay.Retry[0].ErrorEquals`).
// Errors marked `unsupported` are valid AWS features Nimbus does not run (JSONata, variables/Assign,
// distributed Map, non-Lambda resources); the rest break the language itself.
import { CHOICE_OPERATORS, parseTimestamp } from './choice.ts';
import { intrinsicError, looksLikeIntrinsic } from './intrinsics.ts';
import { pathError } from './jsonpath.ts';
import { parseFunctionRef, resolveResource } from './resource.ts';
import type { Machine } from './types.ts';
import { MAX_WAIT_SECONDS } from './interpreter.ts';

export interface ValidationError {
  path: string;
  message: string;
  /** Valid in AWS, but Nimbus does not run it. */
  unsupported?: true;
}

export type ValidationResult = { ok: true; machine: Machine } | { ok: false; errors: ValidationError[] };

const COMMON = ['Type', 'Comment', 'QueryLanguage'];
const FLOW = ['Next', 'End'];
const IO = ['InputPath', 'OutputPath'];
const FIELDS: Record<string, string[]> = {
  Pass: [...COMMON, ...FLOW, ...IO, 'ResultPath', 'Parameters', 'Result'],
  Task: [...COMMON, ...FLOW, ...IO, 'ResultPath', 'Parameters', 'ResultSelector', 'Resource', 'TimeoutSeconds', 'TimeoutSecondsPath', 'HeartbeatSeconds', 'HeartbeatSecondsPath', 'Retry', 'Catch', 'Credentials'],
  Choice: [...COMMON, ...IO, 'Choices', 'Default'],
  Wait: [...COMMON, ...FLOW, ...IO, 'Seconds', 'Timestamp', 'SecondsPath', 'TimestampPath'],
  Succeed: [...COMMON, ...IO],
  Fail: [...COMMON, 'Error', 'Cause', 'ErrorPath', 'CausePath'],
  Parallel: [...COMMON, ...FLOW, ...IO, 'ResultPath', 'Parameters', 'ResultSelector', 'Branches', 'Retry', 'Catch'],
  Map: [...COMMON, ...FLOW, ...IO, 'ResultPath', 'Parameters', 'ResultSelector', 'ItemSelector', 'Iterator', 'ItemProcessor', 'ItemsPath', 'MaxConcurrency', 'MaxConcurrencyPath', 'ToleratedFailurePercentage', 'ToleratedFailurePercentagePath', 'ToleratedFailureCount', 'ToleratedFailureCountPath', 'Label', 'Retry', 'Catch'],
};
const JSONATA_FIELDS = new Set(['Output', 'Arguments', 'Items', 'Condition']);
const UNSUPPORTED_MAP = new Set(['ItemReader', 'ItemBatcher', 'ResultWriter']);
const MAX_STATE_NAME = 80;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNonNegInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isPosInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 0;
const key = (name: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`);

class Checker {
  errors: ValidationError[] = [];
  /** Every state name in the whole machine: names are unique across nested machines too. */
  allNames = new Map<string, string>();

  err(path: string, message: string): void { this.errors.push({ path, message }); }
  unsupported(path: string, message: string): void { this.errors.push({ path, message, unsupported: true }); }

  /** A path field: JSONPath (or a reference path); `$name` variables are reported as unsupported. */
  path(at: string, v: unknown, opts: { reference?: boolean; nullable?: boolean; context?: boolean; intrinsic?: boolean } = {}): void {
    if (v === null && opts.nullable) return;
    if (typeof v !== 'string') { this.err(at, `must be a path string${opts.nullable ? ' or null' : ''}`); return; }
    if (/^\$[A-Za-z_]/.test(v)) { this.unsupported(at, `'${v}' refers to a workflow variable: variables (Assign) are not supported`); return; }
    if (opts.intrinsic && looksLikeIntrinsic(v)) { this.intrinsic(at, v); return; }
    const e = pathError(v, { reference: opts.reference, context: opts.context });
    if (e) this.err(at, e);
  }

  intrinsic(at: string, v: string): void {
    if (/[(,]\s*\$[A-Za-z_]/.test(v)) { this.unsupported(at, 'an argument refers to a workflow variable: variables (Assign) are not supported'); return; }
    const e = intrinsicError(v);
    if (e) this.err(at, e);
  }

  /** A payload template: `key.$` needs a path or an intrinsic call, and must not collide with `key`. */
  template(at: string, v: unknown): void {
    if (Array.isArray(v)) { v.forEach((x, i) => this.template(`${at}[${i}]`, x)); return; }
    if (!isObj(v)) return;
    const seen = new Set<string>();
    for (const [k, x] of Object.entries(v)) {
      const name = k.endsWith('.$') ? k.slice(0, -2) : k;
      if (seen.has(name)) this.err(`${at}${key(k)}`, `field '${name}' appears twice (with and without .$)`);
      seen.add(name);
      if (k.endsWith('.$')) {
        if (typeof x !== 'string') this.err(`${at}${key(k)}`, 'a field ending in .$ needs a path or intrinsic function string');
        else if (x.startsWith('$')) this.path(`${at}${key(k)}`, x);
        else if (looksLikeIntrinsic(x)) this.intrinsic(`${at}${key(k)}`, x);
        else this.err(`${at}${key(k)}`, `'${x}' is neither a path nor an intrinsic function`);
      } else this.template(`${at}${key(k)}`, x);
    }
  }

  errorEquals(at: string, list: unknown[], what: 'Retry' | 'Catch'): void {
    list.forEach((r, i) => {
      const p = `${at}[${i}]`;
      if (!isObj(r)) { this.err(p, `each ${what} entry must be an object`); return; }
      const allowed = what === 'Retry' ? ['ErrorEquals', 'IntervalSeconds', 'MaxAttempts', 'BackoffRate', 'MaxDelaySeconds', 'JitterStrategy', 'Comment'] : ['ErrorEquals', 'Next', 'ResultPath', 'Comment'];
      for (const f of Object.keys(r)) if (!allowed.includes(f)) this.err(`${p}${key(f)}`, `unknown field in ${what}`);
      const ee = r.ErrorEquals;
      if (!Array.isArray(ee) || ee.length === 0 || !ee.every((e) => typeof e === 'string' && e.length > 0)) {
        this.err(`${p}.ErrorEquals`, 'must be a non-empty array of error names');
      } else if (ee.includes('States.ALL')) {
        if (ee.length !== 1) this.err(`${p}.ErrorEquals`, 'States.ALL must appear alone in ErrorEquals');
        if (i !== list.length - 1) this.err(`${p}.ErrorEquals`, `States.ALL must be in the last ${what} entry`);
      }
      if (what === 'Retry') {
        if (r.IntervalSeconds !== undefined && !isPosInt(r.IntervalSeconds)) this.err(`${p}.IntervalSeconds`, 'must be a positive integer');
        if (r.MaxAttempts !== undefined && !isNonNegInt(r.MaxAttempts)) this.err(`${p}.MaxAttempts`, 'must be a non-negative integer');
        if (r.BackoffRate !== undefined && !(typeof r.BackoffRate === 'number' && r.BackoffRate >= 1)) this.err(`${p}.BackoffRate`, 'must be a number >= 1.0');
        if (r.MaxDelaySeconds !== undefined && !isPosInt(r.MaxDelaySeconds)) this.err(`${p}.MaxDelaySeconds`, 'must be a positive integer');
        if (r.JitterStrategy !== undefined && r.JitterStrategy !== 'FULL' && r.JitterStrategy !== 'NONE') this.err(`${p}.JitterStrategy`, 'must be FULL or NONE');
      } else {
        if (r.ResultPath !== undefined) this.path(`${p}.ResultPath`, r.ResultPath, { reference: true, nullable: true, context: false });
      }
    });
  }

  exclusive(at: string, s: Record<string, unknown>, a: string, b: string): void {
    if (s[a] !== undefined && s[b] !== undefined) this.err(`${at}.${b}`, `${a} and ${b} cannot both be set`);
  }

  machine(at: string, m: unknown, top: boolean): void {
    if (!isObj(m)) { this.err(at, 'a state machine must be an object'); return; }
    const allowed = top ? ['StartAt', 'States', 'Comment', 'Version', 'TimeoutSeconds', 'QueryLanguage'] : ['StartAt', 'States', 'Comment', 'ProcessorConfig', 'QueryLanguage'];
    for (const f of Object.keys(m)) if (!allowed.includes(f)) this.err(`${at}${key(f)}`, 'unknown field');
    if (m.QueryLanguage === 'JSONata') { this.unsupported(`${at}.QueryLanguage`, 'the JSONata query language is not supported: use JSONPath'); return; }
    if (m.QueryLanguage !== undefined && m.QueryLanguage !== 'JSONPath') this.err(`${at}.QueryLanguage`, 'must be JSONPath or JSONata');
    if (top && m.TimeoutSeconds !== undefined && !isPosInt(m.TimeoutSeconds)) this.err(`${at}.TimeoutSeconds`, 'must be a positive integer');
    if (!isObj(m.States) || Object.keys(m.States).length === 0) { this.err(`${at}.States`, 'States must be a non-empty object'); return; }
    const states = m.States;
    const names = Object.keys(states);
    if (typeof m.StartAt !== 'string') this.err(`${at}.StartAt`, 'StartAt must be a state name');
    else if (!Object.hasOwn(states, m.StartAt)) this.err(`${at}.StartAt`, `StartAt names '${m.StartAt}', which is not a state here`);
    for (const n of names) {
      const sp = `${at}.States${key(n)}`;
      const prev = this.allNames.get(n);
      if (prev !== undefined) this.err(sp, `state name '${n}' is already used at ${prev}: names are unique in the whole machine`);
      else this.allNames.set(n, sp);
      if (n.length > MAX_STATE_NAME) this.err(sp, `state names have at most ${MAX_STATE_NAME} characters`);
      this.state(sp, states[n], (target, p) => {
        if (typeof target !== 'string') this.err(p, 'must be a state name');
        else if (!Object.hasOwn(states, target)) this.err(p, `'${target}' is not a state in this ${top ? 'machine' : 'branch or Map'}`);
      });
    }
    // Reachability and a way out.
    const reach = new Set<string>();
    const queue = typeof m.StartAt === 'string' && Object.hasOwn(states, m.StartAt) ? [m.StartAt] : [];
    while (queue.length) {
      const n = queue.pop()!;
      if (reach.has(n)) continue;
      reach.add(n);
      for (const t of transitions(states[n])) if (Object.hasOwn(states, t)) queue.push(t);
    }
    if (queue.length === 0 && reach.size > 0) {
      for (const n of names) if (!reach.has(n)) this.err(`${at}.States${key(n)}`, `state '${n}' cannot be reached from StartAt`);
    }
    const terminal = names.some((n) => { const s = states[n]; return isObj(s) && (s.End === true || s.Type === 'Succeed' || s.Type === 'Fail'); });
    if (!terminal) this.err(`${at}.States`, 'no state ends the machine (End: true, Succeed or Fail)');
  }

  state(at: string, s: unknown, target: (name: unknown, at: string) => void): void {
    if (!isObj(s)) { this.err(at, 'a state must be an object'); return; }
    const type = s.Type;
    if (typeof type !== 'string' || !FIELDS[type]) { this.err(`${at}.Type`, `unknown state type ${JSON.stringify(type)}: one of ${Object.keys(FIELDS).join(', ')}`); return; }
    if (s.QueryLanguage === 'JSONata') {
      // Its fields are JSONata's (Output, Arguments, ...): checking them as JSONPath would only add noise.
      this.unsupported(`${at}.QueryLanguage`, 'the JSONata query language is not supported: use JSONPath');
      if (s.Next !== undefined) target(s.Next, `${at}.Next`);
      return;
    }
    if (s.QueryLanguage !== undefined && s.QueryLanguage !== 'JSONPath') this.err(`${at}.QueryLanguage`, 'must be JSONPath or JSONata');
    for (const f of Object.keys(s)) {
      if (FIELDS[type].includes(f)) continue;
      if (f === 'Assign') this.unsupported(`${at}.Assign`, 'workflow variables (Assign) are not supported');
      else if (JSONATA_FIELDS.has(f)) this.unsupported(`${at}${key(f)}`, `${f} is a JSONata field: the JSONata query language is not supported`);
      else if (type === 'Map' && UNSUPPORTED_MAP.has(f)) this.unsupported(`${at}${key(f)}`, `${f} belongs to distributed Map, which is not supported (inline Map only)`);
      else this.err(`${at}${key(f)}`, `unknown field for a ${type} state`);
    }
    if (s.Comment !== undefined && typeof s.Comment !== 'string') this.err(`${at}.Comment`, 'must be a string');
    // Transitions.
    if (['Pass', 'Task', 'Wait', 'Parallel', 'Map'].includes(type)) {
      if (s.End !== undefined && s.End !== true) this.err(`${at}.End`, 'End must be true when present');
      if (s.Next !== undefined && s.End === true) this.err(`${at}.End`, 'a state has either Next or End: true, not both');
      else if (s.Next === undefined && s.End !== true) this.err(`${at}.Next`, 'a state needs Next or End: true');
      if (s.Next !== undefined) target(s.Next, `${at}.Next`);
    }
    for (const f of ['InputPath', 'OutputPath']) if (f in s) this.path(`${at}.${f}`, s[f], { nullable: true });
    if ('ResultPath' in s) this.path(`${at}.ResultPath`, s.ResultPath, { reference: true, nullable: true, context: false });
    if (s.Parameters !== undefined) this.template(`${at}.Parameters`, s.Parameters);
    if (s.ResultSelector !== undefined) {
      if (!isObj(s.ResultSelector)) this.err(`${at}.ResultSelector`, 'must be an object');
      else this.template(`${at}.ResultSelector`, s.ResultSelector);
    }
    for (const f of ['Retry', 'Catch'] as const) {
      if (s[f] === undefined) continue;
      if (!Array.isArray(s[f])) { this.err(`${at}.${f}`, 'must be an array'); continue; }
      this.errorEquals(`${at}.${f}`, s[f] as unknown[], f);
      if (f === 'Catch') (s.Catch as unknown[]).forEach((c, i) => { if (isObj(c)) target(c.Next, `${at}.Catch[${i}].Next`); });
    }
    switch (type) {
      case 'Task': return this.task(at, s);
      case 'Choice': return this.choice(at, s, target);
      case 'Wait': return this.wait(at, s);
      case 'Fail': return this.fail(at, s);
      case 'Parallel': return this.parallel(at, s);
      case 'Map': return this.map(at, s);
    }
  }

  task(at: string, s: Record<string, unknown>): void {
    if (isObj(s.Resource)) this.unsupported(`${at}.Resource`, 'Resource is a CloudFormation expression (Ref, Fn::GetAtt): resolve it to a function name or ARN first');
    else if (typeof s.Resource !== 'string') this.err(`${at}.Resource`, 'a Task needs a Resource string');
    else if (/^\$\{[^}]+\}$/.test(s.Resource)) this.unsupported(`${at}.Resource`, `Resource '${s.Resource}' is a definition substitution: substitute it before validating`);
    else {
      const r = resolveResource(s.Resource);
      if (!r.ok) (s.Resource.startsWith('arn:') && !s.Resource.includes(':lambda:') ? this.unsupported : this.err).call(this, `${at}.Resource`, r.message);
      else if (r.resource.integration === 'lambda:invoke') {
        const p = s.Parameters;
        if (!isObj(p) || (p.FunctionName === undefined && p['FunctionName.$'] === undefined)) this.err(`${at}.Parameters`, 'arn:aws:states:::lambda:invoke needs Parameters.FunctionName');
        else if (typeof p.FunctionName === 'string' && !parseFunctionRef(p.FunctionName)) this.err(`${at}.Parameters.FunctionName`, `'${p.FunctionName}' is not a function name or Lambda ARN`);
      }
    }
    this.exclusive(at, s, 'TimeoutSeconds', 'TimeoutSecondsPath');
    this.exclusive(at, s, 'HeartbeatSeconds', 'HeartbeatSecondsPath');
    if (s.TimeoutSeconds !== undefined && !isPosInt(s.TimeoutSeconds)) this.err(`${at}.TimeoutSeconds`, 'must be a positive integer');
    if (s.HeartbeatSeconds !== undefined && !isPosInt(s.HeartbeatSeconds)) this.err(`${at}.HeartbeatSeconds`, 'must be a positive integer');
    if (isPosInt(s.TimeoutSeconds) && isPosInt(s.HeartbeatSeconds) && (s.HeartbeatSeconds as number) >= (s.TimeoutSeconds as number)) this.err(`${at}.HeartbeatSeconds`, 'must be smaller than TimeoutSeconds');
    for (const f of ['TimeoutSecondsPath', 'HeartbeatSecondsPath']) if (s[f] !== undefined) this.path(`${at}.${f}`, s[f], { reference: true });
    if ('Credentials' in s) {
      if (!isObj(s.Credentials)) this.err(`${at}.Credentials`, 'must be an object');
      else this.template(`${at}.Credentials`, s.Credentials);
    }
  }

  choice(at: string, s: Record<string, unknown>, target: (name: unknown, at: string) => void): void {
    if (!Array.isArray(s.Choices) || s.Choices.length === 0) this.err(`${at}.Choices`, 'Choices must be a non-empty array');
    else s.Choices.forEach((r, i) => this.rule(`${at}.Choices[${i}]`, r, true, target));
    if (s.Default !== undefined) target(s.Default, `${at}.Default`);
  }

  rule(at: string, r: unknown, top: boolean, target: (name: unknown, at: string) => void): void {
    if (!isObj(r)) { this.err(at, 'a Choice rule must be an object'); return; }
    if (top) {
      if (r.Next === undefined) this.err(`${at}.Next`, 'a top-level Choice rule needs Next');
      else target(r.Next, `${at}.Next`);
    } else if (r.Next !== undefined) this.err(`${at}.Next`, 'only top-level Choice rules have Next');
    if (r.Condition !== undefined) this.unsupported(`${at}.Condition`, 'Condition is a JSONata field: the JSONata query language is not supported');
    if (r.Assign !== undefined) this.unsupported(`${at}.Assign`, 'workflow variables (Assign) are not supported');
    const ops = Object.keys(r).filter((k) => CHOICE_OPERATORS.has(k) || k === 'And' || k === 'Or' || k === 'Not');
    for (const f of Object.keys(r)) if (!ops.includes(f) && !['Variable', 'Next', 'Comment', 'Condition', 'Assign'].includes(f)) this.err(`${at}${key(f)}`, 'unknown field in a Choice rule');
    if (ops.length !== 1) { this.err(at, `a Choice rule needs exactly one of And, Or, Not or a comparison operator (found ${ops.length ? ops.join(', ') : 'none'})`); return; }
    const op = ops[0];
    if (op === 'And' || op === 'Or') {
      if (r.Variable !== undefined) this.err(`${at}.Variable`, `${op} takes no Variable`);
      const list = r[op];
      if (!Array.isArray(list) || list.length === 0) this.err(`${at}.${op}`, `${op} must be a non-empty array of rules`);
      else list.forEach((x, i) => this.rule(`${at}.${op}[${i}]`, x, false, target));
      return;
    }
    if (op === 'Not') {
      if (r.Variable !== undefined) this.err(`${at}.Variable`, 'Not takes no Variable');
      this.rule(`${at}.Not`, r.Not, false, target);
      return;
    }
    if (r.Variable === undefined) this.err(`${at}.Variable`, `${op} needs a Variable`);
    else this.path(`${at}.Variable`, r.Variable, { reference: true });
    const v = r[op];
    const p = `${at}.${op}`;
    if (op.endsWith('Path')) this.path(p, v, { reference: true });
    else if (op.startsWith('Is') || op === 'BooleanEquals') { if (typeof v !== 'boolean') this.err(p, 'must be true or false'); }
    else if (op.startsWith('Numeric')) { if (typeof v !== 'number') this.err(p, 'must be a number'); }
    else if (op.startsWith('Timestamp')) { if (!parseTimestamp(v)) this.err(p, 'must be an RFC 3339 timestamp'); }
    else if (typeof v !== 'string') this.err(p, 'must be a string');
  }

  wait(at: string, s: Record<string, unknown>): void {
    const set = ['Seconds', 'Timestamp', 'SecondsPath', 'TimestampPath'].filter((f) => s[f] !== undefined);
    if (set.length !== 1) this.err(at, `a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath (found ${set.length ? set.join(', ') : 'none'})`);
    if (s.Seconds !== undefined && (!isNonNegInt(s.Seconds) || (s.Seconds as number) > MAX_WAIT_SECONDS)) this.err(`${at}.Seconds`, `must be an integer from 0 to ${MAX_WAIT_SECONDS}`);
    if (s.Timestamp !== undefined && !parseTimestamp(s.Timestamp)) this.err(`${at}.Timestamp`, 'must be an RFC 3339 timestamp');
    for (const f of ['SecondsPath', 'TimestampPath']) if (s[f] !== undefined) this.path(`${at}.${f}`, s[f], { reference: true });
  }

  fail(at: string, s: Record<string, unknown>): void {
    this.exclusive(at, s, 'Error', 'ErrorPath');
    this.exclusive(at, s, 'Cause', 'CausePath');
    for (const f of ['Error', 'Cause']) if (s[f] !== undefined && typeof s[f] !== 'string') this.err(`${at}.${f}`, 'must be a string');
    for (const f of ['ErrorPath', 'CausePath']) if (s[f] !== undefined) this.path(`${at}.${f}`, s[f], { reference: true, intrinsic: true });
  }

  parallel(at: string, s: Record<string, unknown>): void {
    if (!Array.isArray(s.Branches) || s.Branches.length === 0) { this.err(`${at}.Branches`, 'Branches must be a non-empty array of state machines'); return; }
    s.Branches.forEach((b, i) => this.machine(`${at}.Branches[${i}]`, b, false));
  }

  map(at: string, s: Record<string, unknown>): void {
    const proc = s.ItemProcessor ?? s.Iterator;
    const which = s.ItemProcessor !== undefined ? 'ItemProcessor' : 'Iterator';
    this.exclusive(at, s, 'Iterator', 'ItemProcessor');
    if (proc === undefined) this.err(`${at}.ItemProcessor`, 'a Map state needs ItemProcessor (or the older Iterator)');
    else {
      if (isObj(proc) && proc.ProcessorConfig !== undefined) {
        const pc = proc.ProcessorConfig;
        if (!isObj(pc)) this.err(`${at}.${which}.ProcessorConfig`, 'must be an object');
        else if (pc.Mode === 'DISTRIBUTED') this.unsupported(`${at}.${which}.ProcessorConfig.Mode`, 'distributed Map is not supported (inline Map only)');
        else if (pc.Mode !== undefined && pc.Mode !== 'INLINE') this.err(`${at}.${which}.ProcessorConfig.Mode`, 'must be INLINE or DISTRIBUTED');
      }
      this.machine(`${at}.${which}`, proc, false);
    }
    this.exclusive(at, s, 'ItemSelector', 'Parameters');
    if (s.ItemSelector !== undefined) {
      if (!isObj(s.ItemSelector)) this.err(`${at}.ItemSelector`, 'must be an object');
      else this.template(`${at}.ItemSelector`, s.ItemSelector);
    }
    if (s.ItemsPath !== undefined) this.path(`${at}.ItemsPath`, s.ItemsPath);
    for (const [f, check, what] of [
      ['MaxConcurrency', isNonNegInt, 'a non-negative integer'],
      ['ToleratedFailureCount', isNonNegInt, 'a non-negative integer'],
      ['ToleratedFailurePercentage', (v: unknown) => typeof v === 'number' && v >= 0 && v <= 100, 'a number from 0 to 100'],
    ] as const) {
      this.exclusive(at, s, f, `${f}Path`);
      if (s[f] !== undefined && !check(s[f])) this.err(`${at}.${f}`, `must be ${what}`);
      if (s[`${f}Path`] !== undefined) this.path(`${at}.${f}Path`, s[`${f}Path`], { reference: true });
    }
    if (s.Label !== undefined && (typeof s.Label !== 'string' || s.Label.length > 40)) this.err(`${at}.Label`, 'must be a string of at most 40 characters');
  }
}

function transitions(s: unknown): string[] {
  if (!isObj(s)) return [];
  const out: string[] = [];
  if (typeof s.Next === 'string') out.push(s.Next);
  if (typeof s.Default === 'string') out.push(s.Default);
  if (Array.isArray(s.Choices)) for (const c of s.Choices) if (isObj(c) && typeof c.Next === 'string') out.push(c.Next);
  if (Array.isArray(s.Catch)) for (const c of s.Catch) if (isObj(c) && typeof c.Next === 'string') out.push(c.Next);
  return out;
}

/** Validate a definition (already parsed from JSON). On success the machine is the definition itself, typed. */
export function validateDefinition(def: unknown): ValidationResult {
  const c = new Checker();
  c.machine('$', def, true);
  if (c.errors.length) return { ok: false, errors: c.errors };
  return { ok: true, machine: def as Machine };
}
