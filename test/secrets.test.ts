// Secrets: set through the API, sealed at rest, granted by name; a granted function gets the value
// in its environment and through the SDK; the value never appears in logs, error messages, API
// responses, invocation records or the database file; ungranted access is denied.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from './helpers.ts';

const VALUE = 'sk_live_5f2b9c71d0e84a3b';
const MANIFEST = `app: vaulted
functions:
  uses:
    handler: src/uses.handler
    secrets: [API_KEY]
  other:
    handler: src/other.handler
  odd:
    handler: src/odd.handler
    secrets: [API_KEY]
  leaky:
    handler: src/leaky.handler
    secrets: [API_KEY]
`;
const SOURCES = {
  'src/uses.ts': `import { secrets } from 'nimbus/sdk';
export const handler = async (event: { fail?: boolean }) => {
  console.log('the key is', process.env.API_KEY);
  console.log(JSON.stringify({ key: process.env.API_KEY }));
  if (event.fail) throw new Error('rejected key ' + process.env.API_KEY);
  return { len: process.env.API_KEY!.length, viaSdk: (await secrets.get('API_KEY')).length, tail: process.env.API_KEY!.slice(-4) };
};`,
  // Errors shaped to slip past redaction: the key in the error's name, a message that is not a string.
  'src/odd.ts': `export const handler = async (event: { kind: string }) => {
  if (event.kind === 'name') throw Object.assign(new Error('bad'), { name: 'Key' + process.env.API_KEY });
  const e = new Error('x');
  (e as { message: unknown }).message = null;
  throw e;
};`,
  // Prints the key to stderr during init and dies.
  'src/leaky.ts': `import { writeSync } from 'node:fs';
writeSync(2, 'boom ' + process.env.API_KEY + '\\n');
process.exit(3);
export const handler = async () => null;`,
  'src/other.ts': `import { secrets } from 'nimbus/sdk';
export const handler = async () => {
  try { await secrets.get('API_KEY'); return 'got it'; } catch (e) { return { env: process.env.API_KEY ?? null, error: (e as Error).name }; }
};`,
};

const BIN = fileURLToPath(new URL('../bin/nimbus.mjs', import.meta.url));

/** Runs the CLI with `stdin` piped in (the server runs in this process, so never spawnSync). */
function nimbus(srv: TestServer, args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NIMBUS_URL: srv.url, NIMBUS_TOKEN: srv.token } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => { stdout += c; });
    p.stderr.on('data', (c) => { stderr += c; });
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    p.stdin.end(stdin);
  });
}

describe('secrets', () => {
  let srv: TestServer;
  const seen: string[] = [];
  const api = async <T>(method: string, path: string, body?: unknown) => {
    const r = await srv.api<T>(method, path, body);
    seen.push(JSON.stringify(r.body));
    return r;
  };
  before(async () => {
    srv = await startTestServer();
  });
  after(() => srv.close());

  it('refuses a deploy that grants a secret that is not set', async () => {
    const d = await srv.deploy({ 'nimbus.yml': MANIFEST, ...SOURCES });
    assert.equal(d.status, 404);
    assert.match(d.body.error!.message, /functions\.uses\.secrets: no secret named "API_KEY"; set it first with `nimbus secrets set API_KEY`/);
  });

  it('sets a secret without ever answering with its value, and seals it at rest', async () => {
    const r = await api<{ name: string }>('PUT', '/_nimbus/api/secrets/API_KEY', { value: VALUE });
    assert.equal(r.status, 200);
    assert.equal(r.body.name, 'API_KEY');
    assert.equal((await api<{ error: { code: string } }>('PUT', '/_nimbus/api/secrets/lower', { value: 'x' })).status, 400);
    const key = statSync(join(srv.dataDir, 'master-key'));
    assert.equal(key.mode & 0o777, 0o600);
    const d = await srv.deploy({ 'nimbus.yml': MANIFEST, ...SOURCES });
    assert.equal(d.status, 200, JSON.stringify(d.body));
  });

  it('a granted function gets the value (environment and SDK); its output is redacted', async () => {
    const r = await api<{ len: number; viaSdk: number; tail: string }>('POST', '/_nimbus/api/functions/uses/invocations', {});
    assert.deepEqual(r.body, { len: VALUE.length, viaSdk: VALUE.length, tail: VALUE.slice(-4) });
    const failed = await api<{ errorMessage: string }>('POST', '/_nimbus/api/functions/uses/invocations', { fail: true });
    assert.equal(failed.body.errorMessage, 'rejected key ***');
    const logs = await api<{ logs: { message: string }[] }>('GET', '/_nimbus/api/functions/uses/logs');
    const lines = logs.body.logs.map((l) => l.message);
    assert.ok(lines.includes('the key is ***'), lines.join('\n'));
    assert.ok(lines.includes('{"key":"***"}'));
  });

  it('redacts error names and init stderr too, and survives malformed error frames', async () => {
    const named = await api<{ errorType: string }>('POST', '/_nimbus/api/functions/odd/invocations', { kind: 'name' });
    assert.equal(named.body.errorType, 'Key***');
    const nullMessage = await api<{ errorType: string; errorMessage: string }>('POST', '/_nimbus/api/functions/odd/invocations', { kind: 'null' });
    assert.equal(nullMessage.status, 200);
    assert.equal(typeof nullMessage.body.errorMessage, 'string');
    const init = await api<{ errorType: string; errorMessage: string }>('POST', '/_nimbus/api/functions/leaky/invocations', {});
    assert.match(init.body.errorMessage, /boom \*\*\*/);
    assert.equal((await srv.req('/_nimbus/health')).status, 200, 'the server is still up');
  });

  it('an ungranted function gets neither the variable nor the SDK value', async () => {
    const r = await api<{ env: string | null; error: string }>('POST', '/_nimbus/api/functions/other/invocations', {});
    assert.deepEqual(r.body, { env: null, error: 'ACCESS_DENIED' });
  });

  it('lists names only; refuses to delete a granted secret; a new value reaches new instances', async () => {
    const list = await api<{ secrets: { name: string; grantedTo: string[] }[] }>('GET', '/_nimbus/api/secrets');
    assert.deepEqual(list.body.secrets.map((s) => [s.name, s.grantedTo]), [['API_KEY', ['leaky', 'odd', 'uses']]]);
    const del = await api<{ error: { code: string; message: string } }>('DELETE', '/_nimbus/api/secrets/API_KEY');
    assert.equal(del.status, 409);
    assert.match(del.body.error.message, /granted to leaky, odd, uses/);
    await api('PUT', '/_nimbus/api/secrets/API_KEY', { value: 'rotated-value-0001' });
    const r = await api<{ tail: string }>('POST', '/_nimbus/api/functions/uses/invocations', {});
    assert.equal(r.body.tail, '0001');
    await api('GET', '/_nimbus/api/functions/uses');
    await api('GET', '/_nimbus/api/functions/uses/invocations');
  });

  it('the CLI sets a value from standard input and lists names only', async () => {
    const set = await nimbus(srv, ['secrets', 'set', 'CLI_TOKEN'], 'from-stdin-9876\n');
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^Set secret CLI_TOKEN\./);
    const ls = await nimbus(srv, ['secrets', 'ls']);
    assert.match(ls.stdout, /^CLI_TOKEN\s+\S+\s+-$/m);
    assert.match(ls.stdout, /^API_KEY\s+\S+\s+leaky, odd, uses$/m);
    assert.ok(!ls.stdout.includes('from-stdin-9876'));
    const rm = await nimbus(srv, ['secrets', 'rm', 'CLI_TOKEN']);
    assert.equal(rm.stdout.trim(), 'Deleted secret CLI_TOKEN.');
    const empty = await nimbus(srv, ['secrets', 'set', 'X_EMPTY'], '');
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /the value is empty/);
  });

  it('the value is in no API response and not in the database files', async () => {
    await srv.records.flush();
    for (const body of seen) {
      assert.ok(!body.includes(VALUE) && !body.includes('rotated-value-0001'), body.slice(0, 200));
    }
    for (const file of ['nimbus.db', 'nimbus.db-wal', 'nimbus.records.db', 'nimbus.records.db-wal']) {
      let bytes: Buffer;
      try { bytes = readFileSync(join(srv.dataDir, file)); } catch { continue; }
      assert.ok(!bytes.includes(VALUE) && !bytes.includes('rotated-value-0001'), `${file} holds a plaintext secret`);
    }
  });
});
