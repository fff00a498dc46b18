// What a rule target receives, shaped as EventBridge shapes it (PutTargets' Input, InputPath,
// InputTransformer): checked once at deploy into a TargetInput, rendered per event into the text to
// deliver. Pure: no I/O and no clock; the caller passes the rule name, its ARN and the ingestion time.
//
// JSON paths, a deliberately small subset:
//   $                    the whole event
//   .name                a member; name is letters, digits, "_", "-" and "/" (EventBridge's dot names)
//   ['name'], ["name"]   a member by any name (\\ and the quote escaped); inputPath only, as EventBridge
//                        wants dot notation in InputPathsMap
//   [0]                  an array element (a non-negative index)
// EventBridge also takes wildcards (*); Nimbus refuses them, like `..`, filters, slices and negative
// indexes, at deploy. A path is never checked against events: one that matches nothing is "missing".
//
// Templates. A `<name>` (letters, digits, "_", "-", ".") is always a placeholder: "<" and ">" cannot be
// escaped. A template that is JSON once its placeholders are filled is a JSON template, delivered
// minified: a placeholder in a value position becomes the JSON of its value (strings quoted, objects and
// arrays as they are), one inside a string becomes its text, an object or array with its quotes removed.
// Any other template is plain text, with strings inserted as they are and other values as JSON.
// A missing value is nothing inside a string or text (documented: it "won't appear in the output"), and
// "" in a value position (undocumented; what EventBridge was recorded delivering). Unlike EventBridge, which documents that it does not escape inserted values, Nimbus escapes
// text inserted into a JSON string, so a JSON template always renders valid JSON.
import { NimbusError } from '../../errors.ts';

export const MAX_INPUT_CHARS = 8192; // Input and InputTemplate
export const MAX_PATH_CHARS = 256; // InputPath and each InputPathsMap value
export const MAX_PATHS_MAP_ENTRIES = 100;
export const MAX_PATH_NAME_CHARS = 256;

/** The variables EventBridge fills without a path; no InputPathsMap name may start with "aws.". */
export const PREDEFINED_VARIABLES = [
  'aws.events.rule-name', 'aws.events.rule-arn', 'aws.events.event', 'aws.events.event.json', 'aws.events.event.ingestion-time',
] as const;
/** Their contents are not escaped, so they only stand where a JSON value goes. */
const WHOLE_EVENT = new Set(['aws.events.event', 'aws.events.event.json']);

type Step = { readonly name: string } | { readonly index: number };
type Path = readonly Step[];
type Segment = { readonly text: string } | { readonly name: string; readonly at: 'value' | 'string' | 'text' };

export type TargetInput =
  | { readonly kind: 'event' }
  | { readonly kind: 'constant'; readonly text: string }
  | { readonly kind: 'path'; readonly path: Path }
  | { readonly kind: 'transformer'; readonly format: 'json' | 'text'; readonly paths: ReadonlyMap<string, Path>; readonly segments: readonly Segment[] };

export interface RenderContext { ruleName: string; ruleArn: string; ingestionTime: string }

const MAP_NAME = /^[A-Za-z0-9_.-]+$/;
const PLACEHOLDER = /<([A-Za-z0-9_.-]+)>/y;
const DOT_NAME = /[A-Za-z0-9_/-]+/y;
const INDEX = /\[(0|[1-9][0-9]*)\]/y;
const MARK_OPEN = '\uE000';
const MARK_CLOSE = '\uE001';
const MARK = /\uE000\d+\uE001/;

function bad(where: string, field: string, rule: string): NimbusError {
  return new NimbusError('BAD_REQUEST', `${where}.${field}: ${rule}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks a target's input spec (at most one of the three) and compiles it for renderTargetInput. */
export function validateTargetInput(spec: { input?: unknown; inputPath?: unknown; inputTransformer?: unknown }, where: string): TargetInput {
  const given = (['input', 'inputPath', 'inputTransformer'] as const).filter((k) => spec[k] !== undefined);
  if (given.length > 1) {
    throw bad(where, given[1]!, `only one of input, inputPath and inputTransformer may be given (as EventBridge), but ${given[0]} is given too`);
  }
  if (spec.input !== undefined) return { kind: 'constant', text: validateConstant(spec.input, where) };
  if (spec.inputPath !== undefined) return { kind: 'path', path: validatePath(spec.inputPath, where, 'inputPath', true) };
  if (spec.inputTransformer !== undefined) return validateTransformer(spec.inputTransformer, where);
  return { kind: 'event' };
}

function validateConstant(input: unknown, where: string): string {
  if (typeof input !== 'string') throw bad(where, 'input', `must be JSON text (a string, sent as is), got ${typeof input === 'object' ? JSON.stringify(input) : String(input)}`);
  if (input.length > MAX_INPUT_CHARS) throw bad(where, 'input', `at most ${MAX_INPUT_CHARS} characters, got ${input.length}`);
  try {
    JSON.parse(input);
  } catch (err) {
    throw bad(where, 'input', `must be valid JSON text: ${(err as Error).message}`);
  }
  return input;
}

function validatePath(path: unknown, where: string, field: string, bracketNames: boolean): Path {
  if (typeof path !== 'string') throw bad(where, field, `must be a JSON path such as $.detail, got ${JSON.stringify(path) ?? String(path)}`);
  if (path.length > MAX_PATH_CHARS) throw bad(where, field, `a JSON path has at most ${MAX_PATH_CHARS} characters, got ${path.length}`);
  const parsed = parsePath(path, bracketNames);
  if (typeof parsed === 'string') throw bad(where, field, `${JSON.stringify(path)} is not a supported JSON path: ${parsed}`);
  return parsed;
}

/** The steps of a path, or why it is refused. */
function parsePath(text: string, bracketNames: boolean): Path | string {
  if (text[0] !== '$') return 'it must start with $ (the event), e.g. $.detail';
  const steps: Step[] = [];
  let i = 1;
  while (i < text.length) {
    const at = `at character ${i + 1}`;
    if (text[i] === '.') {
      if (text[i + 1] === '.') return `recursive descent (..) is not supported (${at})`;
      if (text[i + 1] === '*') return `wildcards (*) are not supported (${at})`;
      DOT_NAME.lastIndex = i + 1;
      const m = DOT_NAME.exec(text);
      if (!m) return `after "." comes a name of letters, digits, "_", "-" and "/" (${at})${bracketNames ? `; write other names as ['name']` : ''}`;
      steps.push({ name: m[0] });
      i = DOT_NAME.lastIndex;
    } else if (text[i] === '[') {
      INDEX.lastIndex = i;
      const m = INDEX.exec(text);
      if (m) {
        const index = Number(m[1]);
        if (!Number.isSafeInteger(index)) return `index ${m[1]} is too large (${at})`;
        steps.push({ index });
        i = INDEX.lastIndex;
        continue;
      }
      const quote = text[i + 1];
      if (quote !== "'" && quote !== '"') return `a bracket holds an array index such as [0]${bracketNames ? ` or a quoted name such as ['name']` : ''}; wildcards, slices, filters and negative indexes are not supported (${at})`;
      if (!bracketNames) return `use dot notation: EventBridge takes no bracketed names in inputPathsMap, only array indexes such as [0] (${at})`;
      let name = '';
      let j = i + 2;
      for (; j < text.length && text[j] !== quote; j++) {
        if (text[j] === '\\') {
          if (text[j + 1] !== '\\' && text[j + 1] !== quote) return `in a quoted name only \\\\ and \\${quote} are escapes (at character ${j + 1})`;
          j++;
        }
        name += text[j];
      }
      if (text[j] !== quote || text[j + 1] !== ']') return `a quoted name ends with ${quote}] (${at})`;
      steps.push({ name });
      i = j + 2;
    } else {
      return `expected "." or "[" (${at})`;
    }
  }
  return steps;
}

function validateTransformer(t: unknown, where: string): TargetInput {
  const field = 'inputTransformer';
  if (!isObject(t)) throw bad(where, field, `must be a mapping { inputPathsMap, inputTemplate }, got ${JSON.stringify(t) ?? String(t)}`);
  const unknown = Object.keys(t).filter((k) => k !== 'inputPathsMap' && k !== 'inputTemplate');
  if (unknown.length) {
    const hint = unknown.some((k) => k === 'InputPathsMap' || k === 'InputTemplate') ? ' (spelled in camelCase here)' : '';
    throw bad(where, field, `unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; allowed keys: inputPathsMap, inputTemplate${hint}`);
  }
  const paths = new Map<string, Path>();
  const map = t.inputPathsMap ?? {};
  if (!isObject(map)) throw bad(where, `${field}.inputPathsMap`, `must be a mapping of name: JSON path, got ${JSON.stringify(map)}`);
  const entries = Object.entries(map);
  if (entries.length > MAX_PATHS_MAP_ENTRIES) throw bad(where, `${field}.inputPathsMap`, `at most ${MAX_PATHS_MAP_ENTRIES} entries (EventBridge's limit), got ${entries.length}`);
  for (const [name, path] of entries) {
    const at = `${field}.inputPathsMap${/^[A-Za-z0-9_-]+$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`}`;
    if (!MAP_NAME.test(name) || name.length > MAX_PATH_NAME_CHARS) throw bad(where, at, `a name is 1 to ${MAX_PATH_NAME_CHARS} letters, digits, "_", "-" and "."`);
    if (/^aws\./i.test(name)) throw bad(where, at, `names starting with "aws." are reserved for the predefined variables (${PREDEFINED_VARIABLES.join(', ')})`);
    paths.set(name, validatePath(path, where, at, false));
  }
  const template = t.inputTemplate;
  const tf = `${field}.inputTemplate`;
  if (typeof template !== 'string' || template.length === 0 || template.length > MAX_INPUT_CHARS) {
    throw bad(where, tf, `is required: a template of 1 to ${MAX_INPUT_CHARS} characters with <name> placeholders, got ${typeof template === 'string' ? `${template.length} characters` : JSON.stringify(template) ?? 'nothing'}`);
  }
  return { kind: 'transformer', paths, ...compileTemplate(template, paths, where, tf) };
}

type Token = { raw: string; min: string } | { name: string; inString: boolean };

/** Splits a template into text and placeholders, noting which placeholders sit inside a JSON string. */
function scan(template: string): Token[] {
  const tokens: Token[] = [];
  let text = { raw: '', min: '' };
  let inString = false;
  for (let i = 0; i < template.length;) {
    PLACEHOLDER.lastIndex = i;
    const m = template[i] === '<' ? PLACEHOLDER.exec(template) : null;
    if (m) {
      if (text.raw) tokens.push(text);
      text = { raw: '', min: '' };
      tokens.push({ name: m[1]!, inString });
      i = PLACEHOLDER.lastIndex;
      continue;
    }
    const c = template[i]!;
    // Inside a JSON string a backslash escapes the next character, except "<": placeholders cannot be escaped.
    const escaped = inString && c === '\\' && template[i + 1] !== '<' ? template.slice(i, i + 2) : c;
    if (c === '"') inString = !inString;
    text.raw += escaped;
    if (inString || c === '"' || !/[ \t\r\n]/.test(c)) text.min += escaped; // minified: no whitespace between tokens
    i += escaped.length;
  }
  if (text.raw) tokens.push(text);
  return tokens;
}

function compileTemplate(template: string, paths: ReadonlyMap<string, Path>, where: string, field: string): { format: 'json' | 'text'; segments: Segment[] } {
  const tokens = scan(template);
  for (const t of tokens) {
    if ('name' in t && !paths.has(t.name) && !(PREDEFINED_VARIABLES as readonly string[]).includes(t.name)) {
      throw bad(where, field, `placeholder <${t.name}> has no entry in inputPathsMap and is not a predefined variable (${PREDEFINED_VARIABLES.join(', ')})`);
    }
  }
  // Fill every placeholder with a marker: a string in a value position, bare text inside a string.
  // If that parses, the template is JSON (a template containing the marker characters itself is not expected).
  const probe = tokens.map((t, i) => ('name' in t ? (t.inString ? `${MARK_OPEN}${i}${MARK_CLOSE}` : `"${MARK_OPEN}${i}${MARK_CLOSE}"`) : t.raw)).join('');
  let parsed: unknown;
  let json = true;
  try {
    parsed = JSON.parse(probe);
  } catch {
    json = false;
  }
  if (json && placeholderInKey(parsed)) throw bad(where, field, 'a placeholder cannot be used as an object key (EventBridge\'s rule for JSON templates)');
  for (const t of tokens) {
    if ('name' in t && WHOLE_EVENT.has(t.name) && (!json || t.inString)) {
      throw bad(where, field, `<${t.name}> can only be used as a JSON value (e.g. {"event": <${t.name}>}), not inside a string or in a plain-text template: its contents are not escaped`);
    }
  }
  const segments: Segment[] = [];
  for (const t of tokens) {
    if ('name' in t) segments.push({ name: t.name, at: !json ? 'text' : t.inString ? 'string' : 'value' });
    else if ((json ? t.min : t.raw) !== '') segments.push({ text: json ? t.min : t.raw });
  }
  return { format: json ? 'json' : 'text', segments };
}

function placeholderInKey(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(placeholderInKey);
  if (!isObject(v)) return false;
  return Object.entries(v).some(([k, x]) => MARK.test(k) || placeholderInKey(x));
}

/** The text to deliver to the target for one event: JSON text, or plain text for a plain-text template. */
export function renderTargetInput(input: TargetInput, event: object, ctx: RenderContext): string {
  switch (input.kind) {
    case 'event': return jsonOf(event) ?? '{}';
    case 'constant': return input.text;
    case 'path': return jsonOf(resolve(event, input.path)) ?? '""';
    case 'transformer': return renderTemplate(input, event, ctx);
  }
}

function renderTemplate(t: Extract<TargetInput, { kind: 'transformer' }>, event: object, ctx: RenderContext): string {
  const cache = new Map<string, unknown>();
  const valueOf = (name: string): unknown => {
    if (cache.has(name)) return cache.get(name);
    const path = t.paths.get(name);
    const v = path ? resolve(event, path) : predefined(name, event, ctx);
    cache.set(name, v);
    return v;
  };
  let out = '';
  for (const s of t.segments) {
    if ('text' in s) out += s.text;
    else if (s.at === 'value') out += jsonOf(valueOf(s.name)) ?? '""';
    else if (s.at === 'string') out += JSON.stringify(textOf(valueOf(s.name), true)).slice(1, -1);
    else out += textOf(valueOf(s.name), false);
  }
  return out;
}

function predefined(name: string, event: object, ctx: RenderContext): unknown {
  switch (name) {
    case 'aws.events.rule-name': return ctx.ruleName;
    case 'aws.events.rule-arn': return ctx.ruleArn;
    case 'aws.events.event.ingestion-time': return ctx.ingestionTime;
    case 'aws.events.event.json': return event;
    case 'aws.events.event': return Object.fromEntries(Object.entries(event).filter(([k]) => k !== 'detail'));
    default: return undefined;
  }
}

/** The value a path points at, or undefined when nothing is there. */
function resolve(root: unknown, path: Path): unknown {
  let v = root;
  for (const step of path) {
    if ('index' in step) {
      if (!Array.isArray(v) || step.index >= v.length) return undefined;
      v = v[step.index];
    } else {
      if (!isObject(v) || !Object.hasOwn(v, step.name)) return undefined;
      v = v[step.name];
    }
  }
  return v;
}

/** Compact JSON, or undefined for a missing value (or one JSON cannot hold), so rendering never throws. */
function jsonOf(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    return undefined;
  }
}

/** A value as text: strings as they are, others as JSON; inside a JSON string, objects and arrays lose their quotes. */
function textOf(v: unknown, stripQuotes: boolean): string {
  if (typeof v === 'string') return v;
  if (stripQuotes && typeof v === 'object' && v !== null) return bare(v);
  return jsonOf(v) ?? '';
}

/** JSON without the quotes around names and strings ({foo:bar}); string contents stay as they are. */
function bare(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map(bare).join(',')}]`;
  if (isObject(v)) return `{${Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${k}:${bare(x)}`).join(',')}}`;
  return jsonOf(v) ?? '';
}
