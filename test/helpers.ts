// Test helpers: a real Nimbus server on port 0 with a fresh data dir, apps written to temp dirs and
// deployed the way the CLI does it (esbuild bundle + PUT), and small HTTP helpers. Everything is
// cleaned up by the returned close().
import { inlineWorkflowDefinitions } from '../src/workflows/definition-file.ts';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bundleFunction } from '../src/cli/bundle.ts';
import { parseManifest } from '../src/config/manifest.ts';
import { silentLogger } from '../src/observability/logger.ts';
import { type RunningServer, type ServerOptions, startServer } from '../src/server.ts';

export interface TestServer extends RunningServer {
  /** fetch against the server, with the admin token for /_nimbus/api paths. */
  req(path: string, init?: RequestInit): Promise<Response>;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T; headers: Headers }>;
  /** Bundles and deploys an app; `extra` joins the deploy body (e.g. `{ strategy: 'canary:10%:5m' }`). */
  deploy(files: Record<string, string>, extra?: Record<string, unknown>): Promise<{ status: number; body: DeployBody }>;
  invoke<T = unknown>(fn: string, event?: unknown): Promise<{ status: number; body: T; headers: Headers }>;
  /** Receives from `queue` (deleting each message) until `n` came, or `ms` passed; returns what came. */
  take(queue: string, n: number, ms?: number): Promise<QueueMessage[]>;
}

export interface QueueMessage {
  messageId: string; receiptHandle: string; body: string; md5OfBody: string; md5OfMessageAttributes?: string;
  attributes: Record<string, string>; messageAttributes: Record<string, { DataType: string; StringValue?: string; BinaryValue?: string }>;
}

export interface DeployBody {
  status?: string; created?: string[]; updated?: string[]; removed?: string[];
  rollouts?: { fn: string; id: number; fromVersion: number; toVersion: number; strategy: string }[];
  routes?: { method: string; path: string; fn: string }[];
  error?: { code: string; message: string };
}

export function tempDir(prefix = 'nimbus-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeApp(files: Record<string, string>, dir = tempDir('nimbus-app-')): string {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

export async function bundleApp(dir: string, manifestText: string): Promise<{ manifest: unknown; bundles: Record<string, { code: string }> }> {
  const manifest = parseManifest(manifestText);
  const bundles: Record<string, { code: string }> = {};
  for (const [name, spec] of Object.entries(manifest.functions)) {
    const b = await bundleFunction(dir, name, spec.handler);
    bundles[name] = { code: Buffer.from(b.code).toString('base64') };
  }
  return { manifest: await inlineWorkflowDefinitions(dir, manifest), bundles };
}

export async function startTestServer(opts: ServerOptions = {}): Promise<TestServer> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? tempDir();
  const srv = await startServer({ port: 0, logger: silentLogger, ...opts, dataDir });
  const auth = { authorization: `Bearer ${srv.token}` };
  const req = (path: string, init: RequestInit = {}): Promise<Response> => fetch(srv.url + path, {
    ...init, headers: { ...(path.startsWith('/_nimbus/api') ? auth : {}), ...(init.headers as Record<string, string> | undefined) },
  });
  const api = async <T>(method: string, path: string, body?: unknown) => {
    const res = await req(path, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: body === undefined ? {} : { 'content-type': 'application/json' } });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
  };
  const close = srv.close.bind(srv);
  return Object.assign(srv, {
    req,
    api,
    async deploy(files: Record<string, string>, extra: Record<string, unknown> = {}) {
      const dir = writeApp(files);
      try {
        const body = await bundleApp(dir, files['nimbus.yml']!);
        const app = (body.manifest as { app: string }).app;
        return api<DeployBody>('PUT', `/_nimbus/api/apps/${app}`, { ...body, ...extra });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    invoke<T>(fn: string, event: unknown = {}) {
      return api<T>('POST', `/_nimbus/api/functions/${fn}/invocations`, event);
    },
    async take(queue: string, n: number, ms = 10_000) {
      const got: QueueMessage[] = [];
      const deadline = Date.now() + ms;
      while (got.length < n && Date.now() < deadline) {
        const r = await api<{ messages: QueueMessage[] }>('POST', `/_nimbus/api/queues/${queue}/receive`, { maxMessages: 10, waitSeconds: 1 });
        for (const m of r.body.messages) {
          got.push(m);
          await api('POST', `/_nimbus/api/queues/${queue}/delete`, { receiptHandle: m.receiptHandle });
        }
      }
      return got;
    },
    async close() {
      await close();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** A server with one app deployed (the deploy must succeed). */
export async function startWithApp(files: Record<string, string>, opts: ServerOptions = {}): Promise<TestServer> {
  const srv = await startTestServer(opts);
  const d = await srv.deploy(files);
  if (d.status !== 200) {
    await srv.close();
    throw new Error(`deploy failed: ${JSON.stringify(d.body)}`);
  }
  return srv;
}

/** A one-function app: `handler` is the source of src/index.ts (or .js when js is true). */
export function oneFunctionApp(opts: { app?: string; fn?: string; source: string; exportName?: string; file?: string; yaml?: string; http?: string }): Record<string, string> {
  const app = opts.app ?? 'test';
  const fn = opts.fn ?? 'fn';
  const file = opts.file ?? 'src/index.ts';
  const exportName = opts.exportName ?? 'handler';
  const base = file.replace(/\.(ts|js|mjs|cjs)$/, '');
  return {
    'nimbus.yml': `app: ${app}\nfunctions:\n  ${fn}:\n    handler: ${base}.${exportName}\n${opts.yaml ?? ''}${opts.http ? `    events:\n      - http: ${opts.http}\n` : ''}`,
    [file]: opts.source,
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface Hit { path: string; headers: IncomingHttpHeaders; body: string }

/** An HTTP receiver on port 0 (a webhook endpoint): records every request, answers `status(path)`. */
export async function startReceiver(status: (path: string) => number): Promise<{ url: string; hits: Hit[]; close(): void }> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      hits.push({ path: req.url ?? '', headers: req.headers, body });
      res.statusCode = status(req.url ?? '');
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, close: () => server.close() };
}

const BIN = new URL('../bin/nimbus.mjs', import.meta.url).pathname;

/**
 * Runs the `nimbus` CLI as a user would, in `cwd`, against `srv` (NIMBUS_URL / NIMBUS_TOKEN).
 * Asynchronous: the server runs in this process, so a synchronous spawn would block it.
 */
export function cli(srv: TestServer, cwd: string): (...args: string[]) => Promise<{ code: number; stdout: string; stderr: string }> {
  return (...args) => new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NIMBUS_URL: srv.url, NIMBUS_TOKEN: srv.token } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}
