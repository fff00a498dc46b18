// Small HTTP helpers shared by the gateway and the admin API: JSON responses, errors from the
// error table, and body reading with a hard size limit.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isNimbusError, NimbusError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown, logger: Logger, headers: Record<string, string> = {}): void {
  const e = isNimbusError(err) ? err : new NimbusError('INTERNAL', 'internal error; see the server log');
  if (!isNimbusError(err)) logger.error({ err }, 'unhandled error');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const extra: Record<string, string> = { ...headers };
  if (e.retryAfterMs !== undefined) extra['retry-after'] = String(Math.max(1, Math.ceil(e.retryAfterMs / 1000)));
  sendJson(res, e.status, e.toJSON(), extra);
}

/** Reads the whole body, failing with PAYLOAD_TOO_LARGE as soon as it passes `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => { if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)); });
    req.on('error', (err) => { if (!failed) { failed = true; reject(err); } });
  });
}

function tooLarge(limit: number): NimbusError {
  return new NimbusError('PAYLOAD_TOO_LARGE', `the request body is over the limit of ${limit} bytes (${limit >= 1024 * 1024 ? `${+(limit / 1024 / 1024).toFixed(1)} MB` : `${+(limit / 1024).toFixed(1)} KB`})`);
}

export function parseJsonBody(body: Buffer, what: string): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new NimbusError('INVALID_JSON', `${what} is not valid JSON: ${(err as Error).message}`);
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's x-request-id when it is sane, else a fresh one. */
export function requestIdFrom(header: string | string[] | undefined, fresh: () => string): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : fresh();
}
