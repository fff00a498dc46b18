// Where sandbox files live, and who owns them. When the server runs as root every instance gets
// a uid of its own, so the OS (not only Node's permission model) keeps instances out of each other's
// directories, the data dir and the admin token, and stops them signalling each other.
import { createHash } from 'node:crypto';
import { accessSync, chmodSync, constants, copyFileSync, cpSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RUNTIME_DIR = resolve(fileURLToPath(new URL('../../runtime/', import.meta.url)));
export const BOOTSTRAP_PATH = join(RUNTIME_DIR, 'bootstrap.mjs');

/** First uid handed to instances when running as root; no /etc/passwd entry is needed. */
const UID_BASE = 200_000;
const UID_RANGE = 50_000;

export const runningAsRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** True when a process with an unrelated uid can reach `path` (every ancestor has o+x, the file o+r). */
export function reachableByOthers(path: string): boolean {
  let p = resolve(path);
  try {
    if ((statSync(p).mode & 0o004) === 0) return false;
    for (p = dirname(p); ; p = dirname(p)) {
      if ((statSync(p).mode & 0o001) === 0) return false;
      if (p === dirname(p)) return true;
    }
  } catch {
    return false;
  }
}

export interface SandboxLayout {
  root: string;
  nodePath: string;
  bootstrapPath: string;
  runtimeDir: string;
  isolateUids: boolean;
}

/**
 * Works out where instance directories go and which node binary and runtime they run. As root, a
 * data dir below a private home (mode 0700) cannot be entered by instance uids, so the sandboxes
 * then live under the system temp dir, and node and the runtime are staged there if need be.
 */
export function prepareLayout(dataDir: string, opts: { isolateUids?: boolean } = {}): SandboxLayout {
  const isolateUids = opts.isolateUids ?? runningAsRoot;
  const key = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12);
  let root = join(resolve(dataDir), 'sandboxes');
  let nodePath = process.execPath;
  let runtimeDir = RUNTIME_DIR;
  if (isolateUids) {
    const dataReachable = reachableByOthers(resolve(dataDir)) || isTraversable(resolve(dataDir));
    if (!dataReachable) root = join(tmpdir(), `nimbus-sandboxes-${key}`);
    if (!reachableByOthers(nodePath) || !reachableByOthers(BOOTSTRAP_PATH)) {
      const stage = join(tmpdir(), `nimbus-runtime-${process.version}-${key}`);
      mkdirSync(stage, { recursive: true, mode: 0o755 });
      const stagedNode = join(stage, 'node');
      if (!exists(stagedNode) || statSync(stagedNode).size !== statSync(nodePath).size) copyFileSync(nodePath, stagedNode);
      // The runtime and the SDK it imports for fetch-style bindings: every .mjs under runtime/ (never the host's src/).
      cpSync(RUNTIME_DIR, stage, { recursive: true, filter: (src) => src.endsWith('.mjs') || statSync(src).isDirectory() });
      nodePath = stagedNode;
      runtimeDir = stage;
    }
  }
  const layout = { root, nodePath, runtimeDir, bootstrapPath: join(runtimeDir, 'bootstrap.mjs'), isolateUids };
  makeSandboxRoot(layout);
  return layout;
}

/** The sandbox root, with its mode set whatever the umask: 0711 lets instance uids pass through to their own directories. */
function makeSandboxRoot(layout: SandboxLayout): void {
  const mode = layout.isolateUids ? 0o711 : 0o700;
  mkdirSync(layout.root, { recursive: true, mode });
  chmodSync(layout.root, mode);
}

/**
 * Removes what instances of an earlier run left behind and makes the root afresh. Their code dirs
 * are 0500: without per-instance uids the server owns them, and can only empty them once writable.
 */
export function resetSandboxRoot(layout: SandboxLayout): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(layout.root);
  } catch {
    // No root yet.
  }
  for (const entry of entries) {
    try {
      chmodSync(join(layout.root, entry, 'code'), 0o700);
    } catch {
      // Not an instance directory.
    }
  }
  rmSync(layout.root, { recursive: true, force: true });
  makeSandboxRoot(layout);
}

function isTraversable(dir: string): boolean {
  for (let p = dir; ; p = dirname(p)) {
    try {
      if ((statSync(p).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (p === dirname(p)) return true;
  }
}

function exists(p: string): boolean {
  try { accessSync(p, constants.F_OK); return true; } catch { return false; }
}

/** Hands out instance uids, recycling those of instances that are gone. */
export class UidPool {
  #next = 0;
  #free: number[] = [];
  take(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    return UID_BASE + (this.#next++ % UID_RANGE);
  }
  give(uid: number): void { this.#free.push(uid); }
}
