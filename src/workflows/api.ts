// The admin API of workflows: list workflows, start executions (optionally waiting for the result),
// list / describe / history / stop / redrive executions, and the task-token callbacks
// (SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat). The CLI (`nimbus workflows`) is a client.
import type { IncomingMessage } from 'node:http';
import type { ApiRoute } from '../control/route.ts';
import { NimbusError } from '../errors.ts';
import { traceContext } from '../observability/trace-context.ts';
import type { ExecutionRecord, ExecutionStatus, WorkflowsStore } from '../store/workflows.ts';
import { parseJsonBody, readBody, sendJson } from '../util/http.ts';
import { toExecutionId, type WorkflowExecutor } from './executor.ts';

const BODY_MAX_BYTES = 512 * 1024;
/** `?sync=true` waits this long at most, then answers with the execution still RUNNING (`?timeout=` seconds shortens it). */
export const SYNC_WAIT_MAX_MS = 60_000;
const STATUSES: ExecutionStatus[] = ['RUNNING', 'SUCCEEDED', 'FAILED', 'ABORTED', 'TIMED_OUT'];

async function body(req: IncomingMessage, what: string): Promise<Record<string, unknown>> {
  const v = parseJsonBody(await readBody(req, BODY_MAX_BYTES), what);
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new NimbusError('INVALID_JSON', `${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

const optString = (v: unknown, field: string): string | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new NimbusError('BAD_REQUEST', `${field}: a string`);
  return v;
};

const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

/** An execution as the API shows it: input and output as JSON values. */
export function showExecution(e: ExecutionRecord): Record<string, unknown> {
  return {
    executionArn: e.id, workflow: e.workflow, name: e.name, status: e.status, input: parse(e.input), output: parse(e.output), error: e.error, cause: e.cause,
    startedAt: new Date(e.startedAt).toISOString(), stoppedAt: e.stoppedAt === null ? null : new Date(e.stoppedAt).toISOString(), redriveCount: e.redriveCount,
  };
}

const json = (description: string, schema: Record<string, unknown> = { type: 'object' }) => ({ description, content: { 'application/json': { schema } } });
const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };
const idParam = { name: 'id', in: 'path', required: true, description: 'The execution ARN, or `workflow:name`', schema: { type: 'string' } };
const notFound = { 404: { description: 'EXECUTION_NOT_FOUND' } };
const tokenBody = (extra: Record<string, unknown>) => json('The token and the answer', { type: 'object', required: ['taskToken'], properties: { taskToken: { type: 'string' }, ...extra } });

export function workflowRoutes(exec: WorkflowExecutor, store: WorkflowsStore): ApiRoute[] {
  const B = '/_nimbus/api';
  return [
    {
      method: 'GET', path: `${B}/workflows`,
      handler: async (req, res) => {
        req.resume();
        sendJson(res, 200, { workflows: (await store.listWorkflows()).map((w) => ({ name: w.name, app: w.app, updatedAt: new Date(w.updatedAt).toISOString(), definition: JSON.parse(w.definition) as unknown })) });
      },
      openapi: { summary: 'List deployed workflows with their definitions', responses: { 200: json('{ workflows }') } },
    },
    {
      method: 'POST', path: `${B}/workflows/:name/executions`,
      handler: async (req, res, p, q) => {
        const b = await body(req, 'the start request');
        // The caller's trace context (traceparent, with its tracestate), or a new trace when it sent none or a malformed one.
        const started = await exec.startExecution(p.name!, b.input, optString(b.name, 'name') ?? undefined, traceContext(req.headers.traceparent, req.headers.tracestate));
        if (q.get('sync') !== 'true') return sendJson(res, 201, showExecution(started));
        const t = q.get('timeout');
        if (t !== null && !/^\d+$/.test(t)) throw new NimbusError('BAD_REQUEST', `timeout: whole seconds, got "${t}"`);
        await exec.waitForEnd(started.id, Math.min(SYNC_WAIT_MAX_MS, t === null ? SYNC_WAIT_MAX_MS : Number(t) * 1000));
        sendJson(res, 200, showExecution(await exec.describe(started.id)));
      },
      openapi: {
        summary: 'Start an execution; with ?sync=true wait for it to end (at most 60 s, or ?timeout= seconds) and answer with its result',
        parameters: [nameParam, { name: 'sync', in: 'query', schema: { type: 'boolean' } }, { name: 'timeout', in: 'query', schema: { type: 'integer', minimum: 0, maximum: 60 } }],
        requestBody: json('{ input?: any JSON (default {}), name?: unique per workflow }'),
        responses: { 200: json('The ended (or still RUNNING) execution'), 201: json('The started execution'), 400: { description: 'INVALID_EXECUTION_INPUT / BAD_REQUEST' }, 404: { description: 'WORKFLOW_NOT_FOUND' }, 409: { description: 'EXECUTION_ALREADY_EXISTS' } },
      },
    },
    {
      method: 'GET', path: `${B}/workflows/:name/executions`,
      handler: async (req, res, p, q) => {
        req.resume();
        if (!(await store.getWorkflow(p.name!))) throw new NimbusError('WORKFLOW_NOT_FOUND', `no workflow named "${p.name}"`);
        const status = q.get('status');
        if (status !== null && !STATUSES.includes(status as ExecutionStatus)) throw new NimbusError('BAD_REQUEST', `status: one of ${STATUSES.join(', ')}`);
        const limit = Number(q.get('limit') ?? 100);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new NimbusError('BAD_REQUEST', 'limit: 1 to 1000');
        const list = await store.listExecutions({ workflow: p.name!, status: (status ?? undefined) as ExecutionStatus | undefined, limit });
        sendJson(res, 200, { executions: list.map(showExecution) });
      },
      openapi: {
        summary: 'List executions of a workflow, newest first',
        parameters: [nameParam, { name: 'status', in: 'query', schema: { enum: STATUSES } }, { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } }],
        responses: { 200: json('{ executions }'), 404: { description: 'WORKFLOW_NOT_FOUND' } },
      },
    },
    {
      method: 'GET', path: `${B}/executions/:id`,
      handler: async (req, res, p) => { req.resume(); sendJson(res, 200, showExecution(await exec.describe(p.id!))); },
      openapi: { summary: 'Describe an execution: status, input, output, error, cause', parameters: [idParam], responses: { 200: json('The execution'), ...notFound } },
    },
    {
      method: 'GET', path: `${B}/executions/:id/history`,
      handler: async (req, res, p, q) => {
        req.resume();
        const rec = await exec.describe(p.id!);
        const after = Number(q.get('after') ?? 0);
        const limit = Number(q.get('limit') ?? 1000);
        if (!Number.isInteger(after) || after < 0 || !Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new NimbusError('BAD_REQUEST', 'after: an event id ≥ 0; limit: 1 to 10000');
        const events = await store.history(toExecutionId(rec.id), after, limit);
        sendJson(res, 200, { events: events.map((e) => ({ ...e, timestamp: new Date(e.timestamp).toISOString() })) });
      },
      openapi: {
        summary: 'The execution\'s history events in order (ExecutionStarted, TaskStateEntered, TaskScheduled, ...), a page at a time',
        parameters: [idParam, { name: 'after', in: 'query', schema: { type: 'integer' } }, { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000 } }],
        responses: { 200: json('{ events }'), ...notFound },
      },
    },
    {
      method: 'POST', path: `${B}/executions/:id/stop`,
      handler: async (req, res, p) => {
        const b = await body(req, 'the stop request');
        sendJson(res, 200, showExecution(await exec.stopExecution(p.id!, optString(b.error, 'error'), optString(b.cause, 'cause'))));
      },
      openapi: { summary: 'Stop a running execution (ABORTED); a no-op on an ended one', parameters: [idParam], requestBody: json('{ error?, cause? }'), responses: { 200: json('The execution'), ...notFound } },
    },
    {
      method: 'POST', path: `${B}/executions/:id/redrive`,
      handler: async (req, res, p) => { req.resume(); sendJson(res, 200, showExecution(await exec.redrive(p.id!))); },
      openapi: {
        summary: 'Redrive a FAILED, TIMED_OUT or ABORTED execution from the top-level state it was in (see docs/workflows.md)',
        parameters: [idParam], responses: { 200: json('The execution, RUNNING again'), ...notFound, 409: { description: 'EXECUTION_NOT_REDRIVABLE' } },
      },
    },
    {
      method: 'POST', path: `${B}/tasks/success`,
      handler: async (req, res) => {
        const b = await body(req, 'the task answer');
        await exec.sendTaskSuccess(b.taskToken as string, b.output);
        sendJson(res, 200, {});
      },
      openapi: { summary: 'SendTaskSuccess: a waitForTaskToken task succeeded with `output`', requestBody: tokenBody({ output: {} }), responses: { 200: json('{}'), 404: { description: 'TASK_TOKEN_NOT_FOUND' } } },
    },
    {
      method: 'POST', path: `${B}/tasks/failure`,
      handler: async (req, res) => {
        const b = await body(req, 'the task answer');
        await exec.sendTaskFailure(b.taskToken as string, optString(b.error, 'error'), optString(b.cause, 'cause'));
        sendJson(res, 200, {});
      },
      openapi: { summary: 'SendTaskFailure: a waitForTaskToken task failed with `error` and `cause`', requestBody: tokenBody({ error: { type: 'string' }, cause: { type: 'string' } }), responses: { 200: json('{}'), 404: { description: 'TASK_TOKEN_NOT_FOUND' } } },
    },
    {
      method: 'POST', path: `${B}/tasks/heartbeat`,
      handler: async (req, res) => {
        const b = await body(req, 'the heartbeat');
        await exec.sendTaskHeartbeat(b.taskToken as string);
        sendJson(res, 200, {});
      },
      openapi: { summary: 'SendTaskHeartbeat: the task is alive; its HeartbeatSeconds start again', requestBody: tokenBody({}), responses: { 200: json('{}'), 404: { description: 'TASK_TOKEN_NOT_FOUND' } } },
    },
  ];
}
