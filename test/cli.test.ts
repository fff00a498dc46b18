// The CLI as a user runs it: `nimbus serve` as a real process, then init → deploy → curl → invoke
// → logs → ls → rm, each a real `nimbus` process, plus the clear failures users hit first.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.ts';

const BIN = fileURLToPath(new URL('../bin/nimbus.mjs', import.meta.url));

function nimbus(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NIMBUS_URL: '', NIMBUS_TOKEN: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('nimbus CLI', () => {
  let work: string;
  let server: ChildProcess;
  let url: string;

  before(async () => {
    work = tempDir('nimbus-cli-');
    server = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NIMBUS_LOG_LEVEL: 'warn' } });
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout!.on('data', (c) => {
        out += c;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      server.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
    });
  });

  after(async () => {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(work, { recursive: true, force: true });
  });

  it('serve prints the URL and where the admin token is', () => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('init → deploy → curl → invoke → logs → ls → rm', async () => {
    const init = await nimbus(['init', 'hello'], work);
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /Created hello\//);

    const dep = await nimbus(['deploy', 'hello'], work);
    assert.equal(dep.code, 0, dep.stderr);
    assert.match(dep.stdout, /✓ manifest nimbus\.yml: app hello, 1 function \(\d+ ms\)/);
    assert.match(dep.stdout, /✓ bundled hello [\d.]+ KB \(\d+ ms\)/);
    assert.match(dep.stdout, /applied: 1 created, 0 updated, 0 removed \(\d+ ms\)/);
    assert.ok(dep.stdout.includes(`GET     ${url}/hello  →  hello`), dep.stdout);

    const res = await fetch(`${url}/hello?name=Ada`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { message: 'Hello, Ada!', path: '/hello' });

    const again = await nimbus(['deploy', 'hello'], work);
    assert.match(again.stdout, /unchanged, nothing to apply/);

    const inv = await nimbus(['invoke', 'hello', '--data', '{"rawPath":"/direct","queryStringParameters":{"name":"CLI"}}'], work);
    assert.equal(inv.code, 0, inv.stderr);
    assert.equal(JSON.parse(JSON.parse(inv.stdout).body).message, 'Hello, CLI!');
    assert.match(inv.stderr, /RequestId: \S+ {2}Version: 1 {2}TraceId: [0-9a-f]{32}/);
    // --json carries the same, and the trace id is the one the invocation's record has.
    const invJson = await nimbus(['invoke', 'hello', '--json'], work);
    assert.equal(invJson.code, 0, invJson.stderr);
    const j = JSON.parse(invJson.stdout) as { requestId: string; version: number; traceId: string; result: unknown };
    assert.equal(j.version, 1);
    assert.match(j.traceId, /^[0-9a-f]{32}$/);
    const records = JSON.parse((await nimbus(['invocations', 'hello', '--json'], work)).stdout) as { invocations: { requestId: string; traceId: string }[] };
    assert.equal(records.invocations.find((r) => r.requestId === j.requestId)?.traceId, j.traceId);

    const logs = await nimbus(['logs', 'hello'], work);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /INFO {2}START RequestId: /);
    assert.match(logs.stdout, /REPORT RequestId: .*Billed Duration: \d+ ms/);

    // --follow prints lines written after it started, until Ctrl-C.
    const follow = spawn(process.execPath, [BIN, 'logs', 'hello', '--follow'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    // --request-id narrows the live part too.
    const one = spawn(process.execPath, [BIN, 'logs', 'hello', '--follow', '--request-id', 'follow-me-2'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let followed = '';
    let onlyTwo = '';
    follow.stdout!.on('data', (c) => { followed += c; });
    one.stdout!.on('data', (c) => { onlyTwo += c; });
    await new Promise((r) => setTimeout(r, 300));
    await (await fetch(`${url}/hello`, { headers: { 'x-request-id': 'follow-me-1' } })).arrayBuffer();
    await (await fetch(`${url}/hello`, { headers: { 'x-request-id': 'follow-me-2' } })).arrayBuffer();
    for (let i = 0; i < 50 && !(followed.includes('END RequestId: follow-me-2') && onlyTwo.includes('END RequestId: follow-me-2')); i++) await new Promise((r) => setTimeout(r, 100));
    const exits = [follow, one].map((p) => new Promise((r) => p.once('exit', r)));
    follow.kill('SIGINT');
    one.kill('SIGINT');
    const [followCode] = await Promise.all(exits);
    assert.match(followed, /follow-me-1 INFO {2}START RequestId: follow-me-1/);
    assert.match(onlyTwo, /follow-me-2 INFO {2}START RequestId: follow-me-2/);
    assert.ok(!onlyTwo.includes('follow-me-1'), onlyTwo);
    assert.equal(followCode, 0);

    const ls = await nimbus(['ls'], work);
    assert.match(ls.stdout, /^FUNCTION\s+APP\s+MEMORY/m);
    assert.match(ls.stdout, /^hello\s+hello\s+128 MB\s+3 s/m);
    assert.match(ls.stdout, /Spare runtimes ready: .*Host: \d+\/1000 instances, \d+\/\d+ MB of the memory budget\./);
    const lsJson = JSON.parse((await nimbus(['ls', '--json'], work)).stdout);
    assert.equal(lsJson.functions[0].name, 'hello');

    const rm = await nimbus(['rm', 'hello'], work);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal((await fetch(`${url}/hello`)).status, 404);
  });

  it('fails clearly, with a non-zero exit, on bad input', async () => {
    const badJson = await nimbus(['invoke', 'hello', '--data', '{nope'], work);
    assert.equal(badJson.code, 1);
    assert.match(badJson.stderr, /--data is not valid JSON/);

    const ghost = await nimbus(['invoke', 'ghost'], work);
    assert.equal(ghost.code, 1);
    assert.match(ghost.stderr, /FUNCTION_NOT_FOUND: no function named "ghost"/);

    const dir = join(work, 'broken');
    await nimbus(['init', 'broken'], work);
    writeFileSync(join(dir, 'nimbus.yml'), 'app: broken\nfunctions:\n  hello:\n    handler: src/hello.handler\n    timeout: 9000\n');
    const dep = await nimbus(['deploy', 'broken'], work);
    assert.equal(dep.code, 1);
    assert.match(dep.stderr, /MANIFEST_INVALID: .*functions\.hello\.timeout/s);

    const unknown = await nimbus(['frobnicate'], work);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);

    const noServer = await nimbus(['ls', '--url', 'http://127.0.0.1:1'], work);
    assert.equal(noServer.code, 1);
    assert.match(noServer.stderr, /cannot reach the Nimbus server at http:\/\/127\.0\.0\.1:1/);
  });
});
