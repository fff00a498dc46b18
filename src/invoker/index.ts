// The one entry point for running a function, whatever the trigger: resolves the qualifier (an
// alias, possibly split by weight, a version number or $LATEST) to the version that runs, takes an
// instance of it from the scheduler, runs the invocation, and reports it — START/END/REPORT log
// lines and an invocation record, both written behind the response.
import { MAX_SYNC_PAYLOAD_BYTES } from '../config/limits.ts';
import { isNimbusError, NimbusError } from '../errors.ts';
import type { RecordWriter } from '../observability/records.ts';
import type { FunctionError, InvokeOutcome } from '../sandbox/instance.ts';
import type { FirstInvocation, Scheduler } from '../scheduler/index.ts';
import type { FunctionRecord, InvocationRecord, LogLevel, Outcome } from '../store/types.ts';
import { type Attributes, ShapeCache, type SpanHandle, type SpanKindName, type SpanShape, type Tracing } from '../observability/tracing.ts';
import { DEFAULT_ALIAS } from '../store/versions.ts';
import { isRetired } from '../scheduler/pool.ts';

export interface InvokeRequest {
  /** The function (as the registry holds it); `qualifier` says which of its versions runs. */
  fn: FunctionRecord;
  /** An alias, a version number or `$LATEST` (default: the `live` alias). */
  qualifier?: string;
  requestId: string;
  trigger: InvocationRecord['trigger'];
  /** Builds what the instance receives for a handler of that style (lambda or fetch). */
  prepare: (style: 'lambda' | 'fetch') => { kind: 'event' | 'fetch'; payload: unknown };
  /** `prepare` builds a different payload per style (an HTTP request); otherwise it is the same for both. */
  styled?: boolean;
  /** The caller's trace context (as traceContext() carries it, or the caller's span in this process): the invocation's span is its child, and its tracestate reaches user code. A new trace without. */
  trace?: string | SpanHandle;
}

export interface InvokeResult {
  requestId: string;
  style: 'lambda' | 'fetch';
  outcome: Outcome;
  /** The handler's result as JSON text (undefined when it returned nothing); set on success. */
  json?: string;
  error?: FunctionError;
  durationMs: number;
  billedDurationMs: number;
  initDurationMs: number | null;
  cold: boolean;
  maxMemoryUsedMb: number;
  traceId?: string;
  /** The version that ran. */
  version: number;
}

// (A getter: read once.)
const TIME_ORIGIN = performance.timeOrigin;

/** Which version of a function a qualifier names, by the configuration loaded now (the registry's resolve). */
export type ResolveVersion = (fn: FunctionRecord, qualifier?: string) => FunctionRecord;

/** How each trigger's invocation span is kind-ed (OpenTelemetry's FaaS conventions). */
const SPAN_KIND: Record<InvocationRecord['trigger'], SpanKindName> = { http: 'server', invoke: 'server', async: 'consumer', queue: 'consumer', table: 'consumer', workflow: 'internal' };
const FAAS_TRIGGER: Record<InvocationRecord['trigger'], string> = { http: 'http', invoke: 'other', async: 'pubsub', queue: 'pubsub', table: 'datasource', workflow: 'other' };

// (Every outcome: the type checker holds this list to the Outcome type.)
const OUTCOMES = Object.keys({ success: 1, error: 1, timeout: 1, throttled: 1, crashed: 1, 'out-of-memory': 1, 'init-error': 1 } satisfies Record<Outcome, 1>) as Outcome[];
const TRIGGERS = Object.keys(SPAN_KIND) as InvocationRecord['trigger'][];

// An invocation span ends with the shape of its trigger, cold or warm, and outcome: those attributes
// (faas.coldstart, nimbus.outcome) are copied with the shape's bytes rather than encoded per span. The
// keys are made once, so that the hot path looks a shape up without building a string.
type EndKey = `${InvocationRecord['trigger']} ${'cold' | 'warm'} ${Outcome}`;
const END_KEY = Object.fromEntries(TRIGGERS.map((t) => [t, [false, true].map((cold) =>
  Object.fromEntries(OUTCOMES.map((o) => [o, `${t} ${cold ? 'cold' : 'warm'} ${o}`])))])) as Record<InvocationRecord['trigger'], Record<Outcome, EndKey>[]>;

export class Invoker {
  readonly #scheduler: Scheduler;
  readonly #records: RecordWriter;
  readonly #tracing: Tracing;
  readonly #resolve: ResolveVersion;
  // The invoke span's shape, by function version and trigger; the handler span's.
  readonly #shapes: ShapeCache<FunctionRecord, InvocationRecord['trigger']>;
  readonly #handlerShape: SpanShape;
  readonly #endShapes: ShapeCache<FunctionRecord, EndKey>;

  constructor(scheduler: Scheduler, records: RecordWriter, tracing: Tracing, resolve: ResolveVersion = (fn) => fn) {
    this.#scheduler = scheduler;
    this.#records = records;
    this.#tracing = tracing;
    this.#resolve = resolve;
    const shape = (fn: FunctionRecord, trigger: InvocationRecord['trigger'], more?: Attributes) =>
      tracing.shape(`invoke ${fn.name}`, SPAN_KIND[trigger], { 'faas.invoked_name': fn.name, 'faas.trigger': FAAS_TRIGGER[trigger], 'nimbus.trigger': trigger, ...more });
    this.#shapes = new ShapeCache((fn, trigger) => shape(fn, trigger));
    this.#handlerShape = tracing.shape('handler', 'internal');
    this.#endShapes = new ShapeCache((fn, key) => {
      const [trigger, cold, outcome] = key.split(' ') as [InvocationRecord['trigger'], string, Outcome];
      return shape(fn, trigger, { 'faas.coldstart': cold === 'cold', 'nimbus.outcome': outcome });
    });
  }

  #line(fn: string, requestId: string, level: LogLevel, message: string): void {
    this.#records.log({ ts: Date.now(), fn, requestId, level, message });
  }

  async invoke(asked: InvokeRequest): Promise<InvokeResult> {
    let fn = this.#resolve(asked.fn, asked.qualifier);
    let req = fn === asked.fn ? asked : { ...asked, fn };
    const { requestId } = req;
    const startedAt = Date.now();
    const t0 = performance.now();
    // The spans' clock (high resolution): the cold start and init spans start with the invocation's, not before it.
    const t0Ms = TIME_ORIGIN + t0;
    const span = this.#tracing.startShaped(this.#shapes.get(fn, req.trigger), req.trace, { 'faas.invocation_id': requestId }, t0Ms);
    // If a cold start of its own serves this request, the invocation is sent with init (built for the
    // style the host expects) and starts, with its START line and its clock, when init ends.
    let handler: SpanHandle | undefined;
    let h0 = 0;
    const begin = (): void => {
      h0 = performance.now();
      this.#line(fn.name, requestId, 'INFO', `START RequestId: ${requestId} Version: ${fn.revision}`);
    };
    const first: FirstInvocation = {
      build: (style) => {
        const f = req.prepare(style);
        // (Its start is the invocation's for now: onStart() moves it to when the handler starts.)
        handler = this.#tracing.startPart(this.#handlerShape, span, t0Ms);
        return { frame: { requestId, kind: f.kind, payload: f.payload, timeoutMs: fn.timeoutMs, trace: handler.traceparent, tracestate: handler.tracestate }, styled: req.styled === true };
      },
      onStart: () => {
        begin();
        handler?.setStartTime(TIME_ORIGIN + h0);
      },
    };
    let lease;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          lease = await this.#scheduler.acquire(fn, first);
          break;
        } catch (err) {
          // A deploy closed the version's pool under this request: run the version live now.
          if (!isRetired(err) || attempt === 3) throw err;
          fn = this.#resolve(asked.fn, asked.qualifier);
          req = { ...asked, fn };
        }
      }
    } catch (err) {
      const failed = (err as { functionError?: FunctionError }).functionError;
      if (!failed) {
        if (isNimbusError(err) && err.code === 'TOO_MANY_REQUESTS') this.#record(req, startedAt, 0, null, false, 0, 'throttled', 'TooManyRequests', span.traceId);
        span.end(isNimbusError(err) ? err.code : 'acquire failed');
        throw err;
      }
      // The module threw at import, or the handler export is missing: Lambda's Runtime.* init errors.
      const durationMs = performance.now() - t0;
      this.#tracing.start('init', span, 'internal', { 'faas.coldstart': true }, t0Ms).end(failed.errorType, t0Ms + durationMs);
      span.setAttributes({ 'faas.coldstart': true });
      span.end(failed.errorType);
      this.#line(fn.name, requestId, 'ERROR', `INIT_REPORT Init Duration: ${durationMs.toFixed(2)} ms\tPhase: init\tStatus: error\tError Type: ${failed.errorType}\n${failed.errorMessage}`);
      this.#record(req, startedAt, durationMs, durationMs, true, 0, 'init-error', failed.errorType, span.traceId);
      return { requestId, style: 'lambda', outcome: 'init-error', error: failed, durationMs, billedDurationMs: Math.ceil(durationMs), initDurationMs: durationMs, cold: true, maxMemoryUsedMb: 0, traceId: span.traceId, version: fn.revision };
    }
    const inst = lease.instance;
    // An idle instance may be in the middle of the collection the host asked of it (at most one
    // instance on the host is): the invocation starts, and is timed and billed, once it ends.
    const collecting = inst.collecting;
    if (collecting) await collecting;
    const initDurationMs = lease.cold ? inst.initMs : null;
    // The cold start: waiting for an instance to be made ready (a spare assigned, or a process booted) and its init.
    // (With the invocation sent along, init's end is when it started.)
    const sent = lease.cold ? inst.takeFirst(requestId) : undefined;
    if (lease.cold) this.#tracing.start('cold start', span, 'internal', { 'faas.coldstart': true, 'nimbus.init_ms': initDurationMs ?? 0 }, t0Ms).end(undefined, t0Ms + ((sent ? h0 : performance.now()) - t0));
    // Undefined: none was sent, or the runtime skipped it (its handler is of the other style).
    let out: InvokeOutcome | undefined = sent ? await sent : undefined;
    if (!out) {
      const frame = req.prepare(inst.style);
      if (handler) { // skipped: sent again now
        h0 = performance.now();
        handler.setStartTime(TIME_ORIGIN + h0);
      } else {
        begin();
        handler = this.#tracing.startPart(this.#handlerShape, span, TIME_ORIGIN + h0);
      }
      out = await inst.invoke({ requestId, kind: frame.kind, payload: frame.payload, timeoutMs: fn.timeoutMs, trace: handler.traceparent, tracestate: handler.tracestate });
    }
    const durationMs = performance.now() - h0;
    lease.release();
    const billedDurationMs = Math.max(1, Math.ceil(durationMs));
    const maxMemoryUsedMb = Math.ceil(out.maxRssBytes / (1024 * 1024));
    let outcome: Outcome;
    let json: string | undefined;
    let error: FunctionError | undefined;
    if (out.ok) {
      if (out.json !== undefined && Buffer.byteLength(out.json) > MAX_SYNC_PAYLOAD_BYTES) {
        outcome = 'error';
        error = { errorType: 'Function.ResponseSizeTooLarge', errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_SYNC_PAYLOAD_BYTES} bytes).`, trace: [] };
      } else {
        outcome = 'success';
        json = out.json;
      }
    } else {
      outcome = out.kind;
      error = out.error;
    }
    if (error) this.#line(fn.name, requestId, 'ERROR', `${error.errorType}: ${error.errorMessage}`);
    this.#line(fn.name, requestId, 'INFO', `END RequestId: ${requestId}`);
    this.#line(fn.name, requestId, 'INFO', [
      `REPORT RequestId: ${requestId}`,
      `Duration: ${durationMs.toFixed(2)} ms`,
      `Billed Duration: ${billedDurationMs} ms`,
      `Memory Size: ${fn.memoryMb} MB`,
      `Max Memory Used: ${maxMemoryUsedMb} MB`,
      ...(initDurationMs !== null ? [`Init Duration: ${initDurationMs.toFixed(2)} ms`] : []),
      ...(outcome !== 'success' ? [`Status: ${outcome}`] : []),
    ].join('\t'));
    // The handler span is the Duration the REPORT line gives and the invocation is billed for.
    handler?.end(error?.errorType, TIME_ORIGIN + h0 + durationMs);
    if (span.recorded) span.setShape(this.#endShapes.get(fn, END_KEY[req.trigger][lease.cold ? 1 : 0]![outcome]));
    span.end(outcome === 'success' ? undefined : error?.errorType ?? outcome);
    this.#record(req, startedAt, durationMs, initDurationMs, lease.cold, maxMemoryUsedMb, outcome, error?.errorType ?? null, span.traceId, lease.provisioned);
    return { requestId, style: inst.style, outcome, json, error, durationMs, billedDurationMs, initDurationMs, cold: lease.cold, maxMemoryUsedMb, traceId: span.traceId, version: fn.revision };
  }

  #record(req: InvokeRequest, startedAt: number, durationMs: number, initDurationMs: number | null, cold: boolean, maxMemoryUsedMb: number, outcome: Outcome, errorType: string | null, traceId: string, provisioned = false): void {
    this.#records.invocation({
      requestId: req.requestId, fn: req.fn.name, revision: req.fn.revision, trigger: req.trigger, startedAt,
      durationMs, billedDurationMs: outcome === 'throttled' ? 0 : Math.max(1, Math.ceil(durationMs)), initDurationMs,
      memoryMb: req.fn.memoryMb, maxMemoryUsedMb, cold, provisioned, outcome, errorType, traceId, qualifier: req.qualifier ?? DEFAULT_ALIAS,
    });
  }
}

/**
 * The NimbusError a failed invocation becomes on an HTTP route. Callers of a public route are not
 * the function's owner: the function's own error message (which may hold connection strings or
 * data) stays in its logs; the response carries the error type and the request id to find it.
 */
export function invocationError(result: InvokeResult): NimbusError {
  const e = result.error!;
  const details = { requestId: result.requestId, errorType: e.errorType };
  const seeLogs = `its logs have the details (nimbus logs <function> --request-id ${result.requestId})`;
  switch (result.outcome) {
    case 'timeout': return new NimbusError('FUNCTION_TIMEOUT', e.errorMessage, { details });
    case 'out-of-memory': return new NimbusError('FUNCTION_OUT_OF_MEMORY', e.errorMessage, { details });
    case 'crashed': return new NimbusError('FUNCTION_CRASHED', `the function's instance exited while handling the request (${e.errorType}); ${seeLogs}`, { details });
    case 'init-error': return new NimbusError('FUNCTION_INIT_FAILED', `the function failed to initialise (${e.errorType}); ${seeLogs}`, { details });
    default: return new NimbusError('FUNCTION_ERROR', `the function failed (${e.errorType}); ${seeLogs}`, { details });
  }
}
