// How the CLI finds and talks to a server: flags, then NIMBUS_URL / NIMBUS_TOKEN, then the local
// data dir (server.json and admin-token written by `nimbus serve`), then the default address.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_HOST, DEFAULT_PORT } from '../config/limits.ts';
import { TOKEN_FILE } from '../control/token.ts';

export class CliError extends Error {}

export interface Target { url: string; token: string | undefined }

export function resolveTarget(flags: { url?: string; token?: string; data?: string }): Target {
  const dataDir = resolve(flags.data ?? '.nimbus');
  let url = flags.url ?? process.env.NIMBUS_URL;
  let token = flags.token ?? process.env.NIMBUS_TOKEN;
  if (!url && existsSync(join(dataDir, 'server.json'))) {
    url = (JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8')) as { url: string }).url;
  }
  if (!token && existsSync(join(dataDir, TOKEN_FILE))) token = readFileSync(join(dataDir, TOKEN_FILE), 'utf8').trim();
  return { url: (url ?? `http://${DEFAULT_HOST}:${DEFAULT_PORT}`).replace(/\/$/, ''), token };
}

export async function api<T>(target: Target, method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<{ status: number; headers: Headers; data: T }> {
  let res: Response;
  try {
    res = await fetch(target.url + path, {
      method,
      headers: { ...(target.token ? { authorization: `Bearer ${target.token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...extraHeaders },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new CliError(`cannot reach the Nimbus server at ${target.url} (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}); start it with \`npx nimbus serve\`, or set NIMBUS_URL`);
  }
  const text = await res.text();
  let data: unknown;
  try { data = text ? JSON.parse(text) : undefined; } catch { data = text; }
  if (res.status >= 400) {
    const e = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new CliError(e ? `${e.code}: ${e.message}` : `HTTP ${res.status}: ${text.slice(0, 500)}`);
  }
  return { status: res.status, headers: res.headers, data: data as T };
}
