// Processes started through the spawner: they are the spawner's children (the server never forks),
// they talk to the server over Node's own IPC channel on a socket the server paired, and whatever
// happens to them or to the spawner, the server hears of it and nothing is left running.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, it } from 'node:test';
import { encodeFrame } from './channel.ts';
import { SandboxProcess, Spawner } from './spawner.ts';

const dir = mkdtempSync(join(tmpdir(), 'nimbus-spawner-test-'));
const script = join(dir, 'echo.mjs');
writeFileSync(script, `
process.on('message', (m) => {
  if (m.op === 'echo') process.send({ echo: m.value, from: 'child ✓' });
  if (m.op === 'facts') process.send({ ppid: process.ppid, env: { ...process.env } });
  if (m.op === 'exit') { process.stderr.write('bye from the child\\n'); process.exit(m.code); }
});
// Like user code with a timer running: the process does not end just because its channel closed.
if (process.argv[2] === 'stay') setInterval(() => undefined, 1000);
process.send({ ready: true });
`);
after(() => rmSync(dir, { recursive: true, force: true }));

function run(spawner: Spawner, ...args: string[]) {
  const proc = spawner.spawn(process.execPath, [script, ...args], { cwd: dir, env: { ONLY: 'this' } });
  const inbox: Record<string, unknown>[] = [];
  let waiter: (() => void) | undefined;
  let stderr = '';
  proc.onMessage = (m) => { inbox.push(m as Record<string, unknown>); waiter?.(); };
  proc.onStderr = (t) => { stderr += t; };
  const exited = new Promise<string>((resolve) => { proc.onExit = () => resolve(stderr); });
  const next = async (): Promise<Record<string, unknown>> => {
    while (inbox.length === 0) await new Promise<void>((r) => { waiter = r; });
    return inbox.shift()!;
  };
  return { proc, next, exited };
}

/** Running: a zombie (exited, not yet reaped by whoever its parent is now) runs nothing and holds no memory. */
const alive = (pid: number): boolean => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
  } catch {
    return false;
  }
};
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
}

it('starts processes as children of the spawner, with only the environment given, and carries messages both ways', async () => {
  const spawner = new Spawner();
  try {
    const { proc, next, exited } = run(spawner);
    assert.deepEqual(await next(), { ready: true });
    proc.send({ op: 'facts' });
    const facts = await next() as { ppid: number; env: Record<string, string> };
    assert.equal(facts.ppid, spawner.pid, 'forked by the spawner');
    assert.notEqual(facts.ppid, process.pid, 'not by the server');
    assert.deepEqual(facts.env, { ONLY: 'this' }, 'the channel variables are gone before user code runs');
    const big = 'x'.repeat(3 * 1024 * 1024); // many reads on either side
    proc.send({ op: 'echo', value: { text: 'é 🎉\nline two', list: [1, null, { a: true }], big } });
    const echo = await next() as { echo: { text: string; list: unknown[]; big: string }; from: string };
    assert.deepEqual(echo, { echo: { text: 'é 🎉\nline two', list: [1, null, { a: true }], big }, from: 'child ✓' });
    proc.send({ op: 'exit', code: 3 });
    assert.match(await exited, /bye from the child/, 'stderr is read before the exit is reported');
    assert.equal(proc.exitCode, 3);
    assert.equal(proc.connected, false);
    assert.equal(proc.send({ op: 'echo' }), false, 'nothing is sent to a process that is gone');
  } finally {
    await spawner.close();
  }
});

it('kills a process, and reports an unstartable one as exited with the reason', async () => {
  const spawner = new Spawner();
  try {
    const { proc, next, exited } = run(spawner);
    await next();
    const pid = proc.pid!;
    proc.kill();
    await exited;
    assert.equal(proc.signalCode, 'SIGKILL');
    assert.equal(alive(pid), false);
    const bad = spawner.spawn(join(dir, 'no-such-binary'), [], { cwd: dir, env: {} });
    let stderr = '';
    bad.onStderr = (t) => { stderr += t; };
    await new Promise<void>((r) => { bad.onExit = r; });
    assert.match(stderr, /could not be started: .*ENOENT/);
  } finally {
    await spawner.close();
  }
});

it('hands on what a process wrote just before it exited, even when its exit is heard first', async () => {
  // The spawner's exit report and the process's channel are two sockets: the server can read the
  // report first. A runtime sends its crash frame and exits at once; the frame must still count.
  const server = createServer();
  const path = join(dir, 'drain.sock');
  await new Promise<void>((r) => server.listen(path, r));
  try {
    const accepted = new Promise<Socket>((r) => server.once('connection', r));
    const child = connect(path);
    const ours = await accepted;
    const seen: string[] = [];
    const proc = new SandboxProcess(() => undefined);
    proc.onMessage = (m) => seen.push((m as { type: string }).type);
    const exited = new Promise<void>((r) => { proc.onExit = () => { seen.push('exit'); r(); }; });
    proc.attach(ours, Buffer.alloc(0));
    // Written and closed in this turn: the server has read none of it when the exit is reported.
    child.end(encodeFrame({ type: 'crash' }));
    proc.ended(1, null);
    assert.equal(proc.connected, false, 'nothing more is sent to an exited process');
    await exited;
    assert.deepEqual(seen, ['crash', 'exit']);

    // A channel that something else keeps open does not hold the exit back for long.
    const held = connect(path);
    const heldOurs = await new Promise<Socket>((r) => server.once('connection', r));
    const stuck = new SandboxProcess(() => undefined);
    stuck.attach(heldOurs, Buffer.alloc(0));
    const t0 = performance.now();
    await new Promise<void>((r) => { stuck.onExit = r; stuck.ended(null, 'SIGKILL'); });
    assert.ok(performance.now() - t0 < 5000);
    held.destroy();
  } finally {
    server.close();
  }
});

it('drops a connection to its pairing socket that does not bring a nonce it is waiting for', async () => {
  const spawner = new Spawner();
  try {
    const first = run(spawner);
    await first.next();
    // The listening socket is listed in /proc/net/unix (by its inode, one of this process's fds).
    const inodes = new Set(readdirSync('/proc/self/fd').map((fd) => { try { return /socket:\[(\d+)\]/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1]; } catch { return undefined; } }));
    const name = readFileSync('/proc/net/unix', 'utf8').split('\n').map((l) => l.trim().split(/\s+/))
      .find((f) => f.length >= 8 && inodes.has(f[6]!) && f[7]!.includes('nimbus-spawner-'))?.[7];
    assert.ok(name, 'the pairing socket is found');
    assert.equal(statSync(dirname(name)).mode & 0o777, 0o700, 'in a directory only the server uid can enter');
    const stranger = connect(name);
    stranger.on('error', () => undefined);
    await new Promise((r) => stranger.once('connect', r));
    stranger.write(Buffer.alloc(16, 7));
    await new Promise((r) => stranger.once('close', r));
    const second = run(spawner);
    assert.deepEqual(await second.next(), { ready: true }, 'starts still pair after a stranger');
    first.proc.kill();
    second.proc.kill();
    await Promise.all([first.exited, second.exited]);
  } finally {
    await spawner.close();
  }
});

it('reports its processes killed when the spawner dies, kills them, and starts a new spawner for the next', async () => {
  const spawner = new Spawner();
  try {
    const { proc, next, exited } = run(spawner, 'stay');
    await next();
    const pid = proc.pid!;
    const old = spawner.pid!;
    process.kill(old, 'SIGKILL');
    await exited;
    assert.equal(proc.signalCode, 'SIGKILL');
    await until(() => !alive(pid));
    assert.equal(alive(pid), false, 'the orphan is killed');
    const again = run(spawner);
    assert.deepEqual(await again.next(), { ready: true });
    assert.notEqual(spawner.pid, old);
    again.proc.kill();
    await again.exited;
  } finally {
    await spawner.close();
  }
});

it('takes its processes with it when closed', async () => {
  const spawner = new Spawner();
  const procs: SandboxProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const r = run(spawner, 'stay');
    await r.next();
    procs.push(r.proc);
  }
  const spawnerPid = spawner.pid!;
  await spawner.close();
  await until(() => procs.every((p) => !alive(p.pid!)));
  assert.equal(alive(spawnerPid), false);
  for (const p of procs) assert.equal(alive(p.pid!), false);
});

it('closed while starts are on their way, leaves nothing running and starts no spawner after', async () => {
  // Each delay lands close() at another step: pairing, the spawn request, the child booting.
  for (const delay of [-1, 0, 2, 4, 8, 16, 32]) {
    const spawner = new Spawner();
    const started = [run(spawner, 'stay'), run(spawner, 'stay')];
    if (delay >= 0) await new Promise((r) => setTimeout(r, delay));
    await spawner.close();
    await Promise.all(started.map((s) => s.exited));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(spawner.pid, undefined, `no spawner after close (close after ${delay} ms)`);
    const left = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && alive(Number(p))).filter((p) => {
      try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(script); } catch { return false; }
    });
    assert.deepEqual(left, [], `no process left running (close after ${delay} ms)`);
  }
});

it('removes the pairing directories of servers that are gone (killed before they could), and no other', async () => {
  const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
  const stale = join(tmpdir(), `nimbus-spawner-${deadPid}-testgone`);
  const live = join(tmpdir(), `nimbus-spawner-${process.pid}-testlive`);
  for (const d of [stale, live]) {
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'pair-0.sock'), '');
  }
  const spawner = new Spawner();
  try {
    const r = run(spawner);
    await r.next();
    assert.equal(existsSync(stale), false, 'the directory of a pid that no longer runs is removed');
    assert.equal(existsSync(live), true, 'the directory of a running server stays');
    r.proc.kill();
    await r.exited;
  } finally {
    await spawner.close();
    rmSync(live, { recursive: true, force: true });
  }
});
