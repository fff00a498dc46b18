// @ts-check
// The Nimbus runtime SDK: what function code imports as `nimbus/sdk`. The bundler links this file
// into each function; its calls go to the host through the runtime's bridge, and the host decides
// whether the function may make them: every call is checked against the function's `permissions:`
// in nimbus.yml, and one outside them fails with an error named ACCESS_DENIED.
// Fetch-style handlers also get these handles on `env` (env.queues.orders, env.buckets.uploads, ...)
// for what they are granted; bindings() below builds them.

import { storage } from './sdk/storage.mjs';
import { kv } from './sdk/kv.mjs';

export { storage, kv };

import { bridge } from './sdk/bridge.mjs';

export const queues = {
  /**
   * A handle on one queue: `queues.queue('orders').send(body)`.
   * @param {string} name
   */
  queue(name) {
    return Object.freeze({
      name,
      /** @param {unknown} body @param {{ attributes?: Record<string, unknown>, delaySeconds?: number, groupId?: string, dedupId?: string }} [options] */
      send: (body, options) => queues.send(name, body, options),
      /** @param {Array<{ id?: string, body: unknown, attributes?: Record<string, unknown>, delaySeconds?: number, groupId?: string, dedupId?: string }>} entries */
      sendBatch: (entries) => queues.sendBatch(name, entries),
    });
  },
  /**
   * Sends one message; resolves once it is stored. Errors have the platform's error code as their
   * name (QUEUE_NOT_FOUND, ACCESS_DENIED, MESSAGE_TOO_LARGE, INVALID_MESSAGE).
   * @param {string} queue
   * @param {unknown} body a string, or any JSON value (sent as its JSON text)
   * @param {{ attributes?: Record<string, unknown>, delaySeconds?: number, groupId?: string, dedupId?: string }} [options]
   */
  send(queue, body, options = {}) {
    return bridge().call('queues.send', { queue, message: { body, ...options } });
  },
  /**
   * Sends up to 10 messages at once; entries that fail validation come back in `failed`.
   * @param {string} queue
   * @param {Array<{ id?: string, body: unknown, attributes?: Record<string, unknown>, delaySeconds?: number, groupId?: string, dedupId?: string }>} entries
   */
  sendBatch(queue, entries) {
    return bridge().call('queues.sendBatch', { queue, entries });
  },
};

export const topics = {
  /**
   * A handle on one topic: `topics.topic('events').publish(message)`.
   * @param {string} name
   */
  topic(name) {
    return Object.freeze({
      name,
      /** @param {unknown} message @param {{ subject?: string, attributes?: Record<string, unknown> }} [options] */
      publish: (message, options) => topics.publish(name, message, options),
      /** @param {Array<{ id?: string, message: unknown, subject?: string, attributes?: Record<string, unknown> }>} entries */
      publishBatch: (entries) => topics.publishBatch(name, entries),
    });
  },
  /**
   * Publishes one message to a topic; resolves once every subscriber's delivery is stored. Errors: TOPIC_NOT_FOUND, ACCESS_DENIED, MESSAGE_TOO_LARGE, INVALID_MESSAGE.
   * @param {string} topic
   * @param {unknown} message a string, or any JSON value (published as its JSON text)
   * @param {{ subject?: string, attributes?: Record<string, unknown> }} [options]
   */
  publish(topic, message, options = {}) {
    return bridge().call('topics.publish', { topic, message: { message, ...options } });
  },
  /**
   * Publishes up to 10 messages at once; entries that fail validation come back in `failed`.
   * @param {string} topic
   * @param {Array<{ id?: string, message: unknown, subject?: string, attributes?: Record<string, unknown> }>} entries
   */
  publishBatch(topic, entries) {
    return bridge().call('topics.publishBatch', { topic, entries });
  },
};

export const events = {
  /**
   * Puts up to 10 events on the event bus; resolves once every matching rule's deliveries are
   * stored. Each entry is accepted ({ eventId }) or refused ({ errorCode, errorMessage }).
   * @param {Array<{ source: string, detailType: string, detail?: unknown, time?: string, resources?: string[] }>} entries
   */
  put(entries) {
    return bridge().call('events.put', { entries });
  },
};

export const secrets = {
  /**
   * A secret the function is granted (functions.<name>.secrets in nimbus.yml); also in process.env.
   * ACCESS_DENIED for any other.
   * @param {string} name
   * @returns {Promise<string>}
   */
  get(name) {
    return bridge().call('secrets.get', { name });
  },
};

export const functions = {
  /**
   * Invokes another function (granted with permissions: { functions: { name: [invoke] } }) and
   * resolves to what its handler returned. If the handler fails, rejects with an Error whose name
   * is the handler's error type and whose `requestId` is the failed invocation's.
   * @param {string} name
   * @param {unknown} [payload] the event (any JSON value; at most 6 MB)
   * @returns {Promise<unknown>}
   */
  async invoke(name, payload) {
    const r = await bridge().call('functions.invoke', { function: name, payload });
    if (r.ok) return r.payload;
    throw Object.assign(new Error(r.errorMessage), { name: r.errorType, requestId: r.requestId });
  },
  /**
   * Queues an asynchronous invocation (retries, destinations and dead-letter queue as configured
   * for the target) and resolves once it is stored.
   * @param {string} name
   * @param {unknown} [payload] the event (any JSON value; at most 1 MB)
   * @returns {Promise<{ requestId: string }>}
   */
  invokeAsync(name, payload) {
    return bridge().call('functions.invoke', { function: name, payload, async: true });
  },
  /**
   * A handle on one function: `functions.fn('mailer').invoke(event)`.
   * @param {string} name
   */
  fn(name) {
    return Object.freeze({
      name,
      /** @param {unknown} [payload] */
      invoke: (payload) => functions.invoke(name, payload),
      /** @param {unknown} [payload] */
      invokeAsync: (payload) => functions.invokeAsync(name, payload),
    });
  },
};

export const workflows = {
  /**
   * Starts an execution of a workflow (granted with permissions: { workflows: { name: [start] } })
   * and resolves once it is stored, with its ARN.
   * @param {string} workflow
   * @param {unknown} [input] any JSON value, at most 256 KB (default {})
   * @param {{ name?: string }} [options] the execution's name, unique per workflow (default a UUID)
   * @returns {Promise<{ executionArn: string, startDate: string }>}
   */
  start(workflow, input, options) {
    return bridge().call('workflows.start', { workflow, input, name: options?.name });
  },
  /**
   * SendTaskSuccess: the waitForTaskToken task awaiting the token succeeds with `output`. Needs
   * `respond` on the workflow whose execution awaits it.
   * @param {string} taskToken
   * @param {unknown} [output]
   * @returns {Promise<void>}
   */
  async sendTaskSuccess(taskToken, output) {
    await bridge().call('workflows.sendTaskSuccess', { taskToken, output });
  },
  /**
   * SendTaskFailure: the task fails with `error` (what Retry and Catch match) and `cause`.
   * @param {string} taskToken
   * @param {string} [error]
   * @param {string} [cause]
   * @returns {Promise<void>}
   */
  async sendTaskFailure(taskToken, error, cause) {
    await bridge().call('workflows.sendTaskFailure', { taskToken, error, cause });
  },
  /**
   * SendTaskHeartbeat: the task is alive; its HeartbeatSeconds start again.
   * @param {string} taskToken
   * @returns {Promise<void>}
   */
  async sendTaskHeartbeat(taskToken) {
    await bridge().call('workflows.sendTaskHeartbeat', { taskToken });
  },
};

/**
 * What a fetch-style handler finds on `env` besides its environment variables: a handle for each
 * resource it is granted, by name. Built by the runtime from the grant names; the host still
 * checks every call.
 * @param {{ buckets: string[], tables: string[], queues: string[], topics: string[], functions: string[], bus: boolean }} grants
 */
export function bindings(grants) {
  /** @param {string[]} names @param {(name: string) => unknown} handle */
  const byName = (names, handle) => Object.freeze(Object.fromEntries(names.map((n) => [n, handle(n)])));
  return {
    buckets: byName(grants.buckets, (n) => storage.bucket(n)),
    tables: byName(grants.tables, (n) => kv.table(n)),
    queues: byName(grants.queues, (n) => queues.queue(n)),
    topics: byName(grants.topics, (n) => topics.topic(n)),
    functions: byName(grants.functions, (n) => functions.fn(n)),
    ...(grants.bus ? { bus: events } : {}),
  };
}

export const trace = {
  /**
   * The W3C trace context of the running invocation (also on the handler's `context.traceparent`),
   * to continue the trace in outgoing calls: send `traceparent` as an HTTP header, and `tracestate`
   * (the one that came with the invocation's context, if any) with it. Calls through this SDK carry
   * both on by themselves. Undefined outside an invocation.
   * @returns {{ traceparent: string, tracestate?: string, traceId: string, spanId: string } | undefined}
   */
  current() {
    const b = bridge();
    const tp = /** @type {string | undefined} */ (b.traceparent?.());
    if (!tp) return undefined;
    const [, traceId, spanId] = tp.split('-');
    const ts = b.tracestate?.();
    return { traceparent: tp, ...(ts ? { tracestate: ts } : {}), traceId: /** @type {string} */ (traceId), spanId: /** @type {string} */ (spanId) };
  },
};
