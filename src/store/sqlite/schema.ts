// SQLite schema for the embedded store. Migrations are append-only: a new entry per change.
// Configuration (apps, functions, routes, code) lives in the main file with synchronous=NORMAL;
// logs and invocation records, written on every request, live in a file of their own.
import { KV_MIGRATION } from './kv.ts';
import { OBJECTS_MIGRATION } from './objects.ts';

export const MIGRATIONS: string[] = [
  `CREATE TABLE apps (
     name TEXT PRIMARY KEY,
     spec_hash TEXT NOT NULL,
     deployed_at INTEGER NOT NULL
   );
   CREATE TABLE functions (
     name TEXT PRIMARY KEY,
     app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
     handler TEXT NOT NULL,
     export_name TEXT NOT NULL,
     memory_mb INTEGER NOT NULL,
     timeout_ms INTEGER NOT NULL,
     environment TEXT NOT NULL,
     concurrency_max INTEGER NOT NULL,
     queue_timeout_ms INTEGER NOT NULL,
     code_sha TEXT NOT NULL,
     revision INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX functions_app ON functions(app);
   CREATE TABLE routes (
     app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
     method TEXT NOT NULL,
     path TEXT NOT NULL,
     norm_path TEXT NOT NULL,
     fn TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     payload TEXT NOT NULL,
     PRIMARY KEY (method, norm_path)
   );
   CREATE INDEX routes_app ON routes(app);
   CREATE TABLE code (
     sha TEXT PRIMARY KEY,
     bytes BLOB NOT NULL
   );
   CREATE TABLE meta (
     key TEXT PRIMARY KEY,
     value TEXT NOT NULL
   );
   INSERT INTO meta(key, value) VALUES ('config_generation', '0');`,
  `ALTER TABLE functions ADD COLUMN provisioned INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE functions ADD COLUMN per_instance INTEGER NOT NULL DEFAULT 1;`,
  // Queues, their messages, and asynchronous invocations: durable work, so it lives here (the main
  // file, synchronous=FULL) and is committed before the API acknowledges it.
  `ALTER TABLE functions ADD COLUMN async_config TEXT NOT NULL DEFAULT '{}';
   CREATE TABLE queues (
     name TEXT PRIMARY KEY,
     app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
     fifo INTEGER NOT NULL,
     config TEXT NOT NULL
   );
   CREATE INDEX queues_app ON queues(app);
   CREATE TABLE messages (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     queue TEXT NOT NULL REFERENCES queues(name) ON DELETE CASCADE,
     id TEXT NOT NULL,
     body TEXT NOT NULL,
     attributes TEXT,
     sent_at INTEGER NOT NULL,
     visible_at INTEGER NOT NULL,
     receive_count INTEGER NOT NULL DEFAULT 0,
     first_received_at INTEGER,
     receipt TEXT,
     group_id TEXT,
     dedup_id TEXT,
     source_queue TEXT
   );
   CREATE INDEX messages_visible ON messages(queue, visible_at);
   CREATE INDEX messages_inflight_groups ON messages(queue, group_id) WHERE group_id IS NOT NULL AND receipt IS NOT NULL;
   CREATE TABLE fifo_dedup (
     queue TEXT NOT NULL REFERENCES queues(name) ON DELETE CASCADE,
     dedup_id TEXT NOT NULL,
     message_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     PRIMARY KEY (queue, dedup_id)
   );
   CREATE TABLE queue_triggers (
     app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
     fn TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     queue TEXT NOT NULL REFERENCES queues(name) ON DELETE CASCADE,
     batch_size INTEGER NOT NULL,
     batch_window_ms INTEGER NOT NULL,
     max_concurrency INTEGER NOT NULL,
     PRIMARY KEY (fn, queue)
   );
   CREATE TABLE async_events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     request_id TEXT NOT NULL,
     fn TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     payload TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_at INTEGER NOT NULL,
     lease_until INTEGER
   );
   CREATE INDEX async_due ON async_events(next_at);
   CREATE TABLE idempotency_keys (
     fn TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     key TEXT NOT NULL,
     request_id TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     PRIMARY KEY (fn, key)
   );`,
  `CREATE TABLE schedules (
     name TEXT PRIMARY KEY,
     app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
     expression TEXT NOT NULL,
     timezone TEXT NOT NULL,
     target TEXT NOT NULL,
     input TEXT,
     enabled INTEGER NOT NULL,
     catch_up INTEGER NOT NULL,
     anchor_ms INTEGER NOT NULL,
     next_at INTEGER,
     last_fired_at INTEGER
   );
   CREATE INDEX schedules_app ON schedules(app);`,
  `CREATE TABLE topics (
     name TEXT PRIMARY KEY,
     app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE
   );
   CREATE INDEX topics_app ON topics(app);
   CREATE TABLE subscriptions (
     id TEXT PRIMARY KEY,
     topic TEXT NOT NULL REFERENCES topics(name) ON DELETE CASCADE,
     app TEXT NOT NULL,
     kind TEXT NOT NULL,
     target TEXT NOT NULL,
     raw INTEGER NOT NULL,
     filter_policy TEXT,
     filter_scope TEXT NOT NULL,
     dlq TEXT,
     secret TEXT,
     position INTEGER NOT NULL,
     UNIQUE (topic, kind, target)
   );
   CREATE TABLE webhook_deliveries (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     subscription TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
     message_id TEXT NOT NULL,
     body TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_at INTEGER NOT NULL,
     lease_until INTEGER
   );
   CREATE INDEX webhook_due ON webhook_deliveries(next_at);`,
  `CREATE TABLE rules (
     name TEXT PRIMARY KEY,
     app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
     pattern TEXT NOT NULL,
     enabled INTEGER NOT NULL,
     targets TEXT NOT NULL
   );
   CREATE INDEX rules_app ON rules(app);`,
  `CREATE TABLE secrets (
     name TEXT PRIMARY KEY,
     sealed TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   );
   ALTER TABLE functions ADD COLUMN secrets TEXT NOT NULL DEFAULT '[]';`,
  // HTTP targets of rules: their id and signing secret outlive the deploys that replace the rules.
  // Webhook deliveries now go to a topic subscription or a rule endpoint, so their table is rebuilt
  // without the foreign key to subscriptions (a delivery whose endpoint is gone is dropped when it
  // comes due). IF NOT EXISTS: data dirs from a build that had this table in an earlier migration.
  `CREATE TABLE IF NOT EXISTS rule_endpoints (
     id TEXT PRIMARY KEY,
     app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
     rule TEXT NOT NULL,
     url TEXT NOT NULL,
     secret TEXT NOT NULL,
     UNIQUE (rule, url)
   );
   CREATE TABLE webhook_deliveries_v2 (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     subscription TEXT NOT NULL,
     message_id TEXT NOT NULL,
     body TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_at INTEGER NOT NULL,
     lease_until INTEGER
   );
   INSERT INTO webhook_deliveries_v2 SELECT seq, subscription, message_id, body, created_at, attempts, next_at, lease_until FROM webhook_deliveries;
   DROP TABLE webhook_deliveries;
   ALTER TABLE webhook_deliveries_v2 RENAME TO webhook_deliveries;
   CREATE INDEX webhook_due ON webhook_deliveries(next_at);`,
  // Least-privilege grants (issue 6): what a function may touch through the runtime SDK.
  `ALTER TABLE functions ADD COLUMN permissions TEXT NOT NULL DEFAULT '{"buckets":{},"tables":{},"queues":{},"topics":{},"functions":{},"bus":[]}';`,
  OBJECTS_MIGRATION,
  KV_MIGRATION,
  // Trace context carried by asynchronous invocations (W3C traceparent, and its tracestate: traceContext()), so the trace continues.
  `ALTER TABLE async_events ADD COLUMN trace TEXT;`,
  `ALTER TABLE webhook_deliveries ADD COLUMN trace TEXT;`,
  `ALTER TABLE kv_stream ADD COLUMN trace TEXT;`,
  // Budgets (issue 7): monthly cost thresholds per app or function (fn '' is the whole app), and the
  // alerts raised — kept when a budget or app goes, so a redeploy never repeats a month's alert.
  `CREATE TABLE budgets (
     app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
     fn TEXT NOT NULL,
     monthly REAL NOT NULL,
     alerts TEXT NOT NULL,
     PRIMARY KEY (app, fn)
   );
   CREATE TABLE budget_alerts (
     app TEXT NOT NULL,
     fn TEXT NOT NULL,
     month TEXT NOT NULL,
     percent INTEGER NOT NULL,
     cost REAL NOT NULL,
     at INTEGER NOT NULL,
     PRIMARY KEY (app, fn, month, percent)
   );`,
  // Versions, aliases and rollouts (issue 8). A version's number is the function's revision when it
  // was published; `config` holds what the function was then (docs/versions.md). Functions deployed
  // before this get their current revision as a version, and `live` pointing at it.
  `CREATE TABLE function_versions (
     fn TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     version INTEGER NOT NULL,
     config TEXT NOT NULL,
     code_sha TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (fn, version)
   );
   CREATE TABLE aliases (
     fn TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     name TEXT NOT NULL,
     version INTEGER NOT NULL,
     extra_version INTEGER,
     extra_weight REAL NOT NULL DEFAULT 0,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (fn, name)
   );
   CREATE TABLE rollouts (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     fn TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
     alias TEXT NOT NULL,
     from_version INTEGER NOT NULL,
     to_version INTEGER NOT NULL,
     strategy TEXT NOT NULL,
     guard TEXT NOT NULL,
     status TEXT NOT NULL,
     reason TEXT,
     weight REAL NOT NULL,
     next_at INTEGER,
     started_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     steps TEXT NOT NULL
   );
   CREATE INDEX rollouts_fn ON rollouts(fn, id);
   CREATE INDEX rollouts_running ON rollouts(status, next_at);
   ALTER TABLE routes ADD COLUMN qualifier TEXT;
   ALTER TABLE functions ADD COLUMN secrets_epoch INTEGER NOT NULL DEFAULT 0;
   INSERT INTO function_versions(fn, version, config, code_sha, created_at)
     SELECT name, revision, json_object('handler', handler, 'exportName', export_name, 'memoryMb', memory_mb, 'timeoutMs', timeout_ms,
       'environment', json(environment), 'concurrencyMax', concurrency_max, 'queueTimeoutMs', queue_timeout_ms, 'provisioned', provisioned,
       'perInstance', per_instance, 'async', json(async_config), 'secrets', json(secrets), 'permissions', json(permissions), 'codeSha', code_sha),
       code_sha, updated_at FROM functions;
   INSERT INTO aliases(fn, name, version, updated_at) SELECT name, 'live', revision, updated_at FROM functions;`,
  // Asynchronous events and queue triggers may name an alias or version to run (null: live).
  `ALTER TABLE async_events ADD COLUMN qualifier TEXT;
   ALTER TABLE queue_triggers ADD COLUMN qualifier TEXT;`,
  // Workflows: definitions per app; executions (with a copy of their definition and the engine's
  // state); history; pending work (tasks, timers; leased when claimed); waitForTaskToken tokens.
  `CREATE TABLE wf_definitions (name TEXT PRIMARY KEY, app TEXT NOT NULL, definition TEXT NOT NULL, updated_at INTEGER NOT NULL);
   CREATE INDEX wf_definitions_app ON wf_definitions(app);
   CREATE TABLE wf_executions (
     id TEXT PRIMARY KEY, workflow TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL,
     output TEXT, error TEXT, cause TEXT, definition TEXT NOT NULL, state TEXT NOT NULL, version INTEGER NOT NULL,
     started_at INTEGER NOT NULL, stopped_at INTEGER, redrive_count INTEGER NOT NULL DEFAULT 0, trace TEXT
   );
   CREATE INDEX wf_executions_workflow ON wf_executions(workflow, started_at);
   CREATE INDEX wf_executions_status ON wf_executions(status, started_at);
   CREATE TABLE wf_history (
     execution TEXT NOT NULL, id INTEGER NOT NULL, previous_id INTEGER NOT NULL, type TEXT NOT NULL, ts INTEGER NOT NULL,
     frame TEXT NOT NULL, details TEXT NOT NULL, PRIMARY KEY (execution, id)
   ) WITHOUT ROWID;
   CREATE TABLE wf_work (
     seq INTEGER PRIMARY KEY, execution TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL,
     due_at INTEGER NOT NULL, lease_until INTEGER, data TEXT NOT NULL
   );
   CREATE INDEX wf_work_due ON wf_work(due_at);
   CREATE INDEX wf_work_ref ON wf_work(execution, ref);
   CREATE TABLE wf_tokens (token TEXT PRIMARY KEY, execution TEXT NOT NULL, task_id TEXT NOT NULL);
   CREATE INDEX wf_tokens_task ON wf_tokens(execution, task_id);`,
  // Routes may start a workflow instead of invoking a function: \`fn\` becomes nullable (a table
  // rebuild, SQLite cannot drop NOT NULL), \`workflow\` names the workflow and \`sync_ms\` how long a
  // synchronous route waits for the execution's end (null: answers 202 at once).
  `CREATE TABLE routes_v2 (
     app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
     method TEXT NOT NULL,
     path TEXT NOT NULL,
     norm_path TEXT NOT NULL,
     fn TEXT REFERENCES functions(name) ON DELETE CASCADE,
     payload TEXT NOT NULL,
     qualifier TEXT,
     workflow TEXT,
     sync_ms INTEGER,
     PRIMARY KEY (method, norm_path),
     CHECK ((fn IS NULL) != (workflow IS NULL))
   );
   INSERT INTO routes_v2(app, method, path, norm_path, fn, payload, qualifier) SELECT app, method, path, norm_path, fn, payload, qualifier FROM routes;
   DROP TABLE routes;
   ALTER TABLE routes_v2 RENAME TO routes;
   CREATE INDEX routes_app ON routes(app);`,
  // Provisioned concurrency on an alias (null: the version's own concurrency.provisioned for live, none for others).
  `ALTER TABLE aliases ADD COLUMN provisioned INTEGER;`,
  // nextWorkDue: the earliest unleased item (all kinds, or timers only when task slots are full) and
  // the leased ones, each from its own partial index instead of a scan of wf_work per loop pass.
  `CREATE INDEX wf_work_free ON wf_work(due_at) WHERE lease_until IS NULL;
   CREATE INDEX wf_work_free_timers ON wf_work(due_at) WHERE lease_until IS NULL AND kind != 'task';
   CREATE INDEX wf_work_leased ON wf_work(lease_until) WHERE lease_until IS NOT NULL;`,
  // Messages by send time: queueStats() (asked for every queue at each metrics scrape) finds the oldest,
  // and the retention sweep what is past retention, without reading every message of the queue (with a
  // backlog of 1,000,000 messages a scrape held the event loop for ~260 ms, the sweep every minute for
  // ~180 ms with nothing to delete). The sweeps of deduplication ids and idempotency keys go by index too.
  `CREATE INDEX messages_sent ON messages(queue, sent_at);
   CREATE INDEX fifo_dedup_expiry ON fifo_dedup(expires_at);
   CREATE INDEX idempotency_keys_expiry ON idempotency_keys(expires_at);`,
];

export const RECORD_MIGRATIONS: string[] = [
  `CREATE TABLE logs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     ts INTEGER NOT NULL,
     fn TEXT NOT NULL,
     request_id TEXT,
     level TEXT NOT NULL,
     message TEXT NOT NULL
   );
   CREATE INDEX logs_fn ON logs(fn, seq);
   CREATE INDEX logs_request ON logs(request_id);
   CREATE TABLE invocations (
     request_id TEXT PRIMARY KEY,
     fn TEXT NOT NULL,
     revision INTEGER NOT NULL,
     trigger TEXT NOT NULL,
     started_at INTEGER NOT NULL,
     duration_ms REAL NOT NULL,
     billed_duration_ms INTEGER NOT NULL,
     init_duration_ms REAL,
     memory_mb INTEGER NOT NULL,
     max_memory_used_mb INTEGER NOT NULL,
     cold INTEGER NOT NULL,
     outcome TEXT NOT NULL,
     error_type TEXT
   );
   CREATE INDEX invocations_fn ON invocations(fn, started_at);`,
  // Indexes keyed by random request ids cost more than half of each request's insert time (measured in
  // bench/: 22.8 → 8.4 µs per request). Look-ups by request id scan instead; they are rare and bounded
  // by log retention.
  `DROP INDEX logs_request;
   ALTER TABLE invocations RENAME TO invocations_v1;
   CREATE TABLE invocations (
     seq INTEGER PRIMARY KEY,
     request_id TEXT NOT NULL,
     fn TEXT NOT NULL,
     revision INTEGER NOT NULL,
     trigger TEXT NOT NULL,
     started_at INTEGER NOT NULL,
     duration_ms REAL NOT NULL,
     billed_duration_ms INTEGER NOT NULL,
     init_duration_ms REAL,
     memory_mb INTEGER NOT NULL,
     max_memory_used_mb INTEGER NOT NULL,
     cold INTEGER NOT NULL,
     outcome TEXT NOT NULL,
     error_type TEXT
   );
   INSERT INTO invocations(request_id, fn, revision, trigger, started_at, duration_ms, billed_duration_ms, init_duration_ms,
     memory_mb, max_memory_used_mb, cold, outcome, error_type)
     SELECT request_id, fn, revision, trigger, started_at, duration_ms, billed_duration_ms, init_duration_ms,
     memory_mb, max_memory_used_mb, cold, outcome, error_type FROM invocations_v1 ORDER BY started_at;
   DROP TABLE invocations_v1;
   CREATE INDEX invocations_fn ON invocations(fn, started_at);`,
  `ALTER TABLE invocations ADD COLUMN provisioned INTEGER NOT NULL DEFAULT 0;`,
  // Metering: usage per function per hour, kept apart from the records (which retention prunes).
  `CREATE TABLE usage_hourly (
     fn TEXT NOT NULL,
     hour INTEGER NOT NULL,
     requests INTEGER NOT NULL DEFAULT 0,
     errors INTEGER NOT NULL DEFAULT 0,
     throttles INTEGER NOT NULL DEFAULT 0,
     cold_starts INTEGER NOT NULL DEFAULT 0,
     billed_mb_ms INTEGER NOT NULL DEFAULT 0,
     provisioned_billed_mb_ms INTEGER NOT NULL DEFAULT 0,
     provisioned_mb_ms INTEGER NOT NULL DEFAULT 0,
     init_ms REAL NOT NULL DEFAULT 0,
     PRIMARY KEY (fn, hour)
   ) WITHOUT ROWID;`,
  `ALTER TABLE invocations ADD COLUMN trace_id TEXT;`,
  // The alias (or `$LATEST`, or the number) an invocation was asked for; `revision` is the version that ran.
  `ALTER TABLE invocations ADD COLUMN qualifier TEXT;`,
];
