// Tests for vault.ts: the master key's sources and their errors, the key file's creation and
// permission check, and sealing: round trip, tampering, wrong key, wrong name, format versions.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { isNimbusError } from '../../errors.ts';
import {
  keyIdOf, loadMasterKey, MASTER_KEY_FILE, MAX_SECRET_VALUE_BYTES, open, seal, SECRET_NAME, validateSecretName, validateSecretValue,
} from './vault.ts';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'nimbus-vault-'));
  dirs.push(d);
  return d;
}

/** Runs fn, expects a NimbusError with `code`, returns its message. */
function errorOf(fn: () => unknown, code: string): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isNimbusError(err), `expected a NimbusError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err.message;
  }
  assert.fail(`expected ${code}, nothing was thrown`);
}

function newKey(): { key: Buffer; keyId: string } {
  const key = randomBytes(32);
  return { key, keyId: keyIdOf(key) };
}

const posix = process.platform !== 'win32';

// ---------------------------------------------------------------------------------------------

describe('loadMasterKey from NIMBUS_MASTER_KEY', () => {
  const raw = randomBytes(32);
  const forms: [string, string][] = [
    ['base64', raw.toString('base64')],
    ['base64 without padding', raw.toString('base64').replace(/=$/, '')],
    ['base64url', raw.toString('base64url')],
    ['hex', raw.toString('hex')],
    ['HEX', raw.toString('hex').toUpperCase()],
    ['base64 with a trailing newline', raw.toString('base64') + '\n'],
  ];
  for (const [label, value] of forms) {
    test(`accepts ${label}`, () => {
      const dir = tempDir();
      const k = loadMasterKey(dir, { NIMBUS_MASTER_KEY: value });
      assert.deepEqual(k.key, raw);
      assert.equal(k.source, 'env');
      assert.equal(k.keyId, keyIdOf(raw));
      assert.match(k.keyId, /^[0-9a-f]{16}$/);
      assert.throws(() => statSync(join(dir, MASTER_KEY_FILE)), /ENOENT/, 'no key file is created when the env var is set');
    });
  }

  const bad: [string, string][] = [
    ['empty', ''],
    ['a passphrase', 'correct horse battery staple'],
    ['16 bytes of base64', randomBytes(16).toString('base64')],
    ['33 bytes of hex', randomBytes(33).toString('hex')],
    ['31 bytes of hex', randomBytes(31).toString('hex')],
    ['hex with a non-hex character', 'g' + raw.toString('hex').slice(1)],
    ['base64 with a space inside', raw.toString('base64').slice(0, 20) + ' ' + raw.toString('base64').slice(20)],
  ];
  for (const [label, value] of bad) {
    test(`refuses ${label}, naming the variable and the format, without echoing the value`, () => {
      const msg = errorOf(() => loadMasterKey(tempDir(), { NIMBUS_MASTER_KEY: value }), 'BAD_REQUEST');
      assert.match(msg, /NIMBUS_MASTER_KEY/);
      assert.match(msg, /base64/);
      assert.match(msg, /hex/);
      if (value.trim().length >= 4) assert.ok(!msg.includes(value.trim()), 'the message must not echo the key');
    });
  }
});

describe('loadMasterKey from the key file', () => {
  test('creates <dataDir>/master-key with 32 random bytes, mode 0600, and reads the same key back', () => {
    const dir = tempDir();
    const first = loadMasterKey(dir, {});
    assert.equal(first.source, 'file');
    assert.equal(first.created, true);
    assert.equal(first.path, join(dir, MASTER_KEY_FILE));
    assert.equal(first.key.length, 32);
    if (posix) assert.equal(statSync(first.path!).mode & 0o777, 0o600);
    const second = loadMasterKey(dir, {});
    assert.equal(second.created, false);
    assert.deepEqual(second.key, first.key);
    assert.equal(second.keyId, first.keyId);
    // The file is text in a form NIMBUS_MASTER_KEY accepts, so a key can move from file to env.
    const fromEnv = loadMasterKey(tempDir(), { NIMBUS_MASTER_KEY: readFileSync(first.path!, 'utf8') });
    assert.equal(fromEnv.keyId, first.keyId);
    assert.notEqual(loadMasterKey(tempDir(), {}).keyId, first.keyId, 'each data dir gets its own key');
  });

  test('NIMBUS_MASTER_KEY wins over an existing key file', () => {
    const dir = tempDir();
    const file = loadMasterKey(dir, {});
    const env = newKey();
    const k = loadMasterKey(dir, { NIMBUS_MASTER_KEY: env.key.toString('hex') });
    assert.equal(k.source, 'env');
    assert.equal(k.keyId, env.keyId);
    assert.notEqual(k.keyId, file.keyId);
  });

  test('the creation leaves no temporary file behind', () => {
    const dir = tempDir();
    loadMasterKey(dir, {});
    assert.deepEqual(readdirSync(dir), [MASTER_KEY_FILE]);
  });

  test('servers starting together on a fresh data dir all end up with the same key', async () => {
    const dir = tempDir();
    const vault = new URL('./vault.ts', import.meta.url).href;
    const script = `import { loadMasterKey } from ${JSON.stringify(vault)}; const k = loadMasterKey(process.argv[1], {}); process.stdout.write(k.keyId + ' ' + k.created + '\\n');`;
    const runs = await Promise.all(Array.from({ length: 6 }, () => new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--input-type=module', '-e', script, dir], (err, stdout) => (err ? reject(err) : resolve(stdout.trim())));
    })));
    assert.equal(new Set(runs.map((r) => r.split(' ')[0])).size, 1, runs.join(', '));
    assert.equal(runs.filter((r) => r.endsWith('true')).length, 1, 'exactly one created the file');
    assert.deepEqual(readdirSync(dir), [MASTER_KEY_FILE]);
  });

  for (const mode of [0o644, 0o640, 0o604, 0o620, 0o660]) {
    test(`refuses a key file with mode ${mode.toString(8)}, saying how to fix it`, { skip: !posix && 'no POSIX modes' }, () => {
      const dir = tempDir();
      const path = join(dir, MASTER_KEY_FILE);
      writeFileSync(path, randomBytes(32).toString('base64') + '\n');
      chmodSync(path, mode);
      const msg = errorOf(() => loadMasterKey(dir, {}), 'BAD_REQUEST');
      assert.ok(msg.includes(`chmod 600 ${path}`), msg);
      assert.ok(msg.includes(mode.toString(8)), msg);
      chmodSync(path, 0o600);
      assert.equal(loadMasterKey(dir, {}).source, 'file', 'after chmod 600 it loads');
    });
  }

  test('accepts an owner-only read-only file (0400)', { skip: !posix && 'no POSIX modes' }, () => {
    const dir = tempDir();
    const path = join(dir, MASTER_KEY_FILE);
    const key = randomBytes(32);
    writeFileSync(path, key.toString('hex'), { mode: 0o400 });
    assert.deepEqual(loadMasterKey(dir, {}).key, key);
  });

  test('refuses a key file that holds no key, and never overwrites it', () => {
    const dir = tempDir();
    const path = join(dir, MASTER_KEY_FILE);
    writeFileSync(path, 'not a key\n', { mode: 0o600 });
    const msg = errorOf(() => loadMasterKey(dir, {}), 'BAD_REQUEST');
    assert.match(msg, /does not hold a master key/);
    assert.equal(readFileSync(path, 'utf8'), 'not a key\n');
  });

  test('a missing data dir is a clear error', () => {
    const msg = errorOf(() => loadMasterKey(join(tempDir(), 'absent'), {}), 'BAD_REQUEST');
    assert.match(msg, /cannot create the master key file/);
    assert.match(msg, /NIMBUS_MASTER_KEY/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('names and values', () => {
  test('the name rule', () => {
    for (const ok of ['A', '_', 'STRIPE_API_KEY', '_PRIVATE', 'K2', 'A'.repeat(128)]) {
      assert.ok(SECRET_NAME.test(ok), ok);
      validateSecretName(ok);
    }
    for (const bad of ['', 'a', 'stripe_key', '2FA', 'API-KEY', 'API.KEY', 'KEY ', 'A'.repeat(129), 'ÄPI', 'KEY\n']) {
      const msg = errorOf(() => validateSecretName(bad), 'BAD_REQUEST');
      assert.match(msg, /A-Z, 0-9 and "_"/);
      assert.match(msg, /environment variable/);
    }
  });

  test('the value rules, with messages that never quote the value', () => {
    validateSecretValue('x'.repeat(MAX_SECRET_VALUE_BYTES));
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['x'.repeat(MAX_SECRET_VALUE_BYTES + 1), /65537 bytes; the limit is 65536/],
      ['é'.repeat(MAX_SECRET_VALUE_BYTES / 2 + 1), /bytes; the limit/], // the limit is in UTF-8 bytes
      ['plugh\0value', /NUL/],
      ['plugh\ud800value', /unpaired surrogate/],
    ];
    for (const [value, why] of cases) {
      const msg = errorOf(() => validateSecretValue(value, 'API_KEY'), 'BAD_REQUEST');
      assert.match(msg, why);
      assert.match(msg, /API_KEY/);
      assert.ok(!msg.includes('plugh') && !msg.includes('xxxx') && !msg.includes('éé'), 'the value is not echoed');
    }
  });

  test('seal checks name and value', () => {
    const { key, keyId } = newKey();
    errorOf(() => seal(key, keyId, 'lower', 'value'), 'BAD_REQUEST');
    errorOf(() => seal(key, keyId, 'OK', ''), 'BAD_REQUEST');
  });
});

// ---------------------------------------------------------------------------------------------

describe('seal and open', () => {
  const k = newKey();
  const validValue = fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }).filter((s) => !s.includes('\0'));

  test('round trip over arbitrary Unicode strings', () => {
    fc.assert(fc.property(validValue, (value) => {
      assert.equal(open(k.key, k.keyId, 'NAME', seal(k.key, k.keyId, 'NAME', value)), value);
    }), { numRuns: 500 });
  });

  test('round trip at the size limit', () => {
    const value = '€'.repeat(Math.floor(MAX_SECRET_VALUE_BYTES / 3));
    assert.equal(open(k.key, k.keyId, 'BIG', seal(k.key, k.keyId, 'BIG', value)), value);
  });

  test('the format: v1.<keyId>.<nonce>.<ciphertext>.<tag>, a fresh nonce every time', () => {
    const a = seal(k.key, k.keyId, 'NAME', 'hunter22');
    const b = seal(k.key, k.keyId, 'NAME', 'hunter22');
    assert.match(a, /^v1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    const [version, keyId, nonce, ciphertext] = a.split('.');
    assert.equal(version, 'v1');
    assert.equal(keyId, k.keyId);
    assert.equal(Buffer.from(ciphertext!, 'base64url').length, 'hunter22'.length);
    assert.notEqual(a, b);
    assert.notEqual(nonce, b.split('.')[2]);
    assert.ok(!a.includes('hunter22') && !a.includes(Buffer.from('hunter22').toString('base64url')));
  });

  test('changing any single character is detected, and the error never shows the plaintext', () => {
    const plaintext = 'correct horse battery staple';
    const sealed = seal(k.key, k.keyId, 'NAME', plaintext);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=';
    for (let i = 0; i < sealed.length; i++) {
      for (const c of alphabet) {
        if (c === sealed[i]) continue;
        const changed = sealed.slice(0, i) + c + sealed.slice(i + 1);
        const msg = errorOf(() => open(k.key, k.keyId, 'NAME', changed), 'INTERNAL');
        assert.match(msg, /^cannot decrypt secret NAME: /);
        assert.ok(!msg.includes(plaintext) && !msg.includes('horse'));
      }
    }
  });

  test('flipping any bit of any decoded part is detected (property)', () => {
    const sealed = seal(k.key, k.keyId, 'NAME', 'a value worth protecting');
    const parts = sealed.split('.');
    fc.assert(fc.property(fc.integer({ min: 2, max: 4 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (part, at, bit) => {
      const bytes = Buffer.from(parts[part]!, 'base64url');
      bytes[at % bytes.length]! ^= 1 << bit;
      const changed = parts.with(part, bytes.toString('base64url')).join('.');
      const msg = errorOf(() => open(k.key, k.keyId, 'NAME', changed), 'INTERNAL');
      assert.match(msg, /fails authentication/);
    }), { numRuns: 300 });
  });

  test('truncation, extra parts and garbage are detected', () => {
    const sealed = seal(k.key, k.keyId, 'NAME', 'value');
    for (const bad of [sealed.slice(0, -1), sealed + '.', sealed + 'A', sealed.split('.').slice(0, 4).join('.'), '', 'plaintext', `${sealed}.extra`]) {
      errorOf(() => open(k.key, k.keyId, 'NAME', bad), 'INTERNAL');
    }
  });

  test('a different master key: the message says the key changed', () => {
    const sealed = seal(k.key, k.keyId, 'NAME', 'value');
    const other = newKey();
    const msg = errorOf(() => open(other.key, other.keyId, 'NAME', sealed), 'INTERNAL');
    assert.match(msg, /master key changed/);
    assert.ok(msg.includes(k.keyId) && msg.includes(other.keyId), 'names both keys');
    assert.match(msg, /NIMBUS_MASTER_KEY/);
  });

  test('a sealed value relabelled with the current key id still fails (the key id is authenticated)', () => {
    const other = newKey();
    const sealed = seal(other.key, other.keyId, 'NAME', 'value').replace(other.keyId, k.keyId);
    assert.match(errorOf(() => open(k.key, k.keyId, 'NAME', sealed), 'INTERNAL'), /fails authentication/);
  });

  test('a key and a key id that do not belong together are refused', () => {
    const other = newKey();
    errorOf(() => seal(k.key, other.keyId, 'NAME', 'value'), 'INTERNAL');
    errorOf(() => open(k.key, 'nonsense', 'NAME', seal(k.key, k.keyId, 'NAME', 'value')), 'INTERNAL');
    errorOf(() => seal(randomBytes(16), keyIdOf(randomBytes(16)), 'NAME', 'value'), 'INTERNAL');
  });

  test('the name is bound: a value moved to another name does not open', () => {
    const sealed = seal(k.key, k.keyId, 'DB_PASSWORD', 'value');
    assert.equal(open(k.key, k.keyId, 'DB_PASSWORD', sealed), 'value');
    const msg = errorOf(() => open(k.key, k.keyId, 'API_KEY', sealed), 'INTERNAL');
    assert.match(msg, /^cannot decrypt secret API_KEY: .*another name/);
  });

  test('versions: a newer format asks for an upgrade, anything else is not a sealed secret', () => {
    const sealed = seal(k.key, k.keyId, 'NAME', 'value');
    assert.match(errorOf(() => open(k.key, k.keyId, 'NAME', sealed.replace(/^v1/, 'v2')), 'INTERNAL'), /format v2.*reads only v1; upgrade Nimbus/);
    assert.match(errorOf(() => open(k.key, k.keyId, 'NAME', sealed.replace(/^v1/, 'x1')), 'INTERNAL'), /not a sealed secret/);
    assert.match(errorOf(() => open(k.key, k.keyId, 'NAME', sealed.slice(3)), 'INTERNAL'), /not a sealed secret/);
  });

  test('works with a key loaded from the data dir', () => {
    const m = loadMasterKey(tempDir(), {});
    assert.equal(open(m.key, m.keyId, 'TOKEN', seal(m.key, m.keyId, 'TOKEN', 'tok_123')), 'tok_123');
  });
});
