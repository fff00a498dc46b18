// The error table, its types and docs/errors.md must agree: every code documented with its status.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { ERRORS, NimbusError } from '../src/errors.ts';

it('docs/errors.md lists every error code with its HTTP status, and nothing else', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map([...doc.matchAll(/^\| ([A-Z_]+) \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]));
  assert.deepEqual([...rows.keys()].sort(), Object.keys(ERRORS).sort());
  for (const [code, e] of Object.entries(ERRORS)) assert.equal(rows.get(code), e.status, `${code} status in docs/errors.md`);
});

it('NimbusError serialises to the documented JSON shape', () => {
  const e = new NimbusError('FUNCTION_NOT_FOUND', 'no function named "x"');
  assert.equal(e.status, 404);
  assert.deepEqual(JSON.parse(JSON.stringify(e)), { error: { code: 'FUNCTION_NOT_FOUND', message: 'no function named "x"' } });
});
