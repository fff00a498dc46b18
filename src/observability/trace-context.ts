// W3C trace context (https://www.w3.org/TR/trace-context/) as Nimbus carries it across hops. A hop
// carries a `traceparent` (00-<trace id>-<span id>-<flags>) and, when the caller sent one, a `tracestate`
// (vendors' entries, passed on unchanged): as HTTP headers, queue message attributes, fields of the
// invoke frame to the runtime. Inside the platform (stored events, deliveries, workflow executions, SDK
// calls) the two travel as one string, traceContext()'s: the traceparent, then a newline and the
// tracestate. No OpenTelemetry here: the store and the event services use these too.

// Lower-case hex only: W3C's ids are HEXDIGLC, and an upper-case one makes the traceparent invalid.
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
// HTTP's optional whitespace (space and tab) around a value or a list member.
const OWS = /^[ \t]+|[ \t]+$/g;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

export interface ParsedTraceparent {
  traceId: string;
  spanId: string;
  sampled: boolean;
  /** The flags byte as it came (two hex digits): a flag this version does not know is passed on. */
  flags: string;
  /** The tracestate carried with it (parseTraceContext()); undefined from parseTraceparent(). */
  tracestate: string | undefined;
}

/** A traceparent as W3C defines it (version 00), or undefined when malformed (then a new trace starts). */
export function parseTraceparent(value: unknown): ParsedTraceparent | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT.exec(value.replace(OWS, ''));
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return undefined;
  return { traceId: m[1]!, spanId: m[2]!, sampled: (parseInt(m[3]!, 16) & 1) === 1, flags: m[3]!, tracestate: undefined };
}

/**
 * A hop's context as the platform carries it, from a traceparent and a tracestate as received (headers,
 * message attributes, an SDK call): the traceparent, then a newline and the tracestate when there is a
 * valid one (a newline cannot be in an HTTP header, nor in either value). Undefined when the traceparent
 * is not valid: the tracestate is dropped with it (W3C).
 */
export function traceContext(traceparent: unknown, tracestate: unknown): string | undefined {
  if (!parseTraceparent(traceparent)) return undefined;
  return joinTraceContext((traceparent as string).replace(OWS, ''), parseTracestate(tracestate));
}

/** A traceparent and a tracestate (if any) as one carried context: the form every hop stores and parseTraceContext() reads. */
export function joinTraceContext(traceparent: string, tracestate: string | undefined): string {
  return tracestate ? `${traceparent}\n${tracestate}` : traceparent;
}

/** A carried context (traceContext()): its traceparent parsed, with its tracestate; undefined when the traceparent is malformed. */
export function parseTraceContext(value: unknown): ParsedTraceparent | undefined {
  if (typeof value !== 'string') return undefined;
  const nl = value.indexOf('\n');
  if (nl < 0) return parseTraceparent(value);
  const p = parseTraceparent(value.slice(0, nl));
  if (p) p.tracestate = parseTracestate(value.slice(nl + 1));
  return p;
}

/** A carried context's two W3C values. */
export function splitTraceContext(value: string): { traceparent: string; tracestate: string | undefined } {
  const nl = value.indexOf('\n');
  return nl < 0 ? { traceparent: value, tracestate: undefined } : { traceparent: value.slice(0, nl), tracestate: value.slice(nl + 1) };
}

/** A carried context as the HTTP headers that send it on: `traceparent`, and `tracestate` when it has one. */
export function traceHeaders(value: string): Record<string, string> {
  const { traceparent, tracestate } = splitTraceContext(value);
  return tracestate === undefined ? { traceparent } : { traceparent, tracestate };
}

// W3C tracestate (https://www.w3.org/TR/trace-context/#tracestate-header): comma-separated key=value
// members. A key is a simple key, or tenant@system; a value is 1-256 printable characters other than
// "," and "=", not ending in a space.
const TRACESTATE_MEMBER = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const TRACESTATE_MAX_MEMBERS = 32;
const TRACESTATE_MAX_CHARS = 512;
const TRACESTATE_LONG_MEMBER = 128;

/**
 * A tracestate header (several header lines joined with commas) as the members to pass on, joined by
 * ",", or undefined when it is absent, empty or malformed (W3C: a malformed one is dropped whole: more
 * than 32 members, a duplicate key, a member that is not key=value; one over 8 KB is not read). Past
 * 512 characters it is cut as W3C asks: members over 128 characters go first, from the end, then
 * members from the end (the newest vendor's is first), until it fits.
 */
export function parseTracestate(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 8192) return undefined;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const raw of value.split(',')) {
    const m = raw.replace(OWS, '');
    if (m === '') continue;
    if (!TRACESTATE_MEMBER.test(m)) return undefined;
    const key = m.slice(0, m.indexOf('='));
    if (keys.has(key)) return undefined;
    keys.add(key);
    members.push(m);
  }
  if (members.length === 0 || members.length > TRACESTATE_MAX_MEMBERS) return undefined;
  let length = members.join(',').length;
  for (let i = members.length - 1; i >= 0 && length > TRACESTATE_MAX_CHARS; i--) {
    if (members[i]!.length <= TRACESTATE_LONG_MEMBER) continue;
    length -= members[i]!.length + (members.length > 1 ? 1 : 0);
    members.splice(i, 1);
  }
  while (length > TRACESTATE_MAX_CHARS) length -= members.pop()!.length + (members.length > 0 ? 1 : 0);
  return members.length > 0 ? members.join(',') : undefined;
}
