// Least-privilege grants: a function's code reaches only what its `permissions:` name, with the
// rights named there. Every SDK operation is tried without its grant (ACCESS_DENIED, logged, nothing
// done), with a read grant where it needs write, and with its grant. Grants are checked at deploy
// (they must name something that exists) and fetch-style handlers get their grants on `env`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startWithApp, type TestServer } from './helpers.ts';

const MANIFEST = `app: perms
functions:
  caller:
    handler: src/caller.handler
  granted:
    handler: src/caller.handler
    permissions:
      queues: { inbox: [send] }
      topics: { news: [publish] }
      functions: { echo: [invoke], failing: [invoke] }
      bus: [put]
  echo:
    handler: src/echo.handler
  failing:
    handler: src/failing.handler
  reader:
    handler: src/handles.handler
    permissions:
      tables: { users: [read] }
      buckets: { docs: [read], archive: [read, write] }
  writer:
    handler: src/handles.handler
    permissions:
      tables: { users: [write] }
      buckets: { docs: [write], archive: [read, write] }
  both:
    handler: src/handles.handler
    permissions:
      tables: { users: [read, write] }
      buckets: { docs: [read, write], archive: [read, write] }
  stranger:
    handler: src/handles.handler
  edge:
    handler: src/edge.default
    permissions:
      queues: { inbox: [send] }
      functions: { echo: [invoke] }
      bus: [put]
queues:
  inbox: {}
tables:
  users: { partitionKey: id }
buckets:
  docs: {}
  archive: {}
topics:
  news:
    subscriptions:
      - queue: inbox
`;

/** Runs one SDK call named in the event and answers what happened, never throwing. */
const CALLER = `import * as sdk from 'nimbus/sdk';
type Call = { op: string; args: unknown[] };
export const handler = async (e: Call) => {
  const [ns, method] = e.op.split('.') as [string, string];
  try {
    // Values an event cannot carry, by name: a circular object and a BigInt.
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const args = e.args.map((a) => (a === '$circular' ? circular : a === '$bigint' ? 10n : a));
    const value = await (sdk as unknown as Record<string, Record<string, (...a: unknown[]) => Promise<unknown>>>)[ns]![method]!(...args);
    return { ok: true, value };
  } catch (err) {
    return { ok: false, name: (err as Error).name, message: (err as Error).message, requestId: (err as { requestId?: string }).requestId };
  }
};`;

/** The same for the handle-style services: kv.table(name).method(...), storage.bucket(name).method(...). */
const HANDLES = `import { kv, storage } from 'nimbus/sdk';
type Call = { kind: 'table' | 'bucket'; name: string; method: string; args: unknown[] };
export const handler = async (e: Call) => {
  const h = (e.kind === 'table' ? kv.table(e.name) : storage.bucket(e.name)) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  try {
    return { ok: true, value: await h[e.method]!(...e.args) };
  } catch (err) {
    return { ok: false, name: (err as Error).name, message: (err as Error).message };
  }
};`;

const SOURCES = {
  'src/caller.ts': CALLER,
  'src/handles.ts': HANDLES,
  'src/echo.ts': 'export const handler = async (e: unknown) => ({ echoed: e });',
  'src/failing.ts': "export const handler = async () => { throw Object.assign(new Error('card declined'), { name: 'PaymentError' }); };",
  // Fetch style: the grants arrive on env as handles.
  'src/edge.ts': `export default {
  async fetch(req: Request, env: Record<string, any>) {
    const out = {
      keys: Object.keys(env).filter((k) => !/^[A-Z_]+$/.test(k)).sort(),
      queues: Object.keys(env.queues), functions: Object.keys(env.functions), buckets: Object.keys(env.buckets),
      sent: (await env.queues.inbox.send('from the edge')).messageId !== undefined,
      echoed: await env.functions.echo.invoke({ hi: 1 }),
      put: (await env.bus.put([{ source: 'edge', detailType: 'Hello', detail: {} }])).failedEntryCount,
      env: env.NIMBUS_FUNCTION_NAME,
    };
    return Response.json(out);
  },
};`,
};

/** Every SDK call outside the buckets and tables (their own suites cover those), with the grant it needs. */
const CALLS: { op: string; args: unknown[]; grant: string }[] = [
  { op: 'queues.send', args: ['inbox', 'hello'], grant: 'queues: { inbox: [send] }' },
  { op: 'queues.sendBatch', args: ['inbox', [{ id: 'a', body: 'x' }]], grant: 'queues: { inbox: [send] }' },
  { op: 'topics.publish', args: ['news', 'hello'], grant: 'topics: { news: [publish] }' },
  { op: 'topics.publishBatch', args: ['news', [{ id: 'a', message: 'x' }]], grant: 'topics: { news: [publish] }' },
  { op: 'events.put', args: [[{ source: 'perms', detailType: 'X', detail: {} }]], grant: 'bus: [put]' },
  { op: 'functions.invoke', args: ['echo', { a: 1 }], grant: 'functions: { echo: [invoke] }' },
  { op: 'functions.invokeAsync', args: ['echo', { a: 1 }], grant: 'functions: { echo: [invoke] }' },
];

/** Every KV table operation and the right it needs ('read+write': a write that hands the old item back). */
const TABLE_CALLS: { method: string; args: unknown[]; needs: 'read' | 'write' | 'read+write' }[] = [
  { method: 'get', args: [{ id: 'u1' }], needs: 'read' },
  { method: 'batchGet', args: [[{ id: 'u1' }]], needs: 'read' },
  { method: 'query', args: [{ partitionKey: 'u1' }], needs: 'read' },
  { method: 'scan', args: [{}], needs: 'read' },
  { method: 'put', args: [{ id: 'u1', n: 1 }], needs: 'write' },
  { method: 'put', args: [{ id: 'u1', n: 2 }, { returnOld: true }], needs: 'read+write' },
  { method: 'increment', args: [{ id: 'u1' }, 'n', 1], needs: 'read+write' },
  { method: 'batchWrite', args: [[{ put: { id: 'u2' } }]], needs: 'write' },
  { method: 'delete', args: [{ id: 'u2' }], needs: 'write' },
  { method: 'delete', args: [{ id: 'u1' }, { returnOld: true }], needs: 'read+write' },
];

/** Every object storage operation on bucket "docs" and the right it needs there. */
const BUCKET_CALLS: { method: string; args: unknown[]; needs: 'read' | 'write' | 'read+write' }[] = [
  { method: 'put', args: ['a.txt', 'hello'], needs: 'write' },
  { method: 'get', args: ['a.txt'], needs: 'read' },
  { method: 'head', args: ['a.txt'], needs: 'read' },
  { method: 'list', args: [{ prefix: '' }], needs: 'read' },
  { method: 'presign', args: ['a.txt'], needs: 'read' },
  { method: 'presign', args: ['a.txt', { method: 'PUT' }], needs: 'write' },
  // Within one bucket a copy reads its source and writes its target.
  { method: 'copy', args: ['a.txt', 'b.txt'], needs: 'read+write' },
  { method: 'delete', args: ['b.txt'], needs: 'write' },
];

describe('permissions', () => {
  let srv: TestServer;
  before(async () => { srv = await startWithApp({ 'nimbus.yml': MANIFEST, ...SOURCES }); });
  after(() => srv.close());

  for (const c of CALLS) {
    it(`${c.op}: denied without "${c.grant}", allowed with it`, async () => {
      const denied = await srv.invoke<{ ok: boolean; name: string; message: string }>('caller', c);
      assert.equal(denied.body.ok, false);
      assert.equal(denied.body.name, 'ACCESS_DENIED');
      assert.ok(denied.body.message.includes(`permissions: { ${c.grant.replace(/^bus: \[put\]$/, 'bus: [put]')} }`), denied.body.message);
      const allowed = await srv.invoke<{ ok: boolean; message?: string }>('granted', c);
      assert.equal(allowed.body.ok, true, allowed.body.message);
    });
  }

  /** Runs one handle call as each of the four functions: only those holding the rights it needs get through. */
  const checkRights = async (kind: 'table' | 'bucket', name: string, c: { method: string; args: unknown[]; needs: string }) => {
    const expect = { stranger: false, reader: c.needs === 'read', writer: c.needs === 'write', both: true };
    for (const [fn, allowed] of Object.entries(expect)) {
      const r = (await srv.invoke<{ ok: boolean; name?: string; message?: string }>(fn, { kind, name, method: c.method, args: c.args })).body;
      if (allowed) assert.equal(r.ok, true, `${fn}: ${r.message}`);
      else {
        assert.deepEqual([r.ok, r.name], [false, 'ACCESS_DENIED'], `${fn} was not refused: ${JSON.stringify(r)}`);
        assert.match(r.message!, new RegExp(`may not (read|write) ${kind} "${name}"`));
      }
    }
  };

  for (const c of TABLE_CALLS) {
    it(`tables: ${c.method}${c.args.length > 1 && JSON.stringify(c.args.at(-1)).includes('returnOld') ? ' (returnOld)' : ''} needs ${c.needs}`, () => checkRights('table', 'users', c));
  }

  for (const c of BUCKET_CALLS) {
    const label = `${c.method}${c.method === 'presign' ? ` ${(c.args[1] as { method?: string } | undefined)?.method ?? 'GET'}` : ''}`;
    it(`buckets: ${label} needs ${c.needs}`, () => checkRights('bucket', 'docs', c));
  }

  it('buckets: a copy across buckets needs read on the source and write on the target', async () => {
    await srv.invoke('both', { kind: 'bucket', name: 'docs', method: 'put', args: ['src.txt', 'x'] });
    const copy = async (fn: string, from: string, to: string) => (await srv.invoke<{ ok: boolean; name?: string; message?: string }>(fn, { kind: 'bucket', name: from, method: 'copy', args: ['src.txt', 'dst.txt', { toBucket: to }] })).body;
    assert.equal((await copy('reader', 'docs', 'archive')).ok, true); // read docs, write archive
    const out = await copy('writer', 'docs', 'archive'); // may not read docs
    assert.deepEqual([out.ok, out.name], [false, 'ACCESS_DENIED']);
    assert.match(out.message!, /may not read bucket "docs"/);
    const back = await copy('reader', 'archive', 'docs'); // may not write docs
    assert.deepEqual([back.ok, back.name], [false, 'ACCESS_DENIED']);
    assert.match(back.message!, /may not write bucket "docs"/);
  });

  it('names every object has, and values JSON cannot hold, are refused plainly (never an internal error)', async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const q = await srv.invoke<{ ok: boolean; name: string }>('granted', { op: 'queues.send', args: [name, 'x'] });
      assert.deepEqual([q.body.ok, q.body.name], [false, 'ACCESS_DENIED'], name);
      const t = await srv.invoke<{ ok: boolean; name: string }>('both', { kind: 'table', name, method: 'get', args: [{ id: 'a' }] });
      assert.deepEqual([t.body.ok, t.body.name], [false, 'ACCESS_DENIED'], name);
    }
    // What cannot cross the instance's channel (JSON) is refused in the instance, with the call named.
    for (const bad of ['$circular', '$bigint']) {
      const r = await srv.invoke<{ ok: boolean; name: string; message: string }>('granted', { op: 'queues.send', args: ['inbox', bad] });
      assert.deepEqual([r.body.ok, r.body.name], [false, 'BAD_REQUEST'], bad);
      assert.match(r.body.message, /the arguments of queues\.send cannot be sent to the host/);
    }
  });

  it('a denied call does nothing and is logged to the function\'s logs', async () => {
    const denials = async () => (await srv.api<{ logs: { message: string }[] }>('GET', '/_nimbus/api/functions/stranger/logs?limit=1000')).body.logs
      .filter((l) => l.message.startsWith('AccessDenied kv.put: function "stranger" may not write table "users"')).length;
    const before = await denials();
    const r = await srv.invoke<{ ok: boolean }>('stranger', { kind: 'table', name: 'users', method: 'put', args: [{ id: 'sneaky' }] });
    assert.equal(r.body.ok, false);
    assert.equal((await srv.invoke<{ value: unknown }>('both', { kind: 'table', name: 'users', method: 'get', args: [{ id: 'sneaky' }] })).body.value, null);
    let after = before;
    for (let i = 0; i < 40 && after === before; i++) {
      await new Promise((res) => setTimeout(res, 25));
      after = await denials();
    }
    assert.equal(after, before + 1);
    // Under the invocation's request id, with the rest of its lines.
    const id = r.headers.get('x-nimbus-request-id')!;
    const lines = (await srv.api<{ logs: { message: string }[] }>('GET', `/_nimbus/api/functions/stranger/logs?requestId=${id}`)).body.logs.map((l) => l.message);
    assert.ok(lines.some((m) => m.startsWith('AccessDenied kv.put')), lines.join('\n'));
  });

  it('functions.invoke returns the result, or rejects with the handler\'s error type', async () => {
    const ok = await srv.invoke<{ value: unknown }>('granted', { op: 'functions.invoke', args: ['echo', { n: 7 }] });
    assert.deepEqual(ok.body.value, { echoed: { n: 7 } });
    const failed = await srv.invoke<{ ok: boolean; name: string; message: string; requestId: string }>('granted', { op: 'functions.invoke', args: ['failing', {}] });
    assert.deepEqual([failed.body.ok, failed.body.name, failed.body.message], [false, 'PaymentError', 'card declined']);
    assert.match(failed.body.requestId, /^[0-9a-f-]{36}$/);
    const queued = await srv.invoke<{ value: { requestId: string } }>('granted', { op: 'functions.invokeAsync', args: ['echo', { later: true }] });
    assert.match(queued.body.value.requestId, /^[0-9a-f-]{36}$/);
  });

  it('a fetch-style handler finds its grants on env, and only those', async () => {
    const r = await srv.invoke<Record<string, unknown>>('edge', {});
    assert.deepEqual(r.body, {
      keys: ['buckets', 'bus', 'functions', 'queues', 'tables', 'topics'], queues: ['inbox'], functions: ['echo'], buckets: [],
      sent: true, echoed: { echoed: { hi: 1 } }, put: 0, env: 'edge',
    });
  });

  it('refuses grants that are malformed or name nothing, and changes nothing', async () => {
    // The manifest is checked where it is parsed (the CLI, here the test's deploy) and again by the server.
    const deploy = (perms: string) => srv.deploy({
      'nimbus.yml': `app: perms2\nfunctions:\n  f:\n    handler: src/f.handler\n    permissions: ${perms}\nqueues:\n  q2: {}\n`,
      'src/f.ts': 'export const handler = async () => null;',
    }).catch((err: { code: string; status: number; message: string }) => ({ status: err.status, body: { error: { code: err.code, message: err.message } } }));
    const cases: [string, number, string, RegExp][] = [
      ['{ queues: { q2: [write] } }', 400, 'MANIFEST_INVALID', /functions\.f\.permissions\.queues\.q2: must be a list of rights from: send/],
      ['{ buckets: { Bad_Name: [read] } }', 400, 'MANIFEST_INVALID', /functions\.f\.permissions\.buckets\.Bad_Name/],
      ['{ tables: { users: [] } }', 400, 'MANIFEST_INVALID', /permissions\.tables\.users: must be a list of rights from: read, write/],
      ['{ storage: { x: [read] } }', 400, 'MANIFEST_INVALID', /unknown key "storage"; allowed keys: buckets, tables, queues, topics, functions, bus, secrets/],
      ['{ bus: [get] }', 400, 'MANIFEST_INVALID', /the only right on the event bus is put/],
      ['{ queues: { nowhere: [send] } }', 404, 'QUEUE_NOT_FOUND', /functions\.f\.permissions\.queues: no queue "nowhere" in this manifest or in any deployed app/],
      ['{ functions: { ghost: [invoke] } }', 404, 'FUNCTION_NOT_FOUND', /no function "ghost"/],
      ['{ topics: { ghost: [publish] } }', 404, 'TOPIC_NOT_FOUND', /no topic "ghost"/],
      ['{ buckets: { ghost-bucket: [read] } }', 404, 'BUCKET_NOT_FOUND', /no bucket "ghost-bucket"/],
      ['{ tables: { ghost: [read] } }', 404, 'TABLE_NOT_FOUND', /no table "ghost"/],
      ['{ secrets: [NOT_SET] }', 404, 'SECRET_NOT_FOUND', /NOT_SET/],
    ];
    for (const [perms, status, code, message] of cases) {
      const r = await deploy(perms);
      assert.equal(r.status, status, `${perms}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error?.code, code, perms);
      assert.match(r.body.error!.message, message);
    }
    assert.equal((await srv.api('GET', '/_nimbus/api/apps/perms2')).status, 404);
    // Another app's resources may be granted.
    const ok = await deploy('{ queues: { inbox: [send] }, topics: { news: [publish] }, functions: { echo: [invoke] } }');
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });
});
