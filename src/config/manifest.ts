// The app manifest, nimbus.yml: its schema (zod, strict), loading from YAML or JSON, and errors that
// name the key path and what is allowed. The parsed result is normalised — defaults filled in,
// methods upper-cased, environment values strings — so nothing downstream re-checks it.
import { access, readFile, realpath } from 'node:fs/promises';
import { isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { NimbusError } from '../errors.ts';
import { parseSchedule } from '../events/schedules/expression.ts';
import { validateFilterPolicy } from '../events/topics/filter.ts';
import { validatePattern } from '../events/bus/pattern.ts';
import { validateTargetInput } from '../events/bus/input.ts';
import { bucketNameProblem } from '../services/storage/keys.ts';
import { parseStrategy, qualifierProblem, splitQualified } from './strategy.ts';
import {
  ASYNC_MAX_EVENT_AGE_DEFAULT_S, ASYNC_RETRIES_DEFAULT, QUEUE_DELAY_MAX_S, QUEUE_MAX_MESSAGE_BYTES, QUEUE_RETENTION_DEFAULT_S, QUEUE_RETENTION_MAX_S,
  QUEUE_TRIGGER_BATCH_MAX, QUEUE_TRIGGER_WINDOW_MAX_S, QUEUE_VISIBILITY_DEFAULT_S, QUEUE_VISIBILITY_MAX_S, TABLE_TRIGGER_BATCH_DEFAULT, TABLE_TRIGGER_BATCH_MAX, TABLE_TRIGGER_WINDOW_MAX_S,
  CONCURRENCY_DEFAULT_MAX, DEFAULT_GUARD, MEMORY_DEFAULT_MB, MEMORY_MAX_MB, MEMORY_MIN_MB, QUEUE_TIMEOUT_DEFAULT_MS, TIMEOUT_DEFAULT_S, TIMEOUT_MAX_S, TIMEOUT_MIN_S,
} from './limits.ts';

export const MANIFEST_FILES = ['nimbus.yml', 'nimbus.yaml', 'nimbus.json'];
export const HANDLER_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs', '.cjs', '.cts'];
export const HTTP_EVENT_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'ANY'] as const;
export const EVENT_KINDS = ['http', 'queue', 'schedule', 'topic', 'storage', 'table'] as const;
const APP_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const FUNCTION_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Keys of a fetch-style handler's `env` that hold the SDK handles of its grants. */
const BINDING_NAMES = ['buckets', 'tables', 'queues', 'topics', 'functions', 'bus'];
const RESERVED_ENV = /^(NIMBUS_|AWS_|LAMBDA_|_HANDLER$|NODE_OPTIONS$|TZ$|HOME$|TMPDIR$|LANG$)/;
const PATH_SEGMENT = /^[A-Za-z0-9._~!$&'()*+,;=:@-]+$/;
const PARAM = /^\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}$/;
const EXPORT_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** SQS's rule: letters, digits, "-" and "_", at most 80 characters, ".fifo" at the end for a FIFO queue. */
export const QUEUE_NAME = /^(?=.{1,80}$)[A-Za-z0-9_-]+(\.fifo)?$/;
export const isFifoQueue = (name: string): boolean => name.endsWith('.fifo');

/** A strict object whose unknown-key error lists the allowed keys. */
function strict<T extends z.ZodRawShape>(shape: T) {
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') {
        const keys = iss.keys.map((k) => `"${k}"`).join(', ');
        return `unknown key${iss.keys.length > 1 ? 's' : ''} ${keys}; allowed keys: ${Object.keys(shape).join(', ')}`;
      }
      if (iss.code === 'invalid_type') return `must be a mapping (key: value), got ${describe(iss.input)}`;
      return undefined;
    },
  });
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`;
}

/** An integer in [min, max], `def` when absent; the message says the range and what it got. */
function intIn(min: number, max: number, unit: string, def: number) {
  return z.unknown().optional().transform((v, ctx) => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      ctx.addIssue({ code: 'custom', message: `must be an integer from ${min} to ${max}${unit}, got ${describe(v)}` });
      return z.NEVER;
    }
    return v;
  });
}

/** Why an HTTP path is invalid, or undefined when it is fine. */
export function httpPathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must start with "/"';
  if (path === '/') return undefined;
  if (path.endsWith('/')) return 'must not end with "/"';
  if (path === '/_nimbus' || path.startsWith('/_nimbus/')) return '/_nimbus is reserved for the platform';
  const segments = path.slice(1).split('/');
  const names = new Set<string>();
  for (const [i, seg] of segments.entries()) {
    if (seg === '') return 'must not contain empty segments ("//")';
    const param = PARAM.exec(seg);
    if (param) {
      if (param[2] && i !== segments.length - 1) return `the greedy parameter {${param[1]}+} must be the last segment`;
      if (names.has(param[1]!)) return `parameter {${param[1]}} appears twice`;
      names.add(param[1]!);
      continue;
    }
    if (seg.includes('{') || seg.includes('}')) return `segment "${seg}" is not a valid parameter; use {name} or, last, {name+}`;
    if (!PATH_SEGMENT.test(seg)) return `segment "${seg}" has characters not allowed in a path`;
  }
  return undefined;
}

/** The alias or version a route invokes (absent: `live`). */
const QualifierSchema = z.unknown().optional().transform((v, ctx): string | undefined => {
  if (v === undefined || v === null) return undefined;
  const q = typeof v === 'number' ? String(v) : v;
  const problem = typeof q === 'string' ? qualifierProblem(q) : `must be an alias name, a version number or $LATEST, got ${describe(v)}`;
  if (problem) {
    ctx.addIssue({ code: 'custom', message: problem });
    return z.NEVER;
  }
  return q as string;
});

/**
 * `deployment:` of a function: how `live` moves to a new version, and when a rollout gives up. The
 * parsed form keeps the strategy as text (validated) so it parses again unchanged; deploy reads it.
 */
const DeploymentSchema = strict({
  strategy: z.string({ error: (i) => `must be all-at-once, canary:10%:5m or linear:10%:1m, got ${describe(i.input)}` }).optional().transform((s, ctx): string => {
    if (s === undefined) return 'all-at-once';
    const r = parseStrategy(s);
    if ('problem' in r) {
      ctx.addIssue({ code: 'custom', message: r.problem });
      return z.NEVER;
    }
    return s.trim();
  }),
  rollback: strict({
    errorRate: z.number({ error: (i) => `must be a percentage, got ${describe(i.input)}` }).min(0, { error: 'must be from 0 to 100 (percent)' }).max(100, { error: 'must be from 0 to 100 (percent)' }).optional()
      .transform((v) => v ?? DEFAULT_GUARD.maxErrorRate),
    minRequests: intIn(1, 1_000_000, ' (invocations of the new version before its error rate counts)', DEFAULT_GUARD.minRequests),
    p99: z.number({ error: (i) => `must be a duration in ms, got ${describe(i.input)}` }).int({ error: 'must be a whole number of ms' }).min(1, { error: 'must be from 1 to 900000 (ms)' }).max(900_000, { error: 'must be from 1 to 900000 (ms)' }).optional(),
  }).optional().transform((r) => r ?? { errorRate: DEFAULT_GUARD.maxErrorRate, minRequests: DEFAULT_GUARD.minRequests }),
}).optional();

/** The short form of an HTTP event, `http: GET /users/{id}`, as the mapping it stands for. */
function httpShortForm(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(v);
  return m ? { method: m[1], path: m[2] } : { method: v };
}

/** An HTTP event's `method` and `path` (of a function or a workflow); `example` shows a path in the message. */
function httpRouteFields(example: string) {
  return {
    method: z.string({ error: (i) => (i.input === undefined ? 'is required' : `must be a string, got ${describe(i.input)}`) })
      .transform((s) => s.toUpperCase())
      .pipe(z.enum(HTTP_EVENT_METHODS, { error: (i) => `must be one of ${HTTP_EVENT_METHODS.join(', ')}, got ${JSON.stringify(i.input)}` })),
    path: z.string({ error: (i) => (i.input === undefined ? `is required (e.g. ${example}); the short form is "METHOD /path"` : `must be a string, got ${describe(i.input)}`) })
      .check((ctx) => {
        const problem = httpPathProblem(ctx.value);
        if (problem) ctx.issues.push({ code: 'custom', message: `${problem}, got ${JSON.stringify(ctx.value)}`, input: ctx.value });
      }),
  };
}

const HttpEventSchema = z.preprocess(
  httpShortForm,
  strict({
    ...httpRouteFields('/users/{id}'),
    payload: z.unknown().optional().transform((v, ctx) => {
      if (v === undefined) return '2.0' as const;
      const s = v === 1 ? '1.0' : v === 2 ? '2.0' : v;
      if (s === '1.0' || s === '2.0') return s;
      ctx.addIssue({ code: 'custom', message: `must be "1.0" (REST API v1 proxy event) or "2.0" (HTTP API v2, the default), got ${describe(v)}` });
      return z.NEVER;
    }),
    qualifier: QualifierSchema,
  }),
);

const QueueNameSchema = z.string({ error: (i) => (i.input === undefined ? 'is required: a queue name' : `must be a queue name, got ${describe(i.input)}`) })
  .regex(QUEUE_NAME, { error: (i) => `must be letters, digits, "-" and "_" (at most 80 characters, ending in ".fifo" for a FIFO queue), got ${JSON.stringify(i.input)}` });

const QueueEventSchema = z.preprocess(
  // Short form: `queue: orders`.
  (v) => (typeof v === 'string' ? { name: v } : v),
  strict({
    name: QueueNameSchema,
    qualifier: QualifierSchema,
    batchSize: intIn(1, QUEUE_TRIGGER_BATCH_MAX, ' (messages per invocation)', 10),
    batchWindow: intIn(0, QUEUE_TRIGGER_WINDOW_MAX_S, ' (seconds to gather a batch)', 0),
    maxConcurrency: z.unknown().optional().transform((v, ctx) => {
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1000) {
        ctx.addIssue({ code: 'custom', message: `must be an integer from 1 to 1000 (batches at once), got ${describe(v)}` });
        return z.NEVER;
      }
      return v;
    }),
  }),
);

const DESTINATION_KINDS = ['function', 'queue'] as const;
const LATER_DESTINATIONS = ['topic', 'bus'];

/** `queue:name`, `function:name`, or `{ queue: name }`; topics and the event bus arrive with their issue. */
const DestinationSchema = z.unknown().optional().transform((v, ctx): { kind: 'function' | 'queue'; name: string } | undefined => {
  if (v === undefined) return undefined;
  let kind: string | undefined;
  let name: unknown;
  if (typeof v === 'string') {
    const i = v.indexOf(':');
    if (i > 0) { kind = v.slice(0, i); name = v.slice(i + 1); }
  } else if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 1) {
    [kind, name] = Object.entries(v)[0]!;
  } else if (typeof v === 'object' && v !== null && 'kind' in v && 'name' in v && Object.keys(v).length === 2) {
    // The normalised form, as a parsed manifest is sent to the server.
    ({ kind, name } = v as { kind: string; name: unknown });
  }
  if (kind === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be "queue:<name>" or "function:<name>" (or a mapping like { queue: orders }), got ${describe(v)}` });
    return z.NEVER;
  }
  if (LATER_DESTINATIONS.includes(kind)) {
    ctx.addIssue({ code: 'custom', message: `${kind} destinations are not available yet; use a queue or a function` });
    return z.NEVER;
  }
  if (!(DESTINATION_KINDS as readonly string[]).includes(kind) || typeof name !== 'string' || name === '') {
    ctx.addIssue({ code: 'custom', message: `must be "queue:<name>" or "function:<name>", got ${describe(v)}` });
    return z.NEVER;
  }
  return { kind: kind as 'function' | 'queue', name };
});

const AsyncSchema = strict({
  retries: intIn(0, 2, ' (retries after a failed attempt)', ASYNC_RETRIES_DEFAULT),
  maxEventAge: intIn(60, 21_600, ' (seconds)', ASYNC_MAX_EVENT_AGE_DEFAULT_S),
  onSuccess: DestinationSchema,
  onFailure: DestinationSchema,
  deadLetterQueue: QueueNameSchema.optional(),
}).optional().transform((a): AsyncSpec => {
  if (!a) return { retries: ASYNC_RETRIES_DEFAULT, maxEventAge: ASYNC_MAX_EVENT_AGE_DEFAULT_S };
  // Absent destinations are left out rather than kept as undefined keys.
  return Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as unknown as AsyncSpec;
});

export interface AsyncSpec {
  retries: number;
  maxEventAge: number;
  onSuccess?: { kind: 'function' | 'queue'; name: string };
  onFailure?: { kind: 'function' | 'queue'; name: string };
  deadLetterQueue?: string;
}

const QueueSchema = z.preprocess((v) => v ?? {}, strict({
  visibilityTimeout: intIn(0, QUEUE_VISIBILITY_MAX_S, ' (seconds)', QUEUE_VISIBILITY_DEFAULT_S),
  retention: intIn(60, QUEUE_RETENTION_MAX_S, ' (seconds)', QUEUE_RETENTION_DEFAULT_S),
  delay: intIn(0, QUEUE_DELAY_MAX_S, ' (seconds)', 0),
  maxMessageSize: intIn(1024, QUEUE_MAX_MESSAGE_BYTES, ' (bytes)', QUEUE_MAX_MESSAGE_BYTES),
  contentBasedDeduplication: z.boolean({ error: (i) => `must be true or false, got ${describe(i.input)}` }).optional().transform((b) => b ?? false),
  deadLetter: strict({
    queue: QueueNameSchema,
    maxReceiveCount: intIn(1, 1000, ' (receives before a message moves to the dead-letter queue)', 5),
  }).optional(),
}));

/** EventBridge's rule-name rule. */
export const SCHEDULE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** A schedule expression with its zone, checked by the parser that will run it (AWS's wording). */
function checkExpression(ctx: { value: { expression: string; timezone: string }; issues: unknown[] }): void {
  try {
    parseSchedule(ctx.value.expression, { timezone: ctx.value.timezone });
  } catch (err) {
    (ctx.issues as { code: string; message: string; input: unknown; path: PropertyKey[] }[]).push({ code: 'custom', message: (err as Error).message, input: ctx.value, path: ['expression'] });
  }
}

const scheduleFields = {
  expression: z.string({ error: (i) => (i.input === undefined ? 'is required: rate(5 minutes), cron(0 12 * * ? *) or at(2030-01-01T09:00:00)' : `must be a string, got ${describe(i.input)}`) }),
  timezone: z.string({ error: (i) => `must be an IANA time zone name such as Europe/London, got ${describe(i.input)}` }).optional().transform((t) => t ?? 'UTC'),
  input: z.unknown().optional(),
  enabled: z.boolean({ error: (i) => `must be true or false, got ${describe(i.input)}` }).optional().transform((b) => b ?? true),
  catchUp: z.boolean({ error: (i) => `must be true or false, got ${describe(i.input)}` }).optional().transform((b) => b ?? true),
};

const ScheduleEventSchema = z.preprocess(
  // Short form: `schedule: rate(5 minutes)`.
  (v) => (typeof v === 'string' ? { expression: v } : v),
  strict({
    name: z.string({ error: (i) => `must be a string, got ${describe(i.input)}` })
      .regex(SCHEDULE_NAME, { error: (i) => `must be letters, digits, ".", "-" and "_", at most 64 characters, got ${JSON.stringify(i.input)}` }).optional(),
    ...scheduleFields,
  }).check(checkExpression),
);

/** SNS's rule for topic names; FIFO topics are not available. */
export const TOPIC_NAME = /^[A-Za-z0-9_-]{1,256}$/;

const TopicNameSchema = z.string({ error: (i) => (i.input === undefined ? 'is required: a topic name' : `must be a topic name, got ${describe(i.input)}`) })
  .check((ctx) => {
    if (ctx.value.endsWith('.fifo')) ctx.issues.push({ code: 'custom', message: 'FIFO topics are not available; use a standard topic (and a FIFO queue for ordering)', input: ctx.value });
    else if (!TOPIC_NAME.test(ctx.value)) ctx.issues.push({ code: 'custom', message: `must be letters, digits, "-" and "_", at most 256 characters, got ${JSON.stringify(ctx.value)}`, input: ctx.value });
  });

/** filterPolicy + filterPolicyScope, checked with SNS's rules; kept as the JSON text of the policy. */
const filterFields = {
  filterPolicy: z.unknown().optional(),
  filterPolicyScope: z.enum(['MessageAttributes', 'MessageBody'], { error: (i) => `must be MessageAttributes (the default) or MessageBody, got ${describe(i.input)}` }).optional().transform((v) => v ?? 'MessageAttributes'),
};
function checkFilter(ctx: { value: { filterPolicy?: unknown; filterPolicyScope: 'MessageAttributes' | 'MessageBody' }; issues: unknown[] }): void {
  if (ctx.value.filterPolicy === undefined) return;
  try {
    validateFilterPolicy(ctx.value.filterPolicy, ctx.value.filterPolicyScope);
  } catch (err) {
    (ctx.issues as { code: string; message: string; input: unknown }[]).push({ code: 'custom', message: (err as Error).message, input: ctx.value });
  }
}

const TopicEventSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { name: v } : v),
  strict({ name: TopicNameSchema, ...filterFields }).check(checkFilter),
);

const SubscriptionSchema = z.unknown().transform((v, ctx) => {
  const kinds = typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.keys(v).filter((k) => k === 'queue' || k === 'url') : [];
  if (kinds.length !== 1) {
    const given = typeof v === 'object' && v !== null && !Array.isArray(v) ? ` (it has ${Object.keys(v).map((k) => `"${k}"`).join(', ') || 'no keys'})` : '';
    ctx.addIssue({ code: 'custom', message: `each subscription names one "queue:" or one "url:" (functions subscribe with "- topic:" in their events), got ${describe(v)}${given}` });
    return z.NEVER;
  }
  const schema = kinds[0] === 'queue'
    ? strict({ queue: QueueNameSchema, rawMessageDelivery: z.boolean({ error: (i) => `must be true or false, got ${describe(i.input)}` }).optional().transform((b) => b ?? false), ...filterFields }).check(checkFilter)
    : strict({
      url: z.string({ error: (i) => `must be a string, got ${describe(i.input)}` }).check((c) => {
        let ok = false;
        try { ok = ['http:', 'https:'].includes(new URL(c.value).protocol); } catch { ok = false; }
        if (!ok) c.issues.push({ code: 'custom', message: `must be an http:// or https:// URL, got ${JSON.stringify(c.value)}`, input: c.value });
      }),
      deadLetterQueue: QueueNameSchema.optional(),
      ...filterFields,
    }).check(checkFilter);
  const r = schema.safeParse(v);
  if (r.success) return r.data as { queue?: string; url?: string; rawMessageDelivery?: boolean; deadLetterQueue?: string; filterPolicy?: unknown; filterPolicyScope: 'MessageAttributes' | 'MessageBody' };
  for (const iss of r.error.issues) ctx.addIssue({ code: 'custom', message: iss.message, path: iss.path });
  return z.NEVER;
});

const TopicSchema = z.preprocess((v) => v ?? {}, strict({
  subscriptions: z.array(SubscriptionSchema, { error: (i) => `must be a list of subscriptions, got ${describe(i.input)}` }).optional().transform((x) => x ?? []),
}));

/** EventBridge's rule-name rule. */
export const RULE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const TARGET_KINDS = ['function', 'queue', 'topic', 'url', 'workflow'] as const;

/** EventBridge's RetryPolicy for an HTTP target. */
const RetryPolicySchema = strict({
  maximumRetryAttempts: intIn(0, 185, ' (retries)', 185),
  maximumEventAgeInSeconds: intIn(60, 86_400, ' (seconds)', 86_400),
}).optional().transform((r) => r ?? { maximumRetryAttempts: 185, maximumEventAgeInSeconds: 86_400 });

/** One rule target: `{ function: f }`, `{ queue: q, inputPath: $.detail }`, `{ topic: t, inputTransformer: {...} }`, or the short `queue:q`. */
const RuleTargetSchema = z.unknown().transform((v, ctx) => {
  const raw = typeof v === 'string' && v.includes(':') ? { [v.slice(0, v.indexOf(':'))]: v.slice(v.indexOf(':') + 1) } : v;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    ctx.addIssue({ code: 'custom', message: `a target is { function: <name> }, { queue: <name> }, { topic: <name> } or { workflow: <name> } (with input, inputPath or inputTransformer), or "queue:<name>", got ${describe(v)}` });
    return z.NEVER;
  }
  let o = raw as Record<string, unknown>;
  // The normalised form `{ kind, name, ... }`, as a parsed manifest is sent to the server.
  if (typeof o.kind === 'string' && typeof o.name === 'string' && (TARGET_KINDS as readonly string[]).includes(o.kind)) {
    const { kind: k, name: n, ...rest } = o;
    o = { [k as string]: n, ...rest };
  }
  const kinds = TARGET_KINDS.filter((k) => k in o);
  if (kinds.length !== 1) {
    ctx.addIssue({ code: 'custom', message: `a target names exactly one of ${TARGET_KINDS.join(', ')}` });
    return z.NEVER;
  }
  const kind = kinds[0]!;
  const allowed = [kind, 'input', 'inputPath', 'inputTransformer', ...(kind === 'url' ? ['retryPolicy', 'deadLetterQueue'] : [])];
  const unknown = Object.keys(o).filter((k) => !allowed.includes(k));
  if (unknown.length) {
    ctx.addIssue({ code: 'custom', message: `unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; allowed keys: ${allowed.join(', ')}` });
    return z.NEVER;
  }
  if (typeof o[kind] !== 'string' || o[kind] === '') {
    ctx.addIssue({ code: 'custom', path: [kind], message: `must be a ${kind === 'url' ? 'URL' : `${kind} name`}, got ${describe(o[kind])}` });
    return z.NEVER;
  }
  const extra: { retryPolicy?: { maximumRetryAttempts: number; maximumEventAgeInSeconds: number }; deadLetterQueue?: string } = {};
  if (kind === 'url') {
    let ok = false;
    try { ok = ['http:', 'https:'].includes(new URL(o.url as string).protocol); } catch { ok = false; }
    if (!ok) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: `must be an http:// or https:// URL, got ${JSON.stringify(o.url)}` });
      return z.NEVER;
    }
    const r = RetryPolicySchema.safeParse(o.retryPolicy);
    if (!r.success) {
      for (const iss of r.error.issues) ctx.addIssue({ code: 'custom', path: ['retryPolicy', ...iss.path], message: iss.message });
      return z.NEVER;
    }
    extra.retryPolicy = r.data;
    if (o.deadLetterQueue !== undefined) {
      const d = QueueNameSchema.safeParse(o.deadLetterQueue);
      if (!d.success) {
        ctx.addIssue({ code: 'custom', path: ['deadLetterQueue'], message: d.error.issues[0]!.message });
        return z.NEVER;
      }
      extra.deadLetterQueue = d.data;
    }
  }
  const spec = { input: o.input, inputPath: o.inputPath, inputTransformer: o.inputTransformer };
  try {
    validateTargetInput(spec, 'target');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
  const input = Object.fromEntries(Object.entries(spec).filter(([, x]) => x !== undefined));
  return { kind, name: o[kind] as string, ...input, ...extra };
});

const RuleSchema = strict({
  pattern: z.unknown().transform((v, ctx) => {
    if (v === undefined) {
      ctx.addIssue({ code: 'custom', message: 'is required: the event pattern, e.g. { source: [shop], detail-type: [OrderPlaced] }' });
      return z.NEVER;
    }
    try {
      validatePattern(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
    // A pattern names the envelope's fields: put-events takes detailType, but the event has "detail-type".
    const keys = typeof v === 'object' && v !== null ? Object.keys(v) : [];
    const camel = keys.find((k) => k === 'detailType' || k === 'DetailType');
    if (camel) {
      ctx.addIssue({ code: 'custom', message: `"${camel}" never matches: the event's field is "detail-type" (patterns use the envelope's names)` });
      return z.NEVER;
    }
    return v;
  }),
  enabled: z.boolean({ error: (i) => `must be true or false, got ${describe(i.input)}` }).optional().transform((b) => b ?? true),
  targets: z.array(RuleTargetSchema, { error: (i) => (i.input === undefined ? 'is required: at least one target' : `must be a list of targets, got ${describe(i.input)}`) })
    .check((ctx) => {
      if (ctx.value.length === 0 || ctx.value.length > 5) ctx.issues.push({ code: 'custom', message: `a rule has 1 to 5 targets (as EventBridge), got ${ctx.value.length}`, input: ctx.value });
    }),
});

/** DynamoDB's rule for table names. */
export const TABLE_NAME = /^(?!__proto__$)[A-Za-z0-9_.-]{3,255}$/;
const ATTRIBUTE_NAME = /^(?!__proto__$)[A-Za-z_][A-Za-z0-9_.-]{0,254}$/;

const BucketNameSchema = z.string({ error: (i) => (i.input === undefined ? 'is required: a bucket name' : `must be a bucket name, got ${describe(i.input)}`) })
  .check((ctx) => {
    const problem = bucketNameProblem(ctx.value);
    if (problem) ctx.issues.push({ code: 'custom', message: problem.message, input: ctx.value });
  });
const TableNameSchema = z.string({ error: (i) => (i.input === undefined ? 'is required: a table name' : `must be a table name, got ${describe(i.input)}`) })
  .regex(TABLE_NAME, { error: (i) => `table names are 3 to 255 letters, digits, "_", "-" and ".", got ${JSON.stringify(i.input)}` });
const AttributeSchema = (what: string) => z.string({ error: (i) => (i.input === undefined ? `is required: the name of the ${what} attribute` : `must be an attribute name, got ${describe(i.input)}`) })
  .regex(ATTRIBUTE_NAME, { error: (i) => `attribute names are letters, digits, "_", "-" and ".", starting with a letter or "_", got ${JSON.stringify(i.input)}` });

const BucketSchema = z.preprocess((v) => v ?? {}, strict({}));

const TableSchema = strict({
  partitionKey: AttributeSchema('partition key'),
  sortKey: AttributeSchema('sort key').optional(),
  ttl: AttributeSchema('expiry time (epoch seconds)').optional(),
}).check((ctx) => {
  if (ctx.value.sortKey !== undefined && ctx.value.sortKey === ctx.value.partitionKey) ctx.issues.push({ code: 'custom', path: ['sortKey'], message: 'must differ from partitionKey', input: ctx.value });
  if (ctx.value.ttl !== undefined && (ctx.value.ttl === ctx.value.partitionKey || ctx.value.ttl === ctx.value.sortKey)) ctx.issues.push({ code: 'custom', path: ['ttl'], message: 'must not be a key attribute', input: ctx.value });
});

export const STORAGE_EVENT_KINDS = ['created', 'removed'] as const;
const StorageEventSchema = z.preprocess(
  // Short form: `storage: uploads` (objects created in the bucket).
  (v) => (typeof v === 'string' ? { bucket: v } : v),
  strict({
    bucket: BucketNameSchema,
    events: z.array(z.enum(STORAGE_EVENT_KINDS, { error: (i) => `must be created or removed, got ${describe(i.input)}` }), { error: (i) => `must be a list, e.g. [created, removed], got ${describe(i.input)}` })
      .optional().transform((e) => [...new Set(e ?? ['created' as const])].sort())
      .check((ctx) => { if (ctx.value.length === 0) ctx.issues.push({ code: 'custom', message: 'list at least one of created, removed', input: ctx.value }); }),
    prefix: z.string({ error: (i) => `must be a string (the start of the keys to notify about), got ${describe(i.input)}` }).max(1024).optional().transform((x) => x ?? ''),
    suffix: z.string({ error: (i) => `must be a string (the end of the keys to notify about), got ${describe(i.input)}` }).max(1024).optional().transform((x) => x ?? ''),
  }),
);

const TableEventSchema = z.preprocess(
  // Short form: `table: users`.
  (v) => (typeof v === 'string' ? { name: v } : v),
  strict({
    name: TableNameSchema,
    batchSize: intIn(1, TABLE_TRIGGER_BATCH_MAX, ' (records per invocation)', TABLE_TRIGGER_BATCH_DEFAULT),
    batchWindow: intIn(0, TABLE_TRIGGER_WINDOW_MAX_S, ' (seconds to gather a batch)', 0),
    startingPosition: z.enum(['latest', 'trim_horizon'], { error: (i) => `must be latest (changes from now on, the default) or trim_horizon (every retained change), got ${describe(i.input)}` })
      .optional().transform((x) => x ?? 'latest'),
    maxRetries: intIn(-1, 10_000, ' (-1: retry until the records expire)', -1),
  }),
);

export const PERMISSION_KINDS = ['buckets', 'tables', 'queues', 'topics', 'functions', 'bus', 'secrets'] as const;
/** `{ name: [right, ...] }` for one kind of resource; every name checked by `nameOk`, every right one of `rights`. */
function grantsOf<R extends string>(kind: string, rights: readonly [R, ...R[]], nameProblem: (name: string) => string | undefined) {
  return z.record(z.string(), z.unknown(), { error: (i) => `must be a mapping of ${kind} name to rights, e.g. { name: [${rights.join(', ')}] }, got ${describe(i.input)}` })
    .optional()
    .transform((g, ctx) => {
      const out: Record<string, R[]> = {};
      for (const [name, list] of Object.entries(g ?? {})) {
        const problem = name === '__proto__' ? 'is not a usable name' : nameProblem(name);
        if (problem) { ctx.addIssue({ code: 'custom', path: [name], message: problem }); continue; }
        const given = typeof list === 'string' ? [list] : list;
        if (!Array.isArray(given) || given.length === 0 || given.some((r) => !(rights as readonly unknown[]).includes(r))) {
          ctx.addIssue({ code: 'custom', path: [name], message: `must be a list of rights from: ${rights.join(', ')}, got ${describe(list)}${Array.isArray(given) ? ` (${JSON.stringify(given)})` : ''}` });
          continue;
        }
        out[name] = [...new Set(given as R[])].sort();
      }
      return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    });
}

const SecretNamesSchema = z.array(z.string({ error: (i) => `must be a secret name, got ${describe(i.input)}` })
  .regex(/^[A-Z_][A-Z0-9_]{0,127}$/, { error: (i) => `secret names are upper-case letters, digits and "_" (they become environment variables), got ${JSON.stringify(i.input)}` }),
{ error: (i) => `must be a list of secret names, e.g. [STRIPE_KEY], got ${describe(i.input)}` }).optional().transform((x) => [...new Set(x ?? [])].sort());

const PermissionsSchema = strict({
  buckets: grantsOf('bucket', ['read', 'write'], (n) => bucketNameProblem(n)?.message),
  tables: grantsOf('table', ['read', 'write'], (n) => (TABLE_NAME.test(n) ? undefined : 'table names are 3 to 255 letters, digits, "_", "-" and "."')),
  queues: grantsOf('queue', ['send'], (n) => (QUEUE_NAME.test(n) ? undefined : 'queue names are letters, digits, "-" and "_", at most 80 characters, ending in ".fifo" for a FIFO queue')),
  topics: grantsOf('topic', ['publish'], (n) => (TOPIC_NAME.test(n) ? undefined : 'topic names are letters, digits, "-" and "_", at most 256 characters')),
  functions: grantsOf('function', ['invoke'], (n) => (FUNCTION_NAME.test(n) ? undefined : 'function names are letters, digits, "_" and "-", starting with a letter, at most 64 characters')),
  bus: z.array(z.literal('put', { error: (i) => `the only right on the event bus is put, got ${describe(i.input)}` }), { error: (i) => `must be [put] (may put events on the event bus), got ${describe(i.input)}` })
    .optional().transform((x) => (x && x.length > 0 ? ['put' as const] : [])),
  secrets: SecretNamesSchema,
  workflows: grantsOf('workflow', ['start', 'respond'], (n) => (/^[A-Za-z0-9_-]{1,80}$/.test(n) ? undefined : 'workflow names are 1 to 80 letters, digits, "_" and "-"')),
}).optional().transform((p) => p ?? { buckets: {}, tables: {}, queues: {}, topics: {}, functions: {}, bus: [], secrets: [], workflows: {} });

const HttpEvent = strict({ http: HttpEventSchema });
const QueueEvent = strict({ queue: QueueEventSchema });
const ScheduleEvent = strict({ schedule: ScheduleEventSchema });
const TopicEvent = strict({ topic: TopicEventSchema });
const StorageEvent = strict({ storage: StorageEventSchema });
const TableEvent = strict({ table: TableEventSchema });
type EventOut = z.output<typeof HttpEvent> | z.output<typeof QueueEvent> | z.output<typeof ScheduleEvent> | z.output<typeof TopicEvent> | z.output<typeof StorageEvent> | z.output<typeof TableEvent>;

const EventSchema = z.unknown().transform((v, ctx): EventOut => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    ctx.addIssue({ code: 'custom', message: `each event is a mapping with one kind, e.g. "- http: GET /path", got ${describe(v)}` });
    return z.NEVER;
  }
  const kinds = Object.keys(v);
  const unknown = kinds.find((k) => !(EVENT_KINDS as readonly string[]).includes(k));
  if (unknown !== undefined) {
    ctx.addIssue({ code: 'custom', message: `unknown event kind "${unknown}"; supported: ${EVENT_KINDS.join(', ')}` });
    return z.NEVER;
  }
  if (kinds.length !== 1) {
    ctx.addIssue({ code: 'custom', message: 'each event names exactly one kind, e.g. "- http: GET /path"' });
    return z.NEVER;
  }
  // One schema per kind (not a union), so an error is about the kind the user wrote.
  const r = ({ http: HttpEvent, queue: QueueEvent, schedule: ScheduleEvent, topic: TopicEvent, storage: StorageEvent, table: TableEvent } as const)[kinds[0] as (typeof EVENT_KINDS)[number]].safeParse(v);
  if (r.success) return r.data;
  for (const iss of r.error.issues) ctx.addIssue({ code: 'custom', message: iss.message, path: iss.path });
  return z.NEVER;
});

/** `workflow:<name>`, `{ workflow: <name> }` or the normalised `{ kind: workflow, name }`; undefined for anything else. */
function workflowTarget(v: unknown): { kind: 'workflow'; name: string } | undefined {
  if (typeof v === 'string' && v.startsWith('workflow:')) return { kind: 'workflow', name: v.slice('workflow:'.length) };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (Object.keys(o).length === 1 && typeof o.workflow === 'string') return { kind: 'workflow', name: o.workflow };
  if (Object.keys(o).length === 2 && o.kind === 'workflow' && typeof o.name === 'string') return { kind: 'workflow', name: o.name };
  return undefined;
}

const StandaloneScheduleSchema = strict({
  ...scheduleFields,
  target: z.unknown().transform((v, ctx): { kind: 'function' | 'queue' | 'workflow'; name: string } => {
    const wf = workflowTarget(v);
    if (wf) return wf;
    const d = DestinationSchema.safeParse(v);
    if (!d.success) {
      for (const iss of d.error.issues) ctx.addIssue({ code: 'custom', message: `${iss.message.replace(/"function:<name>"(?=,| \(|$)/, '"function:<name>" or "workflow:<name>"')}` });
      return z.NEVER;
    }
    if (!d.data) {
      ctx.addIssue({ code: 'custom', message: 'is required: "function:<name>", "queue:<name>" or "workflow:<name>"' });
      return z.NEVER;
    }
    return d.data;
  }),
}).check(checkExpression);

const EnvironmentSchema = z.record(z.string(), z.unknown(), { error: (i) => `must be a mapping of NAME: value, got ${describe(i.input)}` })
  .optional()
  .transform((env, ctx) => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(env ?? {})) {
      if (!ENV_NAME.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: 'variable names are letters, digits and _, not starting with a digit' });
      else if (RESERVED_ENV.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: 'is reserved by the platform (NIMBUS_*, AWS_*, LAMBDA_*, NODE_OPTIONS, TZ, HOME, TMPDIR, LANG)' });
      else if (BINDING_NAMES.includes(k)) ctx.addIssue({ code: 'custom', path: [k], message: `is where a fetch-style handler's env holds its granted ${k} (see docs/permissions.md); name the variable otherwise` });
      else if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') ctx.addIssue({ code: 'custom', path: [k], message: `must be a string, number or boolean, got ${describe(v)}` });
      else out[k] = String(v);
    }
    return out;
  });

const HandlerSchema = z.string({ error: (i) => (i.input === undefined ? 'is required: file path + "." + exported name, e.g. src/users.create' : `must be a string, got ${describe(i.input)}`) })
  .check((ctx) => {
    const problem = handlerProblem(ctx.value);
    if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
  });

/** `budget:` on the app or a function: a monthly cost threshold (in the price table's currency) and the percentages that alert. */
const BudgetSchema = strict({
  monthly: z.number({ error: (i) => (i.input === undefined ? 'is required: the monthly budget, in the price table\'s currency (USD by default)' : `must be a number, got ${describe(i.input)}`) })
    .positive({ error: (i) => `must be more than 0, got ${describe(i.input)}` }).max(1e9, { error: 'must be at most 1000000000' }),
  alerts: z.array(z.number({ error: (i) => `must be a percentage of the budget, got ${describe(i.input)}` }).int({ error: (i) => `must be a whole percentage, got ${describe(i.input)}` })
    .min(1, { error: 'must be from 1 to 1000 (percent)' }).max(1000, { error: 'must be from 1 to 1000 (percent)' }), { error: (i) => `must be a list of percentages, e.g. [80, 100], got ${describe(i.input)}` })
    .min(1, { error: 'must name at least one percentage, e.g. [100]' }).max(10, { error: 'at most 10 alerts per budget' }).optional()
    .transform((a) => [...new Set(a ?? [100])].sort((x, y) => x - y)),
}).optional();

const FunctionSchema = strict({
  handler: HandlerSchema,
  memory: intIn(MEMORY_MIN_MB, MEMORY_MAX_MB, ' (MB)', MEMORY_DEFAULT_MB),
  timeout: intIn(TIMEOUT_MIN_S, TIMEOUT_MAX_S, ' (seconds)', TIMEOUT_DEFAULT_S),
  environment: EnvironmentSchema,
  concurrency: strict({
    max: intIn(1, 1000, ' (instances)', CONCURRENCY_DEFAULT_MAX),
    queueTimeoutMs: intIn(0, 60_000, ' (ms)', QUEUE_TIMEOUT_DEFAULT_MS),
    provisioned: intIn(0, 1000, ' (instances kept initialised)', 0),
    perInstance: intIn(1, 1000, ' (invocations at once in one instance)', 1),
  }).optional()
    .transform((c) => c ?? { max: CONCURRENCY_DEFAULT_MAX, queueTimeoutMs: QUEUE_TIMEOUT_DEFAULT_MS, provisioned: 0, perInstance: 1 })
    .check((ctx) => {
      if (ctx.value.provisioned > ctx.value.max) {
        ctx.issues.push({ code: 'custom', path: ['provisioned'], message: `must not exceed concurrency.max (${ctx.value.max}), got ${ctx.value.provisioned}`, input: ctx.value });
      }
    }),
  events: z.array(EventSchema, { error: (i) => `must be a list of events, got ${describe(i.input)}` }).optional().transform((e) => e ?? []),
  async: AsyncSchema,
  secrets: SecretNamesSchema,
  permissions: PermissionsSchema,
  budget: BudgetSchema,
  deployment: DeploymentSchema,
}).transform((f) => {
  // `secrets:` and `permissions.secrets` are the same grants; both hold the union after parsing.
  const secrets = [...new Set([...f.secrets, ...f.permissions.secrets])].sort();
  return { ...f, secrets, permissions: { ...f.permissions, secrets } };
}).check((ctx) => {
  for (const name of ctx.value.secrets) {
    if (name in ctx.value.environment) ctx.issues.push({ code: 'custom', path: ['secrets'], message: `${name} is both a secret and an environment variable; rename one`, input: ctx.value });
    else if (RESERVED_ENV.test(name)) ctx.issues.push({ code: 'custom', path: ['secrets'], message: `${name} is reserved by the platform (NIMBUS_*, AWS_*, LAMBDA_*, ...)`, input: ctx.value });
  }
});

/** `workflows: { name: { definition } }`: a path to a .json/.yaml/.yml file (the CLI reads it and sends it inline) or the definition itself; the server validates it as ASL. */
/** A sync route waits at most this long by default (API Gateway's integration timeout is 29 s). */
export const WORKFLOW_SYNC_DEFAULT_S = 30;
export const WORKFLOW_SYNC_MAX_S = 60;

/** `- http: POST /checkout` or `- http: { method, path, sync?, timeout? }` under a workflow: the request body starts an execution. */
const WorkflowHttpSchema = z.preprocess(
  httpShortForm,
  strict({
    ...httpRouteFields('/checkout'),
    sync: z.boolean({ error: (i) => `must be true (answer with the execution's output) or false (answer 202 at once), got ${describe(i.input)}` }).optional().transform((x) => x ?? false),
    timeout: intIn(1, WORKFLOW_SYNC_MAX_S, ' (seconds a sync route waits for the execution to end)', WORKFLOW_SYNC_DEFAULT_S),
  }),
);

const WorkflowEventSchema = z.unknown().transform((v, ctx) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length !== 1 || !('http' in v)) {
    ctx.addIssue({ code: 'custom', message: `a workflow's events are "- http: POST /path" or "- http: { method, path, sync }", got ${describe(v)}` });
    return z.NEVER;
  }
  const r = WorkflowHttpSchema.safeParse((v as { http: unknown }).http);
  if (!r.success) {
    for (const iss of r.error.issues) ctx.addIssue({ code: 'custom', path: ['http', ...iss.path], message: iss.message });
    return z.NEVER;
  }
  return { http: r.data };
});

const WorkflowSchema = strict({
  definition: z.union([z.string(), z.record(z.string(), z.unknown())], { error: (i) => (i.input === undefined ? 'is required: a path to the definition (.json, .yaml, .yml) or the definition inline' : `must be a file path or a mapping (the ASL definition), got ${describe(i.input)}`) }),
  events: z.array(WorkflowEventSchema, { error: (i) => `must be a list of events, e.g. "- http: POST /checkout", got ${describe(i.input)}` }).optional().transform((e) => e ?? []),
});

export const ManifestSchema = strict({
  app: z.string({ error: (i) => (i.input === undefined ? 'is required: the app name' : `must be a string, got ${describe(i.input)}`) })
    .regex(APP_NAME, { error: (i) => `must be lower-case letters, digits and "-", starting with a letter, at most 63 characters, got ${JSON.stringify(i.input)}` }),
  functions: z.record(z.string(), FunctionSchema, { error: (i) => (i.input === undefined ? 'is required: at least one function' : `must be a mapping of function name to its settings, got ${describe(i.input)}`) }),
  queues: z.record(z.string(), QueueSchema, { error: (i) => `must be a mapping of queue name to its settings, got ${describe(i.input)}` }).optional().transform((q) => q ?? {}),
  schedules: z.record(z.string(), StandaloneScheduleSchema, { error: (i) => `must be a mapping of schedule name to its settings, got ${describe(i.input)}` }).optional().transform((q) => q ?? {}),
  topics: z.record(z.string(), TopicSchema, { error: (i) => `must be a mapping of topic name to its settings, got ${describe(i.input)}` }).optional().transform((t) => t ?? {}),
  rules: z.record(z.string(), RuleSchema, { error: (i) => `must be a mapping of rule name to its pattern and targets, got ${describe(i.input)}` }).optional().transform((r) => r ?? {}),
  buckets: z.record(z.string(), BucketSchema, { error: (i) => `must be a mapping of bucket name to its settings ({} for none), got ${describe(i.input)}` }).optional().transform((b) => b ?? {}),
  tables: z.record(z.string(), TableSchema, { error: (i) => `must be a mapping of table name to its keys, e.g. users: { partitionKey: id }, got ${describe(i.input)}` }).optional().transform((t) => t ?? {}),
  budget: BudgetSchema,
  workflows: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, { error: 'workflow names are 1 to 80 letters, digits, "_" and "-"' }), WorkflowSchema, { error: (i) => (i.code === 'invalid_key' ? 'workflow names are 1 to 80 letters, digits, "_" and "-"' : `must be a mapping of workflow name to { definition }, got ${describe(i.input)}`) }).optional().transform((w) => w ?? {}),
}).superRefine((m, ctx) => {
  checkRules(m, ctx);
  checkServices(m, ctx);
  checkQueues(m, ctx);
  checkSchedules(m, ctx);
  checkTopics(m, ctx);
  const names = Object.keys(m.functions);
  if (names.length === 0) ctx.addIssue({ code: 'custom', path: ['functions'], message: 'must declare at least one function' });
  for (const name of names) {
    if (!FUNCTION_NAME.test(name)) ctx.addIssue({ code: 'custom', path: ['functions', name], message: 'function names are letters, digits, "_" and "-", starting with a letter, at most 64 characters' });
  }
  // Function and workflow routes share one route table: a method and path is declared once.
  const seen: { owner: string; method: string; path: string; norm: string }[] = [];
  const claim = (owner: string, at: (string | number)[], method: string, path: string) => {
    const norm = path.replace(/\{[^}/]+\+\}/g, '{+}').replace(/\{[^}/+]+\}/g, '{}');
    const other = seen.find((o) => o.norm === norm && (o.method === method || o.method === 'ANY' || method === 'ANY'));
    if (other) ctx.addIssue({ code: 'custom', path: at, message: `${method} ${path} is also declared by ${other.owner} (${other.method} ${other.path})` });
    seen.push({ owner, method, path, norm });
  };
  for (const name of names) {
    m.functions[name]!.events.forEach((ev, i) => {
      if ('http' in ev) claim(`function "${name}"`, ['functions', name, 'events', i, 'http'], ev.http.method, ev.http.path);
    });
  }
  for (const [name, w] of Object.entries(m.workflows)) {
    w.events.forEach((ev, i) => claim(`workflow "${name}"`, ['workflows', name, 'events', i, 'http'], ev.http.method, ev.http.path));
  }
});

/**
 * Each function's `- <kind>:` events name a <what> this manifest declares (under `<section>:`), read
 * from the event's `field`; with `once`, a function lists each at most once.
 */
function checkEventTargets(
  m: { functions: Record<string, { events: unknown[] }> }, ctx: z.RefinementCtx,
  e: { kind: string; field: string; declared: Record<string, unknown>; what: string; section: string; once: boolean },
): void {
  for (const [fn, spec] of Object.entries(m.functions)) {
    const seen = new Set<string>();
    spec.events.forEach((ev, i) => {
      if (typeof ev !== 'object' || ev === null || !(e.kind in ev)) return;
      const name = ((ev as Record<string, Record<string, string>>)[e.kind]!)[e.field]!;
      const path = ['functions', fn, 'events', i, e.kind, e.field];
      if (!Object.hasOwn(e.declared, name)) ctx.addIssue({ code: 'custom', path, message: `no ${e.what} "${name}" in this manifest's ${e.section} (declare it under ${e.section}:)` });
      if (e.once && seen.has(name)) ctx.addIssue({ code: 'custom', path, message: `${e.what} "${name}" is already an event of this function; list it once` });
      seen.add(name);
    });
  }
}

/** Bucket and table names; storage and table events name a bucket or table of this manifest. */
function checkServices(m: { functions: Record<string, { events: unknown[] }>; buckets: Record<string, unknown>; tables: Record<string, unknown> }, ctx: z.RefinementCtx): void {
  for (const name of Object.keys(m.buckets)) {
    const problem = bucketNameProblem(name);
    if (problem) ctx.addIssue({ code: 'custom', path: ['buckets', name], message: problem.message });
  }
  for (const name of Object.keys(m.tables)) {
    if (!TABLE_NAME.test(name)) ctx.addIssue({ code: 'custom', path: ['tables', name], message: 'table names are 3 to 255 letters, digits, "_", "-" and "."' });
  }
  // A bucket may notify one function several times (different prefixes or suffixes); a table stream once.
  checkEventTargets(m, ctx, { kind: 'storage', field: 'bucket', declared: m.buckets, what: 'bucket', section: 'buckets', once: false });
  checkEventTargets(m, ctx, { kind: 'table', field: 'name', declared: m.tables, what: 'table', section: 'tables', once: true });
}

type ManifestShape = {
  functions: Record<string, { events: Array<{ http: unknown } | { queue: { name: string; batchSize: number; batchWindow: number } } | { schedule: unknown } | { topic: unknown } | { storage: unknown } | { table: unknown }>; async: { onSuccess?: { kind: string; name: string }; onFailure?: { kind: string; name: string }; deadLetterQueue?: string } }>;
  queues: Record<string, { deadLetter?: { queue: string }; contentBasedDeduplication: boolean }>;
};

/** Cross-references: every queue a function or queue names is declared here, of the right kind. */
function checkQueues(m: ManifestShape, ctx: z.RefinementCtx): void {
  for (const [name, q] of Object.entries(m.queues)) {
    if (!QUEUE_NAME.test(name)) ctx.addIssue({ code: 'custom', path: ['queues', name], message: 'queue names are letters, digits, "-" and "_", at most 80 characters, ending in ".fifo" for a FIFO queue' });
    if (q.contentBasedDeduplication && !isFifoQueue(name)) ctx.addIssue({ code: 'custom', path: ['queues', name, 'contentBasedDeduplication'], message: 'applies to FIFO queues only (names ending in ".fifo")' });
    const dlq = q.deadLetter?.queue;
    if (dlq === undefined) continue;
    const path = ['queues', name, 'deadLetter', 'queue'];
    if (dlq === name) ctx.addIssue({ code: 'custom', path, message: 'a queue cannot be its own dead-letter queue' });
    else if (!Object.hasOwn(m.queues, dlq)) ctx.addIssue({ code: 'custom', path, message: `no queue "${dlq}" in this manifest's queues` });
    else if (isFifoQueue(dlq) !== isFifoQueue(name)) ctx.addIssue({ code: 'custom', path, message: `the dead-letter queue of a ${isFifoQueue(name) ? 'FIFO' : 'standard'} queue must be ${isFifoQueue(name) ? 'FIFO (.fifo)' : 'standard (not .fifo)'}` });
  }
  for (const [fn, spec] of Object.entries(m.functions)) {
    const consumed = new Set<string>();
    spec.events.forEach((ev, i) => {
      if (!('queue' in ev)) return;
      const path = ['functions', fn, 'events', i, 'queue'];
      const { name, batchSize, batchWindow } = ev.queue;
      if (consumed.has(name)) ctx.addIssue({ code: 'custom', path: [...path, 'name'], message: `queue "${name}" is already an event of this function; list it once` });
      consumed.add(name);
      if (!Object.hasOwn(m.queues, name)) ctx.addIssue({ code: 'custom', path: [...path, 'name'], message: `no queue "${name}" in this manifest's queues (declare it under queues:)` });
      if (isFifoQueue(name) && batchSize > 10) ctx.addIssue({ code: 'custom', path: [...path, 'batchSize'], message: `a FIFO queue delivers at most 10 messages per batch, got ${batchSize}` });
      if (isFifoQueue(name) && batchWindow > 0) ctx.addIssue({ code: 'custom', path: [...path, 'batchWindow'], message: 'a FIFO queue does not take a batch window' });
      if (!isFifoQueue(name) && batchSize > 10 && batchWindow === 0) ctx.addIssue({ code: 'custom', path: [...path, 'batchWindow'], message: `a batchSize over 10 (${batchSize}) needs a batchWindow of at least 1 second to gather it` });
    });
    const a = spec.async;
    for (const key of ['onSuccess', 'onFailure'] as const) {
      const d = a[key];
      if (!d) continue;
      const path = ['functions', fn, 'async', key];
      if (d.kind === 'queue' && !Object.hasOwn(m.queues, d.name)) ctx.addIssue({ code: 'custom', path, message: `no queue "${d.name}" in this manifest's queues` });
      else if (d.kind === 'queue' && isFifoQueue(d.name)) ctx.addIssue({ code: 'custom', path, message: 'a FIFO queue cannot be a destination (use a standard queue)' });
      if (d.kind === 'function' && !Object.hasOwn(m.functions, d.name)) ctx.addIssue({ code: 'custom', path, message: `no function "${d.name}" in this manifest` });
      else if (d.kind === 'function') {
        const loop = destinationLoop(m, fn, d.name);
        if (loop) ctx.addIssue({ code: 'custom', path, message: `function destinations would loop forever (${loop.join(' → ')}); break the cycle` });
      }
    }
    if (a.deadLetterQueue !== undefined) {
      const path = ['functions', fn, 'async', 'deadLetterQueue'];
      if (!Object.hasOwn(m.queues, a.deadLetterQueue)) ctx.addIssue({ code: 'custom', path, message: `no queue "${a.deadLetterQueue}" in this manifest's queues` });
      else if (isFifoQueue(a.deadLetterQueue)) ctx.addIssue({ code: 'custom', path, message: 'a FIFO queue cannot be a dead-letter queue for async events (use a standard queue)' });
    }
  }
}

/** The name a function's i-th event's schedule gets when it does not name itself. */
export function functionScheduleName(fn: string, index: number, name: string | undefined): string {
  return name ?? `${fn}-schedule-${index + 1}`;
}

/** Schedule names are unique; targets exist and are of the right kind. */
function checkSchedules(m: { functions: Record<string, { events: unknown[] }>; queues: Record<string, unknown>; workflows: Record<string, unknown>; schedules: Record<string, { target: { kind: string; name: string } }> }, ctx: z.RefinementCtx): void {
  const names = new Map<string, string>();
  for (const [name, sch] of Object.entries(m.schedules)) {
    const path = ['schedules', name];
    if (!SCHEDULE_NAME.test(name)) ctx.addIssue({ code: 'custom', path, message: 'schedule names are letters, digits, ".", "-" and "_", at most 64 characters' });
    names.set(name, `schedules.${name}`);
    const t = sch.target;
    if (t.kind === 'queue' && !Object.hasOwn(m.queues, t.name)) ctx.addIssue({ code: 'custom', path: [...path, 'target'], message: `no queue "${t.name}" in this manifest's queues` });
    else if (t.kind === 'queue' && isFifoQueue(t.name)) ctx.addIssue({ code: 'custom', path: [...path, 'target'], message: 'a FIFO queue cannot be a schedule target (use a standard queue)' });
    if (t.kind === 'function') checkFunctionRef(m.functions, t.name, [...path, 'target'], ctx);
    if (t.kind === 'workflow' && !Object.hasOwn(m.workflows, t.name)) ctx.addIssue({ code: 'custom', path: [...path, 'target'], message: `no workflow "${t.name}" in this manifest's workflows` });
  }
  for (const [fn, spec] of Object.entries(m.functions)) {
    spec.events.forEach((ev, i) => {
      if (typeof ev !== 'object' || ev === null || !('schedule' in ev)) return;
      const name = functionScheduleName(fn, i, (ev as { schedule: { name?: string } }).schedule.name);
      const other = names.get(name);
      if (other) ctx.addIssue({ code: 'custom', path: ['functions', fn, 'events', i, 'schedule'], message: `the schedule name "${name}" is also used by ${other}; give one a different name` });
      names.set(name, `functions.${fn}.events[${i}]`);
    });
  }
}

/** A function named by a rule or schedule target: `name`, or `name:qualifier` (an alias, a version number, $LATEST). */
function checkFunctionRef(functions: Record<string, unknown>, ref: string, path: (string | number)[], ctx: z.RefinementCtx): void {
  const { fn, qualifier } = splitQualified(ref);
  if (!Object.hasOwn(functions, fn)) ctx.addIssue({ code: 'custom', path, message: `no function "${fn}" in this manifest` });
  const problem = qualifier === undefined ? undefined : qualifierProblem(qualifier);
  if (problem) ctx.addIssue({ code: 'custom', path, message: `the qualifier after "${fn}:" ${problem}` });
}

/** Rule names, and targets that exist in this manifest. */
function checkRules(m: { functions: Record<string, unknown>; queues: Record<string, unknown>; topics: Record<string, unknown>; workflows: Record<string, unknown>; rules: Record<string, { targets: { kind: string; name: string }[] }> }, ctx: z.RefinementCtx): void {
  for (const [name, rule] of Object.entries(m.rules)) {
    if (!RULE_NAME.test(name)) ctx.addIssue({ code: 'custom', path: ['rules', name], message: 'rule names are letters, digits, ".", "-" and "_", at most 64 characters' });
    rule.targets.forEach((t, i) => {
      const path = ['rules', name, 'targets', i];
      if (t.kind === 'url') {
        const dlq = (t as { deadLetterQueue?: string }).deadLetterQueue;
        if (dlq !== undefined && !Object.hasOwn(m.queues, dlq)) ctx.addIssue({ code: 'custom', path: [...path, 'deadLetterQueue'], message: `no queue "${dlq}" in this manifest's queues` });
        else if (dlq !== undefined && isFifoQueue(dlq)) ctx.addIssue({ code: 'custom', path: [...path, 'deadLetterQueue'], message: 'a FIFO queue cannot be a dead-letter queue here (use a standard queue)' });
        return;
      }
      if (t.kind === 'function') return checkFunctionRef(m.functions, t.name, path, ctx);
      if (t.kind === 'workflow') {
        if (!Object.hasOwn(m.workflows, t.name)) ctx.addIssue({ code: 'custom', path, message: `no workflow "${t.name}" in this manifest's workflows` });
        return;
      }
      const pool = t.kind === 'queue' ? m.queues : m.topics;
      if (!Object.hasOwn(pool, t.name)) ctx.addIssue({ code: 'custom', path, message: `no ${t.kind} "${t.name}" in this manifest` });
      else if (t.kind === 'queue' && isFifoQueue(t.name)) ctx.addIssue({ code: 'custom', path, message: 'a FIFO queue cannot be a rule target yet (use a standard queue)' });
    });
  }
}

/** Topic names; subscriptions and topic events name things of this manifest. */
function checkTopics(m: Manifest0, ctx: z.RefinementCtx): void {
  for (const [name, t] of Object.entries(m.topics)) {
    if (name.endsWith('.fifo')) ctx.addIssue({ code: 'custom', path: ['topics', name], message: 'FIFO topics are not available; use a standard topic (and a FIFO queue for ordering)' });
    else if (!TOPIC_NAME.test(name)) ctx.addIssue({ code: 'custom', path: ['topics', name], message: 'topic names are letters, digits, "-" and "_", at most 256 characters' });
    const seen = new Set<string>();
    t.subscriptions.forEach((sub, i) => {
      const path = ['topics', name, 'subscriptions', i];
      const key = sub.queue !== undefined ? `queue ${sub.queue}` : `url ${sub.url}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path, message: `the ${key} is subscribed twice; list it once` });
      seen.add(key);
      for (const q of [sub.queue, sub.deadLetterQueue]) {
        if (q === undefined) continue;
        if (!Object.hasOwn(m.queues, q)) ctx.addIssue({ code: 'custom', path, message: `no queue "${q}" in this manifest's queues` });
        else if (isFifoQueue(q)) ctx.addIssue({ code: 'custom', path, message: `a FIFO queue ("${q}") cannot take a standard topic's messages; use a standard queue` });
      }
    });
  }
  checkEventTargets(m, ctx, { kind: 'topic', field: 'name', declared: m.topics, what: 'topic', section: 'topics', once: true });
}

type Manifest0 = {
  functions: Record<string, { events: unknown[] }>;
  queues: Record<string, unknown>;
  topics: Record<string, { subscriptions: { queue?: string; url?: string; deadLetterQueue?: string }[] }>;
};

/** The path back to `from` through function destinations starting at `to`, if there is one. */
function destinationLoop(m: ManifestShape, from: string, to: string): string[] | undefined {
  const seen = new Set<string>();
  const walk = (at: string, path: string[]): string[] | undefined => {
    if (at === from) return path;
    if (seen.has(at)) return undefined;
    seen.add(at);
    for (const d of [m.functions[at]?.async.onSuccess, m.functions[at]?.async.onFailure]) {
      if (d?.kind !== 'function') continue;
      const found = walk(d.name, [...path, d.name]);
      if (found) return found;
    }
    return undefined;
  };
  return walk(to, [from, to]);
}

export type Manifest = z.output<typeof ManifestSchema>;
export type FunctionSpec = Manifest['functions'][string];
export type EventSpec = FunctionSpec['events'][number];
export type HttpEventSpec = Extract<EventSpec, { http: unknown }>['http'];
export type QueueSpec = Manifest['queues'][string];
export type ScheduleSpec = Manifest['schedules'][string];
export type TopicSpec = Manifest['topics'][string];
export type RuleSpec = Manifest['rules'][string];
export type TableSpec = Manifest['tables'][string];
export type PermissionsSpec = FunctionSpec['permissions'];

function handlerProblem(handler: string): string | undefined {
  const dot = handler.lastIndexOf('.');
  if (dot <= 0 || dot === handler.length - 1) return `must be a file path + "." + exported name, e.g. src/users.create, got ${JSON.stringify(handler)}`;
  const file = handler.slice(0, dot);
  const exportName = handler.slice(dot + 1);
  if (!EXPORT_NAME.test(exportName)) return `the export name "${exportName}" is not a JavaScript identifier`;
  if (isAbsolute(file) || /^[A-Za-z]:/.test(file)) return `the file must be relative to the app folder, got ${JSON.stringify(file)}`;
  const norm = normalize(file);
  if (norm === '..' || norm.startsWith(`..${sep}`)) return `the file must stay inside the app folder, got ${JSON.stringify(file)}`;
  return undefined;
}

/** `src/users.create` → `{ file: 'src/users', exportName: 'create' }`; `src/a.ts.handler` keeps `.ts`. */
export function parseHandler(handler: string): { file: string; exportName: string } {
  const dot = handler.lastIndexOf('.');
  return { file: handler.slice(0, dot), exportName: handler.slice(dot + 1) };
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(top level)';
}

/** Validates an already-parsed manifest (the admin API receives JSON). */
export function validateManifest(value: unknown, source = 'manifest'): Manifest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new NimbusError('MANIFEST_INVALID', `${source}: must be a mapping with "app" and "functions", got ${describe(value)}`);
  }
  const r = ManifestSchema.safeParse(value);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
  throw new NimbusError('MANIFEST_INVALID', `${source} is not valid:\n  ${[...new Set(lines)].join('\n  ')}`);
}

/**
 * YAML forbids `{` `}` in plain scalars inside a flow mapping, yet `{ method: GET, path: /users/{id} }`
 * is how people write routes. When the text does not parse, such path values are quoted and it is
 * tried once more.
 */
function quoteFlowPaths(text: string): string {
  return text.replace(/(\bpath:[ \t]*)(\/[^\s,'"#\\]*)/g, (all, key: string, value: string) => {
    if (!value.includes('{')) return all;
    let v = value;
    const count = (s: string, c: string) => s.split(c).length - 1;
    while (v.endsWith('}') && count(v, '{') < count(v, '}')) v = v.slice(0, -1);
    return `${key}"${v}"${value.slice(v.length)}`;
  });
}

/** Parses nimbus.yml text (JSON is YAML too). */
export function parseManifest(text: string, source = 'nimbus.yml'): Manifest {
  let value: unknown;
  try {
    try {
      value = parseYaml(text);
    } catch (first) {
      const quoted = quoteFlowPaths(text);
      if (quoted === text) throw first;
      // With the paths quoted, a remaining error is the real mistake: report that one.
      value = parseYaml(quoted);
    }
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      throw new NimbusError('MANIFEST_INVALID', `${source}${pos ? `:${pos.line}:${pos.col}` : ''}: YAML syntax error: ${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?\s*$/, '')}`);
    }
    throw err;
  }
  return validateManifest(value, source);
}

export async function loadManifest(appDir: string): Promise<{ manifest: Manifest; path: string }> {
  for (const name of MANIFEST_FILES) {
    const path = join(appDir, name);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      continue;
    }
    return { manifest: parseManifest(text, name), path };
  }
  throw new NimbusError('MANIFEST_INVALID', `no manifest in ${appDir}: looked for ${MANIFEST_FILES.join(', ')}`);
}

/** Finds a handler's source file: the name as given when it has a known extension, else each extension in turn. */
export async function resolveHandlerFile(appDir: string, file: string, fnName: string): Promise<string> {
  const base = resolve(appDir);
  const candidates = HANDLER_EXTENSIONS.some((e) => file.endsWith(e)) ? [file] : HANDLER_EXTENSIONS.map((e) => file + e);
  for (const c of candidates) {
    const full = resolve(base, c);
    try {
      await access(full);
    } catch {
      continue;
    }
    // A symlink must not lead the bundler out of the app folder.
    const real = await realpath(full);
    const rel = relative(await realpath(base), real);
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new NimbusError('HANDLER_NOT_FOUND', `functions.${fnName}.handler: ${c} leads outside the app folder`);
    return full;
  }
  const tried = candidates.length === 1 ? file : `${file}(${HANDLER_EXTENSIONS.join('|')})`;
  throw new NimbusError('HANDLER_NOT_FOUND', `functions.${fnName}.handler: no file ${tried} in ${base}`);
}
