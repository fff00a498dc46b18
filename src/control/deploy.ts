// Declarative deploy, server side: the CLI uploads the manifest and one bundle per function; this
// validates both, stores the code, and applies the app's desired state in one store transaction.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { functionScheduleName, isFifoQueue, parseHandler, validateManifest } from '../config/manifest.ts';
import { validateFilterPolicy } from '../events/topics/filter.ts';
import { jsonText } from '../util/json.ts';
import { NimbusError } from '../errors.ts';
import type { ApplyResult, DesiredApp, DesiredSubscription, Store } from '../store/types.ts';
import { desiredApp } from '../store/desired.ts';
import { DEFAULT_GUARD, DEFAULT_KEEP_VERSIONS } from '../config/limits.ts';
import { describeStrategy, parseStrategy } from '../config/strategy.ts';
import type { RolloutStrategy } from '../store/versions.ts';
import { desiredWorkflows } from '../workflows/deploy.ts';

export const DeployRequestSchema = z.strictObject({
  manifest: z.unknown(),
  bundles: z.record(z.string(), z.strictObject({ code: z.string().describe('the bundled ES module, base64') })),
  strategy: z.string().optional().describe('how live moves to each changed function\'s new version, for this deploy: all-at-once, canary:10%:5m, linear:10%:1m (default: each function\'s deployment.strategy)'),
});
export type DeployRequest = z.infer<typeof DeployRequestSchema>;

export interface DeployResult extends ApplyResult {
  app: string;
  /** The app's workflows after the deploy. */
  workflows: string[];
  /** Rollouts this deploy started (functions whose `live` moves step by step). */
  rollouts: { fn: string; id: number; fromVersion: number; toVersion: number; strategy: string }[];
}

export interface DeployOptions {
  checkSecrets?: (fn: string, names: string[]) => Promise<void>;
  keepVersions?: number;
  /** Each bundle of an applied deploy (by code hash), for the host to keep on disk before its first start. */
  keepCode?: (sha: string, bytes: Uint8Array) => void;
}

export async function applyDeploy(store: Store, appName: string, body: unknown, now: number, opts: DeployOptions = {}): Promise<DeployResult> {
  const { checkSecrets } = opts;
  const parsed = DeployRequestSchema.safeParse(body);
  if (!parsed.success) {
    throw new NimbusError('BAD_REQUEST', `deploy body: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  let strategy: RolloutStrategy | undefined;
  if (parsed.data.strategy !== undefined) {
    const s = parseStrategy(parsed.data.strategy);
    if ('problem' in s) throw new NimbusError('BAD_REQUEST', `strategy: ${s.problem}`);
    strategy = s;
  }
  const manifest = validateManifest(parsed.data.manifest);
  if (manifest.app !== appName) {
    throw new NimbusError('BAD_REQUEST', `the URL names app "${appName}" but the manifest says app: ${manifest.app}`);
  }
  const bundles = parsed.data.bundles;
  const names = Object.keys(manifest.functions);
  for (const name of names) if (!Object.hasOwn(bundles, name)) throw new NimbusError('BAD_REQUEST', `bundles.${name}: missing; every function in the manifest needs its bundle`);
  for (const name of Object.keys(bundles)) if (!Object.hasOwn(manifest.functions, name)) throw new NimbusError('BAD_REQUEST', `bundles.${name}: no function of that name in the manifest`);

  const desired: DesiredApp = desiredApp(manifest.app, {
    rollout: {
      strategies: Object.fromEntries(Object.entries(manifest.functions).map(([fn, f]) => [fn, {
        strategy: strategy ?? (f.deployment ? parseStrategy(f.deployment.strategy) as RolloutStrategy : { kind: 'all-at-once' as const }),
        guard: f.deployment ? { maxErrorRate: f.deployment.rollback.errorRate, minRequests: f.deployment.rollback.minRequests, maxP99Ms: f.deployment.rollback.p99 ?? null } : { ...DEFAULT_GUARD },
      }])),
      keepVersions: opts.keepVersions ?? DEFAULT_KEEP_VERSIONS,
    },
    buckets: Object.keys(manifest.buckets).map((name) => ({ name })),
    budgets: [
      ...(manifest.budget ? [{ fn: null, monthly: manifest.budget.monthly, alerts: manifest.budget.alerts }] : []),
      ...Object.entries(manifest.functions).flatMap(([fn, f]) => (f.budget ? [{ fn, monthly: f.budget.monthly, alerts: f.budget.alerts }] : [])),
    ],
    tables: Object.entries(manifest.tables).map(([name, t]) => ({ name, partitionKey: t.partitionKey, sortKey: t.sortKey ?? null, ttlAttribute: t.ttl ?? null })),
    queues: Object.entries(manifest.queues).map(([name, q]) => ({
      name,
      fifo: isFifoQueue(name),
      visibilityTimeoutMs: q.visibilityTimeout * 1000,
      retentionMs: q.retention * 1000,
      delayMs: q.delay * 1000,
      maxMessageBytes: q.maxMessageSize,
      contentBasedDeduplication: q.contentBasedDeduplication,
      ...(q.deadLetter ? { redrive: { deadLetterQueue: q.deadLetter.queue, maxReceiveCount: q.deadLetter.maxReceiveCount } } : {}),
    })),
  });
  const codes: [string, Buffer][] = [];
  /** Functions subscribed to each topic through `- topic:` events. */
  const functionSubs = new Map<string, DesiredSubscription[]>();
  for (const name of names) {
    const spec = manifest.functions[name]!;
    const code = Buffer.from(bundles[name]!.code, 'base64');
    if (code.length === 0) throw new NimbusError('BAD_REQUEST', `bundles.${name}: the bundle is empty`);
    const codeSha = createHash('sha256').update(code).digest('hex');
    codes.push([codeSha, code]);
    desired.functions.push({
      name,
      handler: spec.handler,
      exportName: parseHandler(spec.handler).exportName,
      memoryMb: spec.memory,
      timeoutMs: spec.timeout * 1000,
      environment: spec.environment,
      concurrencyMax: spec.concurrency.max,
      queueTimeoutMs: spec.concurrency.queueTimeoutMs,
      provisioned: spec.concurrency.provisioned,
      perInstance: spec.concurrency.perInstance,
      async: {
        retries: spec.async.retries,
        maxEventAgeMs: spec.async.maxEventAge * 1000,
        ...(spec.async.onSuccess ? { onSuccess: spec.async.onSuccess } : {}),
        ...(spec.async.onFailure ? { onFailure: spec.async.onFailure } : {}),
        ...(spec.async.deadLetterQueue ? { deadLetterQueue: spec.async.deadLetterQueue } : {}),
      },
      secrets: spec.secrets,
      permissions: {
        buckets: spec.permissions.buckets, tables: spec.permissions.tables, queues: spec.permissions.queues, topics: spec.permissions.topics, functions: spec.permissions.functions, bus: spec.permissions.bus,
        // Only when granted: a function deployed before workflow grants existed stays unchanged on a redeploy.
        ...(Object.keys(spec.permissions.workflows).length ? { workflows: spec.permissions.workflows } : {}),
      },
      codeSha,
    });
    for (const ev of spec.events) {
      if ('http' in ev) desired.routes.push({ method: ev.http.method, path: ev.http.path, fn: name, payload: ev.http.payload, qualifier: ev.http.qualifier ?? null });
      else if ('schedule' in ev) {
        const sch = ev.schedule;
        desired.schedules.push({
          name: functionScheduleName(name, spec.events.indexOf(ev), sch.name), expression: sch.expression, timezone: sch.timezone,
          target: { kind: 'function', name }, input: sch.input === undefined ? null : jsonText(sch.input, 'a schedule input'), enabled: sch.enabled, catchUp: sch.catchUp,
        });
      } else if ('topic' in ev) {
        const t = ev.topic;
        (functionSubs.get(t.name) ?? functionSubs.set(t.name, []).get(t.name)!).push({
          kind: 'function', target: name, raw: false, filterPolicy: policyText(t.filterPolicy, t.filterPolicyScope), filterPolicyScope: t.filterPolicyScope, deadLetterQueue: null,
        });
      } else if ('storage' in ev) {
        desired.storageTriggers.push({ fn: name, bucket: ev.storage.bucket, events: ev.storage.events, prefix: ev.storage.prefix, suffix: ev.storage.suffix });
      } else if ('table' in ev) {
        const t = ev.table;
        desired.tableTriggers.push({ fn: name, table: t.name, batchSize: t.batchSize, batchWindowMs: t.batchWindow * 1000, startingPosition: t.startingPosition, maxRetries: t.maxRetries });
      } else {
        const q = ev.queue;
        // By default a trigger may run as many batches at once as the function has instances.
        desired.queueTriggers.push({ fn: name, queue: q.name, qualifier: q.qualifier ?? null, batchSize: q.batchSize, batchWindowMs: q.batchWindow * 1000, maxConcurrency: Math.min(q.maxConcurrency ?? spec.concurrency.max, spec.concurrency.max) });
      }
    }
  }
  for (const [name, t] of Object.entries(manifest.topics)) {
    desired.topics.push({
      name,
      subscriptions: [
        ...t.subscriptions.map((sub) => ({
          kind: sub.queue !== undefined ? 'queue' as const : 'webhook' as const, target: sub.queue ?? sub.url!, raw: sub.rawMessageDelivery ?? false,
          filterPolicy: policyText(sub.filterPolicy, sub.filterPolicyScope), filterPolicyScope: sub.filterPolicyScope, deadLetterQueue: sub.deadLetterQueue ?? null,
        })),
        ...(functionSubs.get(name) ?? []),
      ],
    });
  }
  for (const [name, w] of Object.entries(manifest.workflows)) {
    for (const ev of w.events) {
      desired.routes.push({ method: ev.http.method, path: ev.http.path, fn: null, payload: '2.0', qualifier: null, workflow: name, syncMs: ev.http.sync ? ev.http.timeout * 1000 : null });
    }
  }
  for (const [name, rule] of Object.entries(manifest.rules)) {
    desired.rules.push({
      name, pattern: JSON.stringify(rule.pattern), enabled: rule.enabled,
      targets: rule.targets.map(({ kind, name: target, retryPolicy, deadLetterQueue, ...input }) => ({
        kind, name: target, input: Object.keys(input).length ? input : null,
        ...(kind === 'url' && retryPolicy ? { retry: { maximumRetryAttempts: retryPolicy.maximumRetryAttempts, maximumEventAgeMs: retryPolicy.maximumEventAgeInSeconds * 1000 }, deadLetterQueue: deadLetterQueue ?? null } : {}),
      })),
    });
  }
  for (const [name, sch] of Object.entries(manifest.schedules)) {
    desired.schedules.push({
      name, expression: sch.expression, timezone: sch.timezone, target: sch.target,
      input: sch.input === undefined ? null : jsonText(sch.input, 'a schedule input'), enabled: sch.enabled, catchUp: sch.catchUp,
    });
  }
  for (const f of desired.functions) if (f.secrets.length) await checkSecrets?.(f.name, f.secrets);
  await checkGrants(store, desired, Object.keys(manifest.workflows));
  desired.workflows = await desiredWorkflows(manifest.workflows, names, async () => (await store.listFunctions()).map((f) => f.name));
  desired.specHash = createHash('sha256').update(JSON.stringify({ manifest, code: desired.functions.map((f) => f.codeSha) })).digest('hex');
  for (const [sha, code] of codes) await store.putCode(sha, code);
  const result = await store.applyApp(desired, now);
  if (result.status === 'applied') {
    await store.pruneCode();
    for (const [sha, code] of codes) opts.keepCode?.(sha, code);
  }
  const started = result.status === 'applied' ? (await store.versions.listRollouts({ status: 'running' })).filter((r) => r.startedAt === now && result.updated.includes(r.fn)) : [];
  return {
    app: manifest.app, ...result,
    workflows: Object.keys(manifest.workflows).sort(),
    rollouts: started.map((r) => ({ fn: r.fn, id: r.id, fromVersion: r.fromVersion, toVersion: r.toVersion, strategy: describeStrategy(r.strategy) })),
  };
}

/** A filter policy as stored: the JSON text of the policy object (the manifest may give it as JSON text too). */
function policyText(policy: unknown, scope: 'MessageAttributes' | 'MessageBody'): string | null {
  return policy === undefined ? null : JSON.stringify(validateFilterPolicy(policy, scope).source);
}

/**
 * Every resource a function is granted exists: declared by this app, or already deployed by
 * another (grants may cross apps; the admin token holder deploys both). A grant naming nothing
 * is a typo that would only show up as ACCESS_DENIED or NOT_FOUND at run time.
 */
async function checkGrants(store: Store, desired: DesiredApp, workflows: string[]): Promise<void> {
  const kinds = [
    { kind: 'buckets', code: 'BUCKET_NOT_FOUND', what: 'bucket', mine: desired.buckets.map((b) => b.name), all: async () => (await store.objects.listBuckets()).map((b) => b.name) },
    { kind: 'tables', code: 'TABLE_NOT_FOUND', what: 'table', mine: desired.tables.map((t) => t.name), all: async () => (await store.kv.listTables()).map((t) => t.name) },
    { kind: 'queues', code: 'QUEUE_NOT_FOUND', what: 'queue', mine: desired.queues.map((q) => q.name), all: async () => (await store.listQueues()).map((q) => q.name) },
    { kind: 'topics', code: 'TOPIC_NOT_FOUND', what: 'topic', mine: desired.topics.map((t) => t.name), all: async () => (await store.listTopics()).map((t) => t.name) },
    { kind: 'functions', code: 'FUNCTION_NOT_FOUND', what: 'function', mine: desired.functions.map((f) => f.name), all: async () => (await store.listFunctions()).map((f) => f.name) },
    { kind: 'workflows', code: 'WORKFLOW_NOT_FOUND', what: 'workflow', mine: workflows, all: async () => (await store.workflows.listWorkflows()).map((w) => w.name) },
  ] as const;
  for (const k of kinds) {
    let known: Set<string> | undefined;
    for (const f of desired.functions) {
      for (const name of Object.keys(f.permissions[k.kind] ?? {})) {
        if (k.mine.includes(name)) continue;
        known ??= new Set(await k.all());
        if (!known.has(name)) {
          throw new NimbusError(k.code, `functions.${f.name}.permissions.${k.kind}: no ${k.what} "${name}" in this manifest or in any deployed app; declare it, deploy its app first, or fix the name`);
        }
      }
    }
  }
}
