// The admin API: auth, OpenAPI, bad input, and logs with START/END/REPORT lines.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { OPENAPI } from '../src/control/openapi.ts';
import { oneFunctionApp, startTestServer, type TestServer } from './helpers.ts';

describe('admin API', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
    const d = await srv.deploy(oneFunctionApp({
      fn: 'talker', http: 'POST /talk',
      source: `export const handler = async (e: any) => { console.log('hello', { n: e?.n }); console.warn('careful'); console.error('bad thing'); process.stdout.write('raw out\\n'); return { echoed: e?.n ?? null }; };`,
    }));
    assert.equal(d.status, 200, JSON.stringify(d.body));
  });
  after(() => srv.close());

  it('needs the bearer token, except for health and the OpenAPI document', async () => {
    const none = await fetch(srv.url + '/_nimbus/api/functions');
    assert.equal(none.status, 401);
    assert.equal((await none.json()).error.code, 'UNAUTHORIZED');
    const wrong = await fetch(srv.url + '/_nimbus/api/functions', { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const health = await fetch(srv.url + '/_nimbus/health');
    assert.equal(health.status, 200);
    assert.equal((await health.json()).status, 'ok');
    const doc = await fetch(srv.url + '/_nimbus/api/openapi.json');
    assert.equal(doc.status, 200);
    assert.equal((await doc.json()).openapi, '3.1.0');
  });

  it('describes every admin endpoint in the OpenAPI document, with its method', async () => {
    const served = await (await fetch(srv.url + '/_nimbus/api/openapi.json')).json() as typeof OPENAPI;
    const paths = served.paths as Record<string, Record<string, unknown>>;
    // The platform's own endpoints are in src/control/openapi.ts; the service modules bring theirs.
    for (const p of Object.keys(OPENAPI.paths)) assert.ok(paths[p], p);
    assert.ok(srv.adminEndpoints.length >= 20);
    for (const e of srv.adminEndpoints) {
      const [method, path] = e.split(' ') as [string, string];
      assert.ok(paths[path]?.[method.toLowerCase()], `${e} is not in the OpenAPI document (src/control/openapi.ts, or the service module's route)`);
    }
  });

  it('lists and gets apps and functions', async () => {
    const apps = await srv.api<{ apps: { name: string }[] }>('GET', '/_nimbus/api/apps');
    assert.deepEqual(apps.body.apps.map((a) => a.name), ['test']);
    const fn = await srv.api<{ name: string; routes: string[]; memoryMb: number }>('GET', '/_nimbus/api/functions/talker');
    assert.equal(fn.body.memoryMb, 128);
    assert.deepEqual(fn.body.routes, ['POST /talk']);
    assert.equal((await srv.api<{ error: { code: string } }>('GET', '/_nimbus/api/functions/ghost')).body.error.code, 'FUNCTION_NOT_FOUND');
    assert.equal((await srv.api<{ error: { code: string } }>('GET', '/_nimbus/api/nothing-here')).status, 404);
  });

  it('rejects invalid JSON, unknown functions and oversized bodies with clear 4xx', async () => {
    const bad = await srv.req('/_nimbus/api/functions/talker/invocations', { method: 'POST', body: '{"n":' });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.code, 'INVALID_JSON');
    const ghost = await srv.invoke<{ error: { code: string } }>('ghost');
    assert.equal(ghost.status, 404);
    assert.equal(ghost.body.error.code, 'FUNCTION_NOT_FOUND');
    const big = JSON.stringify({ s: 'x'.repeat(6 * 1024 * 1024) });
    const viaApi = await srv.req('/_nimbus/api/functions/talker/invocations', { method: 'POST', body: big });
    assert.equal(viaApi.status, 413);
    const tooBig = await viaApi.json() as { error: { code: string; message: string } };
    assert.equal(tooBig.error.code, 'PAYLOAD_TOO_LARGE');
    assert.match(tooBig.error.message, /\(6 MB\)$/);
    const viaRoute = await srv.req('/talk', { method: 'POST', body: big });
    assert.equal(viaRoute.status, 413);
    assert.equal((await srv.invoke<{ echoed: number }>('talker', { n: 5 })).body.echoed, 5, 'still serving');
  });

  it('answers an oversized header with 431 JSON and keeps serving', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const r = request(srv.url + '/talk', { method: 'POST', headers: { 'x-big': 'y'.repeat(20_000) } }, (res) => {
        let text = '';
        res.on('data', (c) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      r.on('error', reject);
      r.end();
    });
    assert.equal(status, 431);
    assert.equal(JSON.parse(body).error.code, 'HEADERS_TOO_LARGE');
    assert.equal((await srv.req('/talk', { method: 'POST', body: '{}' })).status, 200);
  });

  it('captures console and stdout per invocation with request id and level, between START, END and REPORT', async () => {
    const r = await srv.invoke('talker', { n: 1 });
    const id = r.headers.get('x-nimbus-request-id')!;
    const { body } = await srv.api<{ logs: { level: string; message: string; requestId: string }[] }>('GET', `/_nimbus/api/functions/talker/logs?requestId=${id}`);
    const lines = body.logs.map((l) => `${l.level} ${l.message}`);
    assert.equal(lines[0], `INFO START RequestId: ${id} Version: 1`);
    assert.ok(lines.includes("INFO hello { n: 1 }"), lines.join('\n'));
    assert.ok(lines.includes('WARN careful'));
    assert.ok(lines.includes('ERROR bad thing'));
    assert.ok(lines.includes('INFO raw out'));
    assert.equal(lines.at(-2), `INFO END RequestId: ${id}`);
    assert.match(lines.at(-1)!, new RegExp(`^INFO REPORT RequestId: ${id}\\tDuration: \\d+\\.\\d\\d ms\\tBilled Duration: \\d+ ms\\tMemory Size: 128 MB\\tMax Memory Used: \\d+ MB`));
    assert.ok(body.logs.every((l) => l.requestId === id));
  });

  it('puts Init Duration on the REPORT of a cold start only', async () => {
    const { body } = await srv.api<{ logs: { message: string }[] }>('GET', '/_nimbus/api/functions/talker/logs');
    const reports = body.logs.filter((l) => l.message.startsWith('REPORT'));
    assert.ok(reports.length >= 2);
    assert.match(reports[0]!.message, /Init Duration: \d+\.\d\d ms/);
    assert.ok(reports.slice(1).every((r) => !r.message.includes('Init Duration')));
  });

  it('filters logs by level and pages with a cursor', async () => {
    const errs = await srv.api<{ logs: { level: string }[]; cursor: number }>('GET', '/_nimbus/api/functions/talker/logs?level=ERROR');
    assert.ok(errs.body.logs.length > 0 && errs.body.logs.every((l) => l.level === 'ERROR' || l.level === 'FATAL'));
    const all = await srv.api<{ logs: unknown[]; cursor: number }>('GET', '/_nimbus/api/functions/talker/logs');
    await srv.invoke('talker', { n: 2 });
    const next = await srv.api<{ logs: { message: string }[] }>('GET', `/_nimbus/api/functions/talker/logs?after=${all.body.cursor}`);
    assert.ok(next.body.logs[0]!.message.startsWith('START'));
    assert.equal((await srv.api('GET', '/_nimbus/api/functions/talker/logs?level=LOUD')).status, 400);
  });
});
