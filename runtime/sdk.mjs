// @ts-check
// The Nimbus runtime SDK: what function code imports as `nimbus/sdk`. The bundler links this file
// into each function; its calls go to the host through the runtime's bridge, and the host decides
// whether the function may make them (queues and topics of the function's own app; the event bus
// is shared by every app).

function bridge() {
  const b = /** @type {{ call(op: string, args: unknown): Promise<any> } | undefined} */ (/** @type {any} */ (globalThis)[Symbol.for('nimbus.sdk')]);
  if (!b) throw new Error('nimbus/sdk works inside a function running on Nimbus');
  return b;
}

export const queues = {
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
   * Publishes one message to a topic of the function's app; resolves once every subscriber's
   * delivery is stored. Errors: TOPIC_NOT_FOUND, ACCESS_DENIED, MESSAGE_TOO_LARGE, INVALID_MESSAGE.
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
