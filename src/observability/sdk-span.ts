// For the serialiser tests: a span Nimbus records (PlainSpan) as the OpenTelemetry SDK's ReadableSpan,
// so the SDK's own serialisers can write the same span to compare against ours.
import { type Attributes, type AttributeValue, type SpanContext, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { hrTimeDuration, millisToHrTime, TraceState } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { PlainSpan } from './otlp-json.ts';

const resource = resourceFromAttributes({ 'service.name': 'nimbus-test' });
const scope = { name: 'nimbus' };

/** The SDK's view of `p`, under the resource `service.name: nimbus-test` and the scope `nimbus`. */
export function sdkSpan(p: PlainSpan): ReadableSpan {
  const attributes: Attributes = {};
  for (let i = 0; i < p.attrs.length; i += 2) attributes[p.attrs[i] as string] = p.attrs[i + 1] as AttributeValue;
  const ctx: SpanContext = { traceId: p.traceId, spanId: p.spanId, traceFlags: TraceFlags.SAMPLED, ...(p.traceState ? { traceState: new TraceState(p.traceState) } : {}) };
  return {
    name: p.name, kind: p.kind, spanContext: () => ctx,
    parentSpanContext: p.parentSpanId ? { traceId: p.traceId, spanId: p.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: p.parentRemote } : undefined,
    startTime: millisToHrTime(p.startMs), endTime: millisToHrTime(p.endMs), duration: hrTimeDuration(millisToHrTime(p.startMs), millisToHrTime(p.endMs)),
    status: p.error ? { code: SpanStatusCode.ERROR, message: p.error } : { code: SpanStatusCode.UNSET }, attributes, links: [], events: [], ended: true, resource,
    instrumentationScope: scope, droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 0,
  };
}
