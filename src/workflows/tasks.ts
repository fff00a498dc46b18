// Runs one Task state's invocation through the invoker and says what the engine should hear: the
// function's result, or its error as Lambda reports it to Step Functions (error = errorType, cause =
// the {"errorMessage","errorType","trace"} JSON text). Platform failures (no such function, a throttle)
// get Lambda's exception names. A throttle (the function at its concurrency limit) is not an answer:
// the executor runs the task again a little later, so a wide Map proceeds at the function's pace.
import { randomUUID } from 'node:crypto';
import { isNimbusError } from '../errors.ts';
import type { Invoker } from '../invoker/index.ts';
import { functionArn } from '../invoker/async.ts';
import type { FunctionRecord } from '../store/types.ts';
import { type InvokeTaskCommand, type Json, MAX_PAYLOAD_BYTES } from './asl/index.ts';

export type TaskOutcome =
  | { ok: true; output: Json; executedVersion: string }
  | { ok: false; error: string; cause: string; /** The server is stopping under it: not an answer. */ interrupted?: boolean }
  | { throttled: true };

const failure = (errorType: string, errorMessage: string): TaskOutcome => ({ ok: false, error: errorType, cause: JSON.stringify({ errorMessage, errorType, trace: [] }) });

export async function runTask(invoker: Invoker, functions: Map<string, FunctionRecord>, cmd: InvokeTaskCommand & { trace?: string }): Promise<TaskOutcome> {
  // `name:alias` / `name:3` in the resource (or FunctionName) runs that alias or version; otherwise live.
  const fn = functions.get(cmd.functionName);
  if (!fn) return failure('Lambda.ResourceNotFoundException', `Function not found: ${functionArn(cmd.functionName)}`);
  try {
    const r = await invoker.invoke({ fn, qualifier: cmd.qualifier ?? undefined, requestId: randomUUID(), trigger: 'workflow', prepare: () => ({ kind: 'event', payload: cmd.payload }), trace: cmd.trace });
    if (r.outcome === 'success') {
      const bytes = r.json === undefined ? 0 : Buffer.byteLength(r.json);
      // AWS's limit on a task's result: the state fails with a catchable States.DataLimitExceeded.
      if (bytes > MAX_PAYLOAD_BYTES) return { ok: false, error: 'States.DataLimitExceeded', cause: `The task '${cmd.stateName}' returned a result of ${bytes} bytes, over the limit of ${MAX_PAYLOAD_BYTES} bytes` };
      let output: Json = null;
      try { output = r.json === undefined ? null : JSON.parse(r.json) as Json; } catch { output = r.json ?? null; }
      return { ok: true, output, executedVersion: String(r.version) };
    }
    const e = r.error ?? { errorType: 'Lambda.Unknown', errorMessage: r.outcome, trace: [] };
    return { ok: false, error: e.errorType, cause: JSON.stringify({ errorMessage: e.errorMessage, errorType: e.errorType, trace: e.trace ?? [] }), interrupted: r.outcome === 'crashed' };
  } catch (err) {
    if (isNimbusError(err) && err.code === 'TOO_MANY_REQUESTS') return { throttled: true };
    if (isNimbusError(err) && (err.code === 'VERSION_NOT_FOUND' || err.code === 'FUNCTION_NOT_FOUND')) return failure('Lambda.ResourceNotFoundException', err.message);
    return { ...failure('Lambda.ServiceException', err instanceof Error ? err.message : String(err)), interrupted: true } as TaskOutcome;
  }
}
