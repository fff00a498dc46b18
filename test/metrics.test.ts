// Prometheus metrics at /_nimbus/metrics: what a scrape shows after real traffic — invocations by
// trigger and outcome, errors by type, cold starts, duration histograms, HTTP answers by route
// template, instances, queue depths and dead-letter sizes, bus events — with bounded labels only.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { sleep, startWithApp, type TestServer } from './helpers.ts';

const APP = {
  'nimbus.yml': `app: metered
functions:
  hello:
    handler: src/hello.handler
    events:
      - http: GET /hello/{name}
  broken:
    handler: src/broken.handler
    events:
      - http: GET /broken
  chaos:
    handler: src/chaos.handler
  held:
    handler: src/held.handler
    concurrency: { max: 1, queueTimeoutMs: 0 }
  kept:
    handler: src/hello.handler
    concurrency: { provisioned: 1 }
queues:
  work:
    deadLetter: { queue: work-dlq, maxReceiveCount: 1 }
  work-dlq: {}
  parked: {}
rules:
  orders:
    pattern: { source: [shop] }
    targets: [{ queue: work }]
`,
  'src/hello.ts': 'export const handler = async (e: { pathParameters: { name: string } }) => ({ statusCode: 200, body: `hi ${e.pathParameters.name}` });',
  'src/chaos.ts': "export const handler = async () => { throw Object.assign(new Error('x'), { name: `E${Math.random()}` }); };",
  'src/held.ts': 'export const handler = async (e: { ms: number }) => { await new Promise((r) => setTimeout(r, e.ms)); return "done"; };',
  'src/broken.ts': "export const handler = async () => { throw Object.assign(new Error('nope'), { name: 'BrokenError' }); };",
};

/** `name{labels} value` lines of a scrape, by name and label text. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('metrics', () => {
  let srv: TestServer;
  before(async () => { srv = await startWithApp(APP); });
  after(() => srv.close());
  /** A scrape's text, as Prometheus reads it (with the admin token). */
  const scrapeText = async () => (await srv.req('/_nimbus/metrics', { headers: { authorization: `Bearer ${srv.token}` } })).text();

  it('counts what happened, by bounded labels, and reads gauges from the live state', async () => {
    for (const name of ['ada', 'bob', 'cy']) assert.equal((await srv.req(`/hello/${name}`)).status, 200);
    assert.equal((await srv.req('/broken')).status, 502);
    assert.equal((await srv.req('/nowhere')).status, 404);
    assert.equal((await srv.invoke('hello', { pathParameters: { name: 'x' } })).status, 200);
    await srv.api('POST', '/_nimbus/api/queues/work/messages', { body: 'one' });
    await srv.api('POST', '/_nimbus/api/queues/work-dlq/messages', { body: 'dead' });
    await srv.api('POST', '/_nimbus/api/events', { entries: [{ source: 'shop', detailType: 'X' }, { source: 'other', detailType: 'Y' }, { source: 'aws.nope', detailType: 'Z' }] });

    const unauth = await fetch(srv.url + '/_nimbus/metrics');
    assert.equal(unauth.status, 401);
    const res = await srv.req('/_nimbus/metrics', { headers: { authorization: `Bearer ${srv.token}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const m = parse(text);
    const get = (k: string) => m.get(k);

    assert.equal(get('nimbus_invocations_total{function="hello",trigger="http",outcome="success"}'), 3);
    assert.equal(get('nimbus_invocations_total{function="hello",trigger="invoke",outcome="success"}'), 1);
    assert.equal(get('nimbus_invocations_total{function="broken",trigger="http",outcome="error"}'), 1);
    assert.equal(get('nimbus_invocation_errors_total{function="broken",error_type="BrokenError"}'), 1);
    assert.equal(get('nimbus_version_invocations_total{function="hello",version="1",outcome="success"}'), 4);
    assert.equal(get('nimbus_version_invocations_total{function="broken",version="1",outcome="error"}'), 1);
    assert.equal(get('nimbus_cold_starts_total{function="hello"}'), 1);
    assert.equal(get('nimbus_invocation_duration_seconds_count{function="hello",trigger="http"}'), 3);
    assert.equal(get('nimbus_init_duration_seconds_count{function="hello"}'), 1);
    // Route templates, never raw paths.
    assert.equal(get('nimbus_http_responses_total{route="GET /hello/{name}",status_class="2xx"}'), 3);
    assert.equal(get('nimbus_http_responses_total{route="GET /broken",status_class="5xx"}'), 1);
    assert.equal(get('nimbus_http_responses_total{route="unmatched",status_class="4xx"}'), 1);
    assert.doesNotMatch(text, /ada|bob|\/hello\/cy/);
    assert.doesNotMatch(text, /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-/, 'no request ids in labels');
    // Live state at scrape time.
    assert.equal(get('nimbus_instances{function="hello",state="idle"}'), 1);
    assert.equal(get('nimbus_queue_messages{queue="work",state="visible"}'), 2); // one sent, one from the rule
    assert.equal(get('nimbus_dead_letter_messages{queue="work-dlq"}'), 1);
    assert.ok(get('nimbus_queue_oldest_message_age_seconds{queue="work"}')! >= 0);
    assert.equal(get('nimbus_bus_events_total{result="matched"}'), 1);
    assert.equal(get('nimbus_bus_events_total{result="unmatched"}'), 1);
    assert.equal(get('nimbus_bus_events_total{result="failed"}'), 1);
    assert.equal(get('nimbus_bus_deliveries_total{target="queue",result="written"}'), 1);
    assert.ok([...m.keys()].some((k) => k.startsWith('nimbus_spare_runtimes{memory_mb="128"}')));
  });

  it('moves the live gauges and the throttle counter as invocations run, are refused and end', async () => {
    const scrape = async () => parse(await scrapeText());
    // A provisioned instance is started after the deploy, not by a request.
    let m = await scrape();
    for (let i = 0; i < 100 && m.get('nimbus_instances{function="kept",state="provisioned"}') !== 1; i++) { await sleep(50); m = await scrape(); }
    assert.equal(m.get('nimbus_instances{function="kept",state="provisioned"}'), 1);
    assert.equal(m.get('nimbus_instances{function="kept",state="idle"}'), 1);

    const running = srv.invoke('held', { ms: 2000 });
    for (let i = 0; i < 100 && m.get('nimbus_concurrent_executions{function="held"}') !== 1; i++) { await sleep(20); m = await scrape(); }
    assert.equal(m.get('nimbus_concurrent_executions{function="held"}'), 1);
    assert.equal(m.get('nimbus_instances{function="held",state="busy"}'), 1);
    assert.equal(m.get('nimbus_instances{function="held",state="idle"}'), 0);
    assert.equal((await srv.invoke('held', { ms: 1 })).status, 429, 'concurrency.max 1, no queueing: refused');
    assert.equal((await running).status, 200);

    m = await scrape();
    assert.equal(m.get('nimbus_concurrent_executions{function="held"}'), 0);
    assert.equal(m.get('nimbus_instances{function="held",state="busy"}'), 0);
    assert.equal(m.get('nimbus_instances{function="held",state="idle"}'), 1);
    assert.equal(m.get('nimbus_throttles_total{function="held"}'), 1);
    assert.equal(m.get('nimbus_invocations_total{function="held",trigger="invoke",outcome="throttled"}'), 1);
    assert.equal(m.get('nimbus_invocations_total{function="held",trigger="invoke",outcome="success"}'), 1);
    assert.equal(m.get('nimbus_invocation_errors_total{function="held",error_type="TooManyRequests"}'), undefined, 'throttles are not errors');

    // Queue depth by state: one delayed, one received (in flight), none left visible.
    await srv.api('POST', '/_nimbus/api/queues/parked/messages', { body: 'later', delaySeconds: 60 });
    await srv.api('POST', '/_nimbus/api/queues/parked/messages', { body: 'now' });
    const got = await srv.api<{ messages: unknown[] }>('POST', '/_nimbus/api/queues/parked/receive', { maxMessages: 10 });
    assert.equal(got.body.messages.length, 1);
    m = await scrape();
    assert.equal(m.get('nimbus_queue_messages{queue="parked",state="visible"}'), 0);
    assert.equal(m.get('nimbus_queue_messages{queue="parked",state="in_flight"}'), 1);
    assert.equal(m.get('nimbus_queue_messages{queue="parked",state="delayed"}'), 1);
  });

  it('keeps label cardinality bounded: 1,000 distinct paths are one route series, and one "unmatched"', async () => {
    const scrape = async () => (await scrapeText()).split('\n').filter((l) => l.startsWith('nimbus_http_responses_total{'));
    const before = await scrape();
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => srv.req(`/hello/user-${i + j}`).then((r) => r.text())));
      await Promise.all(Array.from({ length: 50 }, (_, j) => srv.req(`/no/such/${i + j}`).then((r) => r.text())));
    }
    const after = await scrape();
    assert.equal(after.length, before.length, `no new series: ${after.join(' | ')}`);
    assert.ok(after.some((l) => l.startsWith('nimbus_http_responses_total{route="GET /hello/{name}",status_class="2xx"} 100')), after.join('\n'));
    assert.ok(after.some((l) => l.startsWith('nimbus_http_responses_total{route="unmatched",status_class="4xx"} 100')), after.join('\n'));
    // A function that throws a new error name every time: 20 names, then "other".
    for (let i = 0; i < 30; i++) await srv.invoke('chaos', {});
    const errors = (await scrapeText()).split('\n').filter((l) => l.startsWith('nimbus_invocation_errors_total{function="chaos"'));
    assert.equal(errors.length, 21);
    assert.ok(errors.includes('nimbus_invocation_errors_total{function="chaos",error_type="other"} 10'), errors.join('\n'));
  });

  it('ships a Grafana dashboard (docs/grafana-dashboard.json) whose every query reads metrics the server exports', async () => {
    const dash = JSON.parse(readFileSync(new URL('../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const text = await scrapeText();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((x) => x[1]!));
    const used = dash.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/nimbus_[a-z_]+/g) ?? []));
    assert.ok(used.length > 10);
    for (const name of used) assert.ok(exported.has(name.replace(/_bucket$/, '')), `${name} is not exported`);
  });
});
