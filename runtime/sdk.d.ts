// Types of the Nimbus runtime SDK (`import { queues } from 'nimbus/sdk'`).

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

export declare const queues: {
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

export declare const topics: {
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
