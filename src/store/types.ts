// The store seam. Every method is async, because the PostgreSQL implementation (cluster mode) will
// be; nothing outside src/store/ writes SQL. Both implementations run test/store-conformance.ts.
import type { ObjectsStore } from './objects.ts';
import type { KvStore } from './kv.ts';
import type { RolloutGuard, RolloutStrategy, VersionsStore } from './versions.ts';
import type { DesiredWorkflow, WorkflowsStore } from './workflows.ts';

export type PayloadVersion = '1.0' | '2.0';

/** A function as deployed: the manifest's config resolved with defaults, plus its code hash. */
export interface FunctionRecord {
  name: string;
  app: string;
  /** As written in the manifest, e.g. `src/users.create`. */
  handler: string;
  /** The export the runtime calls: `create`, `handler`, `default`. */
  exportName: string;
  memoryMb: number;
  timeoutMs: number;
  environment: Record<string, string>;
  concurrencyMax: number;
  /** How long a request waits for a free instance at the limit before a 429. */
  queueTimeoutMs: number;
  /** Instances kept initialised at all times (never reaped by keep-alive). */
  provisioned: number;
  /** Invocations one instance serves at once (1 = Lambda's model). */
  perInstance: number;
  /** Asynchronous invocation: retries, event age, destinations. */
  async: AsyncConfig;
  /** Names of the secrets the function is granted (delivered as environment variables and through the SDK). */
  secrets: string[];
  /** What the function's code may touch through the runtime SDK (everything else is ACCESS_DENIED). */
  permissions: Permissions;
  /** sha256 (hex) of the bundle; the bytes sit in the store under this key. */
  codeSha: string;
  /** Bumped on every change to code or config: the version number (docs/versions.md). */
  revision: number;
  updatedAt: number;
  /** Bumped when a secret the function is granted changes: instances of every version restart to read it. */
  secretsEpoch?: number;
}

export interface RouteRecord {
  app: string;
  /** Upper-case HTTP method, or ANY. */
  method: string;
  /** As written in the manifest: `/users/{id}`, `/site/{proxy+}`. */
  path: string;
  /** The function the route invokes; null on a workflow's route. */
  fn: string | null;
  payload: PayloadVersion;
  /** The alias or version number the route invokes (null: `live`). */
  qualifier: string | null;
  /** The workflow the route starts (`workflows.<name>.events`); null on a function's route. */
  workflow: string | null;
  /** A workflow route with `sync: true`: how long it waits for the execution's end; null answers 202 at once. */
  syncMs: number | null;
}

export interface AppRecord {
  name: string;
  /** Hash of the whole desired state; an identical deploy is a no-op. */
  specHash: string;
  functions: string[];
  routes: RouteRecord[];
  deployedAt: number;
}

export interface DesiredFunction {
  name: string;
  handler: string;
  exportName: string;
  memoryMb: number;
  timeoutMs: number;
  environment: Record<string, string>;
  concurrencyMax: number;
  queueTimeoutMs: number;
  provisioned: number;
  perInstance: number;
  async: AsyncConfig;
  secrets: string[];
  permissions: Permissions;
  codeSha: string;
}

/** Rights a function may hold on each kind of resource (manifest `permissions:`). */
export type BucketRight = 'read' | 'write';
export type TableRight = 'read' | 'write';

/**
 * A function's grants, by resource name. Resources may belong to another app. Secrets granted here
 * and in the function's `secrets:` list are the same grants (FunctionRecord.secrets holds the union).
 */
export interface Permissions {
  buckets: Record<string, BucketRight[]>;
  tables: Record<string, TableRight[]>;
  queues: Record<string, 'send'[]>;
  topics: Record<string, 'publish'[]>;
  functions: Record<string, 'invoke'[]>;
  /** ['put']: may put events on the event bus. */
  bus: 'put'[];
  /** start: workflows.start; respond: answer the task tokens of the workflow's executions. Absent on functions deployed before it existed, and when empty. */
  workflows?: Record<string, WorkflowRight[]>;
}

export type WorkflowRight = 'start' | 'respond';

/** An object storage bucket, owned by one app; names are unique across apps. */
export interface DesiredBucket {
  name: string;
}

/** Bucket → function notifications (`events: - storage: {...}`), delivered as async invocations with S3 events. */
export interface StorageTriggerRecord {
  app: string;
  fn: string;
  bucket: string;
  events: ('created' | 'removed')[];
  /** '' matches every key. */
  prefix: string;
  suffix: string;
}

/** A KV table, owned by one app; names are unique across apps. */
export interface DesiredTable {
  name: string;
  /** Attribute holding the partition key (string or number values). */
  partitionKey: string;
  /** Attribute holding the sort key, or null for a table keyed by partition key alone. */
  sortKey: string | null;
  /** Attribute holding an expiry time (epoch seconds, as DynamoDB); null: items never expire. */
  ttlAttribute: string | null;
}

/** Table change stream → function (`events: - table: {...}`). */
export interface TableTriggerRecord {
  app: string;
  fn: string;
  table: string;
  batchSize: number;
  batchWindowMs: number;
  /** Where a new trigger starts reading: changes made after it was created, or everything still retained. */
  startingPosition: 'latest' | 'trim_horizon';
  /** Attempts after the first before a failing batch is skipped (-1: retry until the records expire). */
  maxRetries: number;
}

export interface DesiredApp {
  name: string;
  specHash: string;
  functions: DesiredFunction[];
  /** `workflow` and `syncMs` may be left out on a function's route. */
  routes: (Omit<RouteRecord, 'app' | 'workflow' | 'syncMs'> & Partial<Pick<RouteRecord, 'workflow' | 'syncMs'>>)[];
  queues: Omit<QueueRecord, 'app'>[];
  queueTriggers: Omit<QueueTriggerRecord, 'app'>[];
  schedules: DesiredSchedule[];
  topics: DesiredTopic[];
  rules: DesiredRule[];
  buckets: DesiredBucket[];
  storageTriggers: Omit<StorageTriggerRecord, 'app'>[];
  tables: DesiredTable[];
  tableTriggers: Omit<TableTriggerRecord, 'app'>[];
  budgets: DesiredBudget[];
  /** How each changed function's `live` alias moves to its new version (default all-at-once), and how many versions to keep. */
  rollout?: { strategies: Record<string, { strategy: RolloutStrategy; guard: RolloutGuard }>; keepVersions: number };
  /** Validated ASL definitions (optional so DesiredApps built elsewhere stay valid). */
  workflows?: DesiredWorkflow[];
}

/** A monthly cost threshold on the whole app (`fn` null) or on one of its functions. */
export interface DesiredBudget {
  fn: string | null;
  /** In the price table's currency, per calendar month (UTC). */
  monthly: number;
  /** Percentages of `monthly` that alert, ascending. */
  alerts: number[];
}

export interface BudgetRecord extends DesiredBudget { app: string }

/** One alert a budget raised: at most one per budget, month and percentage. */
export interface BudgetAlert {
  app: string;
  fn: string | null;
  /** `YYYY-MM` (UTC). */
  month: string;
  percent: number;
  /** The month-to-date cost when it was noticed. */
  cost: number;
  at: number;
}

/** An event bus rule: a pattern and where matching events go. */
export interface DesiredRule {
  name: string;
  /** The event pattern as written (JSON text). */
  pattern: string;
  enabled: boolean;
  targets: RuleTarget[];
}

export interface RuleTarget {
  /** `url`: an HTTP endpoint (name is the URL), delivered signed like a topic's webhook. */
  kind: 'function' | 'queue' | 'topic' | 'url' | 'workflow';
  name: string;
  /** What the target receives instead of the whole event: { input } | { inputPath } | { inputTransformer }, as validated at deploy; null for the event. */
  input: Record<string, unknown> | null;
  /** HTTP targets: EventBridge's retry policy and dead-letter queue. */
  retry?: { maximumRetryAttempts: number; maximumEventAgeMs: number };
  deadLetterQueue?: string | null;
}

/** An HTTP target of a rule, as the webhook sender needs it. */
export interface RuleEndpoint {
  id: string;
  app: string;
  rule: string;
  url: string;
  secret: string;
}

export interface RuleRecord extends DesiredRule {
  app: string;
}

export interface DesiredTopic {
  name: string;
  subscriptions: DesiredSubscription[];
}

/** A topic subscription. Its id (and a webhook's signing secret) are kept across deploys while kind and target stay the same. */
export interface DesiredSubscription {
  kind: 'function' | 'queue' | 'webhook';
  /** Function name, queue name, or the webhook's URL. */
  target: string;
  /** Queues: the message body as published, attributes as queue message attributes. */
  raw: boolean;
  /** The filter policy as written (JSON text), or null. */
  filterPolicy: string | null;
  filterPolicyScope: 'MessageAttributes' | 'MessageBody';
  /** Webhooks: where deliveries that fail for good go. */
  deadLetterQueue: string | null;
}

export interface SubscriptionRecord extends DesiredSubscription {
  id: string;
  topic: string;
  app: string;
  /** Webhooks: the HMAC key deliveries are signed with. */
  secret: string | null;
}

export interface TopicRecord {
  name: string;
  app: string;
  subscriptions: SubscriptionRecord[];
}

/** What identifies one claim of a leased item: settling or retrying acts only while the lease is this claim's. */
export interface Claim { seq: number; leaseUntil: number }

/** A webhook delivery waiting for its next attempt. */
export interface WebhookDelivery {
  seq: number;
  leaseUntil: number;
  subscriptionId: string;
  messageId: string;
  body: string;
  createdAt: number;
  /** Attempts started so far, this one included once claimed. */
  attempts: number;
  /** The publisher's trace context (traceContext()), sent on as `traceparent` and `tracestate` headers. */
  trace?: string;
}

/** A schedule as the manifest declares it (standalone, or a function's `schedule` event). */
export interface DesiredSchedule {
  name: string;
  expression: string;
  /** IANA zone for cron() and at(). */
  timezone: string;
  /** A function, a queue, or (standalone schedules) a workflow to start an execution of. */
  target: Destination | { kind: 'workflow'; name: string };
  /** JSON text sent instead of the Scheduled Event, if set. */
  input: string | null;
  enabled: boolean;
  /** Fire the latest tick missed while the server was down, once, at start. */
  catchUp: boolean;
}

export interface ScheduleRecord extends DesiredSchedule {
  app: string;
  /** rate() schedules count their ticks from here: when the scheduler first computed its next tick (after a deploy that created or changed it, or an enable). */
  anchorMs: number;
  /** The next tick to fire; null until the scheduler computes it, or when there are no more. */
  nextAt: number | null;
  lastFiredAt: number | null;
}

/**
 * Where an asynchronous invocation's outcome goes. Topics and the event bus arrive with their own
 * issue; the union grows there, and every store method that takes a Destination delivers it in the
 * same transaction that settles the event.
 */
export type Destination = { kind: 'function'; name: string } | { kind: 'queue'; name: string };

export interface AsyncConfig {
  /** Retries after the first attempt fails (0..2). */
  retries: number;
  /** Events older than this are not run (they go to onFailure / the dead-letter queue). */
  maxEventAgeMs: number;
  onSuccess?: Destination;
  onFailure?: Destination;
  /** Queue that receives the original event once its retries are exhausted (Lambda's DLQ). */
  deadLetterQueue?: string;
}

export interface QueueConfig {
  visibilityTimeoutMs: number;
  retentionMs: number;
  delayMs: number;
  maxMessageBytes: number;
  /** FIFO only: a message without a deduplication id is deduplicated by the sha256 of its body. */
  contentBasedDeduplication: boolean;
  redrive?: { deadLetterQueue: string; maxReceiveCount: number };
}

export interface QueueRecord extends QueueConfig {
  name: string;
  app: string;
  fifo: boolean;
}

/** A queue → function event source mapping. */
export interface QueueTriggerRecord {
  app: string;
  fn: string;
  queue: string;
  batchSize: number;
  batchWindowMs: number;
  maxConcurrency: number;
  /** The alias or version the trigger runs (null: `live`). */
  qualifier?: string | null;
}

/** A message attribute as SQS's API spells it. */
export interface MessageAttribute { DataType: string; StringValue?: string; BinaryValue?: string }

export interface NewMessage {
  body: string;
  attributes?: Record<string, MessageAttribute>;
  /** Ignored on FIFO queues (they take the queue's delay). */
  delayMs?: number;
  groupId?: string;
  dedupId?: string;
}

export interface SentMessage {
  messageId: string;
  /** FIFO: the message's place in its queue (digits, as SQS's SequenceNumber). */
  sequenceNumber?: string;
  /** FIFO: the send matched a deduplication id seen in the last 5 minutes; nothing was added. */
  duplicate?: boolean;
}

export interface StoredMessage {
  seq: number;
  messageId: string;
  body: string;
  attributes: Record<string, MessageAttribute> | null;
  sentAt: number;
  receiveCount: number;
  firstReceivedAt: number | null;
  groupId: string | null;
  dedupId: string | null;
  /** The queue a dead-lettered message came from. */
  sourceQueue: string | null;
}

export interface ReceivedMessage extends StoredMessage {
  /** Identifies this receive; a later receive of the same message makes it stale. */
  receipt: string;
}

export interface QueueStats {
  visible: number;
  inFlight: number;
  delayed: number;
  /** Age of the oldest message, ms (0 when empty). */
  oldestAgeMs: number;
}

/** The result of a delete or visibility change by receipt. */
export type ReceiptResult = 'ok' | 'gone' | 'stale';

export interface AsyncEvent {
  seq: number;
  requestId: string;
  fn: string;
  payload: string;
  createdAt: number;
  /** Attempts started so far, this one included once claimed. */
  attempts: number;
  /** When this claim's lease ends (the event comes due again then). */
  leaseUntil: number;
  /** The trace context the event continues (traceContext(): a traceparent, and its tracestate), if its sender had one. */
  trace?: string;
  /** The alias or version to run (absent: `live`). */
  qualifier?: string;
}

/** Where a delivery goes: a destination (a function as `name` or `name:qualifier`), or a topic's webhook subscription (by id). */
/** `workflow`: starts an execution of the workflow `name` (its input the body; its name the delivery's requestId). */
export type DeliveryTarget = Destination | { kind: 'webhook'; name: string } | { kind: 'workflow'; name: string };

/** Something durable to hand on: a queue message, an async event for a function, or a webhook delivery. */
export interface Delivery {
  to: DeliveryTarget;
  /** For a queue: the message body; for a function: the event. */
  body: string;
  attributes?: Record<string, MessageAttribute>;
  /** For a function destination: the new async event's request id. */
  requestId?: string;
  /** The trace context to continue (traceContext()): on the async event, or as a queue message's `traceparent` and `tracestate` attributes. */
  trace?: string;
}

export interface ApplyResult {
  status: 'unchanged' | 'applied';
  created: string[];
  updated: string[];
  removed: string[];
  routes: RouteRecord[];
  /** The app's queues after the deploy, and which of them this deploy created or removed (with their messages). */
  queues: { names: string[]; created: string[]; removed: string[] };
  /** The same for the app's buckets and KV tables (removed only when empty). */
  buckets: { names: string[]; created: string[]; removed: string[] };
  tables: { names: string[]; created: string[]; removed: string[] };
}

export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';
/** The levels, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];

export interface LogEntry {
  /** Assigned by the store; increases with insertion order (a cursor for --follow). */
  seq?: number;
  ts: number;
  fn: string;
  requestId: string | null;
  level: LogLevel;
  message: string;
}

export interface LogQuery {
  fn?: string;
  requestId?: string;
  /** Lines of this level or more severe (WARN: WARN, ERROR and FATAL). */
  level?: LogLevel;
  sinceMs?: number;
  /** Only entries with seq greater than this. */
  afterSeq?: number;
  /** Before this time (epoch ms), with sinceMs a time range. */
  untilMs?: number;
  /** Only lines containing this text (case-insensitive). */
  text?: string;
  limit?: number;
}

export type Outcome = 'success' | 'error' | 'timeout' | 'throttled' | 'crashed' | 'out-of-memory' | 'init-error';

export interface InvocationRecord {
  requestId: string;
  fn: string;
  revision: number;
  trigger: 'http' | 'invoke' | 'async' | 'queue' | 'table' | 'workflow';
  startedAt: number;
  durationMs: number;
  billedDurationMs: number;
  initDurationMs: number | null;
  memoryMb: number;
  maxMemoryUsedMb: number;
  cold: boolean;
  /** Served by a provisioned instance (metered apart from on-demand ones). */
  provisioned: boolean;
  outcome: Outcome;
  errorType: string | null;
  /** The W3C trace id of the invocation (32 hex). */
  traceId?: string | null;
  /** What the caller asked for: an alias, a version number or `$LATEST` (revision is the version that ran). */
  qualifier?: string | null;
}

/**
 * Usage of one function in one hour (metering). `billedMbMs` is billed duration × memory size of
 * on-demand invocations (init included for cold starts), `provisionedBilledMbMs` the same for
 * invocations served by provisioned instances, `provisionedMbMs` the time provisioned instances were
 * configured × their memory size.
 */
export interface UsageRow {
  fn: string;
  /** Start of the hour, epoch ms. */
  hour: number;
  requests: number;
  errors: number;
  throttles: number;
  coldStarts: number;
  billedMbMs: number;
  provisionedBilledMbMs: number;
  provisionedMbMs: number;
  initMs: number;
}

export interface InvocationQuery {
  fn?: string;
  sinceMs?: number;
  outcome?: Outcome;
  limit?: number;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Function versions, aliases and rollouts. */
  readonly versions: VersionsStore;
  /** Object storage metadata (buckets, objects, notifications); the bytes sit in a BlobStore. */
  readonly objects: ObjectsStore;
  /** KV tables, their items and change streams. */
  readonly kv: KvStore;
  /** Workflow definitions, executions, history and pending work. */
  readonly workflows: WorkflowsStore;
  close(): Promise<void>;

  /** Applies an app's desired state in one transaction; throws ROUTE_CONFLICT / FUNCTION_CONFLICT and changes nothing. */
  applyApp(desired: DesiredApp, now: number): Promise<ApplyResult>;
  getApp(name: string): Promise<AppRecord | undefined>;
  listApps(): Promise<AppRecord[]>;
  /** Removes the app, its functions and routes. False when there was no such app. */
  deleteApp(name: string): Promise<boolean>;

  getFunction(name: string): Promise<FunctionRecord | undefined>;
  listFunctions(): Promise<FunctionRecord[]>;
  /** Removes one function and its routes from its app. False when there was no such function. */
  deleteFunction(name: string): Promise<boolean>;
  listRoutes(): Promise<RouteRecord[]>;
  /** Increases on every change to apps, functions or routes; caches compare it. */
  configGeneration(): Promise<number>;

  putCode(sha: string, bytes: Uint8Array): Promise<void>;
  getCode(sha: string): Promise<Uint8Array | undefined>;
  /** Deletes code no function refers to; returns how many blobs went. */
  pruneCode(): Promise<number>;

  /** Writes a batch of log lines and invocation records in one transaction. */
  appendRecords(batch: { logs: LogEntry[]; invocations: InvocationRecord[] }): Promise<void>;
  queryLogs(q: LogQuery): Promise<LogEntry[]>;
  /**
   * Keeps at most maxRows log lines and maxRows invocation records, none older than olderThanMs (taken
   * in the order they were written: one written late can outlive it by as much); returns how many went.
   * Works in steps, letting other work run between them; `signal` stops it between two.
   */
  pruneRecords(opts: { maxRows: number; olderThanMs: number; signal?: AbortSignal }): Promise<number>;

  listInvocations(q: InvocationQuery): Promise<InvocationRecord[]>;
  /** Every app's budgets (docs/metering.md). */
  listBudgets(): Promise<BudgetRecord[]>;
  /** Records an alert unless that budget already raised it for that month and percentage; true when this call recorded it. */
  claimBudgetAlert(a: BudgetAlert): Promise<boolean>;
  /** Forgets a claimed alert whose event could not be put, so the next check raises it again. */
  releaseBudgetAlert(a: BudgetAlert): Promise<void>;
  /** Alerts raised in a month (`YYYY-MM`). */
  listBudgetAlerts(month: string): Promise<BudgetAlert[]>;
  /** Adds to the hourly usage counters (appendRecords adds each invocation's share itself). */
  addUsage(rows: UsageRow[]): Promise<void>;
  /** Hourly usage rows whose hour starts in [sinceMs, untilMs), by function then hour. */
  queryUsage(q: { sinceMs: number; untilMs?: number; fn?: string }): Promise<UsageRow[]>;

  // --- queues (durable: every method commits before it returns) -------------------------------
  getQueue(name: string): Promise<QueueRecord | undefined>;
  listQueues(): Promise<QueueRecord[]>;
  listQueueTriggers(): Promise<QueueTriggerRecord[]>;
  /** Adds messages in one transaction. FIFO deduplication ids are remembered for dedupWindowMs. */
  sendMessages(queue: string, messages: NewMessage[], now: number, dedupWindowMs: number): Promise<SentMessage[]>;
  /**
   * Claims up to `max` visible messages for `visibilityMs` under the token `receipt`. Messages past
   * the queue's maxReceiveCount move to its dead-letter queue instead; messages past retention go.
   * FIFO: oldest first, never from a message group that has messages in flight. With maxBytes, stops
   * before the bodies would pass it (one message is always taken).
   */
  receiveMessages(queue: string, opts: { max: number; visibilityMs: number; receipt: string; maxBytes?: number }, now: number): Promise<ReceivedMessage[]>;
  deleteMessage(queue: string, seq: number, receipt: string): Promise<ReceiptResult>;
  /** Deletes several messages in one transaction (a trigger's processed batch). */
  deleteMessages(queue: string, items: { seq: number; receipt: string }[]): Promise<ReceiptResult[]>;
  changeVisibility(queue: string, seq: number, receipt: string, visibleAt: number): Promise<ReceiptResult>;
  purgeQueue(queue: string): Promise<number>;
  queueStats(queue: string, now: number): Promise<QueueStats>;
  /** When the next delayed or in-flight message of the queue becomes visible, if any. */
  nextVisibleAt(queue: string, now: number): Promise<number | undefined>;
  /** Moves up to `max` messages that came from `source` in dead-letter queue `dlq` back to it (or to `to`). */
  redriveMessages(dlq: string, opts: { to?: string; max: number }, now: number): Promise<number>;
  /**
   * Deletes messages past their queue's retention, expired deduplication ids and idempotency keys;
   * returns how many messages went. Works in steps, letting other work run between them, as
   * pruneRecords(); `signal` stops it between two.
   */
  expireMessages(now: number, signal?: AbortSignal): Promise<number>;

  // --- schedules ---------------------------------------------------------------------------------
  listSchedules(): Promise<ScheduleRecord[]>;
  /** Sets a schedule's next tick (null: unknown, to be computed) and, when given, the anchor its rate() counts from. */
  setScheduleNext(name: string, nextAt: number | null, anchorMs?: number): Promise<void>;
  /**
   * Fires a tick exactly once: if the schedule's next tick is still `dueAt`, moves it to `nextAt`,
   * records the fire and performs `delivery` (when given: a skipped missed tick has none), all in one
   * transaction. False when another fire (another node, an earlier call) already took the tick.
   */
  fireSchedule(name: string, dueAt: number, nextAt: number | null, firedAt: number, delivery: Delivery | undefined): Promise<boolean>;
  /** Enables or disables a schedule and forgets its next tick (the scheduler computes it afresh); false when there is no such schedule. */
  setScheduleEnabled(name: string, enabled: boolean): Promise<boolean>;

  // --- secrets (values sealed by the caller; the store never sees plaintext) -----------------------
  /** Stores a sealed secret; functions granted it get a new revision (their instances restart with the new value). */
  putSecret(name: string, sealed: string, now: number): Promise<void>;
  getSecret(name: string): Promise<{ sealed: string; updatedAt: number } | undefined>;
  listSecrets(): Promise<{ name: string; updatedAt: number; grantedTo: string[] }[]>;
  /** Deletes a secret no function is granted; throws SECRET_IN_USE naming the functions otherwise. False when there was none. */
  deleteSecret(name: string): Promise<boolean>;

  // --- event bus -----------------------------------------------------------------------------------
  listRules(): Promise<RuleRecord[]>;
  /** The HTTP targets of rules, with their ids and signing secrets. */
  listRuleEndpoints(): Promise<RuleEndpoint[]>;

  // --- topics --------------------------------------------------------------------------------------
  listTopics(): Promise<TopicRecord[]>;
  /** Writes a publish's deliveries (one per matching subscription) in one transaction; returns the ones whose target is gone. */
  deliver(deliveries: Delivery[], now: number): Promise<string[]>;
  /** Claims up to `max` due webhook deliveries until `leaseUntil`; counts the attempt. */
  claimWebhooks(max: number, now: number, leaseUntil: number): Promise<WebhookDelivery[]>;
  /** Removes a finished webhook delivery, with what it hands on (a dead-letter message), in one transaction — while `claim` holds it. */
  settleWebhook(claim: Claim, deliveries: Delivery[], now: number): Promise<void>;
  retryWebhook(claim: Claim, nextAt: number): Promise<void>;
  nextWebhookDue(): Promise<number | undefined>;
  releaseWebhookLeases(now: number): Promise<void>;

  // --- asynchronous invocations ----------------------------------------------------------------
  /**
   * Stores an event for `fn`. With an idempotency key already used for `fn` within its window,
   * stores nothing and returns the first request id.
   */
  enqueueAsync(e: { requestId: string; fn: string; payload: string; idempotencyKey?: string; trace?: string; qualifier?: string }, now: number, idempotencyWindowMs: number): Promise<{ requestId: string; duplicate: boolean }>;
  /** Claims up to `max` due events, leased until `leaseUntil`, leaving those of `skipFns` (functions that have enough); counts the attempt. */
  claimAsync(max: number, now: number, leaseUntil: number, skipFns?: string[]): Promise<AsyncEvent[]>;
  /**
   * Removes a settled event and performs its deliveries, in one transaction; returns the destinations
   * that no longer exist. Only while `claim` still holds the event (same lease): null, and nothing
   * done, when its lease ran out and the event was claimed again.
   */
  settleAsync(claim: Claim, deliveries: Delivery[], now: number): Promise<string[] | null>;
  /** Schedules another attempt (while `claim` holds the event). countAttempt=false (a throttle) gives the attempt back. */
  retryAsync(claim: Claim, nextAt: number, countAttempt: boolean): Promise<void>;
  /** When the next async event is due, if any. */
  nextAsyncDue(): Promise<number | undefined>;
  /** Releases every lease (the embedded store at start: no other node can hold one). */
  releaseAsyncLeases(now: number): Promise<void>;
  asyncStats(fn: string | undefined, now: number): Promise<{ pending: number; retrying: number }>;
}
