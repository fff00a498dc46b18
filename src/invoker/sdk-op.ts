// What a service module hands the runtime SDK host: its operations, each with the grants it needs.
// The host (src/invoker/sdk.ts) checks every grant against the calling function's `permissions:`
// before `run` is called; `run` never decides access itself.
import type { FunctionRecord } from '../store/types.ts';

export interface Grant {
  kind: 'buckets' | 'tables';
  /** The resource's name as the call names it (validated by the service; the host only compares). */
  name: string;
  right: 'read' | 'write';
}

export interface SdkOp {
  /** The grants this call needs, from its arguments (a copy needs read on its source and write on its target). Throw BAD_REQUEST for a missing name. */
  needs(args: Record<string, unknown>): Grant[];
  /** `call.trace`: the calling invocation's trace context, for what the operation starts (notifications). */
  run(args: Record<string, unknown>, fn: FunctionRecord, call: { trace?: string }): Promise<unknown>;
}
