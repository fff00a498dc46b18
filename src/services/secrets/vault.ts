// Secrets at rest: where the master key comes from (NIMBUS_MASTER_KEY, else a 0600 key file in the
// data dir), sealing and opening values with AES-256-GCM, and the rules for names and values.
// Nothing here logs, and no error message ever carries a secret value or key material.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NimbusError } from '../../errors.ts';

export const MASTER_KEY_ENV = 'NIMBUS_MASTER_KEY';
export const MASTER_KEY_FILE = 'master-key';
export const MASTER_KEY_BYTES = 32;
/** Secrets become environment variables, so their names follow the portable env-var rule. */
export const SECRET_NAME = /^[A-Z_][A-Z0-9_]{0,127}$/;
/** 64 KB keeps a secret far under Linux's 128 KB limit for one environment string. */
export const MAX_SECRET_VALUE_BYTES = 64 * 1024;
export const SEALED_VERSION = 'v1';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[0-9a-f]{16}$/;
const KEY_FORMAT = `32 random bytes written as base64 (44 characters; \`openssl rand -base64 32\`) or hex (64 characters; \`openssl rand -hex 32\`)`;

export type MasterKey = {
  key: Buffer;
  source: 'env' | 'file';
  /** Short fingerprint stored beside each sealed value, so a changed key is named as such. */
  keyId: string;
  /** The key file, when source is 'file'. */
  path?: string;
  /** True when this call generated the key file: the server should say so and ask for a backup. */
  created: boolean;
};

// ---------------------------------------------------------------------------------------------
// Names and values

export function validateSecretName(name: string): void {
  if (typeof name === 'string' && SECRET_NAME.test(name)) return;
  const shown = typeof name === 'string' ? JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name) : typeof name;
  throw new NimbusError('BAD_REQUEST', `secret name ${shown} is not valid: use 1 to 128 characters from A-Z, 0-9 and "_", not starting with a digit (a secret becomes an environment variable), e.g. STRIPE_API_KEY`);
}

/** Checks a value before sealing; the messages describe the value, never quote it. */
export function validateSecretValue(value: string, name?: string): void {
  const bad = (why: string): never => { throw new NimbusError('BAD_REQUEST', `${name === undefined ? 'secret value' : `secret ${name}`}: ${why}`); };
  if (typeof value !== 'string') bad('the value must be a string');
  // An empty value is nearly always a pipe that delivered nothing (an unset shell variable).
  if (value.length === 0) bad('the value is empty; pass it on stdin, e.g. `printf %s "$VALUE" | nimbus secrets set NAME`');
  // Environment strings end at the first NUL, so such a value could not be delivered intact.
  if (value.includes('\0')) bad('the value contains a NUL character, which an environment variable cannot hold');
  // Lone surrogates would be replaced by U+FFFD when encoded, so the secret would not round-trip.
  if (!value.isWellFormed()) bad('the value is not valid Unicode (it has an unpaired surrogate)');
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_SECRET_VALUE_BYTES) bad(`the value is ${bytes} bytes; the limit is ${MAX_SECRET_VALUE_BYTES} bytes (64 KB)`);
}

// ---------------------------------------------------------------------------------------------
// The master key

/** A key as base64 (standard or URL alphabet, padding optional) or hex; undefined if neither. */
function parseKey(text: string): Buffer | undefined {
  const s = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(s)) return Buffer.from(s, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(s)) {
    const key = Buffer.from(s, 'base64');
    if (key.length === MASTER_KEY_BYTES) return key;
  }
  return undefined;
}

/** Domain-separated, so the fingerprint is never the hash of the key alone. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update('nimbus master key id\0').update(key).digest('hex').slice(0, 16);
}

/**
 * The master key: NIMBUS_MASTER_KEY when set (even set empty: an empty value is a broken deploy, and
 * quietly falling back to a different key would seal new secrets under it), else `<dataDir>/master-key`,
 * created on first use. The file is text (base64), so it can be moved into NIMBUS_MASTER_KEY as is.
 */
export function loadMasterKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): MasterKey {
  const fromEnv = env[MASTER_KEY_ENV];
  if (fromEnv !== undefined) {
    const key = parseKey(fromEnv);
    if (!key) throw new NimbusError('BAD_REQUEST', `${MASTER_KEY_ENV} is not a valid master key (it has ${fromEnv.trim().length} characters): it must be ${KEY_FORMAT}`);
    return { key, source: 'env', keyId: keyIdOf(key), created: false };
  }
  const path = join(dataDir, MASTER_KEY_FILE);
  const created = createKeyFileIfAbsent(path);
  const key = readKeyFile(path);
  return { key, source: 'file', keyId: keyIdOf(key), path, created };
}

function readKeyFile(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new NimbusError('BAD_REQUEST', `cannot read the master key file ${path} (${(err as NodeJS.ErrnoException).code}); fix its ownership, or set ${MASTER_KEY_ENV}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new NimbusError('BAD_REQUEST', `the master key file ${path} is not a regular file`);
    // Other users must neither read the key nor replace it (a swapped key would seal new secrets
    // under a key they hold). Windows has no such mode bits.
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new NimbusError('BAD_REQUEST', `the master key file ${path} has mode ${mode}, so other users can access it; refusing to use it. Run \`chmod 600 ${path}\` (and check who could have read it)`);
    }
    const key = parseKey(readFileSync(fd, 'utf8'));
    if (!key) throw new NimbusError('BAD_REQUEST', `the master key file ${path} does not hold a master key (${KEY_FORMAT}); restore it from a backup: secrets sealed with the original key cannot be opened without it`);
    return key;
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a fresh key to a temporary file, flushes it, then hard-links it into place: the key file
 * either does not exist or is complete, and two servers starting together cannot both create one
 * (the loser reads the winner's key). Returns whether this call created it.
 */
function createKeyFileIfAbsent(path: string): boolean {
  if (existsSync(path)) return false;
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o600);
  } catch (err) {
    throw new NimbusError('BAD_REQUEST', `cannot create the master key file in ${dirname(path)} (${(err as NodeJS.ErrnoException).code}); create the data dir, or set ${MASTER_KEY_ENV}`, { cause: err });
  }
  try {
    try {
      writeSync(fd, randomBytes(MASTER_KEY_BYTES).toString('base64') + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(tmp, path);
    syncDir(dirname(path));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new NimbusError('BAD_REQUEST', `cannot create the master key file ${path} (${(err as NodeJS.ErrnoException).code}); set ${MASTER_KEY_ENV} instead`, { cause: err });
  } finally {
    unlinkSync(tmp);
  }
}

/** Makes the new directory entry durable: losing the key file loses every secret. */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch { /* not supported on every platform; the file itself is already flushed */ }
}

// ---------------------------------------------------------------------------------------------
// Sealing

/**
 * A per-purpose key derived from the master key, so the master key can later serve other uses
 * (signing, other stores) without two uses ever sharing an AES key. Part of format v1.
 */
function sealingKey(key: Buffer, keyId: string): Buffer {
  if (!Buffer.isBuffer(key) || key.length !== MASTER_KEY_BYTES) throw new NimbusError('INTERNAL', `the master key must be ${MASTER_KEY_BYTES} bytes`);
  if (!KEY_ID.test(keyId) || keyIdOf(key) !== keyId) throw new NimbusError('INTERNAL', 'the key id does not belong to this master key');
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'nimbus/secrets/aes-256-gcm/v1', 32));
}

/** Authenticated with the ciphertext: moving a sealed value to another name, key id or version fails. */
const aad = (keyId: string, name: string): Buffer => Buffer.from(`nimbus-secret\0${SEALED_VERSION}\0${keyId}\0${name}`, 'utf8');

/** `v1.<keyId>.<nonce>.<ciphertext>.<tag>`, the last three base64url; a fresh random nonce each time. */
export function seal(key: Buffer, keyId: string, name: string, plaintext: string): string {
  validateSecretName(name);
  validateSecretValue(plaintext, name);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(key, keyId), nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(keyId, name));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [SEALED_VERSION, keyId, nonce.toString('base64url'), ciphertext.toString('base64url'), tag.toString('base64url')].join('.');
}

export function open(key: Buffer, keyId: string, name: string, sealed: string): string {
  validateSecretName(name);
  const fail = (why: string): never => { throw new NimbusError('INTERNAL', `cannot decrypt secret ${name}: ${why}`); };
  const parts = typeof sealed === 'string' ? sealed.split('.') : [];
  if (parts[0] !== SEALED_VERSION) {
    if (/^v\d+$/.test(parts[0] ?? '')) fail(`it is stored in format ${parts[0]}, and this version of Nimbus reads only ${SEALED_VERSION}; upgrade Nimbus`);
    fail(`the stored value is not a sealed secret (expected ${SEALED_VERSION}.<keyId>.<nonce>.<ciphertext>.<tag>)`);
  }
  if (parts.length !== 5) fail('the stored value is malformed (it was altered or truncated); set the secret again');
  const [, sealedKeyId, nonceText, ciphertextText, tagText] = parts as [string, string, string, string, string];
  const derived = sealingKey(key, keyId);
  if (sealedKeyId !== keyId) {
    fail(`it was sealed with master key ${JSON.stringify(sealedKeyId.slice(0, 32))}, and the current master key is "${keyId}": the master key changed. Restore the previous key (${MASTER_KEY_ENV} or <data dir>/${MASTER_KEY_FILE}), or set the secret again`);
  }
  const nonce = decodeExact(nonceText);
  const ciphertext = decodeExact(ciphertextText);
  const tag = decodeExact(tagText);
  if (!nonce || nonce.length !== NONCE_BYTES || !ciphertext || !tag || tag.length !== TAG_BYTES) {
    fail('the stored value is malformed (it was altered or truncated); set the secret again');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', derived, nonce!, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(keyId, name));
    decipher.setAuthTag(tag!);
    return Buffer.concat([decipher.update(ciphertext!), decipher.final()]).toString('utf8');
  } catch {
    // Same key id, so the key itself is right: the bytes were changed, or sealed for another name.
    return fail('the stored value fails authentication: it was altered or corrupted, or sealed under another name, or the master key changed; set the secret again');
  }
}

/**
 * Strict base64url: Node's decoder ignores stray characters and the spare low bits of the last
 * character, so a changed character could decode to the same bytes. Re-encoding must give the input.
 */
function decodeExact(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}
