// Tests for redact.ts: tables of what is and is not redacted, the encoded forms, and properties:
// no secret (4+ characters) survives, text without secrets is left as it was.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MIN_REDACT_LENGTH, REDACTED, Redactor, secretForms } from './redact.ts';

const redact = (secrets: string[], text: string): string => new Redactor(secrets).redact(text);

describe('Redactor: tables', () => {
  const cases: { name: string; secrets: string[]; text: string; want: string }[] = [
    { name: 'one occurrence', secrets: ['hunter22'], text: 'password is hunter22.', want: 'password is ***.' },
    { name: 'every occurrence', secrets: ['hunter22'], text: 'hunter22 hunter22hunter22', want: '*** ******' },
    { name: 'no secret in the text', secrets: ['hunter22'], text: 'nothing to see', want: 'nothing to see' },
    { name: 'empty text', secrets: ['hunter22'], text: '', want: '' },
    { name: 'no secrets at all', secrets: [], text: 'hunter22', want: 'hunter22' },
    { name: 'short values are ignored', secrets: ['abc', 'on', 'x'], text: 'abc on x', want: 'abc on x' },
    { name: 'exactly four characters count', secrets: ['abcd'], text: 'xabcdx', want: 'x***x' },
    { name: 'four code points, even if astral', secrets: ['🔑🔑🔑🔑'], text: 'k=🔑🔑🔑🔑', want: 'k=***' },
    { name: 'three astral code points are short', secrets: ['🔑🔑🔑'], text: 'k=🔑🔑🔑', want: 'k=🔑🔑🔑' },
    { name: 'a secret inside another: the longer wins', secrets: ['pass', 'password123'], text: 'password123 pass', want: '*** ***' },
    { name: 'overlapping secrets become one mask (nothing of either remains)', secrets: ['abcdef', 'defghi'], text: '<abcdefghi>', want: '<***>' },
    { name: 'overlap in either order', secrets: ['defghi', 'abcdef'], text: 'abcdefghi', want: '***' },
    { name: 'a chain of overlaps', secrets: ['aaab', 'abbb', 'bbbc'], text: 'aaabbbc!', want: '***!' },
    { name: 'self-overlapping occurrences', secrets: ['abab'], text: 'ababab', want: '***' },
    { name: 'adjacent secrets stay two masks', secrets: ['AAAA', 'BBBB'], text: 'AAAABBBB', want: '******' },
    { name: 'a match that exists only after replacing', secrets: ['inner', 'x***yz'], text: 'xinneryz', want: '***' },
    { name: 'unicode values', secrets: ['pässwörd'], text: 'pw=pässwörd', want: 'pw=***' },
    { name: 'duplicate secrets', secrets: ['hunter22', 'hunter22'], text: 'hunter22', want: '***' },
    // JSON: logs carry JSON.stringify'd objects, where quotes and backslashes are escaped.
    { name: 'JSON-escaped', secrets: ['pa"ss\\word'], text: JSON.stringify({ password: 'pa"ss\\word' }), want: '{"password":"***"}' },
    { name: 'JSON-escaped twice', secrets: ['pa"ss'], text: JSON.stringify({ body: JSON.stringify({ p: 'pa"ss' }) }), want: '{"body":"{\\"p\\":\\"***\\"}"}' },
    { name: 'JSON-escaped newline', secrets: ['line1\nline2'], text: JSON.stringify(['line1\nline2']), want: '["***"]' },
    { name: 'trailing newline from stdin', secrets: ['tok_abc123\n'], text: 'token tok_abc123 used', want: 'token *** used' },
    { name: 'each line of a multi-line value', secrets: ['-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----\n'], text: 'line: MIIEvQIBADANBg', want: 'line: ***' },
    // Encoded forms.
    { name: 'base64', secrets: ['hunter22'], text: `b64 ${Buffer.from('hunter22').toString('base64')}`, want: 'b64 ***' },
    { name: 'URL-encoded', secrets: ['p@ss:w/rd'], text: `postgres://app:${encodeURIComponent('p@ss:w/rd')}@db/x`, want: 'postgres://app:***@db/x' },
    { name: 'form-encoded', secrets: ['two words!'], text: `q=${new URLSearchParams({ a: 'two words!' }).toString().slice(2)}&x=1`, want: 'q=***&x=1' },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(redact(c.secrets, c.text), c.want));
  }

  test('Basic auth: the password is masked at any byte alignment', () => {
    const password = 'S3cr3t-Pa55';
    for (const user of ['a', 'ab', 'abc', 'user', 'admin']) {
      const header = `Authorization: Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      const out = redact([password], header);
      assert.ok(out.includes(REDACTED), `${user}: ${out}`);
      // Whatever is left cannot decode back to the password.
      assert.ok(!Buffer.from(out.slice('Authorization: Basic '.length).replace(/\*+/g, ''), 'base64').toString('latin1').includes('Pa55'));
    }
    // The URL alphabet too.
    const url = Buffer.from(`x:${password}??>>`).toString('base64url');
    assert.ok(redact([password], url).includes(REDACTED));
  });

  test('the same instance redacts many lines', () => {
    const r = new Redactor(['alpha-secret', 'beta-secret']);
    assert.equal(r.redact('alpha-secret'), '***');
    assert.equal(r.redact('beta-secret and alpha-secret'), '*** and ***');
    assert.equal(r.redact('clean'), 'clean');
  });

  test('many secrets and a long line', () => {
    const secrets = Array.from({ length: 2000 }, (_, i) => `sk_live_${i.toString(36).padStart(4, '0')}_${'x'.repeat(i % 7)}Q`);
    const r = new Redactor(secrets);
    const pieces: string[] = [];
    const want: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const s = secrets[(i * 7919) % secrets.length]!;
      pieces.push(`entry ${i} uses `, s, '; ');
      want.push(`entry ${i} uses `, REDACTED, '; ');
    }
    const line = pieces.join('');
    const started = performance.now();
    const out = r.redact(line);
    const elapsedMs = performance.now() - started;
    assert.equal(out, want.join(''));
    assert.ok(elapsedMs < 1000, `took ${elapsedMs} ms for ${line.length} characters`);
  });

  test('the forms of a value', () => {
    assert.deepEqual(secretForms('abc'), []);
    const forms = secretForms('p@ss "w"');
    for (const f of ['p@ss "w"', 'p@ss \\"w\\"', 'p%40ss%20%22w%22', 'p%40ss+%22w%22', Buffer.from('p@ss "w"').toString('base64')]) {
      assert.ok(forms.includes(f), `missing ${f} in ${JSON.stringify(forms)}`);
    }
    for (const f of forms) assert.ok([...f].length >= MIN_REDACT_LENGTH, f);
  });
});

// ---------------------------------------------------------------------------------------------

describe('Redactor: properties', () => {
  // A small alphabet makes secrets overlap and recur; it includes the mask and JSON's escapes.
  const char = fc.constantFrom('a', 'b', 'c', '*', '"', '\\', '\n', 'é', '🔑');
  const secret = fc.string({ unit: char, minLength: 1, maxLength: 8 });

  test('no secret of 4+ characters survives, raw or JSON-escaped', () => {
    fc.assert(fc.property(fc.array(secret, { minLength: 1, maxLength: 6 }), fc.array(fc.oneof(secret, fc.string({ unit: char, maxLength: 6 })), { maxLength: 12 }), (secrets, pieces) => {
      const text = pieces.join('') + secrets.join('') + JSON.stringify(secrets);
      const out = new Redactor(secrets).redact(text);
      for (const s of secrets) {
        if ([...s].length < MIN_REDACT_LENGTH) continue;
        assert.ok(!out.includes(s), `${JSON.stringify(s)} survives in ${JSON.stringify(out)}`);
        assert.ok(!out.includes(JSON.stringify(s).slice(1, -1)));
      }
    }), { numRuns: 2000 });
  });

  test('text holding none of the forms is returned unchanged', () => {
    const plain = fc.string({ unit: fc.constantFrom('x', 'y', 'z', ' ', '.'), maxLength: 200 });
    fc.assert(fc.property(fc.array(fc.string({ unit: fc.constantFrom('a', 'b', 'c'), minLength: 4, maxLength: 10 }), { maxLength: 10 }), plain, (secrets, text) => {
      assert.equal(new Redactor(secrets).redact(text), text);
    }));
  });

  test('only secrets are masked: every filler character survives, in order', () => {
    // Secrets over {a,b}, filler over {x,y}: no mask can swallow a filler character.
    const filler = fc.string({ unit: fc.constantFrom('x', 'y'), maxLength: 5 });
    const sec = fc.string({ unit: fc.constantFrom('a', 'b'), minLength: 4, maxLength: 8 });
    fc.assert(fc.property(fc.array(sec, { minLength: 1, maxLength: 4 }), fc.array(fc.tuple(filler, fc.nat()), { maxLength: 10 }), (secrets, parts) => {
      const text = parts.map(([f, i]) => f + secrets[i % secrets.length]).join('');
      const out = new Redactor(secrets).redact(text);
      assert.equal(out.replace(/[^xy]/g, ''), text.replace(/[^xy]/g, ''));
      for (const s of secrets) assert.ok(!out.includes(s));
    }));
  });
});
