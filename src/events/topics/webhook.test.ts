// Webhook signatures: the documented test vector, sign/verify round trips (tampered body, wrong
// secret, stale and future timestamps, rotation, malformed headers), a real receiver on port 0
// verifying Node's req.headers and raw body, and the retry schedule against the documented figures.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { classifyResponse, retryDelayMs, retryDelays, signDelivery, verifyDelivery, WEBHOOK_RETRY } from './webhook.ts';

const SECRET = 'whsec_test';
const T_MS = 1_700_000_000_000;
const BODY = '{"hello":"world"}';
const VECTOR = 'f592bbf3951cfc94e560eecfb5d9dd4da6b0fff2e626235f8ab4b54860925d0b';

const reason = (r: ReturnType<typeof verifyDelivery>) => (r.ok ? 'ok' : r.reason);

describe('signDelivery', () => {
  it('produces the documented headers and test vector', () => {
    assert.deepEqual(signDelivery(SECRET, BODY, T_MS + 999, 'm-1'), {
      'X-Nimbus-Signature': `t=1700000000,v1=${VECTOR}`,
      'X-Nimbus-Timestamp': '1700000000',
      'X-Nimbus-Message-Id': 'm-1',
    });
    assert.match(readFileSync(new URL('./webhook.ts', import.meta.url), 'utf8'), new RegExp(`\`v1=${VECTOR}\``), 'the header comment quotes the same vector');
  });

  it('signs bytes: a string and its UTF-8 buffer sign alike', () => {
    const body = '{"name":"Zoë ☃"}';
    assert.deepEqual(signDelivery(SECRET, body, T_MS), signDelivery(SECRET, Buffer.from(body, 'utf8'), T_MS));
  });

  it('carries one v1 per secret while rotating', () => {
    assert.match(signDelivery(['old', 'new'], BODY, T_MS)['X-Nimbus-Signature']!, /^t=1700000000,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
  });

  it('refuses an empty secret', () => {
    assert.throws(() => signDelivery('', BODY, T_MS), TypeError);
    assert.throws(() => signDelivery([], BODY, T_MS), TypeError);
    assert.throws(() => signDelivery(SECRET, BODY, Number.NaN), TypeError);
  });
});

describe('verifyDelivery', () => {
  const headers = signDelivery(SECRET, BODY, T_MS, 'm-1');

  it('accepts the round trip, with the timestamp it was signed at', () => {
    assert.deepEqual(verifyDelivery(SECRET, headers, BODY, T_MS), { ok: true, timestampS: 1_700_000_000 });
    assert.equal(reason(verifyDelivery(SECRET, headers, Buffer.from(BODY), T_MS + 5000)), 'ok');
  });

  it('refuses a tampered body and a wrong secret', () => {
    assert.equal(reason(verifyDelivery(SECRET, headers, '{"hello":"world!"}', T_MS)), 'mismatch');
    assert.equal(reason(verifyDelivery(SECRET, headers, '{"hello": "world"}', T_MS)), 'mismatch', 're-serialised JSON does not verify');
    assert.equal(reason(verifyDelivery('whsec_other', headers, BODY, T_MS)), 'mismatch');
  });

  it('refuses a stale timestamp and a future one, past the tolerance either way', () => {
    assert.equal(reason(verifyDelivery(SECRET, headers, BODY, T_MS + 300_000)), 'ok');
    assert.equal(reason(verifyDelivery(SECRET, headers, BODY, T_MS + 301_000)), 'expired');
    assert.equal(reason(verifyDelivery(SECRET, headers, BODY, T_MS - 300_000)), 'ok');
    assert.equal(reason(verifyDelivery(SECRET, headers, BODY, T_MS - 301_000)), 'future');
    assert.equal(reason(verifyDelivery(SECRET, headers, BODY, T_MS + 61_000, 60)), 'expired');
  });

  it('refuses a signature whose t was changed to look fresh', () => {
    const moved = { ...headers, 'X-Nimbus-Signature': headers['X-Nimbus-Signature']!.replace('t=1700000000', 't=1700000600'), 'X-Nimbus-Timestamp': '1700000600' };
    assert.equal(reason(verifyDelivery(SECRET, moved, BODY, T_MS + 600_000)), 'mismatch');
  });

  it('accepts any of several secrets on either side (rotation)', () => {
    const rotating = signDelivery(['old', 'new'], BODY, T_MS);
    assert.equal(reason(verifyDelivery('old', rotating, BODY, T_MS)), 'ok');
    assert.equal(reason(verifyDelivery('new', rotating, BODY, T_MS)), 'ok');
    assert.equal(reason(verifyDelivery('other', rotating, BODY, T_MS)), 'mismatch');
    assert.equal(reason(verifyDelivery(['other', 'new'], signDelivery('new', BODY, T_MS), BODY, T_MS)), 'ok');
  });

  it('reads headers in any letter case, from a record or a fetch Headers', () => {
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    assert.equal(reason(verifyDelivery(SECRET, lower, BODY, T_MS)), 'ok');
    assert.equal(reason(verifyDelivery(SECRET, new Headers(headers), BODY, T_MS)), 'ok');
  });

  it('says what is wrong with a missing or malformed header', () => {
    const sig = (v: string | string[] | undefined) => reason(verifyDelivery(SECRET, { 'x-nimbus-signature': v }, BODY, T_MS));
    assert.equal(sig(undefined), 'missing');
    assert.equal(sig(''), 'missing');
    assert.equal(sig([headers['X-Nimbus-Signature']!, headers['X-Nimbus-Signature']!]), 'malformed');
    for (const bad of ['garbage', `v1=${VECTOR}`, 't=1700000000', `t=abc,v1=${VECTOR}`, `t=1,t=1700000000,v1=${VECTOR}`, 't=1700000000,v1=zz', `t=1700000000,v1=${VECTOR.toUpperCase()}`]) {
      assert.equal(sig(bad), 'malformed', bad);
    }
    assert.equal(sig(`t=1700000000,v0=abc,v1=${VECTOR}`), 'ok', 'unknown schemes are ignored');
    assert.equal(reason(verifyDelivery(SECRET, { ...headers, 'X-Nimbus-Timestamp': '1700000001' }, BODY, T_MS)), 'malformed');
  });

  it('round-trips any body and secret, and any one-character change breaks it', () => {
    fc.assert(fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), fc.nat(), fc.integer({ min: 0, max: 2 ** 40 }), (body, secret, at, ms) => {
      const h = signDelivery(secret, body, ms);
      assert.equal(reason(verifyDelivery(secret, h, body, ms)), 'ok');
      const i = at % body.length;
      const changed = body.slice(0, i) + (body[i] === 'a' ? 'b' : 'a') + body.slice(i + 1);
      assert.equal(reason(verifyDelivery(secret, h, changed, ms)), 'mismatch');
    }), { numRuns: 300 });
  });

  it('works in a receiver: Node\'s req.headers and the raw body', async () => {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = verifyDelivery(SECRET, req.headers, Buffer.concat(chunks), Date.now());
        res.writeHead(r.ok ? 204 : 401).end(r.ok ? undefined : r.reason);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const body = JSON.stringify({ Type: 'Notification', MessageId: 'm-1', Message: 'héllo' });
      const ok = await fetch(url, { method: 'POST', headers: signDelivery(SECRET, body, Date.now(), 'm-1'), body });
      assert.equal(ok.status, 204);
      const tampered = await fetch(url, { method: 'POST', headers: signDelivery(SECRET, body, Date.now(), 'm-1'), body: body.replace('héllo', 'hello') });
      assert.equal(tampered.status, 401);
      assert.equal(await tampered.text(), 'mismatch');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('retries', () => {
  const FIGURES_MS = [2000, 6000, 18_000, 54_000, 162_000, 486_000, 1_200_000, 1_200_000];
  const spoken = (ms: number) => {
    const s = ms / 1000;
    return s < 60 ? `${s} s` : s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  };

  it('waits the documented figures: at most the figure, at least half of it', () => {
    assert.deepEqual(retryDelays(() => 1), FIGURES_MS);
    assert.deepEqual(retryDelays(() => 0), FIGURES_MS.map((ms) => ms / 2));
    assert.equal(WEBHOOK_RETRY.retries, FIGURES_MS.length);
    fc.assert(fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 8 }), (r, n) => {
      const d = retryDelayMs(n, () => r);
      assert.ok(d >= FIGURES_MS[n - 1]! / 2 && d <= FIGURES_MS[n - 1]!, `${d}`);
    }));
  });

  it('the header comment documents the same schedule', () => {
    const doc = readFileSync(new URL('./webhook.ts', import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join(' ');
    const list = FIGURES_MS.map(spoken);
    assert.ok(doc.includes(`up to ${FIGURES_MS.length} times, after about ${list.slice(0, -1).join(', ')} and ${list.at(-1)}.`), `${list.join(', ')} not found in the doc`);
    const minutes = (r: number) => Math.floor(retryDelays(() => r).reduce((a, b) => a + b, 0) / 60_000);
    assert.ok(doc.includes(`the last retry comes ${minutes(0)} to ${minutes(1)} minutes after the first attempt`));
  });

  it('retries timeouts, failed connections, 408, 429 and 5xx; any 2xx is delivered; other answers fail for good', () => {
    const cases: Array<[number | undefined, ReturnType<typeof classifyResponse>]> = [
      [200, 'delivered'], [204, 'delivered'], [299, 'delivered'], [undefined, 'retry'], [408, 'retry'], [429, 'retry'], [500, 'retry'], [503, 'retry'], [599, 'retry'],
      [301, 'failed'], [400, 'failed'], [401, 'failed'], [404, 'failed'], [410, 'failed'], [100, 'failed'],
    ];
    for (const [status, want] of cases) assert.equal(classifyResponse(status), want, String(status));
  });
});
