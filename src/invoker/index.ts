// The one entry point for running a function, whatever the trigger: takes an instance from the
// scheduler, runs the invocation, and reports it — START/END/REPORT log lines and an invocation
// record, both written behind the response.
import { MAX_SYNC_PAYLOAD_BYTES } from '../config/limits.ts';
import { isNimbusError, NimbusError } from '../errors.ts';
import type { RecordWriter } from '../observability/records.ts';
import type { FunctionError } from '../sandbox/instance.ts';
import type { Scheduler } from '../scheduler/index.ts';
import type { FunctionRecord, InvocationRecord, LogLevel, Outcome } from '../store/types.ts';

export interface InvokeRequest {
  fn: FunctionRecord;
  requestId: string;
  trigger: InvocationRecord['trigger'];
  /** Builds what the instance receives, once its handler style (lambda or fetch) is known. */
  prepare: (style: 'lambda' | 'fetch') => { kind: 'event' | 'fetch'; payload: unknown };
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
}

export class Invoker {
  readonly #scheduler: Scheduler;
  readonly #records: RecordWriter;

  constructor(scheduler: Scheduler, records: RecordWriter) {
    this.#scheduler = scheduler;
    this.#records = records;
  }

  #line(fn: string, requestId: string, level: LogLevel, message: string): void {
    this.#records.log({ ts: Date.now(), fn, requestId, level, message });
  }

  async invoke(req: InvokeRequest): Promise<InvokeResult> {
    const { fn, requestId } = req;
    const startedAt = Date.now();
    const t0 = performance.now();
    let lease;
    try {
      lease = await this.#scheduler.acquire(fn);
    } catch (err) {
      const failed = (err as { functionError?: FunctionError }).functionError;
      if (!failed) {
        if (isNimbusError(err) && err.code === 'TOO_MANY_REQUESTS') this.#record(req, startedAt, 0, null, false, 0, 'throttled', 'TooManyRequests');
        throw err;
      }
      // The module threw at import, or the handler export is missing: Lambda's Runtime.* init errors.
      const durationMs = performance.now() - t0;
      this.#line(fn.name, requestId, 'ERROR', `INIT_REPORT Init Duration: ${durationMs.toFixed(2)} ms\tPhase: init\tStatus: error\tError Type: ${failed.errorType}\n${failed.errorMessage}`);
      this.#record(req, startedAt, durationMs, durationMs, true, 0, 'init-error', failed.errorType);
      return { requestId, style: 'lambda', outcome: 'init-error', error: failed, durationMs, billedDurationMs: Math.ceil(durationMs), initDurationMs: durationMs, cold: true, maxMemoryUsedMb: 0 };
    }
    const inst = lease.instance;
    const initDurationMs = lease.cold ? inst.initMs : null;
    this.#line(fn.name, requestId, 'INFO', `START RequestId: ${requestId} Version: $LATEST`);
    const frame = req.prepare(inst.style);
    const h0 = performance.now();
    const out = await inst.invoke({ requestId, kind: frame.kind, payload: frame.payload, timeoutMs: fn.timeoutMs });
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
    this.#record(req, startedAt, durationMs, initDurationMs, lease.cold, maxMemoryUsedMb, outcome, error?.errorType ?? null, lease.provisioned);
    return { requestId, style: inst.style, outcome, json, error, durationMs, billedDurationMs, initDurationMs, cold: lease.cold, maxMemoryUsedMb };
  }

  #record(req: InvokeRequest, startedAt: number, durationMs: number, initDurationMs: number | null, cold: boolean, maxMemoryUsedMb: number, outcome: Outcome, errorType: string | null, provisioned = false): void {
    this.#records.invocation({
      requestId: req.requestId, fn: req.fn.name, revision: req.fn.revision, trigger: req.trigger, startedAt,
      durationMs, billedDurationMs: outcome === 'throttled' ? 0 : Math.max(1, Math.ceil(durationMs)), initDurationMs,
      memoryMb: req.fn.memoryMb, maxMemoryUsedMb, cold, provisioned, outcome, errorType,
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
