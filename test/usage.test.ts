// Metering end to end: invocations through a real server show up in /_nimbus/api/usage and in
// `nimbus usage` with the GB-seconds their records add up to and the cost the price table gives.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_PRICES } from '../src/config/prices.ts';
import { bundleApp, cli, startWithApp, tempDir, type TestServer, writeApp } from './helpers.ts';
import { ServeProcess } from './serve-process.ts';

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

describe('nimbus serve --prices, --log-retention, --log-max-lines', () => {
  const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
  const serve = (data: string, ...flags: string[]) => spawnSync(process.execPath, [MAIN, 'serve', '--port', '0', '--data', data, ...flags], { encoding: 'utf8', timeout: 20_000 });

  it('prices usage with the given table (fields left out keep their defaults), counting every invocation that has answered', async () => {
    const dir = tempDir('nimbus-prices-');
    const prices = join(dir, 'prices.json');
    writeFileSync(prices, JSON.stringify({ currency: 'EUR', requestsPerMillion: 1_000_000, source: 'our own rates' }));
    const srv = new ServeProcess(join(dir, 'data'), undefined, ['--prices', prices, '--log-retention', '1h', '--log-max-lines', '1000']);
    try {
      await srv.start();
      const manifest = 'app: p\nfunctions:\n  f:\n    handler: src/f.handler\n';
      const deployed = await srv.api('PUT', '/_nimbus/api/apps/p', await bundleApp(writeApp({ 'nimbus.yml': manifest, 'src/f.ts': 'export const handler = async () => 1;' }, join(dir, 'app')), manifest));
      assert.equal(deployed.status, 200, JSON.stringify(deployed.body));
      for (let i = 0; i < 3; i++) assert.equal((await srv.api('POST', '/_nimbus/api/functions/f/invocations', {})).status, 200);
      const { body } = await srv.api('GET', '/_nimbus/api/usage?since=1h');
      assert.equal(body.prices.source, 'our own rates');
      assert.equal(body.prices.currency, 'EUR');
      assert.equal(body.prices.gbSecond, DEFAULT_PRICES.gbSecond);
      const f = (body.lines as { key: string; requests: number; gbSeconds: number; cost: number }[]).find((l) => l.key === 'f')!;
      assert.equal(f.requests, 3);
      assert.ok(Math.abs(f.cost - (3 + f.gbSeconds * DEFAULT_PRICES.gbSecond)) < 1e-9, `cost ${f.cost}: a euro a request, and the default GB-second`);
    } finally {
      await srv.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a price table it cannot use, and retention it would not keep, saying what to fix', () => {
    const dir = tempDir('nimbus-prices-bad-');
    try {
      writeFileSync(join(dir, 'neg.json'), JSON.stringify({ gbSecond: -1 }));
      const cases: [string[], RegExp][] = [
        [['--prices', join(dir, 'none.json')], /--prices .*none\.json: no such file/],
        [['--prices', join(dir, 'neg.json')], /--prices .*neg\.json: gbSecond: must not be negative/],
        [['--log-retention', '5s'], /--log-retention: use a duration of at least 1m/],
        [['--log-max-lines', '10'], /--log-max-lines: must be an integer ≥ 1000, got "10"/],
      ];
      for (const [flags, message] of cases) {
        const r = serve(join(dir, 'data'), ...flags);
        assert.notEqual(r.status, 0, flags.join(' '));
        assert.match(r.stderr, message, flags.join(' '));
        assert.doesNotMatch(r.stdout, /listening on/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
