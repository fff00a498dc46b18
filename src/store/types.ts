// The store seam. Every method is async, because the PostgreSQL implementation (cluster mode) will
// be; nothing outside src/store/ writes SQL. Both implementations run test/store-conformance.ts.

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
  /** sha256 (hex) of the bundle; the bytes sit in the store under this key. */
  codeSha: string;
  /** Bumped on every change to code or config; instance pools are keyed by it. */
  revision: number;
  updatedAt: number;
}

export interface RouteRecord {
  app: string;
  /** Upper-case HTTP method, or ANY. */
  method: string;
  /** As written in the manifest: `/users/{id}`, `/site/{proxy+}`. */
  path: string;
  fn: string;
  payload: PayloadVersion;
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
  codeSha: string;
}

export interface DesiredApp {
  name: string;
  specHash: string;
  functions: DesiredFunction[];
  routes: Omit<RouteRecord, 'app'>[];
}

export interface ApplyResult {
  status: 'unchanged' | 'applied';
  created: string[];
  updated: string[];
  removed: string[];
  routes: RouteRecord[];
}

export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';

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
  level?: LogLevel;
  sinceMs?: number;
  /** Only entries with seq greater than this. */
  afterSeq?: number;
  limit?: number;
}

export type Outcome = 'success' | 'error' | 'timeout' | 'throttled' | 'crashed' | 'out-of-memory' | 'init-error';

export interface InvocationRecord {
  requestId: string;
  fn: string;
  revision: number;
  trigger: 'http' | 'invoke';
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
}

export interface InvocationQuery {
  fn?: string;
  sinceMs?: number;
  outcome?: Outcome;
  limit?: number;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
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
  /** Keeps at most maxRows log lines and maxRows invocation records, none older than olderThanMs; returns how many went. */
  pruneRecords(opts: { maxRows: number; olderThanMs: number }): Promise<number>;

  listInvocations(q: InvocationQuery): Promise<InvocationRecord[]>;
}
