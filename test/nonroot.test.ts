// A server that is not root runs every instance under its own uid, with no uid per instance: it
// must still clean up after its instances, so that it starts again on the same data dir. Started
// as another user through setpriv, so this needs root (and is skipped with a message otherwise).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { runningAsRoot } from '../src/sandbox/layout.ts';
import { bundleApp, writeApp } from './helpers.ts';
import { ServeProcess } from './serve-process.ts';

const UID = 4242;
const hasSetpriv = (() => { try { execFileSync('setpriv', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; } })();
const skip = !runningAsRoot ? 'needs root, to start the server as another user' : !hasSetpriv ? 'needs setpriv (util-linux)' : false;

it('a server that is not root cleans up after its instances, and starts again on its data dir', { skip }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-nonroot-'));
  chownSync(dataDir, UID, UID);
  const srv = new ServeProcess(dataDir, UID);
  await srv.start();
  try {
    const yml = 'app: nr\nfunctions:\n  hi:\n    handler: src/hi.handler\n    events:\n      - http: GET /hi\n';
    const body = await bundleApp(writeApp({ 'nimbus.yml': yml, 'src/hi.ts': 'export const handler = async () => ({ statusCode: 200, body: String(process.getuid?.()) });' }), yml);
    assert.equal((await srv.api('PUT', '/_nimbus/api/apps/nr', body)).status, 200);
    const first = await fetch(`${srv.url}/hi`);
    assert.equal(first.status, 200);
    assert.equal(await first.text(), String(UID), 'the instance runs as the server\'s own uid');
    await srv.stop();
    assert.deepEqual(readdirSync(join(dataDir, 'sandboxes')), [], 'no instance directory is left behind');
    await srv.start();
    const again = await fetch(`${srv.url}/hi`);
    assert.equal(again.status, 200, 'the route answers after a restart on the same data dir');
  } finally {
    await srv.stop();
  }
});
