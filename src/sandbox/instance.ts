// One sandbox instance: an OS process running runtime/bootstrap.mjs under Node's permission model,
// with its own directory (code read-only, tmp writable), its own uid when the server is root, a heap
// cap and an RSS watchdog from the function's memory size, and a wall-clock timeout enforced by kill.
import { chmodSync, chownSync, copyFileSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LOG_LINE_MAX_BYTES } from '../config/limits.ts';
import { errorBody } from '../errors.ts';
import { traceContext } from '../observability/trace-context.ts';
import type { LogLevel } from '../store/types.ts';
import type { SandboxLayout, UidPool } from './layout.ts';
import { MAX_FRAME_BYTES } from './channel.ts';
import type { SandboxProcess, Spawner } from './spawner.ts';

export interface FunctionError { errorType: string; errorMessage: string; trace: string[] }

export type InvokeOutcome =
  | { ok: true; json: string | undefined; maxRssBytes: number }
  | { ok: false; kind: 'error' | 'timeout' | 'crashed' | 'out-of-memory'; error: FunctionError; maxRssBytes: number };

export interface InstanceLog { ts: number; requestId: string | null; level: LogLevel; message: string }

/** What a process needs before it knows its function: a directory, a uid, a heap cap. */
export interface SandboxOptions {
  id: string;
  layout: SandboxLayout;
  uids: UidPool;
  /** Starts the process (in the spawner process, beside the server's event loop). */
  spawner: Spawner;
  memoryMb: number;
}

/** What makes a booted process one function's instance. */
export interface Assignment {
  /** Path of the bundle on the host; linked (or copied) into the instance's own code dir. */
  bundlePath: string;
  /** Use a V8 code cache at all (`nimbus serve --compile-cache off` says no): the runtime writes one into the instance's cache dir. */
  compileCache: boolean;
  /** The host's V8 code cache for this bundle (a directory), if earlier instances made one. */
  compileCacheDir?: string;
  /** Compile the bundle eagerly, so the code cache holds every function (the host decides per bundle). */
  eagerCompile?: boolean;
  /** Report, with the code cache, how much bytecode the start and first invocation compiled. */
  measureCode?: boolean;
  /**
   * Called once an instance that was not seeded has written its code cache (after its first
   * response), so the host can keep it; with how much bytecode its start and first invocation compiled.
   */
  onCompileCache?: (instanceCacheDir: string, bytecodeBytes: number | undefined) => void;
  handler: string;
  exportName: string;
  env: Record<string, string>;
  meta: {
    functionName: string; functionVersion: string; memoryMb: number; invokedFunctionArn: string; logStreamName: string;
    /** Resource names the function is granted; fetch-style handlers get a handle for each on `env`. */
    grants?: { buckets: string[]; tables: string[]; queues: string[]; topics: string[]; functions: string[]; bus: boolean };
  };
  onLog: (log: InstanceLog) => void;
  /** How long the module's import and top-level code may take. */
  initTimeoutMs: number;
  /** Removes secret values from what the instance prints and from its error messages. */
  redact?: (text: string) => string;
  /** A runtime SDK call from the function's code; its result (or error) goes back to the call. */
  /** `requestId`: the invocation the runtime says the call belongs to (untrusted: used for log lines only). */
  /** `trace`: the calling invocation's context (traceContext()), when the runtime sent a valid one. */
  onCall: (op: string, args: unknown, requestId?: string, trace?: string) => Promise<unknown>;
  onExit: (inst: Instance) => void;
}

export interface InvokeFrame {
  requestId: string;
  kind: 'event' | 'fetch';
  payload: unknown;
  timeoutMs: number;
  /** The handler span's traceparent (on `context.traceparent`; SDK calls carry it on, with the tracestate). */
  trace?: string;
  /** The caller's tracestate (on `context.tracestate`). */
  tracestate?: string;
}

/**
 * A cold start's own invocation, sent right behind init: the runtime runs it as soon as its init
 * ends, so the host does not wait to hear `initDone` before sending it (one trip over the channel
 * each way, into a process that has just gone idle: ~0.3–0.5 ms of a hello-world cold start here).
 */
export interface FirstInvoke {
  frame: InvokeFrame;
  /** The handler style the payload was built for; the runtime skips a frame built for the other one. Unset: either. */
  style?: 'lambda' | 'fetch';
  /** Called when init has ended, before the host reads anything the invocation sent: its clock starts. */
  onStart: () => void;
}

const RSS_POLL_MS = 50;
/** SDK calls one instance may have in flight. */
const MAX_CALLS_IN_FLIGHT = 64;
const PAGE_BYTES = 4096;
/** How long the host waits for a runtime's garbage collection before it moves on. */
const COLLECT_WAIT_MS = 1000;

type Pending = { resolve: (o: InvokeOutcome) => void; timer: NodeJS.Timeout | undefined; requestId: string; timeoutMs: number };

export class Instance {
  readonly id: string;
  style: 'lambda' | 'fetch' = 'lambda';
  initMs = 0;
  exited = false;
  #child: SandboxProcess;
  #opts: SandboxOptions;
  #assignment: Assignment | undefined;
  /** Called when a process exits before it is assigned (a spare that died). */
  onUnassignedExit: ((inst: Instance) => void) | undefined;
  readonly memoryMb: number;
  #codeDir: string;
  #cacheDir: string;
  #dir: string;
  #uid: number | undefined;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #stderr = '';
  #maxRss = 0;
  #rssTimer: NodeJS.Timeout | undefined;
  #killedFor: 'timeout' | 'out-of-memory' | 'oversize' | undefined;
  #timedOutId: number | undefined;
  #exitWaiters: Array<() => void> = [];
  #calls = 0;
  #frameWaiter: ((msg: RuntimeFrame) => void) | undefined;
  #cacheReported = false;
  /** The invocation sent with init: its clock starts when init ends (`onStart`, once); its outcome is taken once; `skip` resolves it undefined. */
  #first: { id: number; requestId: string; onStart: (() => void) | undefined; outcome: Promise<InvokeOutcome | undefined> | undefined; skip: () => void } | undefined;

  private constructor(opts: SandboxOptions) {
    this.id = opts.id;
    this.#opts = opts;
    this.memoryMb = opts.memoryMb;
    const { layout } = opts;
    this.#dir = join(layout.root, opts.id);
    const codeDir = join(this.#dir, 'code');
    this.#codeDir = codeDir;
    const tmpDir = join(this.#dir, 'tmp');
    this.#cacheDir = join(this.#dir, 'cache');
    mkdirSync(codeDir, { recursive: true, mode: 0o700 });
    mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.#cacheDir, { recursive: true, mode: 0o700 });
    if (layout.isolateUids) {
      this.#uid = opts.uids.take();
      for (const p of [this.#dir, tmpDir, this.#cacheDir]) chownSync(p, this.#uid, this.#uid);
    }
    const heapMb = Math.max(32, Math.floor(opts.memoryMb * 0.8));
    // The allow-list names this instance's own directories only, fixed at spawn: a spare booted
    // before it knows its function can read nothing but the code later put into its code dir.
    this.#child = opts.spawner.spawn(layout.nodePath, [
      '--permission',
      `--allow-fs-read=${layout.runtimeDir}`,
      `--allow-fs-read=${codeDir}`,
      `--allow-fs-read=${tmpDir}`,
      `--allow-fs-write=${tmpDir}`,
      `--allow-fs-read=${this.#cacheDir}`,
      `--allow-fs-write=${this.#cacheDir}`,
      `--max-old-space-size=${heapMb}`,
      '--disable-warning=ExperimentalWarning',
      '--disable-warning=SecurityWarning',
      layout.bootstrapPath,
    ], {
      cwd: codeDir,
      env: { TZ: 'UTC', LANG: 'C.UTF-8', HOME: tmpDir, TMPDIR: tmpDir },
      uid: this.#uid,
      gid: this.#uid,
    });
    this.#child.onStderr = (chunk: string) => { if (this.#stderr.length < 64 * 1024) this.#stderr += chunk; };
    this.#child.onMessage = (msg) => {
      // Frames come from untrusted code (it can reach process.send): one the host cannot handle
      // ends this instance, never the server.
      try {
        this.#onFrame(msg as RuntimeFrame);
      } catch {
        this.#stderr += '\nthe instance sent a malformed frame';
        this.kill();
      }
    };
    this.#child.onExit = () => this.#onExit();
    this.#child.onBadFrame = (oversize) => {
      if (oversize) this.#killedFor ??= 'oversize';
      else this.#stderr += '\nthe instance sent a malformed frame';
    };
  }

  /** Spawns a process and waits until its runtime is up; it belongs to no function yet. */
  static async boot(opts: SandboxOptions): Promise<Instance> {
    const inst = new Instance(opts);
    const ready = await inst.#nextFrame();
    if (ready.type !== 'ready') throw inst.#startError('Runtime.StartError', `the runtime did not start${inst.#stderrHint()}`);
    // The first message a runtime receives takes ~1 ms longer than the next (lazy set-up in Node's IPC
    // channel): spend it now, while the process is a spare, not in a cold start's init.
    inst.#child.send({ type: 'warm' });
    return inst;
  }

  /**
   * Makes a booted process this function's instance: links the bundle into its code dir (the
   * only code its allow-list can read), gives it the function's environment, imports the module
   * and runs its top-level code. Throws with `functionError` when init fails (the process is killed).
   * `first`, the invocation the start is for, is sent right behind init; `takeFirst` gives its outcome.
   */
  async assign(a: Assignment, first?: FirstInvoke): Promise<void> {
    if (this.#assignment) throw new Error(`instance ${this.id} is already assigned`);
    if (this.exited) throw this.#startError('Runtime.StartError', 'the instance exited before it was assigned');
    this.#assignment = a;
    const started = performance.now();
    const file = join(this.#codeDir, 'index.mjs');
    if (this.#uid === undefined || !linkBundle(a.bundlePath, file)) {
      await copyFile(a.bundlePath, file);
      if (this.#uid !== undefined) chownSync(file, this.#uid, this.#uid);
      chmodSync(file, 0o400);
    }
    if (this.#uid !== undefined) chownSync(this.#codeDir, this.#uid, this.#uid);
    chmodSync(this.#codeDir, 0o500);
    if (a.compileCacheDir) seedCompileCache(a.compileCacheDir, this.#cacheDir, this.#uid ?? process.getuid?.() ?? 0);
    this.#child.send({ type: 'init', codePath: file, cacheDir: a.compileCache ? this.#cacheDir : undefined, eager: a.eagerCompile === true, measureCode: a.measureCode === true, exportName: a.exportName, handler: a.handler, env: a.env, meta: a.meta });
    if (first) this.#sendFirst(first);
    // A module whose top-level code never finishes must not hold a request (or a queue batch) forever.
    let initTimedOut = false;
    const initTimer = setTimeout(() => { initTimedOut = true; this.kill(); }, a.initTimeoutMs);
    const done = await this.#nextFrame();
    clearTimeout(initTimer);
    if (initTimedOut) {
      const secs = Math.round(a.initTimeoutMs / 1000);
      const message = `the module's top-level code did not finish within ${secs} second${secs === 1 ? '' : 's'}`;
      throw Object.assign(new Error(message), { functionError: { errorType: 'Runtime.InitTimeout', errorMessage: message, trace: [] } });
    }
    if (done.type === 'initDone') {
      // The frame can come from user code (its top level can call process.send): the host keeps the style it names.
      if (done.style !== 'lambda' && done.style !== 'fetch') throw this.#startError('Runtime.ExitError', 'the runtime sent a malformed initDone frame');
      this.style = done.style;
      // Init duration as Lambda reports it: for a spare, the module's import and top-level code.
      this.initMs = performance.now() - started;
      return;
    }
    if (done.type === 'initError' || done.type === 'crash') {
      this.kill();
      throw Object.assign(new Error(done.error.errorMessage), { functionError: done.error });
    }
    if (this.#killedFor === 'oversize') throw this.#startError('Runtime.ExitError', `the module sent the host a message of more than ${MAX_FRAME_BYTES / (1024 * 1024)} MiB during init; the instance was stopped`);
    // What the module printed to stderr may hold the function's secrets.
    const hint = this.#stderrHint();
    throw this.#startError('Runtime.ExitError', `the runtime exited during init${a.redact ? a.redact(hint) : hint}`);
  }

  #startError(errorType: string, message: string): Error {
    this.kill();
    return Object.assign(new Error(message), { functionError: { errorType, errorMessage: message, trace: [] } });
  }

  #stderrHint(): string {
    const s = this.#stderr.trim();
    return s ? `: ${s.split('\n').slice(-3).join(' | ').slice(0, 500)}` : '';
  }

  #nextFrame(): Promise<RuntimeFrame> {
    return new Promise((resolve) => {
      if (this.exited) return resolve({ type: 'exited' });
      this.#frameWaiter = resolve;
    });
  }

  invoke(frame: InvokeFrame): Promise<InvokeOutcome> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      if (this.exited) {
        resolve({ ok: false, kind: 'crashed', error: { errorType: 'Runtime.ExitError', errorMessage: 'the instance is gone', trace: [] }, maxRssBytes: 0 });
        return;
      }
      this.#pending.set(id, { resolve, timer: this.#timeout(id, frame.timeoutMs), requestId: frame.requestId, timeoutMs: frame.timeoutMs });
      this.#startRssWatch();
      this.#child.send({ type: 'invoke', id, requestId: frame.requestId, kind: frame.kind, payload: frame.payload, deadline: Date.now() + frame.timeoutMs, trace: frame.trace, tracestate: frame.tracestate });
    });
  }

  #timeout(id: number, ms: number): NodeJS.Timeout {
    return setTimeout(() => {
      this.#killedFor = 'timeout';
      this.#timedOutId ??= id;
      this.kill();
    }, ms);
  }

  /** Sends the start's own invocation behind init; its timeout and deadline count from init's end. */
  #sendFirst(first: FirstInvoke): void {
    const id = this.#nextId++;
    const { frame } = first;
    let skip!: () => void;
    const outcome = new Promise<InvokeOutcome | undefined>((resolve) => {
      this.#pending.set(id, { resolve, timer: undefined, requestId: frame.requestId, timeoutMs: frame.timeoutMs });
      skip = () => resolve(undefined);
    });
    this.#first = { id, requestId: frame.requestId, onStart: first.onStart, outcome, skip };
    // `timeoutMs`: the runtime sets the deadline when it starts the handler.
    this.#child.send({ type: 'invoke', id, requestId: frame.requestId, kind: frame.kind, payload: frame.payload, timeoutMs: frame.timeoutMs, trace: frame.trace, tracestate: frame.tracestate, style: first.style });
  }

  /**
   * The outcome of the invocation sent with init for request `requestId` (once; undefined when there
   * was none). It resolves undefined when the runtime skipped it (built for the other handler
   * style): the caller sends it again, built for `style`.
   */
  takeFirst(requestId: string): Promise<InvokeOutcome | undefined> | undefined {
    const f = this.#first;
    if (!f || f.requestId !== requestId) return undefined;
    const { outcome } = f;
    f.outcome = undefined;
    return outcome;
  }

  /** Init has ended: the invocation sent with it runs now. */
  #firstStarts(): void {
    const f = this.#first;
    const p = f && this.#pending.get(f.id);
    if (!f?.onStart || !p) return;
    const onStart = f.onStart;
    f.onStart = undefined;
    p.timer = this.#timeout(f.id, p.timeoutMs);
    this.#startRssWatch();
    onStart();
  }

  get busy(): number { return this.#pending.size; }

  /**
   * Asks the runtime for one memory-reducing garbage collection (the scheduler sends it to idle
   * instances only). Resolves when the runtime says it is done, when the process exits, or after
   * COLLECT_WAIT_MS: user code can hold the runtime's event loop, and the host does not wait on it.
   * An instance that once let the wait run out is not asked again.
   */
  collectGarbage(): Promise<void> {
    if (this.exited || !this.#child.connected || this.#collecting || this.#collectUnanswered) return this.#collecting ?? Promise.resolve();
    let finish!: () => void;
    const collecting = new Promise<void>((resolve) => {
      const done = (answered: boolean): void => {
        clearTimeout(timer);
        if (this.#collectDone !== finish) return;
        this.#collectDone = undefined;
        this.#collecting = undefined;
        if (!answered) this.#collectUnanswered = true;
        resolve();
      };
      finish = () => done(true);
      const timer = setTimeout(() => done(false), COLLECT_WAIT_MS);
    });
    this.#collecting = collecting;
    this.#collectDone = finish;
    // The channel closed under us: the process is on its way out.
    if (!this.#child.send({ type: 'collect' })) finish();
    return collecting;
  }

  /**
   * While a collection runs: settles when it ends. An invocation for this instance waits for it
   * before its clock starts, so the collection is neither billed nor counted against its timeout.
   */
  get collecting(): Promise<void> | undefined { return this.#collecting; }

  #collecting: Promise<void> | undefined;
  #collectDone: (() => void) | undefined;
  #collectUnanswered = false;
  get pid(): number | undefined { return this.#child.pid; }

  /** One interval per instance for its life; it reads /proc only while an invocation runs. */
  #startRssWatch(): void {
    if (this.#rssTimer) return;
    const limit = this.#opts.memoryMb * 1024 * 1024;
    this.#rssTimer = setInterval(() => {
      if (this.#pending.size === 0) return;
      const rss = readRss(this.#child.pid);
      if (rss > this.#maxRss) this.#maxRss = rss;
      if (rss > limit) {
        this.#killedFor = 'out-of-memory';
        this.kill();
      }
    }, RSS_POLL_MS);
    this.#rssTimer.unref();
  }

  #onFrame(msg: RuntimeFrame): void {
    const redact = this.#assignment?.redact;
    if (redact) redactFrame(msg, redact);
    if (msg.type === 'log') {
      // The runtime cuts long lines itself; user code can send its own frames, so the cap is kept here.
      this.#assignment?.onLog({ ts: msg.ts, requestId: msg.requestId, level: msg.level, message: capLogLine(String(msg.message)) });
      return;
    }
    if (msg.type === 'skipped') {
      // The runtime's handler style is not the one the frame sent with init was built for.
      const f = this.#first;
      const p = f?.id === msg.id ? this.#pending.get(msg.id) : undefined;
      if (!f || !p) return;
      this.#firstStarts(); // (user code can send this frame before initDone)
      this.#pending.delete(msg.id);
      clearTimeout(p.timer);
      f.skip();
      return;
    }
    if (msg.type === 'result') {
      const p = this.#pending.get(msg.id);
      if (!p) return;
      // A result for the invocation sent with init that came before initDone (user code can send one): it started, at the latest, now.
      if (this.#first?.id === msg.id) this.#firstStarts();
      this.#pending.delete(msg.id);
      clearTimeout(p.timer);
      const maxRssBytes = Math.max(msg.maxRssBytes, this.#maxRss);
      p.resolve(msg.ok ? { ok: true, json: msg.json, maxRssBytes } : { ok: false, kind: 'error', error: msg.error, maxRssBytes });
      return;
    }
    if (msg.type === 'crash') {
      this.#crashError = msg.error;
      return;
    }
    if (msg.type === 'call') {
      const a = this.#assignment;
      const reply = (frame: Record<string, unknown>) => {
        if (this.exited || !this.#child.connected) return;
        try {
          this.#child.send({ type: 'callResult', id: msg.id, ...frame });
        } catch {
          // A result JSON cannot carry (no operation returns one today): the call fails, the server carries on.
          this.#child.send({ type: 'callResult', id: msg.id, ok: false, error: { code: 'INTERNAL', message: `the result of ${String(msg.op)} could not be sent to the function` } });
        }
      };
      if (!a) return reply({ ok: false, error: { code: 'BAD_REQUEST', message: 'no function is loaded' } });
      // One instance cannot flood the host (every call is a durable write shared with every app).
      if (this.#calls >= MAX_CALLS_IN_FLIGHT) return reply({ ok: false, error: { code: 'TOO_MANY_REQUESTS', message: `at most ${MAX_CALLS_IN_FLIGHT} SDK calls at once per instance; await some before making more` } });
      this.#calls++;
      a.onCall(String(msg.op), msg.args, typeof msg.rid === 'string' && /^[\w.:-]{1,128}$/.test(msg.rid) ? msg.rid : undefined, typeof msg.tp === 'string' && msg.tp.length <= 64 ? traceContext(msg.tp, msg.ts) : undefined)
        .then((value) => reply({ ok: true, value }), (err: unknown) => reply({ ok: false, error: errorBody(err) }))
        .finally(() => { this.#calls--; });
      return;
    }
    if (msg.type === 'collected') {
      this.#collectDone?.();
      return;
    }
    if (msg.type === 'cacheFlushed') {
      // Once per instance: the frame can come from user code, and each one costs the host a copy.
      if (this.#cacheReported) return;
      this.#cacheReported = true;
      const b = msg.bytecodeBytes;
      if (this.#assignment && !this.#assignment.compileCacheDir) this.#assignment.onCompileCache?.(this.#cacheDir, typeof b === 'number' && Number.isFinite(b) && b >= 0 ? b : undefined);
      return;
    }
    // Before reading on: what the invocation sent with init prints belongs after its START line.
    if (msg.type === 'initDone') this.#firstStarts();
    const waiter = this.#frameWaiter;
    this.#frameWaiter = undefined;
    waiter?.(msg);
  }

  #crashError: FunctionError | undefined;

  #onExit(): void {
    if (this.exited) return;
    this.exited = true;
    if (this.#rssTimer) clearInterval(this.#rssTimer);
    const oom = this.#killedFor === 'out-of-memory' || /heap out of memory|Allocation failed/i.test(this.#stderr);
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      let outcome: InvokeOutcome;
      if (this.#killedFor === 'timeout' && id !== this.#timedOutId) {
        // perInstance > 1: another invocation's timeout stopped the process this one ran in.
        outcome = { ok: false, kind: 'crashed', error: { errorType: 'Runtime.ExitError', errorMessage: 'the instance was stopped because another invocation running in it timed out', trace: [] }, maxRssBytes: this.#maxRss };
      } else if (this.#killedFor === 'timeout') {
        outcome = { ok: false, kind: 'timeout', error: { errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${(p.timeoutMs / 1000).toFixed(2)} seconds`, trace: [] }, maxRssBytes: this.#maxRss };
      } else if (this.#killedFor === 'oversize') {
        // A response (or an SDK call's arguments) far over any limit: the host stops reading it. (Log lines are cut at 256 KB by the runtime.)
        outcome = { ok: false, kind: 'error', error: { errorType: 'Function.ResponseSizeTooLarge', errorMessage: `the function sent the host a message of more than ${MAX_FRAME_BYTES / (1024 * 1024)} MiB (its response or an SDK call's arguments); the instance was stopped. A response may be at most 6 MB.`, trace: [] }, maxRssBytes: this.#maxRss };
      } else if (oom) {
        outcome = { ok: false, kind: 'out-of-memory', error: { errorType: 'Runtime.OutOfMemory', errorMessage: `Runtime exited: the instance used more than its ${this.#opts.memoryMb} MB of memory`, trace: [] }, maxRssBytes: Math.max(this.#maxRss, this.#opts.memoryMb * 1024 * 1024) };
      } else {
        const code = this.#child.exitCode;
        const error = this.#crashError ?? { errorType: 'Runtime.ExitError', errorMessage: `Runtime exited${code !== null ? ` with status ${code}` : ` on signal ${this.#child.signalCode}`} while handling the request`, trace: [] };
        outcome = { ok: false, kind: 'crashed', error, maxRssBytes: this.#maxRss };
      }
      p.resolve(outcome);
    }
    this.#pending.clear();
    this.#collectDone?.();
    this.#frameWaiter?.({ type: 'exited' });
    this.#frameWaiter = undefined;
    this.#cleanup();
    for (const w of this.#exitWaiters) w();
    if (this.#assignment) this.#assignment.onExit(this);
    else this.onUnassignedExit?.(this);
  }

  #cleanup(): void {
    try {
      // Without per-instance uids the server owns the 0500 code dir, and could not empty it.
      chmodSync(this.#codeDir, 0o700);
    } catch {
      // Gone already, or never made.
    }
    try {
      rmSync(this.#dir, { recursive: true, force: true });
    } catch {
      // A leftover directory is removed with the next server start's sweep.
    }
    if (this.#uid !== undefined) this.#opts.uids.give(this.#uid);
    this.#uid = undefined;
  }

  kill(): void {
    if (!this.exited) this.#child.kill();
  }

  /** Kills the process and resolves when it is gone. */
  stop(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.#exitWaiters.push(resolve);
      this.kill();
    });
  }
}

type RuntimeFrame =
  | { type: 'ready' }
  | { type: 'exited' }
  | { type: 'initDone'; style: 'lambda' | 'fetch'; initMs: number }
  | { type: 'initError'; error: FunctionError }
  | { type: 'crash'; error: FunctionError }
  | { type: 'cacheFlushed'; bytecodeBytes?: unknown }
  | { type: 'collected' }
  | { type: 'skipped'; id: number }
  | { type: 'call'; id: number; op: string; args: unknown; rid?: unknown; tp?: unknown; ts?: unknown }
  | { type: 'log'; ts: number; requestId: string | null; level: LogLevel; message: string }
  | { type: 'result'; id: number; ok: true; json: string | undefined; maxRssBytes: number }
  | { type: 'result'; id: number; ok: false; error: FunctionError; maxRssBytes: number };

/** Room past the cap for the note the runtime appends to a line it cut. */
const CUT_NOTE_ROOM = 64;

/**
 * A log line keeps at most LOG_LINE_MAX_BYTES bytes of UTF-8: a longer one is cut at a character's
 * start and says how many bytes were dropped. A line the runtime has cut already (its note is under
 * CUT_NOTE_ROOM bytes) passes as it is.
 */
export function capLogLine(line: string): string {
  // A UTF-16 code unit is at most 3 bytes of UTF-8: most lines need no count.
  if (line.length * 3 <= LOG_LINE_MAX_BYTES) return line;
  const bytes = Buffer.from(line, 'utf8');
  if (bytes.length <= LOG_LINE_MAX_BYTES + CUT_NOTE_ROOM) return line;
  let end = LOG_LINE_MAX_BYTES;
  while ((bytes[end]! & 0xc0) === 0x80) end--; // not inside a character
  return `${bytes.toString('utf8', 0, end)} ... [truncated ${bytes.length - end} bytes]`;
}

/** Takes secret values out of a frame's log line or error (in place) before anything reads it. */
function redactFrame(msg: RuntimeFrame, redact: (text: string) => string): void {
  // Whatever the frame holds (user code can send malformed ones), the host keeps text only.
  const text = (v: unknown): string => redact(typeof v === 'string' ? v : String(v));
  if (msg.type === 'log') msg.message = text(msg.message);
  const error = 'error' in msg && typeof msg.error === 'object' && msg.error !== null ? msg.error : undefined;
  if (error) {
    error.errorType = text(error.errorType);
    error.errorMessage = text(error.errorMessage);
    error.trace = Array.isArray(error.trace) ? error.trace.map(text) : [];
  }
}

/**
 * Puts the bundle into an instance that runs under a uid of its own as a hard link to the host's
 * copy: one syscall where a copy took ~0.4 ms of every cold start. The host's file is owned by the
 * server and read-only for everyone (the OS keeps the instance's uid from writing or re-moding it);
 * only this instance's uid can reach the link (its own 0700 directory), and nobody else the host's
 * copy (a 0700 directory). Without per-instance uids the instance runs as the server's uid, which
 * owns the host's file, so only the permission model would stand between it and every later start
 * of that code: those instances get a copy. Returns false where a link cannot serve (another file
 * system, a file the server does not own): copy then.
 */
function linkBundle(from: string, to: string): boolean {
  try {
    const st = statSync(from);
    if (st.uid !== process.getuid?.()) return false;
    // Written 0600 by an earlier version, or under a umask that took bits away.
    if ((st.mode & 0o7777) !== 0o444) chmodSync(from, 0o444);
    linkSync(from, to);
    return true;
  } catch {
    return false;
  }
}

/**
 * Copies a kept code cache into an instance's cache dir. Node names its cache subdirectory after the
 * Node version, the architecture and the process's uid (`v24.21.0-x64-964aae3f-200000`); instances run
 * under uids of their own, so the subdirectory is renamed for this instance's uid or it would miss.
 */
function seedCompileCache(from: string, to: string, uid: number): void {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dst = join(to, entry.name.replace(/-\d+$/, `-${uid}`));
    mkdirSync(dst, { recursive: true, mode: 0o700 });
    chownSync(dst, uid, uid);
    copyTree(join(from, entry.name), dst, uid);
  }
}

/** Copies a directory tree (the V8 code cache: a couple of levels, a few files), owned by `uid` when set. */
function copyTree(from: string, to: string, uid: number | undefined): void {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory()) {
      mkdirSync(dst, { recursive: true, mode: 0o700 });
      if (uid !== undefined) chownSync(dst, uid, uid);
      copyTree(src, dst, uid);
    } else if (entry.isFile()) {
      copyFileSync(src, dst);
      if (uid !== undefined) chownSync(dst, uid, uid);
    }
  }
}

function readRss(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
    return Number(fields[1]) * PAGE_BYTES;
  } catch {
    return 0;
  }
}
