// The host side of the runtime SDK: calls a function's code makes (`import { queues } from
// 'nimbus/sdk'`) arrive here over the instance's IPC channel, named by operation, with the calling
// function's record. Every call is authorised here, on the host, against the caller's
// `permissions:` from the manifest — the sandbox is never trusted to say what it may touch. A call
// outside the grants fails with ACCESS_DENIED naming the grant to add, and is logged to the
// function's log stream and the platform log.
import { randomUUID } from 'node:crypto';
import { MAX_ASYNC_PAYLOAD_BYTES, MAX_SYNC_PAYLOAD_BYTES } from '../config/limits.ts';
import { isNimbusError, NimbusError } from '../errors.ts';
import type { QueueService } from '../events/queues/service.ts';
import type { EventBus } from '../events/bus/service.ts';
import type { Logger } from '../observability/logger.ts';
import type { SecretService } from '../services/secrets/service.ts';
import type { TopicService } from '../events/topics/service.ts';
import type { FunctionRecord, Permissions } from '../store/types.ts';
import { jsonText } from '../util/json.ts';
import type { AsyncInvoker } from './async.ts';
import type { Invoker } from './index.ts';
import type { Grant, SdkOp } from './sdk-op.ts';
import { qualifierProblem, splitQualified } from '../config/strategy.ts';
import type { WorkflowExecutor } from '../workflows/executor.ts';

export interface SdkDeps {
  queues: QueueService;
  topics: () => TopicService;
  bus: () => EventBus;
  secrets: SecretService;
  invoker: Invoker;
  asyncInvoker: AsyncInvoker;
  functions: () => Map<string, FunctionRecord>;
  /** Which version a qualifier names (VERSION_NOT_FOUND otherwise): checked before an asynchronous invoke is stored. */
  resolve: (fn: FunctionRecord, qualifier: string) => FunctionRecord;
  /** Operations of the service modules (storage.*, kv.*), each declaring the grants it needs. */
  ops: Record<string, SdkOp>;
  logger: Logger;
  /** The workflow executor (it starts after the SDK is bound). */
  workflows: () => WorkflowExecutor;
  /** Writes a line to the calling function's log stream (`nimbus logs <fn>`), under the invocation's request id when known. */
  log: (fn: string, requestId: string | null, message: string) => void;
}

/** The rights a kind of resource takes, in the words of the manifest. */
type Kind = Exclude<keyof Permissions, 'bus'>;

const optText = (v: unknown, field: string): string | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new NimbusError('BAD_REQUEST', `${field}: a string`);
  return v;
};

const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {});

export class SdkHost {
  #deps: SdkDeps | undefined;

  bind(deps: SdkDeps): void {
    this.#deps = deps;
  }

  /**
   * `requestId`: the invocation the call was made in, as the runtime says (for the log line of a denial).
   * `trace`: its context (traceContext(), checked by the instance), carried on to what the call starts.
   */
  async call(fn: FunctionRecord, op: string, args: unknown, requestId?: string, trace?: string): Promise<unknown> {
    try {
      return await this.#call(fn, op, args, trace);
    } catch (err) {
      if (isNimbusError(err) && err.code === 'ACCESS_DENIED') {
        // Every refusal, whatever refused it, is in the platform log and the function's own logs.
        this.#deps?.logger.warn({ fn: fn.name, op, requestId }, `access denied: ${err.message}`);
        this.#deps?.log(fn.name, requestId ?? null, `AccessDenied ${op}: ${err.message}`);
      } else if (!isNimbusError(err)) {
        // The function only learns "internal error": the details belong in the server log.
        this.#deps?.logger.error({ err, fn: fn.name, op }, 'SDK call failed');
      }
      throw err;
    }
  }

  /** `trace`: the calling invocation's context, carried on to what the call starts (messages, invocations). */
  async #call(fn: FunctionRecord, op: string, args: unknown, trace: string | undefined): Promise<unknown> {
    const deps = this.#deps;
    if (!deps) throw new NimbusError('INTERNAL', 'the SDK is not ready');
    const a = obj(args);
    switch (op) {
      case 'queues.send': {
        const q = this.#allow(fn, op, 'queues', a.queue, 'send');
        await deps.queues.queue(q);
        // The caller's context goes on as message attributes (validateEntry()).
        const { id: _id, ...sent } = await deps.queues.send(q, obj(a.message), trace);
        return sent;
      }
      case 'queues.sendBatch': {
        const q = this.#allow(fn, op, 'queues', a.queue, 'send');
        await deps.queues.queue(q);
        return deps.queues.sendBatch(q, a.entries, trace);
      }
      case 'topics.publish': {
        const t = this.#allow(fn, op, 'topics', a.topic, 'publish');
        await deps.topics().topic(t);
        return deps.topics().publish(t, obj(a.message), trace);
      }
      case 'topics.publishBatch': {
        const t = this.#allow(fn, op, 'topics', a.topic, 'publish');
        await deps.topics().topic(t);
        return deps.topics().publishBatch(t, a.entries, trace);
      }
      case 'secrets.get':
        return deps.secrets.get(fn, a.name);
      case 'events.put':
        if (!fn.permissions.bus.includes('put')) throw new NimbusError('ACCESS_DENIED', `function "${fn.name}" may not put events on the event bus; grant it with permissions: { bus: [put] } in nimbus.yml`);
        return deps.bus().put(a.entries, trace);
      case 'functions.invoke':
        return this.#invoke(fn, a, trace);
      case 'workflows.start': {
        const wf = this.#allow(fn, op, 'workflows', a.workflow, 'start');
        const name = a.name === undefined || a.name === null ? undefined : a.name;
        if (name !== undefined && typeof name !== 'string') throw new NimbusError('BAD_REQUEST', 'workflows.start: name must be a string');
        const e = await deps.workflows().startExecution(wf, a.input, name, trace);
        return { executionArn: e.id, startDate: new Date(e.startedAt).toISOString() };
      }
      case 'workflows.sendTaskSuccess':
      case 'workflows.sendTaskFailure':
      case 'workflows.sendTaskHeartbeat': {
        const exec = deps.workflows();
        await this.#allowToken(fn, op, a.taskToken);
        const token = a.taskToken as string;
        if (op === 'workflows.sendTaskSuccess') await exec.sendTaskSuccess(token, a.output);
        else if (op === 'workflows.sendTaskFailure') await exec.sendTaskFailure(token, optText(a.error, 'error'), optText(a.cause, 'cause'));
        else await exec.sendTaskHeartbeat(token);
        return {};
      }
      default: {
        const service = Object.hasOwn(deps.ops, op) ? deps.ops[op] : undefined;
        if (!service) throw new NimbusError('BAD_REQUEST', `unknown SDK operation "${op}"`);
        for (const g of service.needs(a)) this.#allowGrant(fn, g);
        return service.run(a, fn, { trace });
      }
    }
  }

  async #invoke(fn: FunctionRecord, a: Record<string, unknown>, trace: string | undefined): Promise<unknown> {
    const deps = this.#deps!;
    // `name:qualifier` runs an alias or a version; the grant is on the function.
    const { fn: named, qualifier } = splitQualified(typeof a.function === 'string' ? a.function : '');
    const name = this.#allow(fn, 'functions.invoke', 'functions', named, 'invoke');
    const target = deps.functions().get(name);
    if (!target) throw new NimbusError('FUNCTION_NOT_FOUND', `no function named "${name}"`);
    const asynchronous = a.async === true;
    if (qualifier !== undefined) {
      const problem = qualifierProblem(qualifier);
      if (problem) throw new NimbusError('BAD_REQUEST', `functions.invoke: the qualifier after "${name}:" ${problem}`);
    }
    const payload = jsonText(a.payload ?? {}, 'the invocation payload');
    const limit = asynchronous ? MAX_ASYNC_PAYLOAD_BYTES : MAX_SYNC_PAYLOAD_BYTES;
    if (Buffer.byteLength(payload) > limit) throw new NimbusError('PAYLOAD_TOO_LARGE', `the payload is ${Buffer.byteLength(payload)} bytes; an ${asynchronous ? 'asynchronous' : 'synchronous'} invocation takes at most ${limit}`);
    if (asynchronous) {
      if (qualifier !== undefined) deps.resolve(target, qualifier); // VERSION_NOT_FOUND now, not at dispatch
      const r = await deps.asyncInvoker.enqueue(target, payload, undefined, undefined, trace, qualifier);
      return { requestId: r.requestId };
    }
    const event: unknown = JSON.parse(payload);
    const result = await deps.invoker.invoke({ fn: target, qualifier, requestId: randomUUID(), trigger: 'invoke', prepare: () => ({ kind: 'event', payload: event }), trace });
    if (result.outcome === 'success') return { requestId: result.requestId, ok: true, payload: result.json === undefined ? null : JSON.parse(result.json) as unknown };
    return { requestId: result.requestId, ok: false, errorType: result.error?.errorType ?? 'Error', errorMessage: result.error?.errorMessage ?? result.outcome };
  }

  /**
   * A task answer needs `respond` on the workflow whose execution awaits the token (looked up first,
   * so that the refusal names the grant to add; tokens are unguessable, so this tells nothing to a
   * function that was not handed one). An unknown token is TASK_TOKEN_NOT_FOUND only for a function
   * that may respond to some workflow.
   */
  async #allowToken(fn: FunctionRecord, op: string, token: unknown): Promise<void> {
    if (typeof token !== 'string' || token === '') throw new NimbusError('BAD_REQUEST', `${op}: a task token is required`);
    const granted = Object.entries(fn.permissions.workflows ?? {}).filter(([, rights]) => rights.includes('respond'));
    const wf = await this.#deps!.workflows().tokenWorkflow(token);
    if (granted.length === 0) {
      throw new NimbusError('ACCESS_DENIED', `function "${fn.name}" may not answer workflow tasks; grant it with permissions: { workflows: { ${wf ?? '<workflow>'}: [respond] } } in nimbus.yml`);
    }
    if (wf === undefined) throw new NimbusError('TASK_TOKEN_NOT_FOUND', 'no task waits on that token (it ended, timed out, or its execution stopped)');
    this.#allowGrant(fn, { kind: 'workflows', name: wf, right: 'respond' });
  }

  /** The resource name a call names, once the caller's grants allow `right` on it. */
  #allow(fn: FunctionRecord, op: string, kind: Kind, name: unknown, right: string): string {
    const singular = kind.slice(0, -1);
    if (typeof name !== 'string' || name === '') throw new NimbusError('BAD_REQUEST', `${op}: a ${singular} name is required`);
    this.#allowGrant(fn, { kind, name, right } as Grant);
    return name;
  }

  #allowGrant(fn: FunctionRecord, g: { kind: Kind; name: string; right: string }): void {
    // Own properties only: a resource named "constructor" or "__proto__" is granted by nothing.
    const grants = (fn.permissions[g.kind] ?? {}) as Record<string, string[]>;
    const rights = Object.hasOwn(grants, g.name) && Array.isArray(grants[g.name]) ? grants[g.name] : undefined;
    if (rights?.includes(g.right)) return;
    const singular = g.kind.slice(0, -1);
    const has = rights?.length ? ` (it holds ${rights.join(', ')})` : '';
    const to = g.right === 'send' || g.right === 'publish' ? ' to' : g.right === 'respond' ? ' to tasks of' : '';
    throw new NimbusError('ACCESS_DENIED', `function "${fn.name}" may not ${g.right}${to} ${singular} "${g.name}"${has}; grant it with permissions: { ${g.kind}: { ${g.name}: [${[...(rights ?? []), g.right].join(', ')}] } } in nimbus.yml`);
  }
}
