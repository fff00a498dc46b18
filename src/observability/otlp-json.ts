// OTLP/JSON for the spans Nimbus records (the http/json protocol), written straight from their plain
// values: the same document the SDK's JSON serialiser writes (same fields, hex ids, decimal-string
// nanosecond times, as the OTLP/JSON spec has them), by string concatenation rather than an object
// tree with BigInt times. span-export.ts reads a batch of protobuf-encoded spans back (otlp-proto.ts)
// and writes it with this when the collector asked for JSON.

/** A finished span as plain values (times in epoch milliseconds, attributes flat). */
export interface PlainSpan {
  name: string;
  /** The API's SpanKind (INTERNAL 0 … CONSUMER 4); OTLP's is one more. */
  kind: number;
  traceId: string;
  spanId: string;
  /** The W3C tracestate, or '' when the span has none. */
  traceState: string;
  parentSpanId: string;
  parentRemote: boolean;
  startMs: number;
  endMs: number;
  /** The error message, or '' when the span did not fail. */
  error: string;
  /** key, value, key, value … (values as the API's Attributes hold them) */
  attrs: unknown[];
}

/** Nanoseconds since the epoch as a decimal string, exact to the microsecond a float of ms holds. */
export function msToNanoString(ms: number): string {
  let whole = Math.floor(ms);
  let ns = Math.round((ms - whole) * 1e6);
  if (ns >= 1e6) { whole += 1; ns -= 1e6; }
  return `${whole}${String(ns).padStart(6, '0')}`;
}

/** An attribute value as OTLP's AnyValue; undefined for values an attribute cannot hold (null, objects). */
function anyValue(v: unknown): string | undefined {
  if (typeof v === 'string') return `{"stringValue":${JSON.stringify(v)}}`;
  if (typeof v === 'boolean') return `{"boolValue":${v}}`;
  if (typeof v === 'number') {
    // int64 in range (-2^63 ≤ v < 2^63) as an integer, as the protobuf encoder does; anything else as a double.
    if (Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63) return `{"intValue":${v}}`;
    return `{"doubleValue":${Number.isFinite(v) ? v : JSON.stringify(String(v))}}`;
  }
  if (Array.isArray(v)) return `{"arrayValue":{"values":[${v.map((x) => anyValue(x) ?? '{}').join(',')}]}}`;
  return undefined;
}

function attributes(flat: unknown[]): string {
  let out = '';
  for (let i = 0; i < flat.length; i += 2) {
    const value = anyValue(flat[i + 1]);
    if (value !== undefined) out += `${out ? ',' : ''}{"key":${JSON.stringify(flat[i])},"value":${value}}`;
  }
  return out;
}

/** W3C sampled, "has is-remote", and "is remote" when the parent came from another process (OTLP span flags). */
const flags = (s: PlainSpan): number => 0x101 | (s.parentSpanId && s.parentRemote ? 0x200 : 0);

function span(s: PlainSpan): string {
  return `{"traceId":"${s.traceId}","spanId":"${s.spanId}"${s.parentSpanId ? `,"parentSpanId":"${s.parentSpanId}"` : ''}${s.traceState ? `,"traceState":${JSON.stringify(s.traceState)}` : ''},"name":${JSON.stringify(s.name)},"kind":${s.kind + 1}`
    + `,"startTimeUnixNano":"${msToNanoString(s.startMs)}","endTimeUnixNano":"${msToNanoString(s.endMs)}","attributes":[${attributes(s.attrs)}],"droppedAttributesCount":0`
    + `,"events":[],"droppedEventsCount":0,"status":${s.error ? `{"code":2,"message":${JSON.stringify(s.error)}}` : '{"code":0}'},"links":[],"droppedLinksCount":0,"flags":${flags(s)}}`;
}

/** The ExportTraceServiceRequest for spans of one resource and one instrumentation scope. */
export function exportRequestJson(spans: readonly PlainSpan[], serviceName: string, scopeName: string): string {
  let body = '';
  for (let i = 0; i < spans.length; i++) body += (i ? ',' : '') + span(spans[i]!);
  return `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":${JSON.stringify(serviceName)}}}],"droppedAttributesCount":0}`
    + `,"scopeSpans":[{"scope":{"name":${JSON.stringify(scopeName)}},"spans":[${body}]}]}]}`;
}
