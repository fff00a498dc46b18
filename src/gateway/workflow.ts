// A route that starts a workflow (`workflows.<name>.events: - http: ...`): the JSON body is the
// execution's input. Without `sync` it answers 202 with the execution's ARN at once; with `sync` it
// waits for the execution's end (at most the route's timeout) and answers with its output (200), or
// EXECUTION_FAILED (502) naming the error and cause, or EXECUTION_STILL_RUNNING (504) — the
// execution carries on and can be described later.
import type { ServerResponse } from 'node:http';
import { NimbusError } from '../errors.ts';
import type { RouteRecord } from '../store/types.ts';
import type { ExecutionRecord } from '../store/workflows.ts';
import { parseJsonBody, sendJson } from '../util/http.ts';

/** The part of the workflow executor a route needs. */
export interface WorkflowStarter {
  startExecution(workflow: string, input: unknown, name?: string, trace?: string): Promise<ExecutionRecord>;
  waitForEnd(id: string, ms: number): Promise<void>;
  describe(id: string): Promise<ExecutionRecord>;
}

export async function startFromRoute(starter: WorkflowStarter, route: RouteRecord, body: Buffer, trace: string, res: ServerResponse, headers: Record<string, string>): Promise<void> {
  const input = parseJsonBody(body, 'the request body (the execution input)');
  const started = await starter.startExecution(route.workflow!, input ?? {}, undefined, trace);
  const ids = { 'x-nimbus-execution-arn': started.id };
  // On the error answers too (502 EXECUTION_FAILED, 504 EXECUTION_STILL_RUNNING), which the gateway writes.
  res.setHeader('x-nimbus-execution-arn', started.id);
  if (route.syncMs === null) {
    sendJson(res, 202, { executionArn: started.id, startDate: new Date(started.startedAt).toISOString() }, { ...headers, ...ids });
    return;
  }
  await starter.waitForEnd(started.id, route.syncMs);
  const e = await starter.describe(started.id);
  if (e.status === 'SUCCEEDED') {
    const text = e.output ?? 'null';
    res.writeHead(200, { ...headers, ...ids, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  if (e.status === 'RUNNING') {
    throw new NimbusError('EXECUTION_STILL_RUNNING', `execution "${e.name}" of workflow "${e.workflow}" is still running after ${route.syncMs / 1000} s; it carries on (describe it with nimbus workflows describe ${e.workflow}:${e.name})`, { details: { executionArn: e.id } });
  }
  throw new NimbusError('EXECUTION_FAILED', `execution "${e.name}" of workflow "${e.workflow}" ended ${e.status}${e.error ? `: ${e.error}` : ''}`, {
    details: { executionArn: e.id, status: e.status, executionError: e.error, executionCause: e.cause },
  });
}
