// The handler behind POST /_nimbus/api/events/test-pattern, kept free of HTTP so the admin API only
// routes to it: `{pattern, event}` → `{match}`, as AWS's TestEventPattern answers. The pattern may be
// a JSON object or its text (AWS takes text); so may the event. An invalid pattern is the pattern
// error (400, AWS's message, the field in details); a malformed body is BAD_REQUEST.
import { NimbusError } from '../../errors.ts';
import { matchesPattern } from './matcher.ts';
import { validatePattern } from './pattern.ts';
import { isPlainObject } from './syntax.ts';

export function testEventPattern(body: unknown): { match: boolean } {
  if (!isPlainObject(body)) throw new NimbusError('BAD_REQUEST', 'the body must be a JSON object {"pattern": ..., "event": ...}');
  const unknown = Object.keys(body).filter((k) => k !== 'pattern' && k !== 'event');
  if (unknown.length) throw new NimbusError('BAD_REQUEST', `unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; allowed keys: pattern, event`);
  if (body.pattern === undefined) throw new NimbusError('BAD_REQUEST', 'pattern is required: the event pattern, as a JSON object or its text');
  if (body.event === undefined) throw new NimbusError('BAD_REQUEST', 'event is required: the event to test, as a JSON object or its text');
  const pattern = validatePattern(body.pattern);
  let event = body.event;
  if (typeof event === 'string') {
    try {
      event = JSON.parse(event);
    } catch (err) {
      throw new NimbusError('BAD_REQUEST', `event: not valid JSON: ${(err as Error).message}`);
    }
  }
  if (!isPlainObject(event)) throw new NimbusError('BAD_REQUEST', 'event must be a JSON object');
  return { match: matchesPattern(pattern, event) };
}
