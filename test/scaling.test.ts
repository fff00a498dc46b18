// Cold starts and scaling, end to end with real sandbox processes: the spare runtime pool (used,
// refilled, sized per memory, unable to read anything but its own directory before and after it
// is assigned), provisioned instances, the host-wide instance cap and memory budget (eviction of
// idle instances, then 429), start limiting, and several invocations at once in one instance.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RUNTIME_DIR, runningAsRoot } from '../src/sandbox/layout.ts';
import { treeBytes } from '../src/scheduler/bundles.ts';
import { ManualClock } from '../src/util/clock.ts';
import { sleep, startTestServer, type TestServer } from './helpers.ts';

interface InstanceInfo { id: string; pid: number; state: 'busy' | 'idle'; inflight: number; provisioned: boolean }
interface Described {
  functions: Record<string, { busy: number; idle: number; provisioned: number; instances: InstanceInfo[] }>;
  spares: { ready: Record<string, number>; instances: { id: string; pid: number; memoryMb: number }[]; handedOut: number };
  capacity: { instances: number; memoryMb: number; peakStarting: number; maxConcurrentStarts: number };
}

const describeAll = async (srv: TestServer): Promise<Described> => (await srv.api<Described>('GET', '/_nimbus/api/instances')).body;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const READER = `
import fs from 'node:fs';
const born = Math.random().toString(36).slice(2);
export const handler = async (e: { path?: string; ms?: number }) => {
  if (e?.ms) await new Promise((r) => setTimeout(r, e.ms));
  if (!e?.path) return { born };
  try { return { allowed: true, value: String(fs.readdirSync(e.path)) }; } catch (err) { return { allowed: false, code: (err as { code?: string }).code }; }
};`;

/** The file-system paths a sandbox process may read or write, from its command line. */
function allowList(pid: number): string[] {
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  return args.filter((a) => a.startsWith('--allow-fs-')).map((a) => a.slice(a.indexOf('=') + 1));
}

describe('spare runtime pool', () => {
  let srv: TestServer;
  before(async () => { srv = await startTestServer({ spares: { min: 1, max: 4 } }); });
  after(() => srv.close());

  it('hands a booted spare to a cold start, then refills in the background', async () => {
    const spare = await until('a spare', async () => (await describeAll(srv)).spares.instances.find((s) => s.memoryMb === 128));
    const d = await srv.deploy({ 'nimbus.yml': 'app: sp\nfunctions:\n  a:\n    handler: src/a.handler\n  other:\n    handler: src/a.handler\n', 'src/a.ts': READER });
    assert.equal(d.status, 200);
    assert.equal((await srv.invoke('a', {})).status, 200);
    const after1 = await describeAll(srv);
    assert.equal(after1.functions.a!.instances[0]!.id, spare.id, 'the cold start used the spare');
    assert.ok(after1.spares.handedOut >= 1);
    const refill = await until('a new spare', async () => (await describeAll(srv)).spares.instances.find((s) => s.memoryMb === 128 && s.id !== spare.id));
    assert.notEqual(refill.id, spare.id);
    // The REPORT of that cold start still carries its init duration (the import and module scope).
    const inv = (await srv.api<{ invocations: { cold: boolean; initDurationMs: number | null }[] }>('GET', '/_nimbus/api/functions/a/invocations')).body.invocations;
    assert.equal(inv[0]!.cold, true);
    assert.ok((inv[0]!.initDurationMs ?? 0) > 0);
  });

  it("lets a spare read only its own directory, before and after it is assigned", async () => {
    const d = await describeAll(srv);
    const waiting = await until('a spare', async () => (await describeAll(srv)).spares.instances[0]);
    // Before assignment: the allow-list names the runtime and the spare's own directory, nothing else.
    for (const p of allowList(waiting.pid)) {
      const inOwn = !relative(join(srv.sandboxRoot, waiting.id), p).startsWith('..');
      assert.ok(p.startsWith(RUNTIME_DIR) || inOwn, `spare ${waiting.id} may reach ${p}`);
    }
    // After assignment: function a (a former spare) cannot read the waiting spare's directory,
    // nor the code of another function's instance.
    const a = d.functions.a!.instances[0]!;
    for (const p of allowList(a.pid)) assert.ok(p.startsWith(RUNTIME_DIR) || !relative(join(srv.sandboxRoot, a.id), p).startsWith('..'), `instance may reach ${p}`);
    const denied = async (path: string) => {
      const r = (await srv.invoke<{ allowed: boolean }>('a', { path })).body;
      assert.equal(r.allowed, false, `reading ${path} should be denied`);
    };
    await denied(join(srv.sandboxRoot, waiting.id));
    await denied(join(srv.sandboxRoot, waiting.id, 'code'));
    assert.equal((await srv.invoke('other', {})).status, 200);
    const other = (await describeAll(srv)).functions.other!.instances[0]!;
    await denied(join(srv.sandboxRoot, other.id, 'code'));
    // And its own code dir is readable (the test is not vacuous).
    assert.equal((await srv.invoke<{ allowed: boolean }>('a', { path: join(srv.sandboxRoot, a.id, 'code') })).body.allowed, true);
  });

  it('keeps spares for another memory size once that size has cold starts', async () => {
    const d = await srv.deploy({ 'nimbus.yml': 'app: big\nfunctions:\n  big:\n    handler: src/a.handler\n    memory: 256\n', 'src/a.ts': READER });
    assert.equal(d.status, 200);
    assert.equal((await srv.invoke('big', {})).status, 200);
    await until('a 256 MB spare', async () => (await describeAll(srv)).spares.instances.find((s) => s.memoryMb === 256));
  });
});

describe('compile cache', () => {
  /**
   * Deploys `src` and starts three instances one after the other (each while the earlier ones are
   * busy): the first compiles lazily, the second eagerly, and the host decides between them; the
   * third must get a copy of the cache kept for that decision before its import (a marker written
   * into the kept cache proves the copy: the instance's own writes could not make it).
   */
  async function threeStarts(app: string, src: string): Promise<{ measure: { lazyBytes: number; eagerBytes: number; eager: boolean }; kept: string[]; sizes: number[]; thirdSeeded: boolean }> {
    const srv = await startTestServer({ spares: { min: 0, max: 0 } });
    try {
      await srv.deploy({ 'nimbus.yml': `app: ${app}\nfunctions:\n  c:\n    handler: src/c.handler\n    concurrency: { max: 3 }\n`, 'src/c.ts': src });
      const code = join(srv.dataDir, 'code');
      const starts = async (n: number): Promise<void> => {
        const rs = await Promise.all(Array.from({ length: n }, () => srv.invoke('c', { ms: 300 })));
        assert.deepEqual(rs.map((r) => r.status), rs.map(() => 200));
      };
      await starts(1);
      await until('the lazy measure', async () => readdirSync(code).find((n) => n.endsWith('.cache')));
      await starts(2);
      const file = await until('the decision', async () => {
        const f = readdirSync(code).find((n) => n.endsWith('.compile.json'));
        return f && 'eager' in JSON.parse(readFileSync(join(code, f), 'utf8')) ? f : undefined;
      });
      const measure = JSON.parse(readFileSync(join(code, file), 'utf8'));
      const keptName = `${file.slice(0, -'.compile.json'.length)}${measure.eager ? '.eager' : ''}.cache`;
      await until('the cache kept for the decision', async () => readdirSync(code).includes(keptName) || undefined);
      const sub = readdirSync(join(code, keptName))[0]!; // Node's per-version (and per-uid) subdirectory
      writeFileSync(join(code, keptName, sub, 'marker'), 'seeded');
      await starts(3);
      const ids = (await describeAll(srv)).functions.c!.instances.map((i) => i.id);
      assert.equal(ids.length, 3);
      const files = (id: string): string[] => readdirSync(join(srv.sandboxRoot, id, 'cache'), { recursive: true }).map(String);
      const kept = readdirSync(code).filter((n) => n.endsWith('.cache')).sort();
      return { measure, kept, sizes: kept.map((n) => treeBytes(join(code, n))), thirdSeeded: ids.filter((id) => files(id).some((f) => f.endsWith('marker'))).length === 1 };
    } finally {
      await srv.close();
    }
  }

  it('keeps a lazily compiled cache for a bundle whose code mostly does not run at start, and seeds later cold starts with it', async () => {
    // 3,000 functions that the module's top level creates and never calls.
    const r = await threeStarts('lazy', `export const table = [${Array.from({ length: 3000 }, (_, i) => `(a: number) => a * ${i} + Math.sqrt(a)`).join(',\n')}];\n${READER}`);
    assert.equal(r.measure.eager, false);
    assert.ok(r.measure.lazyBytes < 0.6 * r.measure.eagerBytes, JSON.stringify(r.measure));
    assert.equal(r.kept.length, 1);
    assert.ok(!r.kept[0]!.endsWith('.eager.cache'), 'no eager cache is kept');
    assert.ok(r.thirdSeeded, 'the third instance was seeded from the lazy cache');
  });

  it('keeps the lazy cache of a bundle under 64 KiB without measuring it, and gives one under 32 KiB no cache at all', async () => {
    const srv = await startTestServer({ spares: { min: 0, max: 0 } });
    try {
      // ~40 KB: 400 small functions the handler never calls.
      const pad = Array.from({ length: 400 }, (_, i) => `export function pad${i}(x: number): number { let s = ${i}; for (let j = 0; j < (x & 3) + 1; j++) s = (s * 31 + j) | 0; return s; }`).join('\n');
      await srv.deploy({ 'nimbus.yml': 'app: small\nfunctions:\n  s:\n    handler: src/s.handler\n  tiny:\n    handler: src/tiny.handler\n', 'src/s.ts': `${pad}\n${READER}`, 'src/tiny.ts': READER });
      const code = join(srv.dataDir, 'code');
      const sizes = readdirSync(code).filter((n) => n.endsWith('.mjs')).map((n) => statSync(join(code, n)).size).sort((a, b) => a - b);
      assert.ok(sizes[0]! < 32 * 1024 && sizes[1]! >= 32 * 1024 && sizes[1]! < 64 * 1024, `bundle sizes ${sizes.join(', ')}`);
      assert.equal((await srv.invoke('tiny', {})).status, 200);
      assert.equal((await srv.invoke('s', {})).status, 200);
      await until('the kept cache', async () => readdirSync(code).find((n) => n.endsWith('.cache')));
      await sleep(300); // the tiny bundle's instance answered first: a cache of its own would be here by now
      assert.equal(readdirSync(code).filter((n) => n.endsWith('.cache')).length, 1, 'one cache: the 40 KB bundle\'s');
      assert.deepEqual(readdirSync(code).filter((n) => n.endsWith('.compile.json') || n.endsWith('.eager.cache')), []);
      const tinyInstance = (await describeAll(srv)).functions.tiny!.instances[0]!.id;
      assert.deepEqual(readdirSync(join(srv.sandboxRoot, tinyInstance, 'cache')), [], 'the tiny bundle\'s instance wrote no cache');
    } finally {
      await srv.close();
    }
  });

  // 3,000 functions, every one called by the module's top level.
  const fns = Array.from({ length: 3000 }, (_, i) => `function f${i}(x: number): number { let s = ${i}; for (let j = 0; j < (x & 3) + 1; j++) s = (s * 31 + j) | 0; return s; }`);
  const RUNS_AT_START = `${fns.join('\n')}\nexport let sum = 0;\n${fns.map((_, i) => `sum += f${i}(${i});`).join('\n')}\n${READER}`;

  it('compiles a bundle whose code runs at start eagerly, keeps that cache (every function), and seeds later cold starts with it', async () => {
    const r = await threeStarts('eager', RUNS_AT_START);
    assert.equal(r.measure.eager, true, JSON.stringify(r.measure));
    assert.deepEqual(r.kept.map((n) => n.replace(/^[0-9a-f]+/, '')).sort(), ['.cache', '.eager.cache']);
    // The eager cache holds the functions the lazy one does not.
    const size = (eager: boolean): number => r.sizes[r.kept.findIndex((n) => n.endsWith('.eager.cache') === eager)]!;
    assert.ok(Number.isFinite(size(true)), 'the eager cache can be read');
    assert.ok(size(true) > 1.5 * size(false), `the eager cache is larger: ${size(true)} vs ${size(false)} bytes`);
    assert.ok(r.thirdSeeded, 'the third instance was seeded from the eager cache');
  });

  it('keeps a bundle lazy when its eager trial instance dies before reporting', async () => {
    const srv = await startTestServer({ spares: { min: 0, max: 0 } });
    try {
      await srv.deploy({ 'nimbus.yml': 'app: trial\nfunctions:\n  c:\n    handler: src/c.handler\n    concurrency: { max: 3 }\n', 'src/c.ts': RUNS_AT_START });
      const code = join(srv.dataDir, 'code');
      assert.equal((await srv.invoke('c', {})).status, 200);
      const lazy = await until('the lazy cache', async () => readdirSync(code).find((n) => n.endsWith('.cache')));
      const firstId = (await describeAll(srv)).functions.c!.instances[0]!.id;
      // Two at once: the first instance takes one, the trial instance the other; kill the trial mid-invocation.
      const pending = [srv.invoke('c', { ms: 2000 }), srv.invoke('c', { ms: 2000 })];
      const trial = await until('the trial instance', async () => (await describeAll(srv)).functions.c!.instances.find((i) => i.id !== firstId && i.state === 'busy'));
      process.kill(trial.pid, 'SIGKILL');
      await Promise.all(pending);
      const measure = JSON.parse(readFileSync(join(code, lazy.replace(/\.cache$/, '.compile.json')), 'utf8'));
      assert.equal(measure.trial, true);
      assert.equal(measure.eager, undefined);
      // Later starts stay lazy, seeded from the lazy cache: no second trial.
      writeFileSync(join(code, lazy, readdirSync(join(code, lazy))[0]!, 'marker'), 'seeded');
      const rs = await Promise.all([1, 2, 3].map(() => srv.invoke('c', { ms: 300 })));
      assert.deepEqual(rs.map((r) => r.status), [200, 200, 200]);
      const ids = (await describeAll(srv)).functions.c!.instances.map((i) => i.id).filter((id) => id !== firstId);
      assert.ok(ids.length >= 1);
      for (const id of ids) assert.ok(readdirSync(join(srv.sandboxRoot, id, 'cache'), { recursive: true }).map(String).some((f) => f.endsWith('marker')), `${id} was seeded from the lazy cache`);
      assert.equal(readdirSync(code).filter((n) => n.endsWith('.eager.cache')).length, 0);
    } finally {
      await srv.close();
    }
  });
});

describe('bundles on disk', () => {
  let srv: TestServer;
  before(async () => { srv = await startTestServer({ spares: { min: 0, max: 0 } }); });
  after(() => srv.close());

  it('a deploy writes each bundle to disk, so its first cold start need not', async () => {
    const code = join(srv.dataDir, 'code');
    const before = new Set(readdirSync(code).filter((n) => n.endsWith('.mjs')));
    assert.equal((await srv.deploy({ 'nimbus.yml': 'app: disk\nfunctions:\n  a:\n    handler: src/a.handler\n  b:\n    handler: src/b.handler\n', 'src/a.ts': READER, 'src/b.ts': `${READER}\nexport const other = 1;` })).status, 200);
    const written = readdirSync(code).filter((n) => n.endsWith('.mjs') && !before.has(n));
    assert.equal(written.length, 2, 'one file per bundle, before any invocation');
    assert.equal((await srv.invoke('a', {})).status, 200);
    assert.deepEqual(readdirSync(code).filter((n) => n.endsWith('.mjs') && !before.has(n)).sort(), written.sort(), 'the start used it');
    // With a uid per instance (a root server), a's instance holds a hard link to its bundle; otherwise a copy.
    const links = written.map((n) => statSync(join(code, n)).nlink).sort();
    assert.deepEqual(links, runningAsRoot ? [1, 2] : [1, 1]);
    for (const n of written) {
      const st = statSync(join(code, n));
      assert.equal(st.mode & 0o7777, 0o444, 'read-only for everyone, the instance included');
      assert.equal(st.uid, process.getuid!(), 'owned by the server, not by an instance');
    }
  });

  it('works under a umask that takes away the bits others need (077)', async () => {
    const old = process.umask(0o077);
    let strict: TestServer | undefined;
    try {
      strict = await startTestServer({ spares: { min: 0, max: 0 } });
      assert.equal((await strict.deploy({ 'nimbus.yml': 'app: um\nfunctions:\n  u:\n    handler: src/u.handler\n', 'src/u.ts': READER })).status, 200);
      const r = await strict.invoke<{ born?: string }>('u', {});
      assert.equal(typeof r.body.born, 'string', `the function ran: ${JSON.stringify(r.body)}`);
    } finally {
      process.umask(old);
      await strict?.close();
    }
  });
});

describe('compile cache off', () => {
  let srv: TestServer;
  before(async () => { srv = await startTestServer({ spares: { min: 0, max: 0 }, compileCache: false }); });
  after(() => srv.close());

  it('writes no code cache, in the instance or the data dir', async () => {
    // Over 32 KiB: a bundle that would get a cache were the cache on.
    const pad = Array.from({ length: 400 }, (_, i) => `export function pad${i}(x: number): number { let s = ${i}; for (let j = 0; j < (x & 3) + 1; j++) s = (s * 31 + j) | 0; return s; }`).join('\n');
    assert.equal((await srv.deploy({ 'nimbus.yml': 'app: nocc\nfunctions:\n  c:\n    handler: src/c.handler\n', 'src/c.ts': `${pad}\n${READER}` })).status, 200);
    const bundle = readdirSync(join(srv.dataDir, 'code')).find((n) => n.endsWith('.mjs'))!;
    assert.ok(statSync(join(srv.dataDir, 'code', bundle)).size >= 32 * 1024);
    for (let i = 0; i < 2; i++) assert.equal((await srv.invoke('c', {})).status, 200);
    await sleep(300); // a runtime writes its cache right after its first response
    const [inst] = readdirSync(join(srv.dataDir, 'sandboxes'));
    assert.ok(inst, 'the instance has its directory');
    assert.deepEqual(readdirSync(join(srv.dataDir, 'sandboxes', inst, 'cache')), []);
    assert.deepEqual(readdirSync(join(srv.dataDir, 'code')).filter((n) => n.endsWith('.cache')), []);
  });
});

describe('provisioned concurrency', () => {
  let srv: TestServer;
  const clock = new ManualClock();
  before(async () => { srv = await startTestServer({ clock, keepAliveMs: 60_000, spares: { min: 0, max: 0 } }); });
  after(() => srv.close());

  it('starts provisioned instances at deploy, serves warm from them, replaces one that dies, never reaps them', async () => {
    const d = await srv.deploy({ 'nimbus.yml': 'app: prov\nfunctions:\n  p:\n    handler: src/p.handler\n    concurrency: { max: 3, provisioned: 2 }\n', 'src/p.ts': READER });
    assert.equal(d.status, 200);
    const ready = await until('2 provisioned instances', async () => {
      const f = (await describeAll(srv)).functions.p;
      return f && f.instances.filter((i) => i.provisioned).length === 2 ? f.instances : undefined;
    });
    const r = await srv.invoke('p', {});
    assert.equal(r.status, 200);
    const inv = (await srv.api<{ invocations: { cold: boolean; provisioned: boolean }[] }>('GET', '/_nimbus/api/functions/p/invocations')).body.invocations;
    assert.deepEqual({ cold: inv[0]!.cold, provisioned: inv[0]!.provisioned }, { cold: false, provisioned: true });
    process.kill(ready[0]!.pid, 'SIGKILL');
    await until('a replacement', async () => {
      const f = (await describeAll(srv)).functions.p!;
      const ids = f.instances.filter((i) => i.provisioned).map((i) => i.id);
      return ids.length === 2 && !ids.includes(ready[0]!.id) ? ids : undefined;
    });
    clock.advance(10 * 60_000);
    await sleep(50);
    assert.equal((await describeAll(srv)).functions.p!.instances.filter((i) => i.provisioned).length, 2, 'keep-alive does not reap provisioned instances');
  });

  it('rejects provisioned above concurrency.max in the manifest', async () => {
    await assert.rejects(
      srv.deploy({ 'nimbus.yml': 'app: bad\nfunctions:\n  q:\n    handler: src/p.handler\n    concurrency: { max: 1, provisioned: 2 }\n', 'src/p.ts': READER }),
      /functions\.q\.concurrency\.provisioned: must not exceed concurrency\.max \(1\), got 2/,
    );
  });
});

describe('host capacity', () => {
  it('evicts idle instances of other functions for the memory budget, then throttles with 429', async () => {
    const srv = await startTestServer({ memoryBudgetMb: 256, spares: { min: 0, max: 0 } });
    try {
      const d = await srv.deploy({
        'nimbus.yml': 'app: mem\nfunctions:\n  small:\n    handler: src/r.handler\n    concurrency: { queueTimeoutMs: 300 }\n  big:\n    handler: src/r.handler\n    memory: 256\n    concurrency: { queueTimeoutMs: 300 }\n',
        'src/r.ts': READER,
      });
      assert.equal(d.status, 200);
      assert.equal((await srv.invoke('small', {})).status, 200);
      assert.equal((await describeAll(srv)).functions.small!.idle, 1);
      // big needs the whole budget: small's idle instance is evicted to make room.
      const slow = srv.invoke('big', { ms: 1500 });
      await until('big to start', async () => ((await describeAll(srv)).functions.big?.busy === 1 ? true : undefined));
      assert.equal((await describeAll(srv)).functions.small?.idle ?? 0, 0, 'the idle small instance was evicted');
      // While big is busy there is no room for small: it waits its queue timeout, then 429.
      const throttled = await srv.invoke<{ error: { code: string; message: string } }>('small', {});
      assert.equal(throttled.status, 429);
      assert.equal(throttled.body.error.code, 'TOO_MANY_REQUESTS');
      assert.match(throttled.body.error.message, /server is at its capacity/);
      assert.equal((await slow).status, 200);
      // Once big is idle, small may evict it again.
      assert.equal((await srv.invoke('small', {})).status, 200);
    } finally {
      await srv.close();
    }
  });

  it('evicts a different idle instance for each start (one already on its way out is not counted twice)', async () => {
    const srv = await startTestServer({ memoryBudgetMb: 384, spares: { min: 0, max: 0 } });
    try {
      const fns = ['x', 'y', 'z'].map((f) => `  ${f}:\n    handler: src/r.handler\n`).join('');
      await srv.deploy({ 'nimbus.yml': `app: ev\nfunctions:\n${fns}  c:\n    handler: src/r.handler\n    concurrency: { max: 3, queueTimeoutMs: 0 }\n`, 'src/r.ts': READER });
      for (const f of ['x', 'y', 'z']) assert.equal((await srv.invoke(f, {})).status, 200);
      // Three starts in the same tick (as a burst delivers them): each needs an eviction of its own,
      // and with no queue timeout any miscount is a 429 at once.
      const c = (await srv.store.getFunction('c'))!;
      const leases = await Promise.all([1, 2, 3].map(() => srv.scheduler.acquire(c)));
      assert.equal(new Set(leases.map((l) => l.instance.id)).size, 3);
      for (const l of leases) l.release();
      assert.equal((await describeAll(srv)).capacity.memoryMb, 384);
    } finally {
      await srv.close();
    }
  });

  it('caps instances host-wide, and a waiting request is served when capacity frees', async () => {
    const srv = await startTestServer({ maxInstances: 1, spares: { min: 0, max: 0 } });
    try {
      await srv.deploy({ 'nimbus.yml': 'app: cap\nfunctions:\n  x:\n    handler: src/r.handler\n  y:\n    handler: src/r.handler\n    concurrency: { queueTimeoutMs: 5000 }\n', 'src/r.ts': READER });
      const first = srv.invoke('x', { ms: 400 });
      await until('x to start', async () => ((await describeAll(srv)).functions.x?.busy === 1 ? true : undefined));
      const t0 = Date.now();
      const second = await srv.invoke('y', {});
      assert.equal(second.status, 200, 'y waited for x to finish, then took the slot (evicting idle x)');
      assert.ok(Date.now() - t0 >= 100);
      assert.equal((await first).status, 200);
      assert.equal((await describeAll(srv)).capacity.instances, 1);
    } finally {
      await srv.close();
    }
  });

  it('limits how many processes boot at once, and a burst still succeeds', async () => {
    const srv = await startTestServer({ maxConcurrentStarts: 2, spares: { min: 0, max: 0 } });
    try {
      await srv.deploy({ 'nimbus.yml': 'app: burst\nfunctions:\n  b:\n    handler: src/r.handler\n    concurrency: { max: 8 }\n', 'src/r.ts': READER });
      const results = await Promise.all(Array.from({ length: 8 }, () => srv.invoke<{ born: string }>('b', { ms: 300 })));
      assert.deepEqual(results.map((r) => r.status), Array(8).fill(200));
      const cap = (await describeAll(srv)).capacity;
      assert.ok(cap.peakStarting <= 2, `at most 2 boots at once, saw ${cap.peakStarting}`);
    } finally {
      await srv.close();
    }
  });
});

describe('per-instance concurrency', () => {
  let srv: TestServer;
  before(async () => { srv = await startTestServer({ spares: { min: 0, max: 0 } }); });
  after(() => srv.close());

  it('serves perInstance invocations at once in one instance, and queues the rest', async () => {
    const d = await srv.deploy({ 'nimbus.yml': 'app: pi\nfunctions:\n  io:\n    handler: src/r.handler\n    concurrency: { max: 1, perInstance: 4, queueTimeoutMs: 5000 }\n', 'src/r.ts': READER });
    assert.equal(d.status, 200);
    const t0 = Date.now();
    const four = await Promise.all(Array.from({ length: 4 }, () => srv.invoke<{ born: string }>('io', { ms: 400 })));
    const elapsed = Date.now() - t0;
    assert.deepEqual(four.map((r) => r.status), [200, 200, 200, 200]);
    assert.equal(new Set(four.map((r) => r.body.born)).size, 1, 'one instance served all four');
    assert.ok(elapsed < 1500, `four 400 ms invocations ran side by side (took ${elapsed} ms)`);
    const five = await Promise.all(Array.from({ length: 5 }, () => srv.invoke<{ born: string }>('io', { ms: 300 })));
    assert.deepEqual(five.map((r) => r.status), Array(5).fill(200));
    assert.equal((await describeAll(srv)).functions.io!.instances.length, 1);
  });
});

describe('idle memory', () => {
  let srv: TestServer;
  before(async () => { srv = await startTestServer({ spares: { min: 0, max: 0 } }); });
  after(() => srv.close());

  /** Private memory (USS) of a process, in MiB. */
  function uss(pid: number): number {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)![1]);
    return (kb('Private_Clean') + kb('Private_Dirty')) / 1024;
  }

  it('an instance gives back what its invocations left behind once it has been idle, and leaves no gc exposed to user code', async () => {
    const code = `
import vm from 'node:vm';
let kept: number[][] = [];
export const handler = async (e: { fill?: boolean; hold?: boolean }) => {
  if (e.fill) kept = Array.from({ length: 8 }, (_, k) => new Array(500_000).fill(k + 0.5));
  else if (!e.hold) kept = [];
  return { gc: typeof (globalThis as Record<string, unknown>).gc, inNewContext: vm.runInNewContext('typeof gc') };
};`;
    const d = await srv.deploy({ 'nimbus.yml': 'app: idle\nfunctions:\n  heap:\n    handler: src/h.handler\n    memory: 256\n', 'src/h.ts': code });
    assert.equal(d.status, 200);
    // ~32 MB of arrays, unreachable once released; nothing allocates after that, so only the
    // collection the host asks for (after 2 s idle) gives them back. A collection V8 began on its own
    // while they were made can finish on the next invocation: they are held through one first, and
    // the whole is tried again if V8 freed them anyway.
    let busy = 0;
    for (let attempt = 0; attempt < 3 && busy <= 40; attempt++) {
      for (const event of [{ fill: true }, { hold: true }, {}]) assert.equal((await srv.invoke('heap', event)).status, 200);
      busy = uss((await describeAll(srv)).functions.heap!.instances[0]!.pid);
    }
    const pid = (await describeAll(srv)).functions.heap!.instances[0]!.pid;
    assert.ok(busy > 40, `the arrays are still there right after the invocation (${busy.toFixed(1)} MiB)`);
    const idle = await until('the idle collection', async () => { const now = uss(pid); return now < busy - 24 ? now : undefined; }, 8000);
    assert.ok(idle < busy - 24, `idle ${idle.toFixed(1)} MiB against ${busy.toFixed(1)} MiB busy`);
    const r = await srv.invoke<{ gc: string; inNewContext: string }>('heap', {});
    assert.deepEqual(r.body, { gc: 'undefined', inNewContext: 'undefined' }, 'no gc for user code, in its own context or a new one');
    assert.equal((await describeAll(srv)).functions.heap!.instances[0]!.pid, pid, 'the same instance served it');
  });

  it('a provisioned instance gives back what its init left behind, without ever being invoked', async () => {
    // ~32 MB of arrays made by the module's top-level code, dropped 300 ms later (by then V8 is done
    // with the collections the import set off, so nothing but the host's request frees them).
    const code = `
let made = Array.from({ length: 8 }, (_, k) => new Array(500_000).fill(k + 0.5));
setTimeout(() => { made = []; }, 300);
export const handler = async () => ({ ok: made.length });`;
    assert.equal((await srv.deploy({ 'nimbus.yml': 'app: prov\nfunctions:\n  prov:\n    handler: src/p.handler\n    memory: 256\n    concurrency: { provisioned: 1 }\n', 'src/p.ts': code })).status, 200);
    const inst = await until('the provisioned instance', async () => (await describeAll(srv)).functions.prov?.instances[0]);
    await sleep(600);
    const started = uss(inst.pid);
    assert.ok(started > 40, `the init's arrays are still there (${started.toFixed(1)} MiB)`);
    const idle = await until('the idle collection', async () => { const now = uss(inst.pid); return now < started - 24 ? now : undefined; }, 8000);
    assert.ok(idle < started - 24, `idle ${idle.toFixed(1)} MiB against ${started.toFixed(1)} MiB after init`);
  });

  it('an instance that holds up its collection is not waited on, nor asked again', async () => {
    // User code sees the host's frames: this one spins for 1.5 s on each collection request.
    const code = `
let asked = 0;
process.prependListener('message', (m: { type?: string }) => {
  if (m?.type !== 'collect') return;
  asked++;
  const until = Date.now() + 1500;
  while (Date.now() < until);
});
export const handler = async () => ({ asked });`;
    assert.equal((await srv.deploy({ 'nimbus.yml': 'app: stall\nfunctions:\n  stall:\n    handler: src/s.handler\n', 'src/s.ts': code })).status, 200);
    assert.deepEqual((await srv.invoke('stall', {})).body, { asked: 0 });
    await sleep(3700); // idle 2 s, asked, spins 1.5 s (the host gave up after 1 s)
    assert.deepEqual((await srv.invoke('stall', {})).body, { asked: 1 });
    await sleep(2600); // idle 2 s again: not asked a second time
    assert.deepEqual((await srv.invoke('stall', {})).body, { asked: 1 });
  });
});
