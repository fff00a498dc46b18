// Starts sandbox processes through the spawner process (spawner-process.ts), so that the fork behind
// every start happens in a small process beside the server, not in the server's event loop.
//
// Each instance's channel is a connected pair of Unix sockets made here: the server connects to a
// listening socket of its own (in a 0700 directory of its own, so no other uid can connect) and
// proves the connection is its own with a random nonce, keeps the accepted end, and sends the
// connecting end to the spawner, which hands it to the new process as fd 3 and closes its copy.
// No bytes cross the pair before the process starts (the server writes nothing to an instance
// before its `ready` frame), so nobody but the instance and the server ever reads from it.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeFrame, FrameDecoder, FrameTooLarge } from './channel.ts';

const SPAWNER_PATH = fileURLToPath(new URL('./spawner-process.ts', import.meta.url));
const NONCE_BYTES = 16;
/** A connection to the pairing socket that has not proved itself by then is dropped. */
const PAIRING_TIMEOUT_MS = 5000;
/** Connections that have not proved themselves yet, at most: more are dropped at once. */
const PAIRING_MAX_PENDING = 64;
/** After a process has exited, how long its channel may take to give up what it still holds. */
const CHANNEL_DRAIN_MS = 500;
/** The pairing socket's directory under the temp dir: `nimbus-spawner-<server pid>-<random>`. */
const DIR_PREFIX = 'nimbus-spawner-';

/**
 * Removes the pairing directories of servers that are gone (a server killed with SIGKILL cannot
 * remove its own): those of this uid whose pid no longer runs. A directory whose pid was reused
 * by another process stays, harmlessly, until that one is gone too.
 */
function sweepStaleDirs(): void {
  const uid = process.getuid?.();
  let names: string[];
  try {
    names = readdirSync(tmpdir()).filter((n) => n.startsWith(DIR_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^nimbus-spawner-(\d+)-/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid <= 0 || pidRuns(pid)) continue;
    const dir = join(tmpdir(), name);
    try {
      if (statSync(dir).uid === uid) rmSync(dir, { recursive: true, force: true });
    } catch {
      // Gone already, or not ours to remove.
    }
  }
}

function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface SpawnOptions { cwd: string; env: Record<string, string>; uid?: number; gid?: number }

/** A sandbox process as the server sees it: its channel, its pid once known, and how it ended. */
export class SandboxProcess {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: string | null = null;
  exited = false;
  /** A message from the runtime; may throw (the frame was not one the host can handle). */
  onMessage: (msg: unknown) => void = () => undefined;
  onStderr: (text: string) => void = () => undefined;
  /** Called once, when the process has exited (or could not be started). */
  onExit: () => void = () => undefined;
  /** The runtime wrote something the host cannot read (the process is then killed): a line over MAX_FRAME_BYTES, or not JSON. */
  onBadFrame: (oversize: boolean) => void = () => undefined;
  #socket: Socket | undefined;
  #decoder = new FrameDecoder();
  #kill: () => void;

  constructor(kill: () => void) {
    this.#kill = kill;
  }

  /**
   * Whether messages can be sent: the channel is open and the process alive. The channel is paired
   * before the process is started, so it is open by the time the runtime's first frame arrives.
   */
  get connected(): boolean {
    return !this.exited && this.#socket !== undefined && !this.#socket.destroyed && this.#socket.writable;
  }

  /** Sends a message to the runtime; false (and nothing sent) when the channel is not open. */
  send(message: unknown): boolean {
    if (!this.connected) return false;
    this.#socket!.write(encodeFrame(message));
    return true;
  }

  kill(): void {
    if (this.exited) return;
    this.killRequested = true;
    this.#kill();
  }

  /** Set by kill(): a process not started yet is then never started. */
  killRequested = false;

  /** @internal The server's end of the channel, once paired; `rest` is what came after the nonce. */
  attach(socket: Socket, rest: Buffer): void {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    // The process's exit (from the spawner) is what ends an instance; a closed channel only stops sends.
    socket.on('error', () => undefined);
    if (rest.length) this.#read(rest);
    if (this.exited) socket.destroy();
  }

  #read(chunk: Buffer): void {
    let messages: unknown[];
    try {
      messages = this.#decoder.push(chunk);
    } catch (err) {
      this.onBadFrame(err instanceof FrameTooLarge);
      this.kill();
      this.#socket?.destroy();
      return;
    }
    for (const m of messages) {
      if (this.#socket?.destroyed) return;
      this.onMessage(m);
    }
  }

  /**
   * @internal The spawner reports the exit over a channel of its own, which the server can read
   * before this process's: what the process wrote just before it exited (a runtime's crash frame,
   * sent and then exit) may still be unread. The channel is read to its end first; the process is
   * gone, so that end comes at once (CHANNEL_DRAIN_MS bounds it, should anything else hold the fd).
   */
  ended(code: number | null, signal: string | null): void {
    if (this.exited) return;
    this.exited = true;
    this.exitCode = code;
    this.signalCode = signal;
    const socket = this.#socket;
    if (!socket || socket.destroyed || socket.readableEnded) {
      socket?.destroy();
      this.onExit();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      socket.off('end', done).off('close', done);
      socket.destroy();
      this.onExit();
    };
    const timer = setTimeout(done, CHANNEL_DRAIN_MS);
    socket.once('end', done).once('close', done);
  }
}

export class Spawner {
  #proc: ChildProcess | undefined;
  #server: Server | undefined;
  #listening: Promise<string> | undefined;
  #dir: string | undefined;
  #nextId = 1;
  #procs = new Map<number, SandboxProcess>();
  /** What each process was started as (its /proc cmdline), to recognise it by pid. */
  #cmdlines = new Map<number, string>();
  /** Pairing connections waiting for their accepted end, by nonce. */
  #pairing = new Map<string, (socket: Socket, rest: Buffer) => void>();
  #unproven = 0;
  #closed = false;
  /** Aborted by close(): whatever a start still waits for (the listening socket, its pairing) fails. */
  #stopping = new AbortController();

  /** The spawner process's pid, once it runs. */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** Starts a process: returns at once; its pid, channel and exit arrive as they happen. */
  spawn(command: string, args: string[], opts: SpawnOptions): SandboxProcess {
    const id = this.#nextId++;
    const proc = new SandboxProcess(() => this.#send({ type: 'kill', id }));
    this.#procs.set(id, proc);
    this.#cmdlines.set(id, [command, ...args, ''].join('\0'));
    this.#start(id, proc, command, args, opts).catch((err: unknown) => {
      proc.onStderr(`\nthe process could not be started: ${(err as Error).message}`);
      this.#ended(id, null, null);
    });
    return proc;
  }

  async #start(id: number, proc: SandboxProcess, command: string, args: string[], opts: SpawnOptions): Promise<void> {
    this.#openOrThrow();
    const address = await this.#listen();
    this.#openOrThrow();
    const nonce = randomBytes(NONCE_BYTES);
    const key = nonce.toString('hex');
    const ours = connect(address);
    let fail!: (err: Error) => void;
    const onStop = (): void => fail(new Error('the server is stopping'));
    try {
      const { socket, rest } = await new Promise<{ socket: Socket; rest: Buffer }>((resolve, reject) => {
        fail = (err) => {
          this.#pairing.delete(key);
          reject(err);
        };
        this.#pairing.set(key, (socket, rest) => resolve({ socket, rest }));
        this.#stopping.signal.addEventListener('abort', onStop, { once: true });
        ours.on('error', fail);
        // Dropped unproven (the server's loop was held past PAIRING_TIMEOUT_MS), or refused.
        ours.once('close', () => fail(new Error('the channel connection closed before it was paired')));
        ours.once('connect', () => ours.write(nonce));
      });
      proc.attach(socket, rest);
      this.#openOrThrow();
      if (proc.exited || proc.killRequested) {
        ours.destroy();
        this.#ended(id, null, 'SIGKILL');
        return;
      }
      // Node closes this process's copy of `ours` once it is sent.
      this.#launcher().send({ type: 'spawn', id, command, args, cwd: opts.cwd, env: opts.env, uid: opts.uid, gid: opts.gid }, ours);
    } catch (err) {
      ours.destroy();
      throw err;
    } finally {
      this.#stopping.signal.removeEventListener('abort', onStop);
    }
  }

  #openOrThrow(): void {
    if (this.#closed) throw new Error('the server is stopping');
  }

  #listen(): Promise<string> {
    this.#listening ??= new Promise<string>((resolve, reject) => {
      // A socket file in a 0700 directory: only the server's uid can connect (instances as root run
      // under uids of their own). The nonce is what keeps out a process of the same uid.
      if (!this.#dir) {
        sweepStaleDirs();
        this.#dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
      }
      // A name of its own per attempt: a failed listen may leave its file behind.
      const address = join(this.#dir, `pair-${randomBytes(4).toString('hex')}.sock`);
      const server = createServer((socket) => this.#onPairing(socket));
      server.once('error', (err) => {
        this.#listening = undefined; // the next start tries again
        reject(err);
      });
      // Closed before it listens: the callback below never comes.
      this.#stopping.signal.addEventListener('abort', () => reject(new Error('the server is stopping')), { once: true });
      server.listen(address, () => resolve(address));
      this.#server = server;
    });
    return this.#listening;
  }

  /** A connection to the pairing socket: it is ours if its first bytes are a nonce we are waiting for. */
  #onPairing(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.#unproven >= PAIRING_MAX_PENDING) {
      socket.destroy();
      return;
    }
    this.#unproven++;
    let head = Buffer.alloc(0);
    let proven = false;
    const settle = (): void => {
      if (proven) return;
      proven = true;
      this.#unproven--;
      clearTimeout(timer);
    };
    const timer = setTimeout(() => { settle(); socket.destroy(); }, PAIRING_TIMEOUT_MS);
    socket.once('close', settle);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < NONCE_BYTES) return;
      settle();
      socket.off('data', onData);
      const done = this.#pairing.get(head.subarray(0, NONCE_BYTES).toString('hex'));
      if (!done) {
        socket.destroy();
        return;
      }
      this.#pairing.delete(head.subarray(0, NONCE_BYTES).toString('hex'));
      done(socket, head.subarray(NONCE_BYTES));
    };
    socket.on('data', onData);
  }

  #launcher(): ChildProcess {
    if (this.#proc) return this.#proc;
    this.#openOrThrow();
    const proc = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', SPAWNER_PATH], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'json' });
    proc.on('message', (msg: SpawnerMessage) => this.#onMessage(msg));
    proc.on('error', () => undefined);
    proc.once('exit', () => this.#lost(proc));
    this.#proc = proc;
    return proc;
  }

  #send(msg: object): void {
    if (this.#proc?.connected) this.#proc.send(msg);
  }

  #onMessage(msg: SpawnerMessage): void {
    const proc = this.#procs.get(msg.id);
    if (!proc) return;
    if (msg.type === 'spawned') proc.pid = msg.pid;
    else if (msg.type === 'stderr') proc.onStderr(msg.text);
    else if (msg.type === 'spawnError') {
      proc.onStderr(`\nthe process could not be started: ${msg.message}`);
      this.#ended(msg.id, null, null);
    } else if (msg.type === 'exit') this.#ended(msg.id, msg.code, msg.signal);
  }

  #ended(id: number, code: number | null, signal: string | null): void {
    const proc = this.#procs.get(id);
    if (!proc) return;
    this.#procs.delete(id);
    this.#cmdlines.delete(id);
    proc.ended(code, signal);
  }

  /**
   * The spawner exited. If the server closed it, it killed and reaped its processes first. If it
   * died, its processes would go on without anyone to report their exits: each pid that still runs
   * what was started under it (its /proc cmdline; a pid can be reused once the spawner reaped it) is
   * killed here. Either way they are reported killed, and the next start starts a new spawner.
   */
  #lost(proc: ChildProcess): void {
    if (this.#proc !== proc) return;
    this.#proc = undefined;
    for (const [id, p] of [...this.#procs]) {
      if (!this.#closed && p.pid !== undefined && this.#runs(p.pid, this.#cmdlines.get(id))) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
      this.#ended(id, null, 'SIGKILL');
    }
  }

  #runs(pid: number, cmdline: string | undefined): boolean {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === cmdline;
    } catch {
      return false;
    }
  }

  /** Stops the spawner (its processes with it) and the pairing socket. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopping.abort();
    const proc = this.#proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((resolve) => proc.once('exit', resolve));
      proc.disconnect();
      await gone;
    }
    this.#server?.close();
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
  }
}

type SpawnerMessage =
  | { type: 'spawned'; id: number; pid: number }
  | { type: 'spawnError'; id: number; message: string }
  | { type: 'stderr'; id: number; text: string }
  | { type: 'exit'; id: number; code: number | null; signal: string | null };
