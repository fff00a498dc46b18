// Composes the platform: store, scheduler, invoker, gateway and admin API behind one HTTP server.
// `/_nimbus/` is reserved for the platform; every other path is a function route.
import { chmodSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { AdminApi } from './control/api.ts';
import { Registry } from './control/registry.ts';
import { ensureToken } from './control/token.ts';
import {
  DEFAULT_HOST, DEFAULT_PORT, KEEP_ALIVE_DEFAULT_MS, LOG_RETENTION_DEFAULT_MS, LOG_RETENTION_DEFAULT_ROWS, MAX_CONCURRENT_STARTS_PER_CORE, MAX_HEADER_BYTES,
  MAX_INSTANCES_DEFAULT, MEMORY_BUDGET_DEFAULT_FRACTION, SPARES_MAX_DEFAULT, SPARES_MIN_DEFAULT,
} from './config/limits.ts';
import { NimbusError } from './errors.ts';
import { Gateway } from './gateway/index.ts';
import { QueueService } from './events/queues/service.ts';
import { QueueTriggers } from './events/queues/trigger.ts';
import { EventBus } from './events/bus/service.ts';
import { ScheduleRunner } from './events/schedules/runner.ts';
import { subscriptionArn } from './events/topics/envelope.ts';
import { WebhookSender } from './events/topics/sender.ts';
import { SecretService } from './services/secrets/service.ts';
import { kvRoutes } from './services/kv/api.ts';
import { WorkflowExecutor } from './workflows/executor.ts';
import { workflowRoutes } from './workflows/api.ts';
import { storageRoutes } from './services/storage/api.ts';
import { storageSdkOps } from './services/storage/sdk.ts';
import { StorageService } from './services/storage/service.ts';
import { kvSdkOps } from './services/kv/sdk.ts';
import { KvService } from './services/kv/service.ts';
import { TableTriggers } from './services/kv/triggers.ts';
import { TopicService } from './events/topics/service.ts';
import type { RetryPolicy } from './events/topics/webhook.ts';
import { AsyncInvoker } from './invoker/async.ts';
import { Invoker } from './invoker/index.ts';
import { SdkHost } from './invoker/sdk.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { Metrics } from './observability/metrics.ts';
import { Tracing } from './observability/tracing.ts';
import { Metering } from './observability/usage.ts';
import { BUDGET_EVENT_DETAIL_TYPE, BUDGET_EVENT_SOURCE, BudgetWatcher } from './observability/budgets.ts';
import { budgetRoutes } from './observability/budgets-api.ts';
import { RolloutRunner } from './control/rollouts.ts';
import { versionRoutes } from './control/versions-api.ts';
import { usageRoutes } from './observability/usage-api.ts';
import { DEFAULT_PRICES, type Prices } from './config/prices.ts';
import { RecordWriter } from './observability/records.ts';
import { prepareLayout, resetSandboxRoot, runningAsRoot } from './sandbox/layout.ts';
import { BundleCache } from './scheduler/bundles.ts';
import { Scheduler } from './scheduler/index.ts';
import { openStore } from './store/index.ts';
import type { Delivery, Store } from './store/types.ts';
import { type Clock, systemClock } from './util/clock.ts';
import { sendError } from './util/http.ts';

export interface ServerOptions {
  port?: number;
  host?: string;
  dataDir?: string;
  database?: string;
  keepAliveMs?: number;
  /** Host-wide cap on running instances (default 1000). */
  maxInstances?: number;
  /** Memory budget over all instances' configured sizes, MB (default 75% of RAM). */
  memoryBudgetMb?: number;
  /** Processes booting at once (default 2 per core, at least 2). */
  maxConcurrentStarts?: number;
  /** Spare runtimes: kept for the default size, and at most in all (defaults 1 and 8; max 0 disables). */
  spares?: { min: number; max: number };
  /** V8 code cache per bundle, reused by later cold starts (default true). */
  compileCache?: boolean;
  /** OTLP/HTTP endpoint for traces (default OTEL_EXPORTER_OTLP_ENDPOINT; none: not exported). */
  otlpEndpoint?: string;
  /** 'http/protobuf' or 'http/json' (default OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf). */
  otlpProtocol?: string;
  /** Batch delay of the trace exporter (default 5 s; tests shorten it). */
  traceExportDelayMs?: number;
  /** Versions kept per function besides those an alias or rollout names (default 10). */
  keepVersions?: number;
  /** Picks canary traffic for aliases with two versions (default Math.random; tests seed it). */
  random?: () => number;
  /** Price table for cost estimates (default: AWS Lambda x86 list price). */
  prices?: Prices;
  /** First retry delay of a failed async invocation, doubling after (default 1 s; tests shorten it). */
  asyncRetryBaseMs?: number;
  /** The shortest init timeout (default 10 s; a function's own timeout when longer). */
  initTimeoutMinMs?: number;
  /** Webhook retry schedule (default: 8 retries from 2 s, ×3, at most 20 min; tests shorten it). */
  webhookRetry?: Partial<RetryPolicy>;
  logRetention?: { maxRows: number; maxAgeMs: number };
  clock?: Clock;
  logger?: Logger;
}

export interface RunningServer {
  url: string;
  port: number;
  dataDir: string;
  /** Where instance directories live (below the data dir, or the temp dir when uids are isolated). */
  sandboxRoot: string;
  token: string;
  tokenPath: string;
  tokenCreated: boolean;
  store: Store;
  scheduler: Scheduler;
  records: RecordWriter;
  queues: QueueService;
  asyncInvoker: AsyncInvoker;
  workflows: WorkflowExecutor;
  schedules: ScheduleRunner;
  /** Rollout steps (each second; tests call tick()). */
  rollouts: RolloutRunner;
  /** Budget checks (each minute; tests call check()). */
  budgets: BudgetWatcher;
  /** The admin API's endpoints (`METHOD /path`). */
  adminEndpoints: string[];
  close(): Promise<void>;
}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const logger = opts.logger ?? createLogger();
  const dataDir = resolve(opts.dataDir ?? '.nimbus');
  // 0711: instance uids may pass through to their sandboxes, never list or read what is here.
  mkdirSync(dataDir, { recursive: true, mode: 0o711 });
  if (runningAsRoot) chmodSync(dataDir, 0o711);
  const { token, path: tokenPath, created: tokenCreated } = ensureToken(dataDir);
  const store = await openStore({ dataDir, database: opts.database });
  const layout = prepareLayout(dataDir);
  // Instances of an earlier run that died with it left their directories behind.
  resetSandboxRoot(layout);
  // Calls from function code (runtime SDK); bound to the services once they exist.
  const sdk = new SdkHost();
  const secrets = new SecretService(store, dataDir, opts.clock ?? systemClock);
  const records = new RecordWriter(store, logger, opts.logRetention ?? { maxRows: LOG_RETENTION_DEFAULT_ROWS, maxAgeMs: LOG_RETENTION_DEFAULT_MS });
  const scheduler = new Scheduler({
    layout,
    bundles: new BundleCache(dataDir, store),
    clock: opts.clock ?? systemClock,
    onCall: (fn, op, args, requestId, trace) => sdk.call(fn, op, args, requestId, trace),
    secretsFor: (fn) => secrets.valuesFor(fn),
    redactorFor: (values) => {
      const r = SecretService.redactor(values);
      return r ? (text: string) => r.redact(text) : undefined;
    },
    initTimeoutMinMs: opts.initTimeoutMinMs,
    keepAliveMs: opts.keepAliveMs ?? KEEP_ALIVE_DEFAULT_MS,
    logger,
    capacity: {
      maxInstances: opts.maxInstances ?? MAX_INSTANCES_DEFAULT,
      memoryBudgetMb: opts.memoryBudgetMb ?? Math.floor((totalmem() / (1024 * 1024)) * MEMORY_BUDGET_DEFAULT_FRACTION),
      maxConcurrentStarts: opts.maxConcurrentStarts ?? Math.max(2, availableParallelism() * MAX_CONCURRENT_STARTS_PER_CORE),
    },
    spares: opts.spares ?? { min: SPARES_MIN_DEFAULT, max: SPARES_MAX_DEFAULT },
    compileCache: opts.compileCache ?? true,
    onLog: (fn, log) => records.log({ ...log, fn }),
  });
  const clock = opts.clock ?? systemClock;
  const registry = new Registry(store, scheduler, opts.random);
  const tracing = new Tracing({ endpoint: opts.otlpEndpoint, protocol: opts.otlpProtocol, exportDelayMs: opts.traceExportDelayMs, logger });
  const invoker = new Invoker(scheduler, records, tracing, (fn, q) => {
    // Looked up again: a request may outlive its function's deploy (or removal) while it waits.
    const now = registry.functions.get(fn.name);
    if (!now) throw new NimbusError('FUNCTION_NOT_FOUND', `function "${fn.name}" was removed`);
    return registry.resolve(now, q);
  });
  const queues = new QueueService(store, clock, logger);
  const triggers = new QueueTriggers({ queues, invoker, functions: () => registry.functions, clock, logger });
  const asyncInvoker = new AsyncInvoker({ store, invoker, functions: () => registry.functions, onQueueMessage: (q) => queues.notify(q), clock, logger, retryBaseMs: opts.asyncRetryBaseMs });
  /** Wakes whoever consumes a delivery that was just committed. */
  /** Set once the workflow executor runs; before that its loop finds start items by itself when it starts. */
  let kickWorkflows = (): void => undefined;
  let executor: WorkflowExecutor | undefined;
  const onDelivered = (d: Delivery): void => {
    if (d.to.kind === 'queue') queues.notify(d.to.name);
    else if (d.to.kind === 'function') asyncInvoker.kick();
    else if (d.to.kind === 'workflow') kickWorkflows();
    else sender.kick();
  };
  let baseUrl = '';
  const topics = new TopicService({ store, clock, logger, baseUrl: () => baseUrl, onDelivered });
  const bus = new EventBus({ store, topics, clock, logger, onDelivered });
  const sender = new WebhookSender({
    store, clock, logger, onDelivered, retry: opts.webhookRetry,
    endpoint: async (id) => {
      const ruleTarget = bus.endpoint(id);
      if (ruleTarget) return ruleTarget;
      const sub = await topics.subscription(id);
      return sub && sub.kind === 'webhook' && sub.secret !== null
        ? { url: sub.target, secret: sub.secret, deadLetterQueue: sub.deadLetterQueue, arn: subscriptionArn(sub.topic, sub.id), owner: `topic ${sub.topic}` }
        : undefined;
    },
  });
  const schedules = new ScheduleRunner({ store, clock, logger, onDelivered });
  // Metrics and metering see everything from here on, the ticks fired at start included.
  const metrics = new Metrics({
    instances: () => scheduler.stats(),
    spares: () => scheduler.spares.stats(),
    queues: async () => {
      const all = await store.listQueues();
      return Promise.all(all.map(async (q) => ({ name: q.name, deadLetterFor: all.filter((o) => o.redrive?.deadLetterQueue === q.name).map((o) => o.name), stats: await queues.stats(q.name) })));
    },
  });
  records.onInvocation = (r) => metrics.invocation(r);
  bus.onPut = (matched, unmatched, failed, deliveries) => metrics.busEvents(matched, unmatched, failed, deliveries);
  schedules.onFired = (name, lagMs) => metrics.scheduleTick(name, lagMs);
  sender.onOutcome = (owner, outcome) => metrics.webhook(owner, outcome);
  // Provisioned time is billed for the versions that hold it: live's (and its canary's).
  const metering = new Metering({ store, clock, logger, functions: () => new Map(registry.provisioned.map((f) => [`${f.name}@${f.revision}`, f])) });
  const prices = opts.prices ?? DEFAULT_PRICES;
  const budgets = new BudgetWatcher({
    store, metering, prices, clock, logger,
    appFunctions: () => {
      const apps = new Map<string, string[]>();
      for (const f of registry.functions.values()) (apps.get(f.app) ?? apps.set(f.app, []).get(f.app)!).push(f.name);
      return apps;
    },
    emit: (detail) => bus.emit(BUDGET_EVENT_SOURCE, BUDGET_EVENT_DETAIL_TYPE, detail),
  });
  const kv = new KvService(store.kv, clock, logger);
  const storage = new StorageService({ store, dataDir, clock, logger, onDelivered, baseUrl: () => baseUrl });
  await storage.start();
  const tableTriggers = new TableTriggers({ kv, invoker, functions: () => registry.functions, clock, logger });
  // Before anything can run a function (provisioned instances, pending async events, triggers start with the refresh below).
  sdk.bind({
    queues, topics: () => topics, bus: () => bus, secrets, invoker, asyncInvoker, functions: () => registry.functions, logger, resolve: (fn, q) => registry.resolve(fn, q),
    ops: { ...kvSdkOps(kv), ...storageSdkOps(storage) },
    log: (fn, requestId, message) => records.log({ ts: Date.now(), fn, requestId, level: 'WARN', message }),
    workflows: () => {
      if (!executor) throw new NimbusError('INTERNAL', 'the workflow executor is not running yet');
      return executor;
    },
  });
  registry.onChange = () => {
    kv.invalidate();
    storage.invalidate();
    tableTriggers.sync(registry.tableTriggers);
    queues.invalidate();
    topics.invalidate();
    bus.load(registry.rules, registry.ruleEndpoints);
    triggers.sync(registry.queueTriggers);
    void schedules.sync();
  };
  await registry.refresh();
  await asyncInvoker.start();
  const workflows = new WorkflowExecutor({ store, invoker, tracing, functions: () => registry.functions, clock, logger });
  await workflows.start();
  kickWorkflows = () => workflows.kick();
  executor = workflows;
  await sender.start();
  await schedules.sync();
  const gateway = new Gateway(registry, invoker, logger, tracing);
  gateway.workflows = workflows;
  gateway.onResponse = (route, status) => metrics.http(route, status);
  const rollouts = new RolloutRunner({ store, registry, scheduler, clock, logger });
  rollouts.start();
  const api = new AdminApi({ keepVersions: opts.keepVersions, store, registry, invoker, asyncInvoker, queues, triggers, schedules, topics, bus, secrets, scheduler, records, logger, token, version: VERSION, startedAt: Date.now(),
    services: [...kvRoutes(kv), ...storageRoutes(storage), ...usageRoutes(metering, prices, () => records.flush()), ...budgetRoutes(budgets, () => records.flush()), ...versionRoutes({ store, registry, rollouts, now: () => clock.now() }), ...workflowRoutes(workflows, store.workflows), {
      method: 'GET', path: '/_nimbus/metrics',
      handler: async (_req, res) => {
        const { contentType, body } = await metrics.text();
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      openapi: { summary: 'Prometheus metrics (text exposition format): invocations, errors, throttles, durations, cold starts, instances, spares, queues, HTTP answers, bus events — see docs/metrics.md', responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } } },
    }],
  });

  const server: Server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    const url = req.url ?? '/';
    const handled = url.startsWith('/_nimbus/') || url === '/_nimbus' ? api.handle(req, res) : gateway.handle(req, res);
    handled.catch((err: unknown) => sendError(res, err, logger));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const e = err.code === 'HPE_HEADER_OVERFLOW'
      ? new NimbusError('HEADERS_TOO_LARGE', `request headers are over the limit of ${MAX_HEADER_BYTES} bytes`)
      : new NimbusError('BAD_REQUEST', `malformed HTTP request (${err.code ?? 'parse error'})`);
    const body = JSON.stringify(e.toJSON());
    socket.end(`HTTP/1.1 ${e.status} ${e.status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  server.keepAliveTimeout = 65_000;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await new Promise<void>((ok) => { server.close(() => ok()); server.closeAllConnections(); });
      // Stop taking new work, stop the instances (work in flight fails and stays in the store to
      // run again at the next start), then wait for everything to settle before the store closes.
      const stopping = Promise.all([triggers.stop(), asyncInvoker.stop(), schedules.stop(), sender.stop(), tableTriggers.stop(), rollouts.stop(), workflows.stop()]);
      queues.close();
      await scheduler.close();
      await stopping;
      await asyncInvoker.drained();
      await workflows.drained();
      kv.close();
      await budgets.close();
      await metering.close();
      await tracing.close(logger);
      await records.close();
      await store.close();
      rmSync(join(dataDir, 'server.json'), { force: true });
    })();
    return closing;
  };

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? DEFAULT_PORT, opts.host ?? DEFAULT_HOST, () => { server.off('error', fail); ok(); });
  }).catch(async (err: unknown) => {
    // A port in use, say: what was started (the spawner and its instances, timers, the span export's
    // thread, the store) is stopped, so that the caller (\`nimbus serve\`) can end with the error.
    await close();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host ?? DEFAULT_HOST;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  baseUrl = url;
  writeFileSync(join(dataDir, 'server.json'), JSON.stringify({ url, pid: process.pid }) + '\n', { mode: 0o600 });
  logger.info({ url, dataDir, store: store.kind, isolateUids: layout.isolateUids }, 'nimbus listening');

  return {
    url, port, dataDir, sandboxRoot: layout.root, token, tokenPath, tokenCreated, store, scheduler, records, queues, asyncInvoker, workflows, schedules, budgets, rollouts, adminEndpoints: api.endpoints,
    close,
  };
}
