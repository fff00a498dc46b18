// W3C trace context as Nimbus reads it and carries it across hops: traceparent and tracestate parsed as
// the spec has them, joined into one string inside the platform, and split again into the headers that
// send them on.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseTraceContext, parseTraceparent, parseTracestate, splitTraceContext, traceContext, traceHeaders } from './trace-context.ts';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

it('parses W3C traceparents, and refuses the malformed, the all-zero and version ff', () => {
  assert.deepEqual(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true, flags: '01', tracestate: undefined });
  assert.equal(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00')?.sampled, false);
  for (const bad of [undefined, '', 'garbage', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`, '00-4bf92f-00f067aa0ba902b7-01']) {
    assert.equal(parseTraceparent(bad), undefined, String(bad));
  }
});

it('parses W3C tracestate: members passed on without the spaces around them, the malformed dropped whole, the long cut from the end', () => {
  assert.equal(parseTracestate(' congo=t61rcWkgMzE ,, rojo=00f067aa0ba902b7 '), 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
  assert.equal(parseTracestate('tenant1@vendor=x,a_b-c*d/e=~!'), 'tenant1@vendor=x,a_b-c*d/e=~!');
  for (const bad of [undefined, 42, '', ' , ', 'Upper=1', '1abc=x', 'k=', 'k', 'k=a,b', 'k=a=b', 'k=1,k=2', `k=${'v'.repeat(257)}`, 'a@toolongsystemid=1', 'k=é']) {
    assert.equal(parseTracestate(bad), undefined, String(bad));
  }
  const members = (n: number, len = 4) => Array.from({ length: n }, (_, i) => `k${i}=${'v'.repeat(len)}`);
  assert.equal(parseTracestate(members(32).join(',')), members(32).join(','), '32 members');
  assert.equal(parseTracestate(members(33).join(',')), undefined, 'more than 32');
  // Ten members of 103 characters: four fit in 512 (415 with commas), the other six go.
  const cut = parseTracestate(members(10, 100).join(','))!;
  assert.ok(cut.length <= 512 && cut === members(4, 100).join(','), cut.length.toString());
  // Members over 128 characters go first, from the end (W3C), then members from the end.
  const long = (k: string) => `${k}=${'v'.repeat(200)}`;
  assert.equal(parseTracestate(['a=1', long('b'), 'c=1', long('d'), long('e'), 'f=1'].join(',')), ['a=1', long('b'), 'c=1', long('d'), 'f=1'].join(','), 'the last long one goes, not f');
  assert.equal(parseTracestate([long('a'), ...members(6, 100)].join(',')), members(4, 100).join(','));
  // Only whitespace HTTP allows around a member (space and tab) is taken off.
  assert.equal(parseTracestate('\u00a0k=1'), undefined);
});

it('joins a valid traceparent and tracestate into one carried context, and reads it back', () => {
  assert.equal(traceContext(TP, undefined), TP);
  assert.equal(traceContext(` ${TP}\t`, 'congo=t61rcWkgMzE ,\trojo=00f067aa0ba902b7'), `${TP}\ncongo=t61rcWkgMzE,rojo=00f067aa0ba902b7`);
  // Upper-case hex is not W3C's (its ids are lower case): the traceparent is invalid, and its tracestate goes with it.
  assert.equal(traceContext(TP.toUpperCase(), 'congo=1'), undefined);
  // A malformed tracestate is dropped; without a valid traceparent, both are (W3C).
  assert.equal(traceContext(TP, 'k=1,k=2'), TP);
  assert.equal(traceContext('garbage', 'congo=1'), undefined);
  assert.equal(traceContext(undefined, 'congo=1'), undefined);
  const joined = traceContext(TP, 'congo=1')!;
  assert.deepEqual(parseTraceContext(joined), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true, flags: '01', tracestate: 'congo=1' });
  assert.equal(parseTraceContext(TP)?.tracestate, undefined);
  // What a header could carry unchecked (the gateway joins them before they are parsed): a bad traceparent
  // drops its tracestate, a bad tracestate is dropped alone.
  assert.equal(parseTraceContext('nope\ncongo=1'), undefined);
  assert.equal(parseTraceContext(`${TP}\nk=`)?.tracestate, undefined);
  assert.deepEqual(splitTraceContext(joined), { traceparent: TP, tracestate: 'congo=1' });
  assert.deepEqual(traceHeaders(joined), { traceparent: TP, tracestate: 'congo=1' });
  assert.deepEqual(traceHeaders(TP), { traceparent: TP });
});
