// Our OTLP/JSON span serialiser against the SDK's own: the same document for the same spans (times
// within a nanosecond: float milliseconds round either way), parents, kinds, statuses and flags.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { exportRequestJson, msToNanoString, type PlainSpan } from './otlp-json.ts';
import { sdkSpan } from './sdk-span.ts';

type Doc = { resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[] };

it('writes the document the SDK writes for the spans Nimbus records', () => {
  const t = 1_764_098_000_123.4567;
  const spans: PlainSpan[] = [
    { name: 'GET /users/{id}', kind: 1, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceState: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', parentSpanId: '00f067aa0ba902b7', parentRemote: true, startMs: t, endMs: t + 3.25, error: '', attrs: ['http.route', '/users/{id}', 'http.response.status_code', 200, 'faas.coldstart', false, 'ratio', 0.5] },
    { name: 'invoke fn', kind: 4, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'c7ad6b7169203331', traceState: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', parentSpanId: 'b7ad6b7169203331', parentRemote: false, startMs: t + 0.5, endMs: t + 2, error: 'Error: "quoted"\nline', attrs: ['faas.invoked_name', 'fn "x"'] },
    { name: 'handler', kind: 0, traceId: '1af7651916cd43dd8448eb211c80319c', spanId: 'd7ad6b7169203331', traceState: '', parentSpanId: '', parentRemote: false, startMs: 1_764_098_000_000, endMs: 1_764_098_000_000.999, error: '', attrs: [] },
  ];
  const ours = JSON.parse(exportRequestJson(spans, 'nimbus-test', 'nimbus')) as Doc;
  const sdk = JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans.map(sdkSpan)))) as Doc;
  const times = (d: Doc) => d.resourceSpans[0]!.scopeSpans[0]!.spans.map((s) => [BigInt(s.startTimeUnixNano as string), BigInt(s.endTimeUnixNano as string)]);
  for (const [[a0, a1], [b0, b1]] of times(ours).map((x, i) => [x, times(sdk)[i]!])) {
    assert.ok(a0! - b0! <= 1n && b0! - a0! <= 1n && a1! - b1! <= 1n && b1! - a1! <= 1n, `${a0} ${b0} ${a1} ${b1}`);
  }
  const strip = (d: Doc) => { for (const s of d.resourceSpans[0]!.scopeSpans[0]!.spans) { delete s.startTimeUnixNano; delete s.endTimeUnixNano; } return d; };
  assert.deepEqual(strip(ours), strip(sdk));
});

it('writes nanoseconds as decimal strings, carrying a rounded-up fraction', () => {
  assert.equal(msToNanoString(1_764_098_000_123), '1764098000123000000');
  assert.equal(msToNanoString(1_764_098_000_123.5), '1764098000123500000');
  assert.equal(msToNanoString(1.9999999), '2000000');
  assert.equal(msToNanoString(1.000001), '1000001');
  assert.equal(msToNanoString(0.9999999999), '1000000');
});

it('writes every attribute value a collector accepts, and leaves out those it would refuse', () => {
  const doc = JSON.parse(exportRequestJson([{ name: 's', kind: 0, traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceState: '', parentSpanId: '', parentRemote: false, startMs: 1, endMs: 2, error: '',
    attrs: ['big', 1e21, 'nan', NaN, 'list', ['a', 1, true], 'none', null, 'undef', undefined, 'text', 'ü\u2028\u0000'] }], 'x', 'y')) as Doc;
  assert.deepEqual(doc.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.attributes, [
    { key: 'big', value: { doubleValue: 1e21 } },
    { key: 'nan', value: { doubleValue: 'NaN' } },
    { key: 'list', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: 1 }, { boolValue: true }] } } },
    { key: 'text', value: { stringValue: 'ü\u2028\u0000' } },
  ]);
});
