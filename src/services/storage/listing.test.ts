// ListObjectsV2 over sorted keys: S3's documented examples, pagination with continuation tokens
// (common prefixes at page boundaries, token misuse), max-keys edge cases, start-after, stores that
// list out of order, early close of a cursor, the jump over a rolled-up prefix, and a property: for
// random keys and parameters, walking every page in either source mode gives the reference listing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isNimbusError } from '../../errors.ts';
import { compareKeys } from './keys.ts';
import { listObjects, prefixEnd, type ListParams, type PageSource } from './listing.ts';

const sorted = (keys: Iterable<string>): string[] => [...new Set(keys)].sort(compareKeys);

/** A PageSource over a sorted array, as a store's indexed range query would answer; counts rows. */
function pager(keys: string[], stats = { queries: 0, rows: 0 }): PageSource<{ key: string }> {
  const firstAbove = (bound: string, inclusive: boolean): number => {
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = compareKeys(keys[mid]!, bound);
      if (c < 0 || (c === 0 && !inclusive)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return ({ prefix, after, limit }) => {
    stats.queries++;
    let i = Math.max(firstAbove(prefix, true), after === undefined ? 0 : firstAbove(after, false));
    const end = prefixEnd(prefix);
    const out: { key: string }[] = [];
    for (; i < keys.length && out.length < limit; i++) {
      if (end !== undefined && compareKeys(keys[i]!, end) >= 0) break;
      out.push({ key: keys[i]! });
    }
    stats.rows += out.length;
    return out;
  };
}

/** Every page of a listing, following continuation tokens. */
async function walk(source: () => Parameters<typeof listObjects>[0], params: ListParams) {
  const pages = [];
  let token: string | undefined;
  for (let n = 0; n < 10_000; n++) {
    const page = await listObjects(source(), { ...params, continuationToken: token });
    pages.push(page);
    if (!page.isTruncated) return pages;
    assert.ok(page.nextContinuationToken);
    token = page.nextContinuationToken;
  }
  throw new Error('the listing never ended');
}

const keysOf = (contents: Array<string | { key: string }>) => contents.map((c) => (typeof c === 'string' ? c : c.key));

// The example from S3's ListObjectsV2 documentation.
const S3_EXAMPLE = sorted(['sample.jpg', 'photos/2006/January/sample.jpg', 'photos/2006/February/sample2.jpg', 'photos/2006/February/sample3.jpg', 'photos/2006/February/sample4.jpg']);

describe('listObjects', () => {
  it('lists everything in key order without a delimiter', async () => {
    const page = await listObjects(S3_EXAMPLE, {});
    assert.deepEqual(page.contents, S3_EXAMPLE);
    assert.deepEqual(page.commonPrefixes, []);
    assert.equal(page.keyCount, 5);
    assert.equal(page.isTruncated, false);
    assert.equal(page.nextContinuationToken, undefined);
    assert.equal(page.maxKeys, 1000);
  });

  it('rolls keys up to the delimiter into common prefixes (S3\'s documented example)', async () => {
    const top = await listObjects(S3_EXAMPLE, { delimiter: '/' });
    assert.deepEqual(top.contents, ['sample.jpg']);
    assert.deepEqual(top.commonPrefixes, ['photos/']);
    assert.equal(top.keyCount, 2);
    const year = await listObjects(S3_EXAMPLE, { prefix: 'photos/2006/', delimiter: '/' });
    assert.deepEqual(year.contents, []);
    assert.deepEqual(year.commonPrefixes, ['photos/2006/February/', 'photos/2006/January/']);
    const feb = await listObjects(S3_EXAMPLE, { prefix: 'photos/2006/Feb' });
    assert.deepEqual(feb.contents, ['photos/2006/February/sample2.jpg', 'photos/2006/February/sample3.jpg', 'photos/2006/February/sample4.jpg']);
  });

  it('takes multi-character delimiters and finds them after the prefix only', async () => {
    const keys = sorted(['a--b--c', 'a--d', 'x', 'a-e']);
    const page = await listObjects(keys, { delimiter: '--' });
    assert.deepEqual(page.commonPrefixes, ['a--']);
    assert.deepEqual(page.contents, ['a-e', 'x']);
    const under = await listObjects(keys, { prefix: 'a--', delimiter: '--' });
    assert.deepEqual(under.commonPrefixes, ['a--b--']);
    assert.deepEqual(under.contents, ['a--d']);
  });

  it('pages with max-keys, counting common prefixes, never repeating one across pages', async () => {
    const keys = sorted(['a/1', 'a/2', 'a/3', 'b', 'c/1', 'c/2', 'd', 'e/1']);
    const pages = await walk(() => keys, { delimiter: '/', maxKeys: 2 });
    assert.deepEqual(pages.map((p) => [...p.commonPrefixes, ...keysOf(p.contents)].sort(compareKeys)), [['a/', 'b'], ['c/', 'd'], ['e/']]);
    assert.deepEqual(pages.map((p) => p.isTruncated), [true, true, false]);
    assert.deepEqual(pages.map((p) => p.keyCount), [2, 2, 1]);
  });

  it('is not truncated when only rolled-up keys remain after a full page', async () => {
    const page = await listObjects(sorted(['a', 'b/1', 'b/2', 'b/3']), { delimiter: '/', maxKeys: 2 });
    assert.deepEqual([page.contents, page.commonPrefixes, page.isTruncated], [['a'], ['b/'], false]);
  });

  it('max-keys: 0 lists nothing (not truncated), above 1000 lists 1000, negative or fractional is a 400', async () => {
    const many = Array.from({ length: 1500 }, (_, i) => `k${String(i).padStart(5, '0')}`);
    assert.deepEqual(await listObjects(many, { maxKeys: 0 }), { contents: [], commonPrefixes: [], keyCount: 0, isTruncated: false, prefix: '', delimiter: '', maxKeys: 0 });
    const big = await listObjects(many, { maxKeys: 5000 });
    assert.equal(big.contents.length, 1000);
    assert.equal(big.maxKeys, 1000);
    assert.ok(big.isTruncated);
    const rest = await listObjects(many, { continuationToken: big.nextContinuationToken });
    assert.equal(rest.contents.length, 500);
    assert.equal(rest.contents[0], 'k01000');
    for (const maxKeys of [-1, 1.5, Number.NaN]) {
      await assert.rejects(listObjects(many, { maxKeys }), (err) => isNimbusError(err) && err.code === 'BAD_REQUEST' && err.details?.rule === 'list/max-keys');
    }
  });

  it('starts after start-after; a continuation token wins over it', async () => {
    const keys = sorted(['a', 'b', 'c', 'd']);
    assert.deepEqual((await listObjects(keys, { startAfter: 'b' })).contents, ['c', 'd']);
    assert.deepEqual((await listObjects(keys, { startAfter: 'bb' })).contents, ['c', 'd']);
    const first = await listObjects(keys, { maxKeys: 1 });
    assert.deepEqual((await listObjects(keys, { startAfter: 'c', continuationToken: first.nextContinuationToken })).contents, ['b', 'c', 'd']);
  });

  it('binds a token to its prefix and delimiter, and refuses tokens it did not make', async () => {
    const keys = sorted(['p/a', 'p/b', 'p/c']);
    const first = await listObjects(keys, { prefix: 'p/', maxKeys: 1 });
    const isBad = (err: unknown) => isNimbusError(err) && err.code === 'BAD_REQUEST' && err.details?.rule === 'list/continuation-token';
    await assert.rejects(listObjects(keys, { prefix: 'p/b', continuationToken: first.nextContinuationToken }), isBad);
    await assert.rejects(listObjects(keys, { prefix: 'p/', delimiter: '/', continuationToken: first.nextContinuationToken }), isBad);
    for (const junk of ['x', 'eyJ2IjoyfQ', Buffer.from('{"v":1,"a":5,"r":0,"s":"x"}').toString('base64url'), '%%%']) {
      await assert.rejects(listObjects(keys, { prefix: 'p/', continuationToken: junk }), isBad, junk);
    }
    assert.deepEqual((await listObjects(keys, { prefix: 'p/', continuationToken: first.nextContinuationToken })).contents, ['p/b', 'p/c']);
  });

  it('refuses ill-formed or over-long prefix, delimiter and start-after', async () => {
    for (const params of [{ prefix: '\uD800' }, { delimiter: 'x'.repeat(1025) }, { startAfter: '\uDFFF' }]) {
      await assert.rejects(listObjects([], params), (err) => isNimbusError(err) && err.code === 'BAD_REQUEST');
    }
  });

  it('fails loudly when the store lists keys out of UTF-8 byte order', async () => {
    // JavaScript's default sort puts the emoji (D83E...) before U+FF61; UTF-8 order puts it after.
    await assert.rejects(listObjects(['a', '🦄', '｡'], {}), (err) => isNimbusError(err) && err.code === 'INTERNAL' && /UTF-8 byte order/.test(err.message));
    assert.deepEqual((await listObjects(sorted(['a', '🦄', '｡']), {})).contents, ['a', '｡', '🦄']);
  });

  it('stops reading an async cursor once the page is full, and closes it', async () => {
    let yielded = 0;
    let closed = false;
    async function* cursor(): AsyncGenerator<{ key: string; size: number }> {
      try {
        for (let i = 0; i < 1_000_000; i++) {
          yielded++;
          yield { key: `k${String(i).padStart(7, '0')}`, size: i };
        }
      } finally {
        closed = true;
      }
    }
    const page = await listObjects(cursor(), { maxKeys: 3 });
    assert.deepEqual(page.contents, [{ key: 'k0000000', size: 0 }, { key: 'k0000001', size: 1 }, { key: 'k0000002', size: 2 }]);
    assert.ok(page.isTruncated);
    assert.equal(yielded, 4, 'three for the page and one to know it is truncated');
    assert.ok(closed);
  });

  it('with a page source, jumps over a rolled-up prefix instead of reading its keys', async () => {
    const keys = sorted([
      'a.txt',
      ...Array.from({ length: 100_000 }, (_, i) => `photos/${String(i).padStart(6, '0')}.jpg`),
      ...Array.from({ length: 50_000 }, (_, i) => `videos/${String(i).padStart(6, '0')}.mp4`),
      'z.txt',
    ]);
    const stats = { queries: 0, rows: 0 };
    const page = await listObjects(pager(keys, stats), { delimiter: '/' });
    assert.deepEqual(keysOf(page.contents), ['a.txt', 'z.txt']);
    assert.deepEqual(page.commonPrefixes, ['photos/', 'videos/']);
    assert.ok(stats.rows < 5000, `read ${stats.rows} rows in ${stats.queries} queries`);
    assert.ok(stats.queries <= 4, `${stats.queries} queries`);
  });

  it('passes entries through as the store gave them', async () => {
    const entries = [{ key: 'a', size: 1, etag: '"x"' }, { key: 'b', size: 2, etag: '"y"' }];
    assert.deepEqual((await listObjects(entries, {})).contents, entries);
  });

  it('walks to the reference listing for random keys and parameters, in both source modes (property)', async () => {
    const char = fc.constantFrom('a', 'b', '/', '-', 'é', '🦄', '｡');
    const key = fc.array(char, { minLength: 1, maxLength: 6 }).map((cs) => cs.join(''));
    await fc.assert(fc.asyncProperty(
      fc.uniqueArray(key, { maxLength: 40 }),
      fc.array(char, { maxLength: 2 }).map((cs) => cs.join('')),
      fc.constantFrom('', '/', 'b', '/a', '🦄'),
      fc.integer({ min: 1, max: 6 }),
      fc.option(key, { nil: undefined }),
      async (raw, prefix, delimiter, maxKeys, startAfter) => {
        const keys = sorted(raw);
        // Reference: every key with the prefix after start-after, rolled up, once each, in order.
        const expected: string[] = [];
        for (const k of keys) {
          if (!k.startsWith(prefix) || (startAfter !== undefined && compareKeys(k, startAfter) <= 0)) continue;
          const at = delimiter === '' ? -1 : k.indexOf(delimiter, prefix.length);
          const item = at >= 0 ? k.slice(0, at + delimiter.length) : k;
          if (expected[expected.length - 1] !== item) expected.push(item);
        }
        const params = { prefix, delimiter, maxKeys, startAfter };
        for (const source of [() => keys, () => pager(keys)]) {
          const pages = await walk(source, params);
          const items = pages.flatMap((p) => [...p.commonPrefixes, ...keysOf(p.contents)].sort(compareKeys));
          assert.deepEqual(items, expected);
          for (const [i, p] of pages.entries()) {
            assert.ok(p.keyCount <= maxKeys && p.keyCount === p.contents.length + p.commonPrefixes.length);
            assert.equal(p.isTruncated, i < pages.length - 1);
          }
          assert.ok(pages.slice(0, -1).every((p) => p.keyCount === maxKeys), 'every page but the last is full');
        }
      },
    ), { numRuns: 400 });
  });
});

describe('prefixEnd', () => {
  it('is the least string above every key with the prefix', () => {
    assert.equal(prefixEnd('photos/'), 'photos0');
    assert.equal(prefixEnd('a\u{10FFFF}'), 'b');
    assert.equal(prefixEnd('\u{10FFFF}'), undefined);
    assert.equal(prefixEnd(''), undefined);
    assert.equal(prefixEnd('\uD7FF'), '\uE000');
    assert.equal(prefixEnd('\uFFFF'), '\u{10000}');
  });

  it('bounds exactly the keys that start with the prefix (property)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 4 }), fc.string({ unit: 'binary', maxLength: 6 }), (prefix, rest) => {
      for (const k of [prefix + rest, rest, rest + prefix]) {
        const end = prefixEnd(prefix);
        const inRange = compareKeys(k, prefix) >= 0 && (end === undefined || compareKeys(k, end) < 0);
        assert.equal(inRange, k.startsWith(prefix));
      }
    }), { numRuns: 2000 });
  });
});
