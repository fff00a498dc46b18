// `nimbus serve` as a real process on a data dir, for the tests that kill it (-9) and start it again:
// started on port 0, the URL read from its output, the admin token from the data dir.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

export class ServeProcess {
  proc: ChildProcess | undefined;
  url = '';
  token = '';
  readonly dataDir: string;
  /** Run the server as this uid (and gid), through setpriv: a server that is not root. */
  readonly asUid: number | undefined;
  /** More `serve` flags. */
  readonly extraArgs: string[];
  constructor(dataDir: string, asUid?: number, extraArgs: string[] = []) { this.dataDir = dataDir; this.asUid = asUid; this.extraArgs = extraArgs; }

  async start(): Promise<void> {
    const args = [MAIN, 'serve', '--port', '0', '--data', this.dataDir, ...this.extraArgs];
    const env = { ...process.env, NIMBUS_LOG_LEVEL: 'error' };
    const proc = this.asUid === undefined
      ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
      : spawn('setpriv', [`--reuid=${this.asUid}`, `--regid=${this.asUid}`, '--clear-groups', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, HOME: this.dataDir } });
    this.proc = proc;
    this.url = await new Promise<string>((resolve, reject) => {
      let out = '';
      proc.stdout!.on('data', (c) => {
        out += c;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      let err = '';
      proc.stderr!.on('data', (c) => { err += c; });
      proc.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}${err}`)));
    });
    this.token = readFileSync(join(this.dataDir, 'admin-token'), 'utf8').trim();
  }

  // any: the bodies of several endpoints, read field by field by the tests.
  async api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const res = await fetch(this.url + path, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json', ...headers } });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  kill9(): Promise<void> {
    const proc = this.proc!;
    return new Promise((r) => { proc.once('exit', () => r()); proc.kill('SIGKILL'); });
  }

  stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
    return new Promise((r) => { proc.once('exit', () => r()); proc.kill('SIGTERM'); });
  }
}
