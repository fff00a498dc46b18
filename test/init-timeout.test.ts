// A module whose top-level code never finishes fails its cold start after the init timeout (the
// function's timeout, at least 10 s; shortened here), instead of holding the request forever.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { oneFunctionApp, startWithApp, type TestServer } from './helpers.ts';

let srv: TestServer;
before(async () => {
  srv = await startWithApp(oneFunctionApp({ fn: 'stuck', source: 'await new Promise(() => {});\nexport const handler = async () => "never";\n', yaml: '    timeout: 1\n' }), { initTimeoutMinMs: 1000 });
});
after(() => srv.close());

it('a stuck init fails with Runtime.InitTimeout', async () => {
  const t0 = Date.now();
  const r = await srv.invoke<{ errorType: string; errorMessage: string }>('stuck');
  assert.equal(r.headers.get('x-nimbus-function-error'), 'Unhandled');
  assert.equal(r.body.errorType, 'Runtime.InitTimeout');
  assert.match(r.body.errorMessage, /did not finish within 1 second$/);
  assert.ok(Date.now() - t0 < 5000);
  const inv = await srv.api<{ invocations: { outcome: string }[] }>('GET', '/_nimbus/api/functions/stuck/invocations');
  assert.equal(inv.body.invocations[0]?.outcome, 'init-error');
});
