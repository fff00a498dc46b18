// The spawner: a small process the server starts once, which starts every sandbox process for it.
// Starting a process from Node forks the caller, and a fork copies the caller's page tables: from
// the server (a few hundred MB resident once it has served a while) that took 13–20 ms of its event
// loop per instance, which bounded bursts of cold starts. This process stays small, so its forks
// are cheap, and they run beside the server's event loop rather than on it.
//
// Server → spawner: { spawn, id, command, args, cwd, env, uid, gid } with a socket (the instance's
// end of its channel, which the server already holds the other end of), { kill, id }.
// Spawner → server: { spawned, id, pid }, { spawnError, id, message }, { stderr, id, text },
// { exit, id, code, signal } (after the process's stderr has been read to its end).
// It imports only Node built-ins, and trusts only the server (its parent, over the IPC channel).
import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';

/** What the server hears of one process's stderr (the runtime's own fatal errors land there). */
const STDERR_MAX_CHARS = 64 * 1024;

interface SpawnRequest { type: 'spawn'; id: number; command: string; args: string[]; cwd: string; env: Record<string, string>; uid?: number; gid?: number }
type Request = SpawnRequest | { type: 'kill'; id: number };

const children = new Map<number, ChildProcess>();
// A send can race the server's disconnect (EPIPE): with a callback the error goes there, not to an
// 'error' event that would end this process before it has killed its children.
const send = (msg: object): void => {
  if (process.connected) process.send!(msg, undefined, {}, () => undefined);
};
process.on('error', () => undefined);

function start(req: SpawnRequest, channel: Socket | undefined): void {
  if (!channel) {
    send({ type: 'spawnError', id: req.id, message: 'no channel came with the request' });
    return;
  }
  let child: ChildProcess;
  try {
    // fd 3 is the channel: Node's runtime opens it as its IPC channel (process.send) because of
    // NODE_CHANNEL_FD, and removes both variables from process.env before any other code runs.
    child = spawn(req.command, req.args, {
      cwd: req.cwd,
      env: { ...req.env, NODE_CHANNEL_FD: '3', NODE_CHANNEL_SERIALIZATION_MODE: 'json' },
      stdio: ['ignore', 'ignore', 'pipe', channel],
      uid: req.uid,
      gid: req.gid,
    });
  } catch (err) {
    channel.destroy();
    send({ type: 'spawnError', id: req.id, message: (err as Error).message });
    return;
  }
  // The child has its own copy of the channel now; this process must never read from it.
  channel.destroy();
  if (child.pid === undefined) {
    child.once('error', (err) => send({ type: 'spawnError', id: req.id, message: err.message }));
    return;
  }
  children.set(req.id, child);
  send({ type: 'spawned', id: req.id, pid: child.pid });
  let told = 0;
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    if (told >= STDERR_MAX_CHARS) return;
    told += text.length;
    send({ type: 'stderr', id: req.id, text });
  });
  child.once('close', (code, signal) => {
    children.delete(req.id);
    send({ type: 'exit', id: req.id, code, signal });
  });
}

process.on('message', (msg: Request, handle: unknown) => {
  if (msg.type === 'spawn') start(msg, handle as Socket | undefined);
  else if (msg.type === 'kill') children.get(msg.id)?.kill('SIGKILL');
});

// The server is gone (or closing): nothing here may outlive it. The children are reaped before
// this process exits, so that none is left for init to collect.
process.on('disconnect', () => {
  for (const c of children.values()) c.kill('SIGKILL');
  const left = [...children.values()].filter((c) => c.exitCode === null && c.signalCode === null);
  if (left.length === 0) process.exit(0);
  let n = left.length;
  for (const c of left) c.once('exit', () => { if (--n === 0) process.exit(0); });
});
