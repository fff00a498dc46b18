// @ts-check
// The one way SDK code reaches the host: the runtime (bootstrap.mjs) installs a frozen bridge under
// this symbol; each call becomes a `call` frame on the instance's IPC channel.

/** @returns {{ call(op: string, args: unknown): Promise<any>, traceparent?: () => string | undefined, tracestate?: () => string | undefined }} */
export function bridge() {
  // The bridge is installed by the runtime, not typed by it: any is its only honest type here.
  const b = /** @type {{ call(op: string, args: unknown): Promise<any>, traceparent?: () => string | undefined, tracestate?: () => string | undefined } | undefined} */ (/** @type {any} */ (globalThis)[Symbol.for('nimbus.sdk')]);
  if (!b) throw new Error('nimbus/sdk works inside a function running on Nimbus');
  return b;
}
