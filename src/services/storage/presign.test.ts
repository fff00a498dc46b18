// Presigned URLs: the documented test vector, round trips through a real URL (odd keys), each
// reason a request is refused (tampering, wrong method, expiry, skew, content type, malformed
// parameters), the seven-day cap on both sides, secret rotation, and the gateway path helpers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isNimbusError } from '../../errors.ts';
import { objectKeyProblem } from './keys.ts';
import { assertPresigned, objectPath, parseObjectPath, presign, PRESIGN_MAX_EXPIRY_S, PRESIGN_PARAMS, verifyPresigned, type PresignInput, type VerifyInput } from './presign.ts';

const SECRET = 'presign_test';
const NOW = 1_700_000_000_000;
const VECTOR = '1779f7e74cfd42b5d365b5e89115721f8a32fdde22974f688286ca2882393a58';

const base: PresignInput = { secret: SECRET, method: 'GET', bucket: 'my-bucket', key: 'photos/cat 1.jpg', expiresAtMs: NOW + 3600_000, nowMs: NOW };

/** What a server sees: the URL parsed back, as the gateway would. */
function request(url: string, method: string, over: Partial<VerifyInput> = {}): VerifyInput {
  const u = new URL(url, 'http://127.0.0.1:8080');
  const target = parseObjectPath(u.pathname);
  assert.ok(target, `no object in ${u.pathname}`);
  return { secret: SECRET, method, bucket: target.bucket, key: target.key, query: u.searchParams, nowMs: NOW + 1000, ...over };
}
const reason = (r: ReturnType<typeof verifyPresigned>) => (r.ok ? 'ok' : r.reason);

describe('presign', () => {
  it('signs the documented test vector, and the header comment quotes it', () => {
    const p = presign(base);
    assert.equal(p.path, '/_nimbus/storage/my-bucket/photos/cat%201.jpg');
    assert.deepEqual(p.query, { 'X-Nimbus-Date': '1700000000', 'X-Nimbus-Expires': '3600', 'X-Nimbus-Signature': VECTOR });
    assert.equal(p.url, `${p.path}?X-Nimbus-Date=1700000000&X-Nimbus-Expires=3600&X-Nimbus-Signature=${VECTOR}`);
    assert.equal(p.expiresAtMs, NOW + 3600_000);
    assert.ok(readFileSync(new URL('./presign.ts', import.meta.url), 'utf8').includes(`X-Nimbus-Signature=${VECTOR}`));
  });

  it('refuses what it must not sign: expiry out of range, bad names, content type on GET, other methods', () => {
    const rule = (r: string) => (err: unknown) => isNimbusError(err) && err.code === ({ 'bucket-name': 'INVALID_BUCKET_NAME', 'object-key': 'INVALID_OBJECT_KEY' }[r.split('/')[0]!] ?? 'BAD_REQUEST') && err.details?.rule === r;
    assert.throws(() => presign({ ...base, expiresAtMs: NOW + (PRESIGN_MAX_EXPIRY_S + 1) * 1000 }), rule('presign/expiry'));
    assert.throws(() => presign({ ...base, expiresAtMs: NOW }), rule('presign/expiry'));
    assert.throws(() => presign({ ...base, expiresAtMs: NOW - 1 }), rule('presign/expiry'));
    assert.throws(() => presign({ ...base, expiresAtMs: Number.NaN }), rule('presign/expiry'));
    assert.equal(presign({ ...base, expiresAtMs: NOW + PRESIGN_MAX_EXPIRY_S * 1000 }).query['X-Nimbus-Expires'], '604800');
    assert.throws(() => presign({ ...base, bucket: 'Bad_Bucket' }), rule('bucket-name/characters'));
    assert.throws(() => presign({ ...base, key: '../etc/passwd' }), rule('object-key/dot-segment'));
    assert.throws(() => presign({ ...base, contentType: 'image/png' }), rule('presign/content-type'));
    assert.throws(() => presign({ ...base, method: 'PUT', contentType: 'a\nb' }), rule('presign/content-type'));
    assert.throws(() => presign({ ...base, method: 'DELETE' as 'GET' }), rule('presign/method'));
    assert.throws(() => presign({ ...base, secret: '' }), TypeError);
  });
});

describe('verifyPresigned', () => {
  it('accepts the URL it signed, for GET and HEAD, until it expires', () => {
    const { url } = presign(base);
    assert.deepEqual(verifyPresigned(request(url, 'GET')), { ok: true, method: 'GET', expiresAtMs: NOW + 3600_000 });
    assert.equal(reason(verifyPresigned(request(url, 'HEAD'))), 'ok');
    assert.equal(reason(verifyPresigned(request(url, 'GET', { nowMs: NOW + 3599_999 }))), 'ok');
    assert.equal(reason(verifyPresigned(request(url, 'GET', { nowMs: NOW + 3600_000 }))), 'expired');
  });

  it('binds the method: a GET URL does not upload, a PUT URL does not download', () => {
    const get = presign(base).url;
    const put = presign({ ...base, method: 'PUT' }).url;
    assert.equal(reason(verifyPresigned(request(get, 'PUT'))), 'method');
    assert.equal(reason(verifyPresigned(request(put, 'GET'))), 'method');
    assert.equal(reason(verifyPresigned(request(put, 'HEAD'))), 'method');
    assert.equal(reason(verifyPresigned(request(put, 'PUT'))), 'ok');
    assert.equal(reason(verifyPresigned(request(get, 'DELETE'))), 'method');
    assert.equal(reason(verifyPresigned(request(get, 'POST'))), 'method');
  });

  it('refuses another object, bucket, secret or tampered parameters', () => {
    const { url } = presign(base);
    assert.equal(reason(verifyPresigned(request(url, 'GET', { key: 'photos/cat 2.jpg' }))), 'mismatch');
    assert.equal(reason(verifyPresigned(request(url, 'GET', { bucket: 'other-bucket' }))), 'mismatch');
    assert.equal(reason(verifyPresigned(request(url, 'GET', { secret: 'another secret' }))), 'mismatch');
    const longer = new URL(url, 'http://x');
    longer.searchParams.set(PRESIGN_PARAMS.expires, '7200');
    assert.equal(reason(verifyPresigned(request(longer.pathname + longer.search, 'GET'))), 'mismatch');
    const earlier = new URL(url, 'http://x');
    earlier.searchParams.set(PRESIGN_PARAMS.date, '1700000001');
    assert.equal(reason(verifyPresigned(request(earlier.pathname + earlier.search, 'GET'))), 'mismatch');
    const typed = new URL(url, 'http://x');
    typed.searchParams.set(PRESIGN_PARAMS.contentType, 'text/html');
    assert.equal(reason(verifyPresigned(request(typed.pathname + typed.search, 'GET'))), 'mismatch');
    const flipped = new URL(url, 'http://x');
    const sig = flipped.searchParams.get(PRESIGN_PARAMS.signature)!;
    flipped.searchParams.set(PRESIGN_PARAMS.signature, (sig[0] === '0' ? '1' : '0') + sig.slice(1));
    assert.equal(reason(verifyPresigned(request(flipped.pathname + flipped.search, 'GET'))), 'mismatch');
  });

  it('allows 300 s of clock skew for a URL signed in the future, no more', () => {
    const ahead = presign({ ...base, nowMs: NOW + 200_000, expiresAtMs: NOW + 3600_000 }).url;
    assert.equal(reason(verifyPresigned(request(ahead, 'GET', { nowMs: NOW }))), 'ok');
    const farAhead = presign({ ...base, nowMs: NOW + 400_000, expiresAtMs: NOW + 3600_000 }).url;
    assert.equal(reason(verifyPresigned(request(farAhead, 'GET', { nowMs: NOW }))), 'not-yet-valid');
  });

  it('binds a PUT URL to its content type when asked', () => {
    const { url, query } = presign({ ...base, method: 'PUT', contentType: 'image/jpeg' });
    assert.equal(query[PRESIGN_PARAMS.contentType], 'image/jpeg');
    assert.equal(reason(verifyPresigned(request(url, 'PUT', { contentType: 'image/jpeg' }))), 'ok');
    assert.equal(reason(verifyPresigned(request(url, 'PUT', { contentType: 'text/html' }))), 'content-type');
    assert.equal(reason(verifyPresigned(request(url, 'PUT'))), 'content-type');
    const free = presign({ ...base, method: 'PUT' }).url;
    assert.equal(reason(verifyPresigned(request(free, 'PUT', { contentType: 'anything/at-all' }))), 'ok');
  });

  it('names what is missing or malformed, including an expiry past seven days', () => {
    const { query } = presign(base);
    const q = (over: Record<string, string | string[] | undefined>) => ({ ...query, ...over });
    const check = (query: VerifyInput['query']) => reason(verifyPresigned({ secret: SECRET, method: 'GET', bucket: base.bucket, key: base.key, query, nowMs: NOW }));
    assert.equal(check({}), 'missing');
    assert.equal(check(q({ [PRESIGN_PARAMS.signature]: undefined })), 'missing');
    assert.equal(check(q({ [PRESIGN_PARAMS.signature]: 'XYZ' })), 'malformed');
    assert.equal(check(q({ [PRESIGN_PARAMS.signature]: VECTOR.toUpperCase() })), 'malformed');
    assert.equal(check(q({ [PRESIGN_PARAMS.date]: '-5' })), 'malformed');
    assert.equal(check(q({ [PRESIGN_PARAMS.expires]: '0' })), 'malformed');
    assert.equal(check(q({ [PRESIGN_PARAMS.expires]: String(PRESIGN_MAX_EXPIRY_S + 1) })), 'malformed');
    assert.equal(check(q({ [PRESIGN_PARAMS.date]: ['1700000000', '1700000000'] })), 'malformed');
    const dup = new URLSearchParams(query);
    dup.append(PRESIGN_PARAMS.signature, VECTOR);
    assert.equal(check(dup), 'malformed');
    assert.equal(check(query), 'ok', 'a plain record works as well as URLSearchParams');
  });

  it('verifies with any of several secrets while one is rotated out', () => {
    const { url } = presign({ ...base, secret: 'old' });
    assert.equal(reason(verifyPresigned(request(url, 'GET', { secret: ['new', 'old'] }))), 'ok');
    assert.equal(reason(verifyPresigned(request(url, 'GET', { secret: ['new'] }))), 'mismatch');
    assert.equal(reason(verifyPresigned(request(url, 'GET', { secret: [] }))), 'mismatch');
  });

  it('assertPresigned throws PRESIGNED_URL_INVALID with the reason', () => {
    const { url } = presign(base);
    assert.throws(() => assertPresigned(request(url, 'GET', { nowMs: NOW + 7200_000 })), (err) => isNimbusError(err) && err.code === 'PRESIGNED_URL_INVALID' && err.status === 403 && err.details?.rule === 'presign/expired' && /expired/.test(err.message));
    assert.deepEqual(assertPresigned(request(url, 'GET')), { method: 'GET', expiresAtMs: NOW + 3600_000 });
  });

  it('round-trips any valid key through a real URL (property)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), fc.constantFrom<'GET' | 'PUT'>('GET', 'PUT'), (key, method) => {
      fc.pre(objectKeyProblem(key) === undefined);
      const { url } = presign({ ...base, key, method });
      const u = new URL(url, 'http://127.0.0.1:8080'); // what a client's URL parser does to the path
      assert.deepEqual(parseObjectPath(u.pathname), { bucket: base.bucket, key });
      assert.equal(reason(verifyPresigned(request(url, method))), 'ok');
    }), { numRuns: 1000 });
  });
});

describe('object paths', () => {
  it('keeps "/" and encodes the rest of the key', () => {
    assert.equal(objectPath('b-1', 'a b/c?d#e%f+g/ü'), '/_nimbus/storage/b-1/a%20b/c%3Fd%23e%25f%2Bg/%C3%BC');
    assert.deepEqual(parseObjectPath('/_nimbus/storage/b-1/a%20b/c%3Fd%23e%25f%2Bg/%C3%BC'), { bucket: 'b-1', key: 'a b/c?d#e%f+g/ü' });
    assert.deepEqual(parseObjectPath('/_nimbus/storage/b-1//lead'), { bucket: 'b-1', key: '/lead' });
  });

  it('names no object for other paths', () => {
    for (const p of ['/other/b/k', '/_nimbus/storage/', '/_nimbus/storage/bucket', '/_nimbus/storage/bucket/', '/_nimbus/storage//key', '/_nimbus/storage/b/%E0%A4%A']) {
      assert.equal(parseObjectPath(p), undefined, p);
    }
  });
});
