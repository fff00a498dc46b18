// Bucket names and object keys: each rule with a name that breaks it and names that pass, errors
// that name the rule, and compareKeys against UTF-8 byte order (property).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isNimbusError } from '../../errors.ts';
import { assertBucketName, assertObjectKey, bucketNameProblem, compareKeys, objectKeyProblem } from './keys.ts';

describe('bucket names', () => {
  it('accepts names S3 accepts', () => {
    for (const name of ['abc', 'my-bucket', 'my.bucket.example', 'a1b2', '123', 'x'.repeat(63), 'logs-2026.01', '1.2.3', '1.2.3.4.5']) {
      assert.equal(bucketNameProblem(name), undefined, name);
    }
  });

  it('names the rule a name breaks', () => {
    const cases: Array<[string, string]> = [
      ['ab', 'length'], ['x'.repeat(64), 'length'], ['', 'length'],
      ['My-Bucket', 'characters'], ['my_bucket', 'characters'], ['my bucket', 'characters'], ['bück', 'characters'], ['a/b', 'characters'],
      ['-abc', 'start-end'], ['abc-', 'start-end'], ['.abc', 'start-end'], ['abc.', 'start-end'],
      ['my..bucket', 'adjacent-periods'],
      ['my-.bucket', 'label'], ['my.-bucket', 'label'],
      ['192.168.5.4', 'ip-address'], ['999.1.1.1', 'ip-address'],
      ['xn--bucket', 'reserved-prefix'], ['sthree-x', 'reserved-prefix'], ['amzn-s3-demo-x', 'reserved-prefix'],
      ['data-s3alias', 'reserved-suffix'], ['data--ol-s3', 'reserved-suffix'], ['data.mrap', 'reserved-suffix'], ['data--x-s3', 'reserved-suffix'], ['data--table-s3', 'reserved-suffix'],
    ];
    for (const [name, rule] of cases) assert.equal(bucketNameProblem(name)?.rule, rule, name);
  });

  it('throws INVALID_BUCKET_NAME with the rule and the name in the message', () => {
    assert.throws(() => assertBucketName('My_Bucket'), (err) => {
      assert.ok(isNimbusError(err));
      assert.equal(err.code, 'INVALID_BUCKET_NAME');
      assert.deepEqual(err.details, { rule: 'bucket-name/characters' });
      assert.match(err.message, /"My_Bucket".*lower-case letters, digits/);
      return true;
    });
    assertBucketName('fine-bucket');
  });
});

describe('object keys', () => {
  it('accepts what S3 accepts, apart from the documented exceptions', () => {
    for (const key of ['a', 'photos/2026/cat.jpg', '/leading', 'trailing/', 'a//b', 'spaces and +plus', 'ünïcödé/日本語/🦄', '...', '.hidden', 'a/.../b', 'x'.repeat(1024), 'é'.repeat(512), "!-_.*'()&$@=;:+ ,?"]) {
      assert.equal(objectKeyProblem(key), undefined, key);
    }
  });

  it('measures the length in UTF-8 bytes', () => {
    assert.equal(objectKeyProblem('x'.repeat(1025))?.rule, 'too-long');
    assert.equal(objectKeyProblem('é'.repeat(513))?.rule, 'too-long'); // 513 characters, 1026 bytes
    assert.equal(objectKeyProblem('🦄'.repeat(257))?.rule, 'too-long'); // 4 bytes each
    assert.match(objectKeyProblem('é'.repeat(513))!.message, /1026 bytes/);
  });

  it('refuses empty keys, lone surrogates, control characters and dot segments', () => {
    const cases: Array<[string, string]> = [
      ['', 'empty'],
      ['a\uD800b', 'not-well-formed'], ['\uDC00', 'not-well-formed'],
      ['a\u0000b', 'control-character'], ['line\nbreak', 'control-character'], ['tab\t', 'control-character'], ['del\u007f', 'control-character'], ['c1\u0085', 'control-character'],
      ['..', 'dot-segment'], ['.', 'dot-segment'], ['../etc/passwd', 'dot-segment'], ['a/../../b', 'dot-segment'], ['a/./b', 'dot-segment'], ['a/..', 'dot-segment'],
      ['..\\windows', 'dot-segment'], ['a\\.\\b', 'dot-segment'],
    ];
    for (const [key, rule] of cases) assert.equal(objectKeyProblem(key)?.rule, rule, JSON.stringify(key));
    assert.match(objectKeyProblem('a\u0000b')!.message, /U\+0000 at index 1/);
  });

  it('throws INVALID_OBJECT_KEY naming the rule', () => {
    assert.throws(() => assertObjectKey('../x'), (err) => isNimbusError(err) && err.code === 'INVALID_OBJECT_KEY' && err.details?.rule === 'object-key/dot-segment');
  });
});

describe('compareKeys', () => {
  it('orders by UTF-8 bytes, where JavaScript\'s < differs', () => {
    // U+FF61 is 3 bytes (EF BD A1), U+1F984 is 4 bytes (F0 9F A6 84): bytes put the emoji last,
    // UTF-16 code units (FF61 vs D83E) put it first.
    assert.ok('🦄' < '｡');
    assert.ok(compareKeys('🦄', '｡') > 0);
    assert.ok(compareKeys('a', 'ab') < 0);
    assert.equal(compareKeys('same', 'same'), 0);
  });

  it('agrees with Buffer.compare of the UTF-8 bytes (property)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
      assert.equal(Math.sign(compareKeys(a, b)), Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
    }), { numRuns: 2000 });
  });
});
