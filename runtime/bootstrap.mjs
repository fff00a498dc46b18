// @ts-check
// The Nimbus runtime: runs inside every sandbox process, before and around user code.
// It imports only Node built-ins — nothing from the host's src/ — and speaks JSON frames with the
// host over the IPC channel: host → {warm | init | invoke | callResult | collect}, runtime → {ready | initDone | initError | log | result | skipped | crash | cacheFlushed | call | collected}.
// The permission model (--permission) confines the file system; this file closes the gaps it
// leaves (node:sqlite opens files natively, process.kill signals any pid, node:v8 changes V8's
// flags) before user code loads.
import { AsyncLocalStorage } from 'node:async_hooks';
import { enableCompileCache, flushCompileCache, registerHooks, syncBuiltinESMExports } from 'node:module';
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';

const send = process.send.bind(process);
const FORBIDDEN_BUILTINS = new Set(['sqlite', 'node:sqlite']);

function denied(what) {
  const err = new Error(`${what} is not available inside a Nimbus function`);
  Object.assign(err, { code: 'ERR_ACCESS_DENIED' });
  return err;
}

// --- hardening, before any user code -----------------------------------------------------------
const getBuiltinModule = process.getBuiltinModule.bind(process);
/** @type {((flags: string) => void) | undefined} node:v8's own setFlagsFromString, once v8Module() has run. */
let v8SetFlags;
/**
 * node:v8, with setFlagsFromString taken away from user code: with it, code could switch on V8's
 * testing flags in the running process (--allow-natives-syntax gives it V8's internal functions).
 * The module is patched when first asked for, by anyone (loading it costs ~0.4 MiB, so instances
 * that never use it don't), and before user code can hold it: every way to it passes here.
 */
function v8Module() {
  const v8 = getBuiltinModule('node:v8');
  if (!v8SetFlags) {
    v8SetFlags = v8.setFlagsFromString;
    v8.setFlagsFromString = () => { throw denied('changing V8 flags (node:v8 setFlagsFromString)'); };
    // Should its ESM face exist already, import { setFlagsFromString } from 'node:v8' reads the patched one too.
    syncBuiltinESMExports();
  }
  return v8;
}
/** Changes V8's flags, for the runtime alone (code caches, idle collections). */
function setV8Flags(/** @type {string} */ flags) {
  v8Module();
  v8SetFlags?.(flags);
}
const isV8 = (/** @type {string} */ id) => id === 'v8' || id === 'node:v8';
registerHooks({
  resolve(specifier, context, next) {
    if (FORBIDDEN_BUILTINS.has(specifier)) throw denied(specifier);
    // What a name resolves to, not only the name: a package's "imports" map, or an overridden
    // Module._resolveFilename, can turn a name of user code's choosing into a built-in.
    const resolved = next(specifier, context);
    if (resolved.url === 'node:sqlite') throw denied(specifier);
    if (resolved.url === 'node:v8') v8Module();
    return resolved;
  },
});
process.getBuiltinModule = (id) => {
  if (FORBIDDEN_BUILTINS.has(id)) throw denied(id);
  return isV8(id) ? v8Module() : getBuiltinModule(id);
};
// Hooks registered later run first: user code's own hook could resolve a made-up name to node:sqlite
// or node:v8 and never reach the one above. So nobody registers another (module.register needs a
// worker thread, refused by the permission model anyway).
{
  const nodeModule = getBuiltinModule('node:module');
  nodeModule.registerHooks = () => { throw denied('registering module hooks'); };
  nodeModule.register = () => { throw denied('registering module hooks'); };
  syncBuiltinESMExports();
}
process.kill = (pid, signal) => {
  if (pid === process.pid) return process.reallyExit(signal === 0 ? 0 : 128), true;
  throw denied('signalling other processes');
};
// @ts-expect-error -- internal alias of kill, removed so it cannot be used to reach the syscall.
delete process._kill;

// --- idle memory ---------------------------------------------------------------------------------
/** Heaps above this are left alone: a last-resort collection takes ~0.7 ms per MiB live (~400 ms at 576 MiB). */
const COLLECT_MAX_HEAP_BYTES = 64 * 1024 * 1024;
const memoryUsage = process.memoryUsage;
/** @type {((options: object) => void) | undefined} */
let gc;
/**
 * One memory-reducing garbage collection, when the host asks for it (an idle instance; see
 * src/scheduler/idle-gc.ts): V8's "last resort", full collections until nothing more is freed, then
 * the young generation shrunk and free pages returned to the system (~10–15 ms for a small heap).
 * V8 hands `gc` only to contexts created while --expose-gc is set: starting every process with the
 * flag costs each boot ~8 ms, so the first collection sets it, takes `gc` from a new context and
 * clears it again (V8's flags are part of the code cache's key). This keeps `gc` out of user code's
 * way, though all it could do with it is slow its own instance.
 */
function collectGarbage() {
  if (memoryUsage.call(process).heapUsed > COLLECT_MAX_HEAP_BYTES) return;
  if (!gc) {
    setV8Flags('--expose-gc');
    try {
      gc = getBuiltinModule('node:vm').runInNewContext('gc');
    } finally {
      setV8Flags('--no-expose-gc');
    }
  }
  gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

// --- logs ----------------------------------------------------------------------------------------
/** @type {AsyncLocalStorage<{ requestId: string, trace?: string, tracestate?: string }>} */
const als = new AsyncLocalStorage();
let lastRequestId = null;
const MAX_LINE = 256 * 1024;

function emitLog(level, text) {
  const requestId = als.getStore()?.requestId ?? lastRequestId;
  let message = text.endsWith('\n') ? text.slice(0, -1) : text;
  // Cut at MAX_LINE bytes of UTF-8, on a character's start (the host keeps the same cap).
  if (message.length * 3 > MAX_LINE) {
    const bytes = Buffer.from(message, 'utf8');
    if (bytes.length > MAX_LINE) {
      let end = MAX_LINE;
      while ((bytes[end] & 0xc0) === 0x80) end--;
      message = `${bytes.toString('utf8', 0, end)} ... [truncated ${bytes.length - end} bytes]`;
    }
  }
  send({ type: 'log', ts: Date.now(), requestId, level, message });
}

const levels = { log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG', trace: 'TRACE' };
const PINO_LEVELS = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_NAMES = { TRACE: 'TRACE', DEBUG: 'DEBUG', INFO: 'INFO', WARN: 'WARN', WARNING: 'WARN', ERROR: 'ERROR', FATAL: 'FATAL', CRITICAL: 'FATAL' };

/**
 * Structured logging: one plain object (or one string of JSON object text) is kept as JSON, and
 * its `level` field, when it names a level, is the line's level — `console.log({ level: 'warn',
 * message: 'slow', ms: 812 })` is a WARN line whose fields the API hands back parsed.
 * @returns {{ level: string, text: string } | undefined}
 */
function structured(args, level) {
  if (args.length !== 1) return undefined;
  let obj = args[0];
  let text;
  if (typeof obj === 'string') {
    if (!(obj.startsWith('{') && obj.trimEnd().endsWith('}'))) return undefined;
    try { obj = JSON.parse(obj); } catch { return undefined; }
    text = args[0].trim();
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj) || (Object.getPrototypeOf(obj) !== Object.prototype && Object.getPrototypeOf(obj) !== null)) return undefined;
  text ??= safeJson(obj);
  if (text === undefined) return undefined;
  // Names in any case, or pino's numbers (10 trace … 60 fatal).
  const named = typeof obj.level === 'string' ? LEVEL_NAMES[obj.level.toUpperCase()] : typeof obj.level === 'number' ? PINO_LEVELS[obj.level] : undefined;
  return { level: named ?? level, text };
}

for (const [method, level] of Object.entries(levels)) {
  console[method] = (...args) => {
    const s = method === 'trace' ? undefined : structured(args, level);
    if (s) return emitLog(s.level, s.text);
    emitLog(level, method === 'trace' ? format(...args) + '\n' + new Error().stack?.split('\n').slice(2).join('\n') : format(...args));
  };
}
for (const [stream, level] of [[process.stdout, 'INFO'], [process.stderr, 'ERROR']]) {
  // @ts-ignore -- writes from user code become log frames; the real streams are not used.
  stream.write = (chunk, encoding, cb) => {
    emitLog(level, typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const done = typeof encoding === 'function' ? encoding : cb;
    if (typeof done === 'function') queueMicrotask(done);
    return true;
  };
}

// --- crashes -------------------------------------------------------------------------------------
function crash(errorType, err) {
  // As Lambda: the crash kind is the type, the original error goes into the message.
  const e = toError(err);
  send({ type: 'crash', error: { errorType, errorMessage: `${e.errorType}: ${e.errorMessage}`, trace: e.trace } }, () => process.reallyExit(1));
}
process.on('uncaughtException', (err) => crash('Runtime.UncaughtException', err));
process.on('unhandledRejection', (err) => crash('Runtime.UnhandledPromiseRejection', err));

/** Lambda's error object. The type is the error's name (or its class name), `Error` for plain errors. */
function toError(err) {
  // Whatever user code threw goes to the host as JSON: only strings, however odd the error (a BigInt
  // name, a message that contains itself, a getter that throws).
  try {
    if (err instanceof Error) {
      const ctor = err.constructor?.name;
      const errorType = err.name && err.name !== 'Error' ? text(err.name) : (ctor && ctor !== 'Object' ? text(ctor) : 'Error');
      return { errorType, errorMessage: text(err.message), trace: typeof err.stack === 'string' ? err.stack.split('\n') : [] };
    }
    return { errorType: 'Error', errorMessage: typeof err === 'string' ? err : safeJson(err) ?? text(err), trace: [] };
  } catch {
    return { errorType: 'Error', errorMessage: 'the function threw a value that could not be read', trace: [] };
  }
}

function text(value) {
  if (typeof value === 'string') return value;
  try { return String(value); } catch { return '[a value that could not be printed]'; }
}

function safeJson(value) {
  try { return JSON.stringify(value); } catch { return undefined; }
}

// --- runtime SDK bridge ----------------------------------------------------------------------------
// `import { queues } from 'nimbus/sdk'` (bundled into the function) calls through this. The host
// authorises every call against this instance's function; nothing here decides what is allowed.
/** @type {Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>} */
const calls = new Map();
let nextCall = 1;
function sdkCall(op, args) {
  return new Promise((resolve, reject) => {
    const id = nextCall++;
    calls.set(id, { resolve, reject });
    // The invocation it belongs to, so a refused call's log line carries its request id.
    const store = als.getStore();
    try {
      send({ type: 'call', id, op, args, rid: store?.requestId, tp: store?.trace, ts: store?.tracestate });
    } catch (err) {
      // The channel carries JSON: a BigInt or a circular value cannot cross it.
      calls.delete(id);
      const message = `the arguments of ${op} cannot be sent to the host (${err instanceof Error ? err.message : String(err)}); pass values JSON can hold`;
      reject(Object.assign(new Error(message), { name: 'BAD_REQUEST', code: 'BAD_REQUEST' }));
    }
  });
}
function onCallResult(msg) {
  const c = calls.get(msg.id);
  if (!c) return;
  calls.delete(msg.id);
  if (msg.ok) c.resolve(msg.value);
  else c.reject(Object.assign(new Error(msg.error.message), { name: msg.error.code, code: msg.error.code }));
}
Object.defineProperty(globalThis, Symbol.for('nimbus.sdk'), { value: Object.freeze({ call: sdkCall, traceparent: () => als.getStore()?.trace, tracestate: () => als.getStore()?.tracestate }), enumerable: false, writable: false, configurable: false });

// --- init and invoke -----------------------------------------------------------------------------
/** @type {{ style: 'lambda' | 'fetch', fn: Function | { fetch: Function }, env: Record<string, string>, meta: any, cacheDir?: string, measureCode?: boolean }} */
let loaded;

async function init(msg) {
  for (const [k, v] of Object.entries(msg.env)) process.env[k] = v;
  const started = performance.now();
  // V8 code cache in the instance's own cache dir, seeded by the host from earlier instances of the
  // same code; portable, so entries are keyed by the path relative to it (the same in every instance).
  if (msg.cacheDir) enableCompileCache({ directory: msg.cacheDir, portable: true });
  // The cache is taken right after the module compiles, before it runs: with lazy compilation it
  // holds the top level only. For a bundle whose code mostly runs at start (the host decides, from
  // what its first instance compiled), compiling eagerly puts every function in it. The flag is part
  // of the cache's key, so it is set for writing and reading alike, and only around this import.
  // node:v8 is loaded only here, for large bundles: loading it costs every instance ~0.4 MiB.
  const v8 = msg.cacheDir && (msg.eager || msg.measureCode) ? v8Module() : undefined;
  const eager = Boolean(v8 && msg.eager);
  if (eager) setV8Flags('--no-lazy');
  if (v8 && msg.measureCode) bytecodeBefore = v8.getHeapCodeStatistics().bytecode_and_metadata_size;
  let mod;
  try {
    mod = await import(pathToFileURL(msg.codePath).href);
  } catch (err) {
    send({ type: 'initError', error: toError(err) });
    return;
  } finally {
    if (eager) setV8Flags('--lazy');
  }
  let exp = mod[msg.exportName];
  // CommonJS sources bundle to `export default module.exports`.
  if (exp === undefined && mod.default && typeof mod.default === 'object') exp = mod.default[msg.exportName];
  let style;
  if (typeof exp === 'function') style = 'lambda';
  else if (exp && typeof exp === 'object' && typeof exp.fetch === 'function') style = 'fetch';
  else {
    send({ type: 'initError', error: { errorType: 'Runtime.HandlerNotFound', errorMessage: `${msg.handler} is undefined or not exported (expected a function, or an object with a fetch method)`, trace: [] } });
    return;
  }
  let env = msg.env;
  // A fetch-style handler's `env` also holds a handle per granted resource (env.buckets.uploads, ...).
  const g = msg.meta.grants;
  if (style === 'fetch' && g && (g.bus || ['buckets', 'tables', 'queues', 'topics', 'functions'].some((k) => g[k].length > 0))) {
    const { bindings } = await import('./sdk.mjs');
    // The manifest refuses environment variables with these names, so nothing is shadowed.
    env = { ...msg.env, ...bindings(g) };
  }
  loaded = { style, fn: exp, env, meta: msg.meta, cacheDir: msg.cacheDir, measureCode: Boolean(msg.measureCode) };
  send({ type: 'initDone', style, initMs: performance.now() - started });
}

function lambdaContext(msg) {
  const m = loaded.meta;
  return {
    awsRequestId: msg.requestId,
    functionName: m.functionName,
    functionVersion: m.functionVersion,
    memoryLimitInMB: String(m.memoryMb),
    invokedFunctionArn: m.invokedFunctionArn,
    logGroupName: `/aws/lambda/${m.functionName}`,
    logStreamName: m.logStreamName,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, msg.deadline - Date.now()),
    // W3C trace context of this invocation (the handler's span): continue it in outgoing calls.
    traceparent: msg.trace,
    // The caller's W3C tracestate (vendor entries), when it sent one with its traceparent.
    tracestate: msg.tracestate,
  };
}

function callLambda(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (err, value) => {
      if (settled) return;
      settled = true;
      if (err !== null && err !== undefined) reject(err);
      else resolve(value);
    };
    let out;
    try {
      out = handler.length >= 3 ? handler(event, context, callback) : handler(event, context);
    } catch (err) {
      callback(err);
      return;
    }
    if (out && typeof out.then === 'function') out.then((v) => callback(null, v), (e) => callback(e ?? new Error('handler rejected')));
    else if (handler.length < 3) callback(null, out);
  });
}

function toRequest(req) {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && req.bodyB64;
  return new Request(req.url, { method: req.method, headers: req.headers, body: hasBody ? Buffer.from(req.bodyB64, 'base64') : undefined });
}

async function fromResponse(res) {
  if (!(res instanceof Response)) throw Object.assign(new Error('fetch handler must return a Response'), { name: 'Runtime.InvalidResponse' });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: [...res.headers], bodyB64: body.toString('base64') };
}

async function runInvocation(msg) {
  const { fn, style } = loaded;
  if (style === 'lambda') {
    return callLambda(fn, msg.payload, lambdaContext(msg));
  }
  const waits = [];
  const ctx = { waitUntil: (p) => { waits.push(Promise.resolve(p).catch(() => {})); }, passThroughOnException: () => {}, traceparent: msg.trace, tracestate: msg.tracestate };
  if (msg.kind === 'fetch') {
    const res = await fn.fetch(toRequest(msg.payload), loaded.env, ctx);
    return fromResponse(res);
  }
  // An event (a direct invoke, a queue batch, an async event): POSTed as JSON; a JSON response body
  // comes back as the result, and a response that is not 2xx is the function failing (so a queue
  // batch comes back, an async event is retried), as a thrown error would be.
  const res = await fn.fetch(new Request('http://localhost/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(msg.payload ?? null) }), loaded.env, ctx);
  if (!(res instanceof Response)) throw Object.assign(new Error('fetch handler must return a Response'), { name: 'Runtime.InvalidResponse' });
  const text = await res.text();
  if (!res.ok) throw Object.assign(new Error(`the fetch handler answered ${res.status}${text ? `: ${text.slice(0, 500)}` : ''}`), { name: 'HttpError' });
  try { return JSON.parse(text); } catch { return text; }
}

// getrusage is a syscall: sample the peak at most every 100 ms (the host also samples while busy).
let rssSampledAt = 0;
let rssPeak = 0;
function peakRss() {
  const now = Date.now();
  if (now - rssSampledAt >= 100) {
    rssPeak = process.resourceUsage().maxRSS * 1024;
    rssSampledAt = now;
  }
  return rssPeak;
}

async function invoke(msg) {
  // Sent with init, built for the handler style the host expected: the host sends it again if it guessed wrong.
  if (msg.style && loaded && msg.style !== loaded.style) {
    send({ type: 'skipped', id: msg.id });
    return;
  }
  // An invocation sent with init gets its deadline when it starts.
  msg.deadline ??= Date.now() + msg.timeoutMs;
  lastRequestId = msg.requestId;
  let frame;
  try {
    const value = await als.run({ requestId: msg.requestId, trace: msg.trace, tracestate: msg.tracestate }, () => runInvocation(msg));
    let json;
    try {
      json = value === undefined ? undefined : JSON.stringify(value);
    } catch (err) {
      throw Object.assign(new Error(`the result cannot be serialised as JSON: ${err instanceof Error ? err.message : String(err)}`), { name: 'Runtime.MarshalError' });
    }
    frame = { type: 'result', id: msg.id, ok: true, json };
  } catch (err) {
    frame = { type: 'result', id: msg.id, ok: false, error: toError(err) };
  }
  frame.maxRssBytes = peakRss();
  send(frame);
  // The code cache is written once, after the first response has gone, so it delays no one.
  if (loaded.cacheDir && !cacheFlushed) {
    cacheFlushed = true;
    setImmediate(() => {
      flushCompileCache();
      // How much bytecode the module's start and first invocation compiled (a heap walk, ~1 ms):
      // against the bundle's size, it tells the host how much of the code runs.
      send({ type: 'cacheFlushed', bytecodeBytes: loaded.measureCode ? v8Module().getHeapCodeStatistics().bytecode_and_metadata_size - bytecodeBefore : undefined });
    });
  }
}
let cacheFlushed = false;
let bytecodeBefore = 0;

/**
 * Runs the invoke path a few times on a built-in handler before saying ready, so a spare's first
 * real invocation does not pay for initialising the ESM loader and compiling this file's hot code.
 */
async function warmUp() {
  // performance (perf_hooks) loads on first use, ~0.5 ms: init times itself with it. So does
  // resourceUsage (0.07–0.3 ms the first time, 7 µs after), which every invocation's result reads.
  performance.now();
  process.resourceUsage();
  const mod = await import('data:text/javascript,export const handler = async (e, c) => ({ statusCode: 200, body: JSON.stringify({ e, id: c.awsRequestId }) });');
  loaded = { style: 'lambda', fn: mod.handler, env: {}, meta: { functionName: 'warmup', functionVersion: '$LATEST', memoryMb: 128, invokedFunctionArn: '', logStreamName: '' } };
  for (let i = 0; i < 5; i++) {
    const msg = { requestId: 'warmup', kind: 'event', payload: { rawPath: '/', headers: { host: 'x' }, body: '{}' }, deadline: Date.now() + 1000 };
    JSON.stringify(await als.run({ requestId: 'warmup' }, () => runInvocation(msg)));
  }
  // @ts-ignore -- back to "no function yet"; init sets it.
  loaded = undefined;
}

/** The init under way: an invocation the host sent right behind it waits for it (and is dropped if init failed: the host stops the process). */
let initializing;

process.on('message', (msg) => {
  // @ts-ignore -- frames come from the host, shaped as above.
  if (msg.type === 'init') initializing = init(msg);
  // @ts-ignore
  else if (msg.type === 'invoke') {
    if (loaded || !initializing) void invoke(msg);
    else void initializing.then(() => { if (loaded) return invoke(msg); });
  }
  // @ts-ignore
  else if (msg.type === 'callResult') onCallResult(msg);
  // @ts-ignore
  else if (msg.type === 'collect') {
    try {
      collectGarbage();
    } finally {
      send({ type: 'collected' });
    }
  }
  // 'warm': sent once right after 'ready', so the first message a process receives (whose path through
  // Node's IPC channel is slow the first time) is not a cold start's init.
});
await warmUp();
send({ type: 'ready' });
