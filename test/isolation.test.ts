// Sandbox isolation: each rule is tested by a function that tries to break it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runningAsRoot } from '../src/sandbox/layout.ts';
import { startTestServer, type TestServer } from './helpers.ts';

const PROBE = `
import fs from 'node:fs';
import { createRequire } from 'node:module';
const attempt = async (f: () => unknown) => {
  try { const v = await f(); return { allowed: true, value: String(v).slice(0, 200) }; }
  catch (err: any) { return { allowed: false, code: err?.code ?? err?.name, message: String(err?.message).slice(0, 300) }; }
};
const sqlite = 'node:' + 'sqlite';
export const handler = async (e: any) => {
  switch (e.probe) {
    case 'read': return attempt(() => fs.readFileSync(e.path, 'utf8'));
    case 'list': return attempt(() => fs.readdirSync(e.path).join(','));
    case 'write': return attempt(() => fs.writeFileSync(e.path, 'x'));
    // The instance's own bundle is a hard link to the host's copy: neither writable nor re-moddable.
    case 'own-code': return attempt(() => { try { fs.chmodSync('index.mjs', 0o666); } catch {} fs.writeFileSync('index.mjs', 'export const handler = () => "hijacked";'); return 'written'; });
    case 'tmp': return attempt(() => { fs.writeFileSync(process.env.TMPDIR + '/ok.txt', 'fine'); return fs.readFileSync(process.env.TMPDIR + '/ok.txt', 'utf8'); });
    case 'env': return { env: { ...process.env } };
    case 'child': return attempt(async () => (await import('node:child_process')).execSync('id').toString());
    case 'worker': return attempt(async () => { const { Worker } = await import('node:worker_threads'); new Worker('1', { eval: true }); return 'started'; });
    case 'addon': return attempt(() => process.dlopen({ exports: {} } as any, '/usr/lib/x86_64-linux-gnu/libc.so.6'));
    case 'wasi': return attempt(async () => { const { WASI } = await import('node:wasi'); new WASI({ version: 'preview1' }); return 'made'; });
    case 'inspector': return attempt(async () => { const i = await import('node:inspector'); i.open(0); return i.url(); });
    case 'kill': return attempt(() => process.kill(e.pid, 'SIGKILL'));
    case 'sqlite-import': return attempt(async () => { const m = await import(sqlite); return new m.DatabaseSync(e.path); });
    case 'sqlite-builtin': return attempt(() => new ((process as any).getBuiltinModule(sqlite).DatabaseSync)(e.path));
    case 'sqlite-require': return attempt(() => createRequire(import.meta.url)(sqlite));
    // Each way to node:v8's setFlagsFromString; then whether V8's internal functions (%Name) became callable.
    case 'v8-flags-import': return attempt(async () => (await import('node:v8')).setFlagsFromString(e.flags));
    case 'v8-flags-default': return attempt(async () => (await import('v8')).default.setFlagsFromString(e.flags));
    case 'v8-flags-require': return attempt(() => createRequire(import.meta.url)('v8').setFlagsFromString(e.flags));
    case 'v8-flags-builtin': return attempt(() => (process as any).getBuiltinModule('node:v8').setFlagsFromString(e.flags));
    case 'exit': process.exit(3);
    // A hook of its own, which would run before the runtime's: it resolves a made-up name to the module.
    case 'hook': return attempt(async () => {
      const { registerHooks } = await import('node:module');
      registerHooks({ resolve: (s: string, c: unknown, next: (s: string, c: unknown) => unknown) => (s === 'innocent' ? { url: e.target, shortCircuit: true } : next(s, c)) });
      const m = await import(['inno', 'cent'].join(''));
      return e.target === 'node:v8' ? (m.setFlagsFromString ?? m.default.setFlagsFromString)(e.flags) : new m.DatabaseSync(e.path);
    });
    case 'hook-require': return attempt(() => (createRequire(import.meta.url)('node:module') as any).registerHooks({ resolve: (s: string, c: unknown, next: (s: string, c: unknown) => unknown) => next(s, c) }));
    // Built-ins by another name, through Node's own resolution: a package "imports" map, an overridden Module._resolveFilename.
    case 'v8-imports': return attempt(async () => {
      const d = process.env.TMPDIR;
      fs.writeFileSync(d + '/package.json', JSON.stringify({ imports: { '#v': 'v8' } }));
      fs.writeFileSync(d + '/v.mjs', "export * from '#v';");
      (await import(d + '/v.mjs')).setFlagsFromString(e.flags);
      return new Function('return %GetOptimizationStatus(function () {})')();
    });
    case 'v8-resolvefilename': return attempt(() => {
      const M: any = createRequire(import.meta.url)('node:module');
      const o = M._resolveFilename;
      M._resolveFilename = function (r: string, ...a: unknown[]) { return r === 'innocent' ? 'v8' : o.call(this, r, ...a); };
      createRequire(import.meta.url)('innocent').setFlagsFromString(e.flags);
      return new Function('return %GetOptimizationStatus(function () {})')();
    });
    case 'v8-natives': return attempt(() => new Function('return %GetOptimizationStatus(function () {})')());
    case 'v8-serialize': return attempt(async () => { const v8 = await import('node:v8'); return v8.deserialize(v8.serialize({ n: 42 })).n; });
    case 'symlink': return attempt(() => { fs.symlinkSync(e.target, process.env.TMPDIR + '/link'); return fs.readFileSync(process.env.TMPDIR + '/link', 'utf8'); });
    case 'uid': return { uid: process.getuid!(), gid: process.getgid!() };
  }
  return { unknown: e.probe };
};`;

type Attempt = { allowed: boolean; code?: string; message?: string; value?: string };

describe('sandbox isolation', () => {
  let srv: TestServer;
  let victimDir: string;
  before(async () => {
    process.env.NIMBUS_TEST_HOST_SECRET = 'host-secret';
    srv = await startTestServer();
    const d = await srv.deploy({
      'nimbus.yml': 'app: iso\nfunctions:\n  probe:\n    handler: src/probe.handler\n    environment: { MINE: "yes" }\n  victim:\n    handler: src/victim.handler\n',
      'src/probe.ts': PROBE,
      'src/victim.ts': 'export const handler = async () => "victim secret code";',
    });
    assert.equal(d.status, 200, JSON.stringify(d.body));
    assert.equal((await srv.invoke('victim')).status, 200);
    const dir = (await srv.api<{ functions: Record<string, { instances: { id: string }[] }> }>('GET', '/_nimbus/api/instances')).body.functions.victim?.instances[0]?.id;
    assert.ok(dir, 'victim instance directory exists');
    victimDir = join(srv.sandboxRoot, dir);
  });
  after(async () => {
    delete process.env.NIMBUS_TEST_HOST_SECRET;
    await srv.close();
  });

  const probe = async (event: Record<string, unknown>): Promise<Attempt> => (await srv.invoke<Attempt>('probe', event)).body;
  const denied = (a: Attempt, what: string) => assert.equal(a.allowed, false, `${what} should be denied, got ${JSON.stringify(a)}`);

  it("cannot read another function's code, the bundle cache, the database or the admin token", async () => {
    denied(await probe({ probe: 'read', path: join(victimDir, 'code', 'index.mjs') }), "another instance's code");
    denied(await probe({ probe: 'list', path: srv.sandboxRoot }), 'listing the sandbox root');
    denied(await probe({ probe: 'list', path: join(srv.dataDir, 'code') }), 'the bundle cache');
    denied(await probe({ probe: 'read', path: join(srv.dataDir, 'nimbus.db') }), 'the database');
    denied(await probe({ probe: 'read', path: srv.tokenPath }), 'the admin token');
    denied(await probe({ probe: 'read', path: '/etc/passwd' }), '/etc/passwd');
    denied(await probe({ probe: 'read', path: '/proc/self/environ' }), '/proc/self/environ');
  });

  it('writes only to its own temp dir', async () => {
    const ok = await probe({ probe: 'tmp' });
    assert.deepEqual(ok, { allowed: true, value: 'fine' });
    denied(await probe({ probe: 'write', path: join(srv.dataDir, 'evil') }), 'writing into the data dir');
    denied(await probe({ probe: 'write', path: '/tmp/nimbus-evil' }), 'writing to /tmp');
    denied(await probe({ probe: 'write', path: join(victimDir, 'tmp', 'evil') }), "writing to another instance's tmp");
    const bundles = () => readdirSync(join(srv.dataDir, 'code')).filter((n) => n.endsWith('.mjs')).map((n) => readFileSync(join(srv.dataDir, 'code', n), 'utf8'));
    const before = bundles();
    denied(await probe({ probe: 'own-code' }), 'writing its own bundle (a hard link to the host\'s copy)');
    assert.deepEqual(bundles(), before, "the host's copies of the bundles are unchanged");
  });

  it("sees only its own environment: no host variables, no token", async () => {
    const { env } = (await srv.invoke<{ env: Record<string, string> }>('probe', { probe: 'env' })).body;
    assert.equal(env.MINE, 'yes');
    assert.equal(env.NIMBUS_TEST_HOST_SECRET, undefined);
    assert.equal(env.PATH, undefined);
    for (const v of Object.values(env)) assert.ok(!v.includes(srv.token), 'no variable holds the admin token');
    assert.deepEqual(Object.keys(env).filter((k) => !['MINE', 'TZ', 'LANG', 'HOME', 'TMPDIR'].includes(k) && !k.startsWith('AWS_') && !k.startsWith('NIMBUS_FUNCTION')).sort(), []);
  });

  it('cannot start processes or workers, load native addons, use WASI or open the inspector', async () => {
    denied(await probe({ probe: 'child' }), 'child_process');
    denied(await probe({ probe: 'worker' }), 'worker_threads');
    denied(await probe({ probe: 'addon' }), 'native addons');
    denied(await probe({ probe: 'wasi' }), 'WASI');
    denied(await probe({ probe: 'inspector' }), 'the inspector');
  });

  it('cannot signal other processes', async () => {
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      denied(await probe({ probe: 'kill', pid: sleeper.pid }), 'killing another process');
      denied(await probe({ probe: 'kill', pid: process.pid }), 'killing the server');
      assert.equal(sleeper.exitCode, null);
      assert.equal(sleeper.signalCode, null);
    } finally {
      sleeper.kill();
    }
  });

  it('cannot open node:sqlite, which would bypass the permission model', async () => {
    const path = join(srv.dataDir, 'nimbus.db');
    denied(await probe({ probe: 'sqlite-import', path }), 'import("node:sqlite")');
    denied(await probe({ probe: 'sqlite-builtin', path }), 'process.getBuiltinModule("node:sqlite")');
    denied(await probe({ probe: 'sqlite-require', path }), 'require("node:sqlite")');
  });

  it("cannot change V8's flags (which could switch on V8's internal functions) or register module hooks, and node:v8 works otherwise", async () => {
    const flags = '--allow-natives-syntax';
    for (const way of ['import', 'default', 'require', 'builtin']) {
      // Each way first thing in a new instance (this one exits), so that no other way has loaded node:v8 before it.
      await srv.invoke('probe', { probe: 'exit' });
      const a = await probe({ probe: `v8-flags-${way}`, flags });
      denied(a, `setFlagsFromString by ${way}`);
      assert.equal(a.code, 'ERR_ACCESS_DENIED', JSON.stringify(a));
    }
    for (const target of ['node:v8', 'node:' + 'sqlite']) {
      await srv.invoke('probe', { probe: 'exit' }); // a new instance, where nothing has loaded node:v8 yet
      const a = await probe({ probe: 'hook', target, flags, path: join(srv.dataDir, 'nimbus.db') });
      denied(a, `a module hook of its own resolving to ${target}`);
      assert.equal(a.code, 'ERR_ACCESS_DENIED', JSON.stringify(a));
    }
    denied(await probe({ probe: 'hook-require' }), 'module.registerHooks through require');
    for (const way of ['v8-resolvefilename', 'v8-imports']) {
      await srv.invoke('probe', { probe: 'exit' });
      denied(await probe({ probe: way, flags }), way);
    }
    const natives = await probe({ probe: 'v8-natives' });
    denied(natives, 'a V8 internal function');
    assert.equal(natives.code, 'SyntaxError', JSON.stringify(natives));
    assert.deepEqual(await probe({ probe: 'v8-serialize' }), { allowed: true, value: '42' });
  });

  it('cannot follow a symlink out of its directories', async () => {
    denied(await probe({ probe: 'symlink', target: '/etc/passwd' }), 'a symlink to /etc/passwd');
    denied(await probe({ probe: 'symlink', target: join(victimDir, 'code', 'index.mjs') }), "a symlink to another instance's code");
  });

  it('runs as an unprivileged user of its own when the server runs as root', { skip: runningAsRoot ? false : 'the server is not running as root here, so instances keep its uid' }, async () => {
    const a = (await srv.invoke<{ uid: number }>('probe', { probe: 'uid' })).body;
    assert.notEqual(a.uid, 0);
    assert.ok(a.uid >= 200_000, `uid ${a.uid} is from the instance range`);
  });
});
