// One closed table of error codes for the whole platform. Every error a user can see is a
// NimbusError built from this table; docs/errors.md is checked against it by a test.
// Recognise errors by `code`, never by `instanceof`.

export const ERRORS = {
  BAD_REQUEST: { status: 400, retryable: false, summary: 'The request is malformed; the message says which part.' },
  INVALID_JSON: { status: 400, retryable: false, summary: 'The body is not valid JSON.' },
  MANIFEST_INVALID: { status: 400, retryable: false, summary: 'nimbus.yml does not match the schema; the message names the key path and what is allowed.' },
  HANDLER_NOT_FOUND: { status: 400, retryable: false, summary: "A function's handler file or exported name does not exist." },
  BUNDLE_FAILED: { status: 400, retryable: false, summary: "esbuild could not bundle a function's code." },
  UNAUTHORIZED: { status: 401, retryable: false, summary: 'The admin API needs `Authorization: Bearer <token>` with the token from the data dir.' },
  ACCESS_DENIED: { status: 403, retryable: false, summary: 'A function\'s code asked for something its `permissions:` do not grant (the message names the resource and the right to add).' },
  NOT_FOUND: { status: 404, retryable: false, summary: 'No route or API resource matches the path.' },
  APP_NOT_FOUND: { status: 404, retryable: false, summary: 'No app has that name.' },
  FUNCTION_NOT_FOUND: { status: 404, retryable: false, summary: 'No function has that name.' },
  VERSION_NOT_FOUND: { status: 404, retryable: false, summary: 'The function has no such version or alias (`nimbus versions <fn>` lists them).' },
  QUEUE_NOT_FOUND: { status: 404, retryable: false, summary: 'No queue has that name.' },
  METHOD_NOT_ALLOWED: { status: 405, retryable: false, summary: 'The path exists but not for this HTTP method.' },
  ROUTE_CONFLICT: { status: 409, retryable: false, summary: 'A route in the manifest is already owned by another app.' },
  FUNCTION_CONFLICT: { status: 409, retryable: false, summary: 'A function name in the manifest is already owned by another app.' },
  QUEUE_CONFLICT: { status: 409, retryable: false, summary: 'A queue name in the manifest is already owned by another app.' },
  TOPIC_CONFLICT: { status: 409, retryable: false, summary: 'A topic name in the manifest is already owned by another app.' },
  TOPIC_NOT_FOUND: { status: 404, retryable: false, summary: 'No topic has that name.' },
  SECRET_NOT_FOUND: { status: 404, retryable: false, summary: 'No secret has that name (`nimbus secrets ls` lists them).' },
  SECRET_IN_USE: { status: 409, retryable: false, summary: 'The secret is still granted to functions; remove the grants and deploy before deleting it.' },
  RULE_CONFLICT: { status: 409, retryable: false, summary: 'An event bus rule name in the manifest is already owned by another app.' },
  SCHEDULE_CONFLICT: { status: 409, retryable: false, summary: 'A schedule name in the manifest is already owned by another app.' },
  SCHEDULE_NOT_FOUND: { status: 404, retryable: false, summary: 'No schedule has that name.' },
  INVALID_PATTERN: { status: 400, retryable: false, summary: "An event pattern breaks EventBridge's pattern rules; the message says which field and why." },
  INVALID_MESSAGE: { status: 400, retryable: false, summary: 'A queue message is malformed: a bad attribute, a missing FIFO group id, a delay out of range; the message says which entry and field.' },
  TOO_MANY_ENTRIES: { status: 400, retryable: false, summary: 'A batch has more than 10 entries, none, or two with the same id.' },
  RECEIPT_HANDLE_INVALID: { status: 400, retryable: false, summary: 'The receipt handle is malformed, belongs to another queue, or is from an earlier receive of a message that was received again.' },
  MESSAGE_TOO_LARGE: { status: 413, retryable: false, summary: "A message (body and attributes) is over its queue's maximum size (256 KB by default)." },
  BUCKET_NOT_FOUND: { status: 404, retryable: false, summary: 'No bucket has that name.' },
  BUCKET_CONFLICT: { status: 409, retryable: false, summary: 'A bucket name in the manifest is already owned by another app.' },
  INVALID_BUCKET_NAME: { status: 400, retryable: false, summary: 'A bucket name breaks the naming rules (3–63 characters: lowercase letters, digits, dots and hyphens).' },
  INVALID_OBJECT_KEY: { status: 400, retryable: false, summary: 'An object key is empty, too long, not valid UTF-8, or has a control character or a `.`/`..` segment.' },
  OBJECT_NOT_FOUND: { status: 404, retryable: false, summary: 'No object has that key in the bucket.' },
  INVALID_RANGE: { status: 416, retryable: false, summary: 'The Range header asks for bytes outside the object.' },
  PRECONDITION_FAILED: { status: 412, retryable: false, summary: 'An If-Match / If-None-Match condition on an object does not hold.' },
  ENTITY_TOO_LARGE: { status: 413, retryable: false, summary: 'An object is over the size limit (5 GB through the API; 6 MB through the SDK — use a presigned URL above that).' },
  PRESIGNED_URL_INVALID: { status: 403, retryable: false, summary: 'A presigned URL is malformed, expired, signed for another method, or its signature does not match.' },
  TABLE_NOT_FOUND: { status: 404, retryable: false, summary: 'No KV table has that name.' },
  TABLE_CONFLICT: { status: 409, retryable: false, summary: 'A table name in the manifest is already owned by another app.' },
  INVALID_KEY: { status: 400, retryable: false, summary: 'An item\'s key is missing, of the wrong type (string or number) or too long.' },
  INVALID_ITEM: { status: 400, retryable: false, summary: 'An item or a query is malformed; the message says which field.' },
  ITEM_TOO_LARGE: { status: 413, retryable: false, summary: 'An item is over 400 KB.' },
  CONDITION_FAILED: { status: 409, retryable: false, summary: 'A conditional write\'s condition (ifNotExists, expectedVersion) does not hold; nothing was written.' },
  BUCKET_NOT_EMPTY: { status: 409, retryable: false, summary: 'A deploy would remove a bucket that still has objects; delete them first (`nimbus storage rm --recursive`).' },
  TABLE_NOT_EMPTY: { status: 409, retryable: false, summary: 'A deploy would remove a KV table that still has items, or change its keys; empty it first (`nimbus tables purge`).' },
  WORKFLOW_NOT_FOUND: { status: 404, retryable: false, summary: 'No workflow has that name.' },
  WORKFLOW_CONFLICT: { status: 409, retryable: false, summary: 'A workflow name in the manifest is already owned by another app.' },
  EXECUTION_NOT_FOUND: { status: 404, retryable: false, summary: 'No workflow execution has that id (the execution ARN, or `workflow:name`).' },
  EXECUTION_ALREADY_EXISTS: { status: 409, retryable: false, summary: 'An execution of that workflow with that name exists already; names are unique per workflow.' },
  EXECUTION_NOT_REDRIVABLE: { status: 409, retryable: false, summary: 'Only a FAILED, TIMED_OUT or ABORTED execution can be redriven, and only from a state it entered.' },
  INVALID_EXECUTION_INPUT: { status: 400, retryable: false, summary: "An execution's input (or a task's output) is not JSON, or is over 256 KB." },
  EXECUTION_FAILED: { status: 502, retryable: false, summary: 'A synchronous workflow route\'s execution ended FAILED, TIMED_OUT or ABORTED; the body has executionArn, status, executionError and executionCause.' },
  EXECUTION_STILL_RUNNING: { status: 504, retryable: false, summary: 'A synchronous workflow route waited its timeout and the execution is still running; it carries on (executionArn in the body). Sending the request again starts another execution.' },
  TASK_TOKEN_NOT_FOUND: { status: 404, retryable: false, summary: 'No task waits on that task token: it is malformed, its task timed out or ended, or its execution stopped.' },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false, summary: 'The body is over the limit (6 MB for a synchronous invocation, 1 MB for an asynchronous one).' },
  HEADERS_TOO_LARGE: { status: 431, retryable: false, summary: 'The request headers are over the limit (16 KB).' },
  TOO_MANY_REQUESTS: { status: 429, retryable: true, summary: 'The function is at its concurrency limit and the request waited too long for an instance.' },
  FUNCTION_ERROR: { status: 502, retryable: false, summary: 'The handler threw or returned an error (gateway routes; direct invoke answers 200 with X-Nimbus-Function-Error).' },
  FUNCTION_TIMEOUT: { status: 504, retryable: true, summary: 'The handler ran past its timeout and its instance was killed.' },
  FUNCTION_CRASHED: { status: 502, retryable: true, summary: 'The instance exited while handling the request (process.exit, unhandled rejection, a crash).' },
  FUNCTION_OUT_OF_MEMORY: { status: 502, retryable: false, summary: 'The instance went over its memory size and was killed.' },
  FUNCTION_INIT_FAILED: { status: 502, retryable: false, summary: "The function's module threw while loading, or its handler export is missing." },
  INVALID_RESPONSE: { status: 502, retryable: false, summary: 'The handler returned something that cannot be mapped to an HTTP response.' },
  INTERNAL: { status: 500, retryable: true, summary: 'A bug in Nimbus; the server log has the details.' },
} as const satisfies Record<string, { status: number; retryable: boolean; summary: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class NimbusError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: { retryAfterMs?: number; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'NimbusError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.retryable = ERRORS[code].retryable;
    this.retryAfterMs = opts.retryAfterMs;
    this.details = opts.details;
  }

  toJSON(): { error: { code: ErrorCode; message: string } & Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.details } };
  }
}

export function isNimbusError(err: unknown): err is NimbusError {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'NimbusError' && typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code in ERRORS;
}

/** An error as plain `{ code, message }` — what crosses the sandbox boundary; anything unknown is INTERNAL. */
export function errorBody(err: unknown): { code: string; message: string } {
  return isNimbusError(err) ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: 'internal error; see the server log' };
}
