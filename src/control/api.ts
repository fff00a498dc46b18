// The admin API under /_nimbus/api (bearer token), plus /_nimbus/health. Plain node:http handlers
// behind a radix router: the hot path does not pay for a framework, and neither does this.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import FindMyWay from 'find-my-way';
import { MAX_ASYNC_PAYLOAD_BYTES, MAX_DEPLOY_BYTES, MAX_SYNC_PAYLOAD_BYTES } from '../config/limits.ts';
import type { QueueService } from '../events/queues/service.ts';
import type { QueueTriggers } from '../events/queues/trigger.ts';
import type { ScheduleRunner } from '../events/schedules/runner.ts';
import { testEventPattern } from '../events/bus/api.ts';
import { type EventBus, ruleArn } from '../events/bus/service.ts';
import type { TopicService } from '../events/topics/service.ts';
import type { TopicRecord } from '../store/types.ts';
import type { SecretService } from '../services/secrets/service.ts';
import type { AsyncInvoker } from '../invoker/async.ts';
import { NimbusError } from '../errors.ts';
import type { Invoker } from '../invoker/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { RecordWriter } from '../observability/records.ts';
import type { Scheduler } from '../scheduler/index.ts';
import type { FunctionRecord, LogEntry, LogLevel, Outcome, Store } from '../store/types.ts';
import { LOG_LEVELS } from '../store/types.ts';
import { parseJsonBody, readBody, requestIdFrom, sendError, sendJson } from '../util/http.ts';
import { sinceToMs } from '../util/duration.ts';
import { jsonText } from '../util/json.ts';
import { applyDeploy } from './deploy.ts';
import { OPENAPI } from './openapi.ts';
import type { ApiRoute } from './route.ts';
import type { Registry } from './registry.ts';
import { tokenMatches } from './token.ts';
import { traceContext } from '../observability/trace-context.ts';
import { qualifierProblem } from '../config/strategy.ts';

export interface ApiDeps {
  store: Store;
  registry: Registry;
  invoker: Invoker;
  asyncInvoker: AsyncInvoker;
  queues: QueueService;
  triggers: QueueTriggers;
  schedules: ScheduleRunner;
  topics: TopicService;
  bus: EventBus;
  secrets: SecretService;
  scheduler: Scheduler;
  records: RecordWriter;
  logger: Logger;
  token: string;
  version: string;
  startedAt: number;
  /** Endpoints of the service modules (storage, KV tables), each with its OpenAPI operation. */
  services?: ApiRoute[];
  /** Versions kept per function besides those an alias or a rollout names (default 10). */
  keepVersions?: number;
}

type Params = Record<string, string | undefined>;
type Handler = (req: IncomingMessage, res: ServerResponse, params: Params, query: URLSearchParams) => Promise<void>;

/** A live tail whose client has this much unread waits for it to read, and is closed if it has not within the timeout. */
const TAIL_MAX_BUFFERED_BYTES = 1024 * 1024;
const TAIL_DRAIN_TIMEOUT_MS = 30_000;
const LEVELS: ReadonlySet<string> = new Set(LOG_LEVELS);
const OUTCOMES = new Set(['success', 'error', 'timeout', 'throttled', 'crashed', 'out-of-memory', 'init-error']);

export class AdminApi {
  readonly #deps: ApiDeps;
  readonly #router = FindMyWay({ ignoreTrailingSlash: true });
  /** Every endpoint, as `METHOD /path/{param}` (the OpenAPI document is checked against this list). */
  readonly endpoints: string[] = [];
  /** The OpenAPI document served: the platform's own endpoints and the service modules'. */
  readonly openapi: typeof OPENAPI;

  constructor(deps: ApiDeps) {
    this.#deps = deps;
    const r = (method: FindMyWay.HTTPMethod, path: string, h: Handler, auth = true): void => {
      this.endpoints.push(`${method} ${openapiPath(path)}`);
      this.#router.on(method, path, () => undefined, { h, auth });
    };
    const paths: Record<string, Record<string, unknown>> = { ...OPENAPI.paths };
    for (const route of deps.services ?? []) {
      r(route.method, route.path, route.handler, route.auth ?? true);
      const p = openapiPath(route.path);
      paths[p] = { ...paths[p], [route.method.toLowerCase()]: route.auth === false ? { security: [], ...route.openapi } : route.openapi };
    }
    this.openapi = { ...OPENAPI, paths: paths as typeof OPENAPI.paths };
    r('GET', '/_nimbus/health', async (_q, res) => this.#health(res), false);
    r('GET', '/_nimbus/api/openapi.json', async (_q, res) => sendJson(res, 200, this.openapi), false);
    r('GET', '/_nimbus/api/apps', async (_q, res) => sendJson(res, 200, { apps: await deps.store.listApps() }));
    r('GET', '/_nimbus/api/apps/:app', async (_q, res, p) => sendJson(res, 200, await this.#app(p.app!)));
    r('PUT', '/_nimbus/api/apps/:app', (q, res, p) => this.#deploy(q, res, p.app!));
    r('DELETE', '/_nimbus/api/apps/:app', (_q, res, p) => this.#deleteApp(res, p.app!));
    r('GET', '/_nimbus/api/instances', async (_q, res) => sendJson(res, 200, deps.scheduler.describe()));
    r('GET', '/_nimbus/api/functions', async (_q, res) => sendJson(res, 200, { functions: (await deps.store.listFunctions()).map((f) => this.#fnView(f)) }));
    r('GET', '/_nimbus/api/functions/:name', async (_q, res, p) => sendJson(res, 200, this.#fnView(await this.#fn(p.name!))));
    r('DELETE', '/_nimbus/api/functions/:name', (_q, res, p) => this.#deleteFn(res, p.name!));
    r('POST', '/_nimbus/api/functions/:name/invocations', (q, res, p, qs) => this.#invoke(q, res, p.name!, qs));
    r('GET', '/_nimbus/api/functions/:name/logs', (_q, res, p, qs) => this.#logs(res, p.name!, qs));
    r('GET', '/_nimbus/api/functions/:name/logs/stream', (q, res, p, qs) => this.#logStream(q, res, p.name!, qs));
    r('GET', '/_nimbus/api/functions/:name/invocations', (_q, res, p, qs) => this.#invocations(res, p.name!, qs));
    r('GET', '/_nimbus/api/functions/:name/async', async (_q, res, p) => sendJson(res, 200, await deps.store.asyncStats((await this.#fn(p.name!)).name, Date.now())));
    r('GET', '/_nimbus/api/queues', async (_q, res) => sendJson(res, 200, { queues: await Promise.all((await deps.store.listQueues()).map((q) => this.#queueView(q.name))) }));
    r('GET', '/_nimbus/api/queues/:name', async (_q, res, p) => sendJson(res, 200, await this.#queueView(p.name!)));
    r('POST', '/_nimbus/api/queues/:name/messages', (q, res, p) => this.#send(q, res, p.name!));
    r('POST', '/_nimbus/api/queues/:name/receive', (q, res, p) => this.#receive(q, res, p.name!));
    r('POST', '/_nimbus/api/queues/:name/delete', (q, res, p) => this.#deleteMessages(q, res, p.name!));
    r('POST', '/_nimbus/api/queues/:name/visibility', (q, res, p) => this.#visibility(q, res, p.name!));
    r('POST', '/_nimbus/api/queues/:name/purge', async (q, res, p) => { q.resume(); sendJson(res, 200, { purged: await deps.queues.purge((await deps.queues.queue(p.name!)).name) }); });
    r('GET', '/_nimbus/api/topics', async (_q, res) => sendJson(res, 200, { topics: (await deps.topics.list()).map((t) => topicView(t, false)) }));
    r('GET', '/_nimbus/api/topics/:name', async (_q, res, p) => sendJson(res, 200, topicView(await deps.topics.topic(p.name!), true)));
    r('POST', '/_nimbus/api/topics/:name/messages', async (q, res, p) => {
      await deps.topics.topic(p.name!);
      const body = await objectBody(q, MAX_QUEUE_REQUEST_BYTES, 'the message');
      sendJson(res, 200, 'entries' in body ? await deps.topics.publishBatch(p.name!, body.entries) : await deps.topics.publish(p.name!, body));
    });
    r('POST', '/_nimbus/api/events', async (q, res) => {
      const body = await objectBody(q, MAX_QUEUE_REQUEST_BYTES, 'the events');
      sendJson(res, 200, await deps.bus.put(body.entries));
    });
    r('POST', '/_nimbus/api/events/test-pattern', async (q, res) => sendJson(res, 200, testEventPattern(await objectBody(q, 512 * 1024, 'the test'))));
    r('GET', '/_nimbus/api/rules', async (_q, res) => sendJson(res, 200, {
      rules: deps.registry.rules.map((r) => ({
        name: r.name, app: r.app, arn: ruleArn(r.name), enabled: r.enabled, pattern: JSON.parse(r.pattern),
        targets: r.targets.map((t) => (t.kind === 'url' ? { ...t, signingSecret: deps.bus.endpointOf(r.name, t.name)?.secret } : t)),
      })),
    }));
    r('GET', '/_nimbus/api/secrets', async (_q, res) => sendJson(res, 200, { secrets: await deps.secrets.list() }));
    r('PUT', '/_nimbus/api/secrets/:name', async (q, res, p) => {
      // Not objectBody: a JSON error message would quote part of the value.
      let body: Record<string, unknown>;
      try {
        body = JSON.parse((await readBody(q, 128 * 1024)).toString('utf8')) as Record<string, unknown>;
      } catch (err) {
        if ((err as { code?: string }).code === 'PAYLOAD_TOO_LARGE') throw err;
        throw new NimbusError('INVALID_JSON', 'the secret is not valid JSON: send {"value": "..."}');
      }
      if (typeof body !== 'object' || body === null) throw new NimbusError('BAD_REQUEST', 'the secret must be a JSON object {"value": "..."}');
      const out = await deps.secrets.set(p.name!, body.value);
      await this.refresh();
      sendJson(res, 200, out);
    });
    r('DELETE', '/_nimbus/api/secrets/:name', async (q, res, p) => {
      q.resume();
      await deps.secrets.delete(p.name!);
      sendJson(res, 200, { deleted: p.name });
    });
    r('GET', '/_nimbus/api/schedules', async (_q, res) => sendJson(res, 200, { schedules: (await deps.schedules.describe()).map(scheduleView) }));
    r('POST', '/_nimbus/api/schedules/:name/enable', (q, res, p) => this.#enableSchedule(q, res, p.name!, true));
    r('POST', '/_nimbus/api/schedules/:name/disable', (q, res, p) => this.#enableSchedule(q, res, p.name!, false));
    r('POST', '/_nimbus/api/queues/:name/redrive', async (q, res, p) => {
      const body = await objectBody(q, 64 * 1024, 'the redrive request');
      sendJson(res, 200, { moved: await deps.queues.redrive(p.name!, { to: body.to, max: body.max }) });
    });
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://nimbus');
      const found = this.#router.find((req.method ?? 'GET') as FindMyWay.HTTPMethod, url.pathname);
      if (!found) {
        const any = ['GET', 'POST', 'PUT', 'DELETE'].some((m) => m !== req.method && this.#router.find(m as FindMyWay.HTTPMethod, url.pathname));
        throw any
          ? new NimbusError('METHOD_NOT_ALLOWED', `${url.pathname} does not accept ${req.method}`)
          : new NimbusError('NOT_FOUND', `no admin API endpoint ${req.method} ${url.pathname}; see /_nimbus/api/openapi.json`);
      }
      const { h, auth } = found.store as { h: Handler; auth: boolean };
      if (auth && !tokenMatches(req.headers.authorization, this.#deps.token)) {
        req.resume();
        throw new NimbusError('UNAUTHORIZED', 'missing or wrong admin token: send `Authorization: Bearer <token>` with the token from the data dir (admin-token), or set NIMBUS_TOKEN for the CLI');
      }
      await h(req, res, found.params, url.searchParams);
    } catch (err) {
      sendError(res, err, this.#deps.logger);
    }
  }

  #health(res: ServerResponse): void {
    const instances = Object.values(this.#deps.scheduler.stats()).reduce((n, s) => n + s.busy + s.idle, 0);
    sendJson(res, 200, {
      status: 'ok', version: this.#deps.version, uptimeS: Math.round((Date.now() - this.#deps.startedAt) / 1000),
      store: this.#deps.store.kind, functions: this.#deps.registry.functions.size, instances,
    });
  }

  async #app(name: string): Promise<unknown> {
    const app = await this.#deps.store.getApp(name);
    if (!app) throw new NimbusError('APP_NOT_FOUND', `no app named "${name}"`);
    return app;
  }

  async #fn(name: string): Promise<FunctionRecord> {
    const fn = this.#deps.registry.functions.get(name) ?? await this.#deps.store.getFunction(name);
    if (!fn) throw new NimbusError('FUNCTION_NOT_FOUND', `no function named "${name}"`);
    return fn;
  }

  #fnView(f: FunctionRecord): Record<string, unknown> {
    const stats = this.#deps.scheduler.stats()[f.name];
    return {
      name: f.name, app: f.app, handler: f.handler, memoryMb: f.memoryMb, timeoutMs: f.timeoutMs, environment: f.environment,
      concurrency: { max: f.concurrencyMax, queueTimeoutMs: f.queueTimeoutMs, provisioned: f.provisioned, perInstance: f.perInstance },
      secrets: f.secrets,
      permissions: { ...f.permissions, secrets: f.secrets },
      async: { retries: f.async.retries, maxEventAgeS: f.async.maxEventAgeMs / 1000, onSuccess: f.async.onSuccess ?? null, onFailure: f.async.onFailure ?? null, deadLetterQueue: f.async.deadLetterQueue ?? null },
      queueTriggers: this.#deps.registry.queueTriggers.filter((t) => t.fn === f.name).map((t) => ({ queue: t.queue, batchSize: t.batchSize, batchWindowS: t.batchWindowMs / 1000, maxConcurrency: t.maxConcurrency })),
      codeSha: f.codeSha, revision: f.revision,
      updatedAt: new Date(f.updatedAt).toISOString(),
      routes: this.#deps.registry.routeList.filter((r) => r.fn === f.name).map((r) => `${r.method} ${r.path}`),
      instances: {
        busy: stats?.busy ?? 0, idle: stats?.idle ?? 0, provisioned: stats?.provisioned ?? 0, starting: stats?.starting ?? 0,
        waiting: stats?.waiting ?? 0, inflight: stats?.inflight ?? 0,
      },
    };
  }

  async #deploy(req: IncomingMessage, res: ServerResponse, app: string): Promise<void> {
    const body = parseJsonBody(await readBody(req, MAX_DEPLOY_BYTES), 'the deploy body');
    const result = await applyDeploy(this.#deps.store, app, body, Date.now(), {
      checkSecrets: (fn, names) => this.#deps.secrets.checkGranted(fn, names),
      keepVersions: this.#deps.keepVersions,
      keepCode: (sha, bytes) => this.#deps.scheduler.keepBundle(sha, bytes),
    });
    await this.refresh();
    sendJson(res, 200, result);
  }

  async #deleteApp(res: ServerResponse, app: string): Promise<void> {
    if (!(await this.#deps.store.deleteApp(app))) throw new NimbusError('APP_NOT_FOUND', `no app named "${app}"`);
    await this.#deps.store.pruneCode();
    await this.refresh();
    sendJson(res, 200, { deleted: app });
  }

  async #deleteFn(res: ServerResponse, name: string): Promise<void> {
    if (!(await this.#deps.store.deleteFunction(name))) throw new NimbusError('FUNCTION_NOT_FOUND', `no function named "${name}"`);
    await this.#deps.store.pruneCode();
    await this.refresh();
    sendJson(res, 200, { deleted: name });
  }

  /** Reloads the in-memory config after a change made through this API. */
  async refresh(): Promise<void> {
    await this.#deps.registry.refresh();
  }

  async #invoke(req: IncomingMessage, res: ServerResponse, name: string, query: URLSearchParams): Promise<void> {
    const fn = await this.#fn(name);
    const type = header(req, 'x-nimbus-invocation-type') ?? header(req, 'x-amz-invocation-type') ?? 'RequestResponse';
    const qualifier = query.get('qualifier') ?? undefined;
    if (qualifier !== undefined) {
      const problem = qualifierProblem(qualifier);
      if (problem) { req.resume(); throw new NimbusError('BAD_REQUEST', `qualifier: ${problem}`); }
      // Resolved before the body is read, so a wrong qualifier is a 404 whatever the payload.
      this.#deps.registry.resolve(fn, qualifier);
    }
    if (type === 'Event') return this.#invokeAsync(req, res, fn, qualifier);
    if (type !== 'RequestResponse') {
      req.resume();
      throw new NimbusError('BAD_REQUEST', `X-Nimbus-Invocation-Type: must be RequestResponse (the default) or Event, got "${type}"`);
    }
    if (header(req, 'x-nimbus-idempotency-key') !== undefined) {
      req.resume();
      throw new NimbusError('BAD_REQUEST', 'X-Nimbus-Idempotency-Key applies to asynchronous invocations (X-Nimbus-Invocation-Type: Event); a synchronous invoke always runs');
    }
    const event = parseJsonBody(await readBody(req, MAX_SYNC_PAYLOAD_BYTES), 'the invocation payload') ?? {};
    const requestId = requestIdFrom(req.headers['x-request-id'], randomUUID);
    const trace = traceContext(header(req, 'traceparent'), req.headers.tracestate);
    const result = await this.#deps.invoker.invoke({ fn, qualifier, requestId, trigger: 'invoke', prepare: () => ({ kind: 'event', payload: event }), trace });
    const headers: Record<string, string> = { 'x-request-id': requestId, 'x-nimbus-request-id': requestId, 'x-nimbus-executed-version': String(result.version), ...(result.traceId ? { 'x-nimbus-trace-id': result.traceId } : {}) };
    if (result.outcome === 'success') {
      const text = result.json ?? 'null';
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
      res.end(text);
      return;
    }
    headers['x-nimbus-function-error'] = 'Unhandled';
    headers['x-nimbus-error-type'] = result.error!.errorType;
    sendJson(res, 200, result.error, headers);
  }

  /** Stores the event and answers 202 once it is committed; the dispatcher runs it. */
  async #invokeAsync(req: IncomingMessage, res: ServerResponse, fn: FunctionRecord, qualifier: string | undefined): Promise<void> {
    const key = header(req, 'x-nimbus-idempotency-key');
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      req.resume();
      throw new NimbusError('BAD_REQUEST', 'X-Nimbus-Idempotency-Key: 1 to 128 characters of letters, digits and . _ : -');
    }
    const body = await readBody(req, MAX_ASYNC_PAYLOAD_BYTES);
    const event = parseJsonBody(body, 'the invocation payload') ?? {};
    const requestId = requestIdFrom(req.headers['x-request-id'], randomUUID);
    const r = await this.#deps.asyncInvoker.enqueue(fn, jsonText(event, 'the invocation payload'), key, requestId, traceContext(header(req, 'traceparent'), req.headers.tracestate), qualifier);
    sendJson(res, 202, { requestId: r.requestId, ...(r.duplicate ? { duplicate: true } : {}) }, { 'x-nimbus-request-id': r.requestId, 'x-request-id': r.requestId });
  }

  async #queueView(name: string): Promise<Record<string, unknown>> {
    const q = await this.#deps.queues.queue(name);
    const stats = await this.#deps.queues.stats(q.name);
    return {
      name: q.name, app: q.app, fifo: q.fifo, visibilityTimeoutS: q.visibilityTimeoutMs / 1000, retentionS: q.retentionMs / 1000, delayS: q.delayMs / 1000,
      maxMessageBytes: q.maxMessageBytes, contentBasedDeduplication: q.contentBasedDeduplication,
      deadLetter: q.redrive ? { queue: q.redrive.deadLetterQueue, maxReceiveCount: q.redrive.maxReceiveCount } : null,
      deadLetterFor: (await this.#deps.store.listQueues()).filter((o) => o.redrive?.deadLetterQueue === q.name).map((o) => o.name),
      triggers: this.#deps.registry.queueTriggers.filter((t) => t.queue === q.name).map((t) => ({ fn: t.fn, batchSize: t.batchSize, batchWindowS: t.batchWindowMs / 1000, maxConcurrency: t.maxConcurrency })),
      stats,
    };
  }

  async #send(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    await this.#deps.queues.queue(name);
    const body = await objectBody(req, MAX_QUEUE_REQUEST_BYTES, 'the message');
    if ('entries' in body) return sendJson(res, 200, await this.#deps.queues.sendBatch(name, body.entries));
    const sent = await this.#deps.queues.send(name, body);
    const { id: _id, ...rest } = sent;
    sendJson(res, 200, rest);
  }

  async #receive(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const body = await objectBody(req, 64 * 1024, 'the receive request');
    const got = await this.#deps.queues.receive(name, {
      max: body.maxMessages === undefined ? 1 : body.maxMessages as number,
      waitS: body.waitSeconds as number | undefined,
      visibilityS: body.visibilityTimeout as number | undefined,
    });
    sendJson(res, 200, { messages: got.map((m) => this.#deps.queues.view(name, m)) });
  }

  async #deleteMessages(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const body = await objectBody(req, 256 * 1024, 'the delete request');
    const queues = this.#deps.queues;
    if ('entries' in body) return sendJson(res, 200, await queues.batch(body.entries, (e, where) => queues.delete(name, e.receiptHandle, where)));
    await queues.delete(name, body.receiptHandle);
    sendJson(res, 200, { deleted: true });
  }

  async #visibility(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const body = await objectBody(req, 256 * 1024, 'the visibility request');
    const queues = this.#deps.queues;
    if ('entries' in body) return sendJson(res, 200, await queues.batch(body.entries, (e, where) => queues.changeVisibility(name, e.receiptHandle, e.visibilityTimeout, where)));
    await queues.changeVisibility(name, body.receiptHandle, body.visibilityTimeout);
    sendJson(res, 200, { changed: true });
  }

  /** Enabling starts from the next tick after now; disabling forgets the next tick (nothing fires while off). */
  async #enableSchedule(req: IncomingMessage, res: ServerResponse, name: string, enabled: boolean): Promise<void> {
    req.resume();
    const store = this.#deps.store;
    if (!(await store.setScheduleEnabled(name, enabled))) throw new NimbusError('SCHEDULE_NOT_FOUND', `no schedule named "${name}"; \`nimbus schedules\` lists them`);
    await this.refresh();
    await this.#deps.schedules.sync();
    const view = (await this.#deps.schedules.describe()).find((s) => s.name === name)!;
    sendJson(res, 200, scheduleView(view));
  }

  async #logs(res: ServerResponse, name: string, qs: URLSearchParams): Promise<void> {
    await this.#fn(name);
    await this.#deps.records.flush();
    const level = qs.get('level')?.toUpperCase();
    if (level !== undefined && !LEVELS.has(level)) throw new NimbusError('BAD_REQUEST', `level: must be one of ${[...LEVELS].join(', ')}`);
    const since = qs.get('since');
    const after = qs.get('after');
    const limit = qs.get('limit');
    const until = qs.get('until');
    // Every line there is when this answers, shown or not (filtered out, past the limit, outside the time
    // range), is behind the cursor, so following from it starts now — unless paging on with `after`.
    const newest = after ? undefined : await this.#newestLogSeq(name);
    const logs = await this.#deps.store.queryLogs({
      fn: name,
      requestId: qs.get('requestId') ?? undefined,
      level: level as LogLevel | undefined,
      sinceMs: since ? sinceToMs(since) : undefined,
      untilMs: until ? sinceToMs(until, 'until') : undefined,
      text: qs.get('q') ?? undefined,
      afterSeq: after ? intParam('after', after) : undefined,
      limit: limit ? intParam('limit', limit) : undefined,
    });
    const last = logs.at(-1)?.seq;
    // (A function without lines yet: 0, so that following starts from its first.)
    const cursor = after ? last ?? Number(after) : Math.max(newest ?? 0, last ?? 0);
    sendJson(res, 200, { logs: logs.map(logView), cursor });
  }

  /** The seq of the function's newest log line, if it has any. */
  async #newestLogSeq(fn: string): Promise<number | undefined> {
    return (await this.#deps.store.queryLogs({ fn, limit: 1 })).at(-1)?.seq;
  }

  /**
   * Live tail as server-sent events: each new line (of `level` or more severe, containing `q`, of `requestId`) is an event whose data
   * is the line as GET .../logs answers it, with its seq as the event id; a comment every 15 s keeps
   * idle connections open. Starts after `after` (or Last-Event-ID), else at the newest line.
   */
  async #logStream(req: IncomingMessage, res: ServerResponse, name: string, qs: URLSearchParams): Promise<void> {
    await this.#fn(name);
    const level = qs.get('level')?.toUpperCase();
    if (level !== undefined && !LEVELS.has(level)) throw new NimbusError('BAD_REQUEST', `level: must be one of ${[...LEVELS].join(', ')}`);
    const from = qs.get('after') ?? header(req, 'last-event-id');
    const store = this.#deps.store;
    await this.#deps.records.flush();
    let cursor = from !== undefined ? intParam('after', from) : await this.#newestLogSeq(name) ?? 0;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(': tailing ' + name + '\n\n');
    // One pump at a time: a wake-up while it runs makes it go round once more, rather than queueing up.
    let running = false;
    let again = false;
    const pump = async (): Promise<void> => {
      if (running) { again = true; return; }
      running = true;
      try {
        do {
          again = false;
          for (;;) {
            if (res.destroyed) return;
            const lines = await store.queryLogs({ fn: name, afterSeq: cursor, level: level as LogLevel | undefined, text: qs.get('q') ?? undefined, requestId: qs.get('requestId') ?? undefined, limit: 500 });
            for (const l of lines) {
              res.write(`id: ${l.seq}\ndata: ${JSON.stringify(logView(l))}\n\n`);
              cursor = l.seq!;
              // Past the cap (a long backlog from an old cursor, or huge lines), wait for the client to read:
              // at most the cap and one line are buffered. One that stops reading is let go (it can resume with Last-Event-ID).
              if (res.writableLength > TAIL_MAX_BUFFERED_BYTES && !(await drained(res, TAIL_DRAIN_TIMEOUT_MS))) return void res.destroy();
            }
            if (lines.length < 500) break;
          }
        } while (again);
      } catch (err) {
        this.#deps.logger.warn({ err }, 'log stream failed');
        res.destroy();
      } finally {
        running = false;
      }
    };
    // Only flushes that wrote this function's lines wake this tail.
    const unsubscribe = this.#deps.records.onFlush((fns) => { if (fns.has(name)) void pump(); });
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    res.on('close', () => { unsubscribe(); clearInterval(heartbeat); });
    void pump();
  }

  async #invocations(res: ServerResponse, name: string, qs: URLSearchParams): Promise<void> {
    await this.#fn(name);
    await this.#deps.records.flush();
    const status = qs.get('status') ?? undefined;
    if (status !== undefined && !OUTCOMES.has(status)) throw new NimbusError('BAD_REQUEST', `status: must be one of ${[...OUTCOMES].join(', ')}`);
    const since = qs.get('since');
    const limit = qs.get('limit');
    const invocations = await this.#deps.store.listInvocations({
      fn: name, outcome: status as Outcome | undefined, sinceMs: since ? sinceToMs(since) : undefined, limit: limit ? intParam('limit', limit) : undefined,
    });
    // `revision` is the version that ran; `version` says it as Lambda does (a string).
    sendJson(res, 200, { invocations: invocations.map((r) => ({ ...r, version: String(r.revision) })) });
  }
}

/** A log line as the API answers it: with its time as ISO text, and `fields` when the line is structured (JSON object text). */
function logView(l: LogEntry): Record<string, unknown> {
  let fields: unknown;
  if (l.message.startsWith('{') && l.message.endsWith('}')) {
    try { fields = JSON.parse(l.message); } catch { fields = undefined; }
  }
  return { ...l, time: new Date(l.ts).toISOString(), ...(typeof fields === 'object' && fields !== null && !Array.isArray(fields) ? { fields } : {}) };
}

/** A topic and its subscriptions; webhook signing secrets only in the single-topic view. */
function topicView(t: TopicRecord, withSecrets: boolean): Record<string, unknown> {
  return {
    name: t.name, app: t.app, arn: `arn:aws:sns:local:000000000000:${t.name}`,
    subscriptions: t.subscriptions.map((s) => ({
      id: s.id, kind: s.kind, target: s.target, rawMessageDelivery: s.raw,
      filterPolicy: s.filterPolicy === null ? null : JSON.parse(s.filterPolicy), filterPolicyScope: s.filterPolicyScope, deadLetterQueue: s.deadLetterQueue,
      ...(withSecrets && s.secret !== null ? { signingSecret: s.secret } : {}),
    })),
  };
}

/** An instant as ISO text; null when there is none or it is past what a Date can hold (a rate of millions of days). */
function iso(ms: number | null): string | null {
  return ms === null || !Number.isFinite(new Date(ms).getTime()) ? null : new Date(ms).toISOString();
}

function scheduleView(s: Awaited<ReturnType<ScheduleRunner['describe']>>[number]): Record<string, unknown> {
  return {
    name: s.name, app: s.app, expression: s.expression, timezone: s.timezone, description: s.description, target: s.target,
    input: s.input === null ? null : JSON.parse(s.input), enabled: s.enabled, catchUp: s.catchUp,
    nextFireAt: iso(s.nextAt), lastFiredAt: iso(s.lastFiredAt),
  };
}

const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,128}$/;
/** A batch of 10 messages of 256 KB, as JSON. */
const MAX_QUEUE_REQUEST_BYTES = 4 * 1024 * 1024;

/** Whether `res` drained (its client read what was written) within `ms`; false once it is closed. */
function drained(res: ServerResponse, ms: number): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((done) => {
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      done(ok);
    };
    const onDrain = () => finish(true);
    const onClose = () => finish(false);
    const timer = setTimeout(() => finish(false), ms);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Reads a JSON object body (an empty body is `{}`). */
async function objectBody(req: IncomingMessage, limit: number, what: string): Promise<Record<string, unknown>> {
  const value = parseJsonBody(await readBody(req, limit), what) ?? {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new NimbusError('BAD_REQUEST', `${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function intParam(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new NimbusError('BAD_REQUEST', `${name}: must be a non-negative integer, got "${value}"`);
  return n;
}

/** `since` is a duration back from now (`15m`, `1h`, `2d`) or an ISO time. */

/** `/a/:name/*` → `/a/{name}/{key}`: the router's path as OpenAPI writes it (the wildcard is an object key). */
function openapiPath(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{key}');
}
