// `nimbus storage ...` and `nimbus tables ...` as a user runs them: each a real `nimbus` process
// against a real server (in this process, port 0) with an app that declares a bucket and tables.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, startWithApp, tempDir, type TestServer } from './helpers.ts';


describe('nimbus storage and nimbus tables', () => {
  let srv: TestServer;
  let work: string;
  let nimbus: (...args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

  before(async () => {
    srv = await startWithApp({
      'nimbus.yml': 'app: cli\nbuckets:\n  files: {}\ntables:\n  users: { partitionKey: id }\n  events: { partitionKey: user, sortKey: at }\nfunctions:\n  f:\n    handler: src/f.handler\n',
      'src/f.ts': 'export const handler = async () => null;',
    });
    work = tempDir('nimbus-cli-services-');
    nimbus = cli(srv, work);
  });

  after(async () => {
    await srv.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('puts, lists, gets, copies, presigns and removes objects, streaming files both ways', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    writeFileSync(join(work, 'photo.jpg'), data);
    const put = await nimbus('storage', 'put', 'photo.jpg', 'files/img/photo.jpg', '--meta', 'by=cli');
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, new RegExp(`^Uploaded files/img/photo.jpg \\(3.0 MiB, ETag ${createHash('md5').update(data).digest('hex')}\\)`));
    assert.match((await nimbus('storage', 'ls')).stdout, /^files\s+cli\s+1\s+3.0 MiB$/m);
    assert.match((await nimbus('storage', 'ls', 'files')).stdout, /PRE\s+img\/$/m);
    assert.match((await nimbus('storage', 'ls', 'files', '--recursive')).stdout, /3.0 MiB\s+img\/photo.jpg$/m);
    const got = await nimbus('storage', 'get', 'files/img/photo.jpg', 'copy.jpg');
    assert.equal(got.code, 0, got.stderr);
    assert.ok(readFileSync(join(work, 'copy.jpg')).equals(data));
    assert.equal((await nimbus('storage', 'cp', 'files/img/photo.jpg', 'files/img/second.jpg')).code, 0);
    const url = (await nimbus('storage', 'presign', 'files/img/second.jpg', '--expires', '60')).stdout.trim();
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data));
    assert.equal((await nimbus('storage', 'rm', 'files/img/second.jpg')).stdout.trim(), 'Deleted files/img/second.jpg.');
    assert.equal((await nimbus('storage', 'rm', 'files/img/second.jpg')).stdout.trim(), 'No object files/img/second.jpg; nothing to delete.');
    assert.equal((await nimbus('storage', 'rm', '--recursive', 'files/img/')).stdout.trim(), 'Deleted 1 object from files under "img/".');
  });

  it('refuses keys a URL would rewrite and a prefix without --recursive, saying what to do', async () => {
    writeFileSync(join(work, 'a.txt'), 'a');
    const dots = await nimbus('storage', 'put', 'a.txt', 'files/a/../b.txt');
    assert.equal(dots.code, 1);
    assert.match(dots.stderr, /INVALID_OBJECT_KEY: object key "a\/\.\.\/b\.txt" has "\.\." as a path segment/);
    const prefix = await nimbus('storage', 'rm', 'files/img/');
    assert.match(prefix.stderr, /ends with "\/": to delete every object under that prefix, use nimbus storage rm --recursive files\/img\//);
  });

  it('puts, gets, queries, scans and removes items, and hints when a key was read as a number', async () => {
    assert.equal((await nimbus('tables', 'put', 'users', '{"id":"42","name":"Ada"}')).stdout.trim(), 'Put the item in users (version 1).');
    assert.equal((await nimbus('tables', 'put', 'users', '{"id":"42","name":"Ada L."}', '--expected-version', '1')).stdout.trim(), 'Put the item in users (version 2).');
    const stale = await nimbus('tables', 'put', 'users', '{"id":"42"}', '--expected-version', '1');
    assert.match(stale.stderr, /^nimbus: CONDITION_FAILED: /);
    const miss = await nimbus('tables', 'get', 'users', '42');
    assert.match(miss.stderr, /no item with key \{"id":42\} in users \(42 was read as a number; for the string, quote it: '"42"'\)/);
    assert.match((await nimbus('tables', 'get', 'users', '"42"')).stdout, /"name": "Ada L\."[\s\S]*\(version 2\)/);
    for (const at of ['2026-01-02', '2026-03-04', '2025-12-31']) await nimbus('tables', 'put', 'events', JSON.stringify({ user: 'u1', at }));
    const q = await nimbus('tables', 'query', 'events', 'u1', '--begins-with', '2026-', '--reverse');
    assert.deepEqual(q.stdout.trim().split('\n').map((l) => (JSON.parse(l.replace(/\s+\(version \d+\)$/, '')) as { at: string }).at), ['2026-03-04', '2026-01-02']);
    assert.match((await nimbus('tables', 'ls')).stdout, /^events\s+cli\s+user\s+at\s+-\s+3\s+-$/m);
    assert.equal((await nimbus('tables', 'rm', 'users', '"42"')).stdout.trim(), 'Deleted the item from users.');
    const bogus = await nimbus('tables', 'valueOf', 'events');
    assert.match(bogus.stderr, /unknown tables subcommand "valueOf"/);
    assert.equal((await nimbus('tables', 'purge', 'events')).stdout.trim(), 'Purged 3 items from events.');
  });
});

describe('nimbus invocations', () => {
  it('lists invocation records newest first, filtered by status', async () => {
    const srv = await startWithApp({
      'nimbus.yml': 'app: inv\nfunctions:\n  f:\n    handler: src/f.handler\n',
      'src/f.ts': "export const handler = async (e: { fail?: boolean }) => { if (e.fail) throw Object.assign(new Error('x'), { name: 'Oops' }); return 1; };",
    });
    const work = tempDir('nimbus-cli-inv-');
    try {
      await srv.invoke('f', {});
      await srv.invoke('f', { fail: true });
      const nimbus = cli(srv, work);
      const all = await nimbus('invocations', 'f');
      assert.equal(all.code, 0, all.stderr);
      const lines = all.stdout.trim().split('\n');
      assert.match(lines[0]!, /^STARTED\s+REQUEST ID\s+TRIGGER\s+VERSION\s+OUTCOME\s+DURATION\s+BILLED\s+INIT\s+MEMORY$/);
      assert.match(lines[1]!, /\sinvoke\s+1 \(live\)\s+error \(Oops\)\s/);
      assert.match(lines[2]!, /\sinvoke\s+1 \(live\)\s+success\s.*\d+\.\d\d ms\s+\d+\/128 MB$/);
      const errors = await nimbus('invocations', 'f', '--status', 'error', '--json');
      assert.deepEqual((JSON.parse(errors.stdout) as { invocations: { errorType: string }[] }).invocations.map((r) => r.errorType), ['Oops']);
      assert.match((await nimbus('invocations', 'f', '--status', 'bogus')).stderr, /status: must be one of success, error/);
      // --since: a window that ends before now holds both; one that starts after them holds none.
      const recent = await nimbus('invocations', 'f', '--since', '1h', '--json');
      assert.equal((JSON.parse(recent.stdout) as { invocations: unknown[] }).invocations.length, 2);
      const later = await nimbus('invocations', 'f', '--since', new Date(Date.now() + 60_000).toISOString(), '--json');
      assert.equal(later.code, 0, later.stderr);
      assert.deepEqual((JSON.parse(later.stdout) as { invocations: unknown[] }).invocations, []);
    } finally {
      await srv.close();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
