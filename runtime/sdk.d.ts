// Types of the Nimbus runtime SDK (`import { queues } from 'nimbus/sdk'`). Every call is checked
// against the function's `permissions:` in nimbus.yml; one outside them rejects with an Error whose
// name is ACCESS_DENIED.

export { storage } from './sdk/storage.js';
export type * from './sdk/storage.js';
export { kv } from './sdk/kv.js';
export type * from './sdk/kv.js';
import type { storage } from './sdk/storage.js';
import type { kv } from './sdk/kv.js';

export interface MessageAttribute { DataType: string; StringValue?: string; BinaryValue?: string }

export interface SendOptions {
  /** `{ name: value }` (a string or number) or SQS's `{ name: { DataType, StringValue | BinaryValue } }`; at most 10. */
  attributes?: Record<string, string | number | MessageAttribute>;
  /** Standard queues: 0..900 seconds before the message can be received. */
  delaySeconds?: number;
  /** FIFO queues: the message group (ordering is per group). Required there. */
  groupId?: string;
  /** FIFO queues: a repeat within 5 minutes is accepted but not added again. */
  dedupId?: string;
}

export interface Sent {
  messageId: string;
  md5OfBody: string;
  md5OfMessageAttributes?: string;
  /** FIFO queues: the message's sequence number. */
  sequenceNumber?: string;
  /** FIFO queues: the deduplication id was seen in the last 5 minutes; accepted, not added again. */
  duplicate?: true;
}

export interface BatchEntry extends SendOptions { id?: string; body: unknown }

export interface BatchResult {
  successful: (Sent & { id: string })[];
  failed: { id: string; code: string; message: string }[];
}

export interface QueueHandle {
  readonly name: string;
  send(body: unknown, options?: SendOptions): Promise<Sent>;
  sendBatch(entries: BatchEntry[]): Promise<BatchResult>;
}

export declare const queues: {
  /** A handle on one queue. */
  queue(name: string): QueueHandle;
  send(queue: string, body: unknown, options?: SendOptions): Promise<Sent>;
  sendBatch(queue: string, entries: BatchEntry[]): Promise<BatchResult>;
};

export interface PublishOptions {
  /** Up to 100 characters on one line (SNS's Subject). */
  subject?: string;
  /** As for queues: `{ name: value }` or SQS/SNS's `{ name: { DataType, StringValue | BinaryValue } }`; at most 10. */
  attributes?: Record<string, string | number | MessageAttribute>;
}

export interface PublishEntry extends PublishOptions { id?: string; message: unknown }

export interface TopicHandle {
  readonly name: string;
  publish(message: unknown, options?: PublishOptions): Promise<{ messageId: string }>;
  publishBatch(entries: PublishEntry[]): Promise<{ successful: { id: string; messageId: string }[]; failed: { id: string; code: string; message: string }[] }>;
}

export declare const topics: {
  /** A handle on one topic. */
  topic(name: string): TopicHandle;
  publish(topic: string, message: unknown, options?: PublishOptions): Promise<{ messageId: string }>;
  publishBatch(topic: string, entries: PublishEntry[]): Promise<{ successful: { id: string; messageId: string }[]; failed: { id: string; code: string; message: string }[] }>;
};

export interface PutEventsEntry { source: string; detailType: string; detail?: unknown; time?: string; resources?: string[] }

export declare const events: {
  put(entries: PutEventsEntry[]): Promise<{ failedEntryCount: number; entries: ({ eventId: string } | { errorCode: string; errorMessage: string })[] }>;
};

export declare const secrets: {
  /** A secret the function is granted (also in process.env under its name). */
  get(name: string): Promise<string>;
};

export interface FunctionHandle {
  readonly name: string;
  invoke(payload?: unknown): Promise<unknown>;
  invokeAsync(payload?: unknown): Promise<{ requestId: string }>;
}

export declare const functions: {
  /**
   * Runs another function (granted with `permissions: { functions: { name: [invoke] } }`) and
   * resolves to what its handler returned; if the handler fails, rejects with an Error whose name is
   * the handler's error type and whose `requestId` is that invocation's. Payload: JSON, ≤ 6 MB.
   */
  invoke(name: string, payload?: unknown): Promise<unknown>;
  /** Stores an asynchronous invocation (≤ 1 MB) with the target's retries and destinations. */
  invokeAsync(name: string, payload?: unknown): Promise<{ requestId: string }>;
  /** A handle on one function. */
  fn(name: string): FunctionHandle;
};

export declare const workflows: {
  /**
   * Starts an execution of a workflow (granted with `permissions: { workflows: { name: [start] } }`)
   * and resolves once it is stored. Input: JSON, ≤ 256 KB (default {}); `name` is unique per workflow.
   */
  start(workflow: string, input?: unknown, options?: { name?: string }): Promise<{ executionArn: string; startDate: string }>;
  /** SendTaskSuccess: the waitForTaskToken task awaiting `taskToken` succeeds with `output` (needs `respond` on its workflow). */
  sendTaskSuccess(taskToken: string, output?: unknown): Promise<void>;
  /** SendTaskFailure: the task fails with `error` and `cause` (Retry/Catch see `error`). */
  sendTaskFailure(taskToken: string, error?: string, cause?: string): Promise<void>;
  /** SendTaskHeartbeat: the task is alive; its HeartbeatSeconds start again. */
  sendTaskHeartbeat(taskToken: string): Promise<void>;
};

/**
 * What a fetch-style handler's `env` holds besides its environment variables (and granted secrets):
 * a handle per granted resource, by name, and `bus` when it may put events.
 * `export default { fetch(req: Request, env: NimbusEnv) { ... } }`
 */
export interface NimbusBindings {
  buckets: Readonly<Record<string, ReturnType<typeof storage.bucket>>>;
  tables: Readonly<Record<string, ReturnType<typeof kv.table>>>;
  queues: Readonly<Record<string, QueueHandle>>;
  topics: Readonly<Record<string, TopicHandle>>;
  functions: Readonly<Record<string, FunctionHandle>>;
  bus?: typeof events;
}
export type NimbusEnv = NimbusBindings & Record<string, unknown>;

export declare const trace: {
  /** The running invocation's W3C trace context (also `context.traceparent` and `context.tracestate`); undefined outside one. */
  current(): { traceparent: string; tracestate?: string; traceId: string; spanId: string } | undefined;
};
