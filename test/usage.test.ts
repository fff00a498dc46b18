// Metering end to end: invocations through a real server show up in /_nimbus/api/usage and in
// `nimbus usage` with the GB-seconds their records add up to and the cost the price table gives.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_PRICES } from '../src/config/prices.ts';
import { cli, startWithApp, tempDir, type TestServer } from './helpers.ts';

describe('usage and cost', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startWithApp({
      'nimbus.yml': 'app: billed\nfunctions:\n  work:\n    handler: src/work.handler\n    memory: 256\n  other:\n    handler: src/work.handler\n',
      'src/work.ts': "export const handler = async (e: { ms?: number; fail?: boolean }) => { await new Promise((r) => setTimeout(r, e.ms ?? 0)); if (e.fail) throw new Error('x'); return 1; };",
    });
  });
  after(() => srv.close());

  it('adds up requests, errors, cold starts and GB-seconds per function, and prices them', async () => {
    for (const ms of [20, 5, 0]) await srv.invoke('work', { ms });
    await srv.invoke('work', { fail: true });
    await srv.invoke('other', {});
    const { body: recs } = await srv.api<{ invocations: { billedDurationMs: number; initDurationMs: number | null; memoryMb: number }[] }>('GET', '/_nimbus/api/functions/work/invocations');
    const mbMs = recs.invocations.reduce((n, r) => n + (r.billedDurationMs + Math.ceil(r.initDurationMs ?? 0)) * r.memoryMb, 0);
    const { status, body } = await srv.api<{ by: string; lines: { key: string; requests: number; errors: number; coldStarts: number; gbSeconds: number; cost: number }[]; total: { requests: number; cost: number }; prices: { source: string } }>('GET', '/_nimbus/api/usage?since=1h');
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.by, 'function');
    const work = body.lines.find((l) => l.key === 'work')!;
    assert.deepEqual([work.requests, work.errors, work.coldStarts], [4, 1, 1]);
    assert.ok(Math.abs(work.gbSeconds - mbMs / 1024 / 1000) < 1e-9, `${work.gbSeconds} vs ${mbMs / 1024 / 1000}`);
    assert.ok(Math.abs(work.cost - (4 / 1e6 * DEFAULT_PRICES.requestsPerMillion + work.gbSeconds * DEFAULT_PRICES.gbSecond)) < 1e-12);
    assert.equal(body.total.requests, 5);
    assert.equal(body.prices.source, 'AWS Lambda x86 list price, us-east-1');
    const day = await srv.api<{ lines: { key: string; requests: number }[] }>('GET', '/_nimbus/api/usage?since=1h&by=day&function=work');
    assert.deepEqual(day.body.lines.map((l) => [l.key, l.requests]), [[new Date().toISOString().slice(0, 10), 4]]);
    assert.equal((await srv.api('GET', '/_nimbus/api/usage?by=week')).status, 400);
    assert.equal((await srv.api('GET', '/_nimbus/api/usage?since=yesterday-ish')).status, 400);
    assert.equal((await srv.api('GET', '/_nimbus/api/usage?since=99999999999d')).status, 400);
  });

  it('prints a table with totals from the CLI', async () => {
    const work = tempDir('nimbus-cli-usage-');
    try {
      const r = await cli(srv, work)('usage', '--since', '1h');
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.match(lines[0]!, /^FUNCTION\s+REQUESTS\s+ERRORS\s+THROTTLES\s+COLD\s+GB-S\s+PROV\. GB-S\s+INIT\s+COST$/);
      assert.match(r.stdout, /^work\s+4\s+1\s+0\s+1\s+\d+\.\d{3}\s+0\.000\s+\d+\.\d\d s\s+\$0\.0+[1-9]\d$/m);
      assert.match(r.stdout, /^TOTAL\s+5\s+1\s+0\s+2\s/m);
      assert.match(r.stdout, /Prices: AWS Lambda x86 list price, us-east-1 \(an estimate, for comparison\)\.$/m);
      // A function with nothing recorded (here one that does not exist) gets a sentence, not a table of zeros.
      const none = await cli(srv, work)('usage', '--function', 'nosuch');
      assert.equal(none.code, 0, none.stderr);
      assert.match(none.stdout, /^No usage of nosuch recorded from \d{4}-\d\d-\d\dT[\d:.]+Z to \d{4}-\d\d-\d\dT[\d:.]+Z\.$/m);
      // By day, as JSON: what the API answers.
      const day = await cli(srv, work)('usage', '--by', 'day', '--since', '1h', '--function', 'work', '--json');
      assert.equal(day.code, 0, day.stderr);
      const parsed = JSON.parse(day.stdout) as { by: string; lines: { key: string; requests: number; errors: number }[]; total: { requests: number } };
      assert.equal(parsed.by, 'day');
      assert.deepEqual(parsed.lines.map((l) => [l.key, l.requests, l.errors]), [[new Date().toISOString().slice(0, 10), 4, 1]]);
      assert.equal(parsed.total.requests, 4);
      const bad = await cli(srv, work)('usage', '--by', 'week');
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /by: must be function, day or hour/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
