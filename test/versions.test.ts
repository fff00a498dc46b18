// Versions, aliases and rollouts end to end: every changed deploy publishes a version; old ones stay
// invocable by number; an alias with a canary splits traffic by weight (seeded); routes may pin a
// qualifier; a canary rollout pre-warms, steps and promotes (steps taken on explicit times); a
// failing new version is rolled back automatically; `nimbus rollback`; no failed request across a
// version switch under load; garbage collection keeps what aliases name.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../src/util/clock.ts';
import { cli, startTestServer, tempDir, type TestServer } from './helpers.ts';

const SOURCE = `export const handler = async (event: { fail?: boolean }, context: { functionVersion: string }) => {
  if (process.env.FAIL === '1') throw new Error('broken build');
  return { v: process.env.V, version: context.functionVersion };
};`;

/** The app with environment V (a new version each time it changes). */
function app(v: string, opts: { fail?: boolean; deployment?: string } = {}): Record<string, string> {
  return {
    'nimbus.yml': `app: ver
functions:
  greet:
    handler: src/greet.handler
    environment: { V: "${v}"${opts.fail ? ', FAIL: "1"' : ''} }
${opts.deployment ? `    deployment: ${opts.deployment}\n` : ''}    events:
      - http: GET /greet
      - http: { method: GET, path: /pinned, qualifier: 1 }
      - queue: { name: jobs, qualifier: 1 }
  caller:
    handler: src/caller.handler
    permissions: { functions: { greet: [invoke] } }
queues:
  jobs: {}
rules:
  to-beta:
    pattern: { source: [test.ver] }
    targets:
      - function: greet:beta
workflows:
  pinned:
    definition:
      StartAt: One
      States:
        One: { Type: Task, Resource: "greet:1", ResultPath: $.one, Next: Live }
        Live:
          Type: Task
          Resource: arn:aws:states:::lambda:invoke
          Parameters: { FunctionName: "greet:live", Payload: {} }
          ResultSelector: { v.$: $.Payload.v, executed.$: $.ExecutedVersion }
          ResultPath: $.live
          End: true
`,
    'src/greet.ts': SOURCE,
    'src/caller.ts': "import { functions } from 'nimbus/sdk';\nexport const handler = async (e: { target: string }) => functions.invoke(e.target, {});",
  };
}

/** A seeded PRNG (mulberry32), so weighted routing is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Versions { latest: number; versions: { version: number }[]; aliases: { name: string; version: number; extraVersion: number | null; extraWeight: number }[] }
interface Rollout { id: number; status: string; reason: string | null; weight: number; fromVersion: number; toVersion: number; steps: { weight: number; invocations: number; errors: number; note: string }[] }

describe('versions, aliases and rollouts', () => {
  let srv: TestServer;
  // A manual clock: the rollout runner's own timer never fires; the tests take steps at times they choose.
  before(async () => { srv = await startTestServer({ clock: new ManualClock(Date.now()), random: seeded(42), keepVersions: 3 }); });
  after(() => srv.close());

  const get = async (path: string) => {
    const r = await srv.req(path);
    return { status: r.status, body: (await r.json()) as { v: string; version: string } };
  };
  const versions = async () => (await srv.api<Versions>('GET', '/_nimbus/api/functions/greet/versions')).body;
  const live = async () => (await versions()).aliases.find((a) => a.name === 'live')!;
  const rollouts = async () => (await srv.api<{ rollouts: Rollout[] }>('GET', '/_nimbus/api/functions/greet/rollouts')).body.rollouts;

  it('publishes a version per change, keeps old ones invocable by number, and moves live all at once by default', async () => {
    assert.equal((await srv.deploy(app('a'))).status, 200);
    assert.equal((await srv.deploy(app('a'))).body.status, 'unchanged');
    assert.equal((await srv.deploy(app('b'))).status, 200);
    const v = await versions();
    assert.deepEqual([v.latest, v.versions.map((x) => x.version)], [2, [1, 2]]);
    assert.deepEqual(await live(), { ...(await live()), version: 2, extraVersion: null });
    assert.deepEqual((await get('/greet')).body, { v: 'b', version: '2' });
    assert.deepEqual((await get('/pinned')).body, { v: 'a', version: '1' }, 'a route may pin a version');
    assert.equal((await srv.api('PUT', '/_nimbus/api/functions/greet/aliases/other', { version: 2 })).status, 200);
    assert.ok(srv.scheduler.stats().greet!.versions[1], 'a pinned version keeps its instances across config changes');
    assert.equal((await srv.api('DELETE', '/_nimbus/api/functions/greet/aliases/other')).status, 200);
    const noDelete = await srv.api<{ error: { code: string } }>('DELETE', '/_nimbus/api/functions/greet/aliases/live');
    assert.deepEqual([noDelete.status, noDelete.body.error.code], [400, 'BAD_REQUEST']);
    const one = await srv.api<{ v: string }>('POST', '/_nimbus/api/functions/greet/invocations?qualifier=1', {});
    assert.equal(one.body.v, 'a');
    assert.equal(one.headers.get('x-nimbus-executed-version'), '1');
    assert.equal((await srv.api<{ v: string }>('POST', '/_nimbus/api/functions/greet/invocations?qualifier=$LATEST', {})).body.v, 'b');
    const missing = await srv.api<{ error: { code: string; message: string } }>('POST', '/_nimbus/api/functions/greet/invocations?qualifier=9', {});
    assert.deepEqual([missing.status, missing.body.error.code], [404, 'VERSION_NOT_FOUND']);
    const bad = await srv.api<{ error: { code: string } }>('POST', '/_nimbus/api/functions/greet/invocations?qualifier=a%20b', {});
    assert.deepEqual([bad.status, bad.body.error.code], [400, 'BAD_REQUEST']);
    // A workflow's Task may name a version or an alias too.
    const wf = await srv.api<{ status: string; output: unknown }>('POST', '/_nimbus/api/workflows/pinned/executions?sync=true', { input: {} });
    assert.deepEqual([wf.body.status, wf.body.output], ['SUCCEEDED', { one: { v: 'a', version: '1' }, live: { v: 'b', executed: '2' } }]);
    // A function invokes another's alias or version through the SDK as `name:qualifier`.
    const viaSdk = await srv.api<{ v: string; version: string }>('POST', '/_nimbus/api/functions/caller/invocations', { target: 'greet:1' });
    assert.deepEqual(viaSdk.body, { v: 'a', version: '1' });
    const badSdk = await srv.api<{ errorType: string; errorMessage: string }>('POST', '/_nimbus/api/functions/caller/invocations', { target: 'greet:no such' });
    assert.match(badSdk.body.errorMessage, /the qualifier after "greet:" must be an alias name/);
    // The invocation records say which version ran and what was asked for.
    const recs = await srv.api<{ invocations: { version: string; qualifier: string }[] }>('GET', '/_nimbus/api/functions/greet/invocations?limit=4');
    assert.deepEqual(recs.body.invocations.map((r) => [r.version, r.qualifier]), [['1', '1'], ['2', 'live'], ['1', '1'], ['2', '$LATEST']]);
  });

  it('runs the qualifier a queue trigger, a rule target or an asynchronous invoke names', async () => {
    const records = async (n: number) => {
      for (let i = 0; i < 100; i++) {
        const r = await srv.api<{ invocations: { trigger: string; version: string; qualifier: string }[] }>('GET', '/_nimbus/api/functions/greet/invocations?limit=1000');
        if (r.body.invocations.length >= n) return r.body.invocations;
        await new Promise((ok) => setTimeout(ok, 50));
      }
      throw new Error(`fewer than ${n} records`);
    };
    const before = (await srv.api<{ invocations: unknown[] }>('GET', '/_nimbus/api/functions/greet/invocations?limit=1000')).body.invocations.length;
    assert.equal((await srv.api('POST', '/_nimbus/api/queues/jobs/messages', { body: 'x' })).status, 200);
    assert.equal((await srv.api('PUT', '/_nimbus/api/functions/greet/aliases/beta', { version: 1 })).status, 200);
    const put = await srv.api<{ failedEntryCount: number }>('POST', '/_nimbus/api/events', { entries: [{ source: 'test.ver', detailType: 'x', detail: {} }] });
    assert.equal(put.body.failedEntryCount, 0);
    const async = await srv.req('/_nimbus/api/functions/greet/invocations?qualifier=2', { method: 'POST', body: '{}', headers: { 'x-nimbus-invocation-type': 'Event' } });
    assert.equal(async.status, 202);
    const got = (await records(before + 3)).slice(0, 3).map((r) => `${r.trigger} ${r.version} ${r.qualifier}`).sort();
    assert.deepEqual(got, ['async 1 beta', 'async 2 2', 'queue 1 1']);
    const noAlias = await srv.req('/_nimbus/api/functions/greet/invocations?qualifier=nope', { method: 'POST', body: '{}', headers: { 'x-nimbus-invocation-type': 'Event' } });
    assert.equal(noAlias.status, 404);
  });

  it('splits an alias\'s traffic by weight, within statistical bounds (seeded)', async () => {
    const set = await srv.api('PUT', '/_nimbus/api/functions/greet/aliases/live', { version: 1, additionalVersion: 2, weight: 30 });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    let two = 0;
    for (let i = 0; i < 400; i++) if ((await get('/greet')).body.v === 'b') two++;
    // Binomial(400, 0.3): mean 120, sd 9.2; four sd either way.
    assert.ok(two >= 83 && two <= 157, `version 2 took ${two} of 400`);
    assert.equal((await srv.api('PUT', '/_nimbus/api/functions/greet/aliases/live', { version: 2 })).status, 200);
    const wrong = await srv.api<{ error: { code: string } }>('PUT', '/_nimbus/api/functions/greet/aliases/live', { version: 7 });
    assert.deepEqual([wrong.status, wrong.body.error.code], [404, 'VERSION_NOT_FOUND']);
    const noWeight = await srv.api<{ error: { code: string; message: string } }>('PUT', '/_nimbus/api/functions/greet/aliases/beta', { version: 1, additionalVersion: 2 });
    assert.equal(noWeight.status, 400);
    assert.match(noWeight.body.error.message, /weight: required with additionalVersion/);
    const weightAlone = await srv.api<{ error: { message: string } }>('PUT', '/_nimbus/api/functions/greet/aliases/beta', { version: 1, weight: 50 });
    assert.equal(weightAlone.status, 400);
    assert.match(weightAlone.body.error.message, /weight: goes with additionalVersion/);
  });

  it('rolls out a canary: pre-warms the new version, gives it 10%, then everything', async () => {
    const d = await srv.deploy(app('c'), { strategy: 'canary:10%:5m' });
    assert.equal(d.status, 200, JSON.stringify(d.body));
    assert.deepEqual(d.body.rollouts!.map((r) => [r.fn, r.fromVersion, r.toVersion]), [['greet', 2, 3]]);
    assert.deepEqual((await get('/greet')).body.v, 'b', 'nothing moves before the first step');
    const t0 = Date.now();
    await srv.rollouts.tick(t0);
    const stats = srv.scheduler.stats().greet!;
    assert.ok((stats.versions[3]?.idle ?? 0) >= 1, `version 3 pre-warmed: ${JSON.stringify(stats.versions)}`);
    assert.deepEqual(await live(), { ...(await live()), version: 2, extraVersion: 3, extraWeight: 10 });
    let three = 0;
    for (let i = 0; i < 200; i++) if ((await get('/greet')).body.v === 'c') three++;
    assert.ok(three >= 5 && three <= 40, `version 3 took ${three} of 200 at 10%`);
    await srv.rollouts.tick(t0 + 60_000);
    assert.equal((await live()).extraWeight, 10, 'the canary holds for its interval');
    await new Promise((r) => setTimeout(r, 50)); // invocation records are written behind the response
    const [running] = (await srv.api<{ rollouts: (Rollout & { current: { invocations: number } })[] }>('GET', '/_nimbus/api/functions/greet/rollouts')).body.rollouts;
    assert.equal(running!.current.invocations, three, 'a running rollout says what its new version did so far');
    await srv.rollouts.tick(t0 + 5 * 60_000);
    assert.deepEqual(await live(), { ...(await live()), version: 3, extraVersion: null });
    const [r] = await rollouts();
    assert.equal(r!.status, 'succeeded');
    assert.deepEqual(r!.steps.map((s) => s.weight), [0, 10, 100]);
    assert.equal(r!.steps[2]!.invocations, three);
  });

  it('rolls back automatically when the new version fails, and says why', async () => {
    const d = await srv.deploy(app('d', { fail: true, deployment: '{ strategy: "canary:50%:10m", rollback: { errorRate: 5, minRequests: 10 } }' }));
    assert.equal(d.status, 200, JSON.stringify(d.body));
    await srv.rollouts.tick(Date.now());
    assert.equal((await live()).extraVersion, 4);
    let failed = 0;
    for (let i = 0; i < 40; i++) if ((await get('/greet')).status !== 200) failed++;
    assert.ok(failed > 0);
    await new Promise((r) => setTimeout(r, 50)); // invocation records are written behind the response
    await srv.rollouts.tick(Date.now());
    const [r] = await rollouts();
    assert.equal(r!.status, 'rolled-back');
    assert.match(r!.reason!, /^error rate 100\.0% \(\d+ of \d+ invocations of version 4\) is over 5%$/);
    assert.deepEqual(await live(), { ...(await live()), version: 3, extraVersion: null });
    for (let i = 0; i < 20; i++) assert.equal((await get('/greet')).status, 200);
  });

  it('nimbus rollback points live back at once; nimbus versions and rollouts show the history', async () => {
    assert.equal((await srv.deploy(app('e'))).status, 200); // version 5, all at once
    assert.equal((await get('/greet')).body.v, 'e');
    const work = tempDir('nimbus-cli-versions-');
    try {
      const run = cli(srv, work);
      const rb = await run('rollback', 'greet');
      assert.equal(rb.code, 0, rb.stderr);
      // Version 4 is the one its rollout rejected: rollback skips it.
      assert.equal(rb.stdout.trim(), 'greet:live → version 3');
      assert.equal((await get('/greet')).body.v, 'c');
      assert.equal((await run('alias', 'greet', 'live', '3')).stdout.trim(), 'greet:live → version 3');
      const v = await run('versions', 'greet');
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, /^VERSION\s+CREATED\s+CODE\s+MEMORY\s+TIMEOUT\s+ALIASES$/m);
      assert.match(v.stdout, /^5\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+[0-9a-f]{12}\s+128 MB\s+3 s\s+\$LATEST$/m);
      assert.match(v.stdout, /^live → version 3$/m);
      const ro = await run('rollouts', 'greet');
      assert.match(ro.stdout, /^#\d+\s+version 3 → 4\s+canary 50% every 600 s\s+ROLLED-BACK: error rate 100\.0%/m);
      assert.match(ro.stdout, /^#\d+\s+version 2 → 3\s+canary 10% every 300 s\s+SUCCEEDED$/m);
      const canary = await run('alias', 'greet', 'beta', '5', '--canary', '3', '--weight', '20');
      assert.equal(canary.stdout.trim(), 'greet:beta → version 5 (80%) + version 3 (20%)');
      const inv = await run('invoke', 'greet', '--qualifier', '5');
      assert.equal(inv.code, 0, inv.stderr);
      assert.match(inv.stderr, /Version: 5/);
      // Asynchronous too: the event runs the version asked for, and an unknown one is refused.
      const later = await run('invoke', 'greet', '--async', '--qualifier', '5', '--json');
      assert.equal(later.code, 0, later.stderr);
      const { requestId } = JSON.parse(later.stdout) as { requestId: string };
      let ran: { version: number | string; qualifier: string | null } | undefined;
      for (let i = 0; i < 100 && !ran; i++) {
        await new Promise((r) => setTimeout(r, 50));
        ran = (await srv.api<{ invocations: { requestId: string; version: number | string; qualifier: string | null }[] }>('GET', '/_nimbus/api/functions/greet/invocations')).body.invocations.find((x) => x.requestId === requestId);
      }
      assert.deepEqual([String(ran?.version), ran?.qualifier], ['5', '5']);
      const unknown = await run('invoke', 'greet', '--async', '--qualifier', 'nope');
      assert.notEqual(unknown.code, 0);
      assert.match(unknown.stderr, /VERSION_NOT_FOUND/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('keeps the newest versions and every version an alias names; the rest go, code included', async () => {
    // keepVersions is 3; live is on 3 and beta on 5 (+3).
    for (const v of ['f', 'g', 'h']) assert.equal((await srv.deploy(app(v))).status, 200); // versions 6, 7, 8; live → 8
    const kept = (await versions()).versions.map((x) => x.version);
    assert.deepEqual(kept, [1, 3, 5, 6, 7, 8], 'version 1 stays: the /pinned route names it');
    const gone = await srv.api<{ error: { code: string } }>('POST', '/_nimbus/api/functions/greet/invocations?qualifier=4', {});
    assert.equal(gone.status, 404);
    assert.equal((await srv.api<{ v: string }>('POST', '/_nimbus/api/functions/greet/invocations?qualifier=beta', {})).status, 200);
    assert.deepEqual((await get('/pinned')).body, { v: 'a', version: '1' });
  });

  it('keeps provisioned instances for the versions an alias provisions, and none for a version invoked by number', async () => {
    const stats = () => srv.scheduler.stats().greet!.versions;
    const until = async (ok: () => boolean, what: string) => {
      for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(ok(), `${what}: ${JSON.stringify(stats())}`);
    };
    assert.equal((await srv.api('PUT', '/_nimbus/api/functions/greet/aliases/warm', { version: 1, provisioned: 2 })).status, 200);
    await until(() => stats()[1]?.provisioned === 2, 'two provisioned instances of version 1');
    // A version invoked by number gets instances on demand, none provisioned.
    assert.equal((await srv.api('POST', '/_nimbus/api/functions/greet/invocations?qualifier=5', {})).status, 200);
    assert.equal(stats()[5]?.provisioned ?? 0, 0);
    const tooMany = await srv.api<{ error: { message: string } }>('PUT', '/_nimbus/api/functions/greet/aliases/warm', { version: 1, provisioned: 11 });
    assert.match(tooMany.body.error.message, /provisioned: at most the concurrency\.max of the versions the alias points to \(10\)/);
    // Moving the alias without a count keeps its count; a count of 0 lets the instances go back to on demand.
    const moved = await srv.api<{ provisioned: number }>('PUT', '/_nimbus/api/functions/greet/aliases/warm', { version: 3 });
    assert.equal(moved.body.provisioned, 2);
    await until(() => stats()[3]?.provisioned === 2 && (stats()[1]?.provisioned ?? 0) === 0, 'the count followed the alias');
    assert.equal((await srv.api('PUT', '/_nimbus/api/functions/greet/aliases/warm', { version: 3, provisioned: 0 })).status, 200);
    await until(() => (stats()[3]?.provisioned ?? 0) === 0, 'no provisioned instances');
    assert.equal((await srv.api('DELETE', '/_nimbus/api/functions/greet/aliases/warm')).status, 200);
  });

  it('serves every request across version switches under continuous load', async () => {
    let stop = false;
    const seen = new Set<string>();
    const failures: number[] = [];
    const worker = async () => {
      while (!stop) {
        const r = await get('/greet');
        if (r.status !== 200) failures.push(r.status);
        else seen.add(r.body.v);
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await new Promise((r) => setTimeout(r, 200));
    for (const v of ['i', 'j', 'k']) {
      assert.equal((await srv.deploy(app(v))).status, 200);
      await new Promise((r) => setTimeout(r, 300));
    }
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(failures, [], JSON.stringify(failures.slice(0, 5)));
    assert.ok(seen.has('h') && seen.has('k'), `versions seen: ${[...seen].join(', ')}`);
  });
});

describe('rollouts and shutdowns', () => {
  it('a rollout whose pre-warm is cut short by a shutdown carries on after the restart', async () => {
    const dataDir = tempDir('nimbus-rollout-restart-');
    const files = (v: string, initMs: number) => ({
      'nimbus.yml': `app: slowinit\nfunctions:\n  f:\n    handler: src/f.handler\n    environment: { V: "${v}" }\n`,
      'src/f.ts': `await new Promise((r) => setTimeout(r, ${initMs}));\nexport const handler = async () => process.env.V;`,
    });
    let srv = await startTestServer({ dataDir, clock: new ManualClock(Date.now()) });
    try {
      assert.equal((await srv.deploy(files('a', 0))).status, 200);
      assert.equal((await srv.deploy(files('b', 1500), { strategy: 'canary:10%:5m' })).status, 200);
      const tick = srv.rollouts.tick(Date.now());
      await new Promise((r) => setTimeout(r, 300));
      await srv.close();
      await tick;
      srv = await startTestServer({ dataDir, clock: new ManualClock(Date.now()) });
      const [r] = (await srv.api<{ rollouts: { status: string; weight: number }[] }>('GET', '/_nimbus/api/functions/f/rollouts')).body.rollouts;
      assert.deepEqual([r!.status, r!.weight], ['running', 0]);
      await srv.rollouts.tick(Date.now());
      const [r2] = (await srv.api<{ rollouts: { status: string; weight: number }[] }>('GET', '/_nimbus/api/functions/f/rollouts')).body.rollouts;
      assert.deepEqual([r2!.status, r2!.weight], ['running', 10]);
    } finally {
      await srv.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a request waiting for an instance of a function that is removed gets FUNCTION_NOT_FOUND', async () => {
    const srv = await startTestServer();
    try {
      assert.equal((await srv.deploy({
        'nimbus.yml': 'app: gone\nfunctions:\n  slow:\n    handler: src/slow.handler\n    concurrency: { max: 1, queueTimeoutMs: 5000 }\n',
        'src/slow.ts': 'export const handler = async () => { await new Promise((r) => setTimeout(r, 600)); return 1; };',
      })).status, 200);
      const first = srv.invoke('slow');
      await new Promise((r) => setTimeout(r, 150));
      const second = srv.invoke<{ error: { code: string } }>('slow');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await srv.api('DELETE', '/_nimbus/api/functions/slow')).status, 200);
      const s = await second;
      assert.deepEqual([s.status, s.body.error.code], [404, 'FUNCTION_NOT_FOUND']);
      await first;
    } finally {
      await srv.close();
    }
  });
});
