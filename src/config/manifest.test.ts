// Unit tests for the nimbus.yml schema and loader: what a user gets back for a good manifest (defaults
// filled in, values normalised) and the exact error text for a bad one (key path + what is allowed).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type EventSpec, httpPathProblem, loadManifest, parseHandler, parseManifest, resolveHandlerFile, validateManifest } from './manifest.ts';

const EXAMPLE = `app: shop
functions:
  createUser:
    handler: src/users.create
    memory: 256
    timeout: 10
    environment: { TABLE: users }
    concurrency: { max: 20 }
    events:
      - http: { method: POST, path: /users }
      - http: { method: GET, path: /users/{id}, payload: "1.0" }
  site:
    handler: src/site.default
    events:
      - http: { method: ANY, path: /site/{proxy+} }
`;

/** A one-function manifest; `extra` is indented lines added under the function. */
const oneFn = (extra = '', handler = 'src/a.handler'): string => `app: a\nfunctions:\n  f:\n    handler: ${handler}\n${extra}`;
/** A one-function manifest with one http event written as the given flow-mapping body. */
const withEvent = (http: string): string => oneFn(`    events:\n      - http: ${http}\n`);
const httpOf = (ev: EventSpec) => {
  assert.ok('http' in ev, 'an http event');
  return ev.http;
};

/** Runs `fn`, asserts it throws a NimbusError with `code`, and returns the message a user would see. */
function errorOf(fn: () => unknown, code = 'MANIFEST_INVALID'): string {
  try {
    fn();
  } catch (err) {
    assert.equal((err as { code?: unknown }).code, code, `expected ${code}, got: ${String(err)}`);
    return (err as Error).message;
  }
  assert.fail('expected an error, but it parsed');
}

async function asyncErrorOf(fn: () => Promise<unknown>, code: string): Promise<string> {
  try {
    await fn();
  } catch (err) {
    assert.equal((err as { code?: unknown }).code, code, `expected ${code}, got: ${String(err)}`);
    return (err as Error).message;
  }
  assert.fail('expected an error, but it resolved');
}

/** The error lines after the "is not valid:" header. */
const problems = (message: string): string[] => message.split('\n').slice(1).map((l) => l.trim());

describe('parseManifest: the example manifest', () => {
  const m = parseManifest(EXAMPLE);

  it('keeps what is written and fills in every default', () => {
    assert.deepEqual(m, {
      app: 'shop',
      functions: {
        createUser: {
          handler: 'src/users.create',
          memory: 256,
          timeout: 10,
          environment: { TABLE: 'users' },
          concurrency: { max: 20, queueTimeoutMs: 1000, provisioned: 0, perInstance: 1 },
          async: { retries: 2, maxEventAge: 21600 },
          secrets: [],
          permissions: { buckets: {}, tables: {}, queues: {}, topics: {}, functions: {}, bus: [], secrets: [], workflows: {} },
          events: [
            { http: { method: 'POST', path: '/users', payload: '2.0' } },
            { http: { method: 'GET', path: '/users/{id}', payload: '1.0' } },
          ],
        },
        site: {
          handler: 'src/site.default',
          memory: 128,
          timeout: 3,
          environment: {},
          concurrency: { max: 10, queueTimeoutMs: 1000, provisioned: 0, perInstance: 1 },
          async: { retries: 2, maxEventAge: 21600 },
          secrets: [],
          permissions: { buckets: {}, tables: {}, queues: {}, topics: {}, functions: {}, bus: [], secrets: [], workflows: {} },
          events: [{ http: { method: 'ANY', path: '/site/{proxy+}', payload: '2.0' } }],
        },
      },
      queues: {},
      schedules: {},
      topics: {},
      rules: {},
      buckets: {},
      tables: {},
      workflows: {},
    });
  });

  it('is the same manifest as examples/shop/nimbus.yml', async () => {
    const loaded = await loadManifest(new URL('../../examples/shop', import.meta.url).pathname);
    assert.deepEqual(loaded.manifest, m);
  });

  it('parses the same from JSON', () => {
    assert.deepEqual(parseManifest(JSON.stringify(m), 'nimbus.json'), m);
  });

  it('gives a function without events an empty list', () => {
    assert.deepEqual(parseManifest(oneFn()).functions.f.events, []);
  });

  it('fills in queueTimeoutMs when only max is given, and max when only queueTimeoutMs is', () => {
    assert.deepEqual(parseManifest(oneFn('    concurrency: { max: 3 }\n')).functions.f.concurrency, { max: 3, queueTimeoutMs: 1000, provisioned: 0, perInstance: 1 });
    assert.deepEqual(parseManifest(oneFn('    concurrency: { queueTimeoutMs: 0 }\n')).functions.f.concurrency, { max: 10, queueTimeoutMs: 0, provisioned: 0, perInstance: 1 });
  });
});

describe('numeric bounds', () => {
  const cases: { key: string; yaml: (v: string) => string; read: (text: string) => number; min: number; max: number; allowed: string }[] = [
    { key: 'functions.f.memory', yaml: (v) => oneFn(`    memory: ${v}\n`), read: (t) => parseManifest(t).functions.f.memory, min: 128, max: 10240, allowed: 'must be an integer from 128 to 10240 (MB)' },
    { key: 'functions.f.timeout', yaml: (v) => oneFn(`    timeout: ${v}\n`), read: (t) => parseManifest(t).functions.f.timeout, min: 1, max: 900, allowed: 'must be an integer from 1 to 900 (seconds)' },
    { key: 'functions.f.concurrency.max', yaml: (v) => oneFn(`    concurrency: { max: ${v} }\n`), read: (t) => parseManifest(t).functions.f.concurrency.max, min: 1, max: 1000, allowed: 'must be an integer from 1 to 1000 (instances)' },
    { key: 'functions.f.concurrency.queueTimeoutMs', yaml: (v) => oneFn(`    concurrency: { queueTimeoutMs: ${v} }\n`), read: (t) => parseManifest(t).functions.f.concurrency.queueTimeoutMs, min: 0, max: 60000, allowed: 'must be an integer from 0 to 60000 (ms)' },
  ];
  for (const c of cases) {
    it(`${c.key} accepts ${c.min} and ${c.max}`, () => {
      assert.equal(c.read(c.yaml(String(c.min))), c.min);
      assert.equal(c.read(c.yaml(String(c.max))), c.max);
    });
    it(`${c.key} rejects ${c.min - 1} and ${c.max + 1}, naming the key and the range`, () => {
      assert.deepEqual(problems(errorOf(() => c.read(c.yaml(String(c.min - 1))))), [`${c.key}: ${c.allowed}, got number ${c.min - 1}`]);
      assert.deepEqual(problems(errorOf(() => c.read(c.yaml(String(c.max + 1))))), [`${c.key}: ${c.allowed}, got number ${c.max + 1}`]);
    });
    it(`${c.key} rejects fractions, quoted numbers and null`, () => {
      assert.match(errorOf(() => c.read(c.yaml(`${c.min}.5`))), new RegExp(`${c.key.replaceAll('.', '\\.')}: must be an integer .*, got number ${c.min}\\.5`));
      assert.match(errorOf(() => c.read(c.yaml(`"${c.max}"`))), new RegExp(`got string "${c.max}"`));
      assert.match(errorOf(() => c.read(c.yaml('null'))), /got null$/);
    });
  }

  it('names the full path for the second function in the example', () => {
    const msg = errorOf(() => parseManifest(EXAMPLE.replace('memory: 256', 'memory: 64')));
    assert.equal(msg, 'nimbus.yml is not valid:\n  functions.createUser.memory: must be an integer from 128 to 10240 (MB), got number 64');
  });

  it('lists every problem at once', () => {
    const msg = errorOf(() => parseManifest('app: Shop\nfunctions:\n  f:\n    handler: src/a\n    memory: 64\n    timeout: 0\n'));
    assert.deepEqual(problems(msg), [
      'app: must be lower-case letters, digits and "-", starting with a letter, at most 63 characters, got "Shop"',
      'functions.f.handler: must be a file path + "." + exported name, e.g. src/users.create, got "src/a"',
      'functions.f.memory: must be an integer from 128 to 10240 (MB), got number 64',
      'functions.f.timeout: must be an integer from 1 to 900 (seconds), got number 0',
    ]);
  });
});

describe('unknown keys are rejected', () => {
  it('at the top level', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest(`${oneFn()}region: eu\n`))), ['(top level): unknown key "region"; allowed keys: app, functions, queues, schedules, topics, rules, buckets, tables, budget, workflows']);
  });
  it('in a function, naming every unknown key and the allowed ones', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    memroy: 256\n    runtime: node\n')))), [
      'functions.f: unknown keys "memroy", "runtime"; allowed keys: handler, memory, timeout, environment, concurrency, events, async, secrets, permissions, budget, deployment',
    ]);
  });
  it('in concurrency', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    concurrency: { min: 1 }\n')))), ['functions.f.concurrency: unknown key "min"; allowed keys: max, queueTimeoutMs, provisioned, perInstance']);
  });
  it('in an http event', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest(withEvent('{ method: GET, path: /x, cors: true }')))), [
      'functions.f.events[0].http: unknown key "cors"; allowed keys: method, path, payload, qualifier',
    ]);
  });
  it('as an event kind', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    events:\n      - bus: news\n')))), [
      'functions.f.events[0]: unknown event kind "bus"; supported: http, queue, schedule, topic, storage, table',
    ]);
  });
});

describe('the overall shape', () => {
  it('rejects a document that is not a mapping', () => {
    assert.equal(errorOf(() => parseManifest('')), 'nimbus.yml: must be a mapping with "app" and "functions", got null');
    assert.equal(errorOf(() => parseManifest('- a')), 'nimbus.yml: must be a mapping with "app" and "functions", got a list');
    assert.equal(errorOf(() => parseManifest('hello')), 'nimbus.yml: must be a mapping with "app" and "functions", got string "hello"');
  });
  it('requires app and at least one function', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest('functions:\n  f:\n    handler: src/a.h\n'))), ['app: is required: the app name']);
    assert.deepEqual(problems(errorOf(() => parseManifest('app: a\n'))), ['functions: is required: at least one function']);
    assert.deepEqual(problems(errorOf(() => parseManifest('app: a\nfunctions: {}\n'))), ['functions: must declare at least one function']);
  });
  it('says what it got when a section has the wrong type', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest('app: a\nfunctions:\n  - f\n'))), ['functions: must be a mapping of function name to its settings, got a list']);
    assert.deepEqual(problems(errorOf(() => parseManifest('app: a\nfunctions:\n  f: src/a.h\n'))), ['functions.f: must be a mapping (key: value), got string "src/a.h"']);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    events: http\n')))), ['functions.f.events: must be a list of events, got string "http"']);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    environment: [A]\n')))), ['functions.f.environment: must be a mapping of NAME: value, got a list']);
  });
  it('treats an empty "events:" or "environment:" as null, which is an error', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    events:\n')))), ['functions.f.events: must be a list of events, got null']);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    environment:\n')))), ['functions.f.environment: must be a mapping of NAME: value, got null']);
  });
});

describe('names', () => {
  const app = (name: string): string => `app: ${name}\nfunctions:\n  f:\n    handler: src/a.h\n`;
  it('accepts app names of lower-case letters, digits and "-", up to 63 characters', () => {
    for (const name of ['a', 'shop', 'shop-2', `a${'b'.repeat(62)}`]) assert.equal(parseManifest(app(name)).app, name);
  });
  it('rejects other app names, quoting the name', () => {
    for (const name of ['Shop', '1shop', 'shop_x', 'my.shop', '""', `a${'b'.repeat(63)}`]) {
      const shown = name === '""' ? '' : name;
      assert.deepEqual(problems(errorOf(() => parseManifest(app(name)))), [
        `app: must be lower-case letters, digits and "-", starting with a letter, at most 63 characters, got ${JSON.stringify(shown)}`,
      ], name);
    }
    assert.deepEqual(problems(errorOf(() => parseManifest(app('42')))), ['app: must be a string, got number 42']);
  });

  const fnNamed = (name: string): string => `app: a\nfunctions:\n  "${name}":\n    handler: src/a.h\n`;
  it('accepts function names of letters, digits, "_" and "-", up to 64 characters', () => {
    for (const name of ['f', 'createUser', 'a_b-C9', `a${'b'.repeat(63)}`]) assert.deepEqual(Object.keys(parseManifest(fnNamed(name)).functions), [name]);
  });
  it('rejects other function names, naming the function', () => {
    for (const name of ['1fn', '_f', 'my fn', 'my.fn', `a${'b'.repeat(64)}`]) {
      assert.deepEqual(problems(errorOf(() => parseManifest(fnNamed(name)))), [
        `functions.${name}: function names are letters, digits, "_" and "-", starting with a letter, at most 64 characters`,
      ], name);
    }
  });
});

describe('handler strings', () => {
  const handlerError = (h: string): string[] => problems(errorOf(() => parseManifest(oneFn('', h))));
  it('accepts a relative file + "." + export, and keeps it as written', () => {
    for (const h of ['src/users.create', 'index.handler', 'src/a.ts.handler', 'lib/v1.2/x.$h', './a.default', 'a/../b.h']) {
      assert.equal(parseManifest(oneFn('', h)).functions.f.handler, h);
    }
  });
  it('rejects a handler without a file or an export', () => {
    for (const h of ['src/users', 'src/users.', '.create']) {
      assert.deepEqual(handlerError(h), [`functions.f.handler: must be a file path + "." + exported name, e.g. src/users.create, got "${h}"`]);
    }
  });
  it('rejects an export name that is not an identifier', () => {
    assert.deepEqual(handlerError('src/a.1x'), ['functions.f.handler: the export name "1x" is not a JavaScript identifier']);
    assert.deepEqual(handlerError('src/a.my-fn'), ['functions.f.handler: the export name "my-fn" is not a JavaScript identifier']);
  });
  it('rejects files outside the app folder', () => {
    assert.deepEqual(handlerError('/abs/x.h'), ['functions.f.handler: the file must be relative to the app folder, got "/abs/x"']);
    assert.deepEqual(handlerError('C:/x.h'), ['functions.f.handler: the file must be relative to the app folder, got "C:/x"']);
    assert.deepEqual(handlerError('../x.h'), ['functions.f.handler: the file must stay inside the app folder, got "../x"']);
    assert.deepEqual(handlerError('a/../../x.h'), ['functions.f.handler: the file must stay inside the app folder, got "a/../../x"']);
  });
  it('requires a handler, and a string', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest('app: a\nfunctions:\n  f:\n    memory: 256\n'))), ['functions.f.handler: is required: file path + "." + exported name, e.g. src/users.create']);
    assert.deepEqual(handlerError('42'), ['functions.f.handler: must be a string, got number 42']);
  });
  it('parseHandler splits at the last dot', () => {
    assert.deepEqual(parseHandler('src/users.create'), { file: 'src/users', exportName: 'create' });
    assert.deepEqual(parseHandler('src/a.ts.handler'), { file: 'src/a.ts', exportName: 'handler' });
    assert.deepEqual(parseHandler('src/site.default'), { file: 'src/site', exportName: 'default' });
  });
});

describe('httpPathProblem', () => {
  it('accepts plain paths, parameters and a final greedy parameter', () => {
    for (const p of ['/', '/users', '/users/{id}', '/users/{id}/orders/{orderId}', '/site/{proxy+}', '/{proxy+}', "/a-b_c.d~!$&'()*+,;=:@", '/_nimbusx']) {
      assert.equal(httpPathProblem(p), undefined, p);
    }
  });
  it('says what is wrong with a bad path', () => {
    const cases: [string, string][] = [
      ['users', 'must start with "/"'],
      ['/users/', 'must not end with "/"'],
      ['//x', 'must not contain empty segments ("//")'],
      ['/a//b', 'must not contain empty segments ("//")'],
      ['/_nimbus', '/_nimbus is reserved for the platform'],
      ['/_nimbus/api', '/_nimbus is reserved for the platform'],
      ['/{proxy+}/x', 'the greedy parameter {proxy+} must be the last segment'],
      ['/{id}/{id}', 'parameter {id} appears twice'],
      ['/{id}/{id+}', 'parameter {id} appears twice'],
      ['/x{id}', 'segment "x{id}" is not a valid parameter; use {name} or, last, {name+}'],
      ['/{}', 'segment "{}" is not a valid parameter; use {name} or, last, {name+}'],
      ['/{1id}', 'segment "{1id}" is not a valid parameter; use {name} or, last, {name+}'],
      ['/{a-b}', 'segment "{a-b}" is not a valid parameter; use {name} or, last, {name+}'],
      ['/a b', 'segment "a b" has characters not allowed in a path'],
      ['/a?b', 'segment "a?b" has characters not allowed in a path'],
      ['/a%20b', 'segment "a%20b" has characters not allowed in a path'],
    ];
    for (const [path, problem] of cases) assert.equal(httpPathProblem(path), problem, path);
  });
  it('reports a bad path in a manifest with the key path and the path itself', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest(withEvent('{ method: GET, path: /x/{proxy+}/y }')))), [
      'functions.f.events[0].http.path: the greedy parameter {proxy+} must be the last segment, got "/x/{proxy+}/y"',
    ]);
    assert.deepEqual(problems(errorOf(() => parseManifest(withEvent('{ method: GET, path: "users" }')))), [
      'functions.f.events[0].http.path: must start with "/", got "users"',
    ]);
  });
});

describe('http events', () => {
  const event = (http: string) => httpOf(parseManifest(withEvent(http)).functions.f.events[0]!);

  it('upper-cases methods, ANY included', () => {
    assert.equal(event('{ method: get, path: /x }').method, 'GET');
    assert.equal(event('{ method: Post, path: /x }').method, 'POST');
    assert.equal(event('{ method: any, path: /x }').method, 'ANY');
    for (const m of ['PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']) assert.equal(event(`{ method: ${m}, path: /x }`).method, m);
  });
  it('rejects other methods, listing the allowed ones', () => {
    for (const m of ['FETCH', 'CONNECT', 'TRACE']) {
      assert.deepEqual(problems(errorOf(() => event(`{ method: ${m}, path: /x }`))), [
        `functions.f.events[0].http.method: must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ANY, got "${m}"`,
      ]);
    }
    assert.deepEqual(problems(errorOf(() => event('{ method: 42, path: /x }'))), ['functions.f.events[0].http.method: must be a string, got number 42']);
  });
  it('requires method and path', () => {
    assert.deepEqual(problems(errorOf(() => event('{ path: /x }'))), ['functions.f.events[0].http.method: is required']);
    assert.deepEqual(problems(errorOf(() => event('{ method: GET }'))), ['functions.f.events[0].http.path: is required (e.g. /users/{id}); the short form is "METHOD /path"']);
  });
  it('takes the short form "METHOD /path"', () => {
    assert.deepEqual(event('get /users/{id}'), { method: 'GET', path: '/users/{id}', payload: '2.0' });
    assert.deepEqual(problems(errorOf(() => event('GET'))), ['functions.f.events[0].http.path: is required (e.g. /users/{id}); the short form is "METHOD /path"']);
  });
  it('defaults payload to "2.0" and accepts "1.0", quoted or as a YAML number', () => {
    assert.equal(event('{ method: GET, path: /x }').payload, '2.0');
    assert.equal(event('{ method: GET, path: /x, payload: "1.0" }').payload, '1.0');
    assert.equal(event('{ method: GET, path: /x, payload: "2.0" }').payload, '2.0');
    assert.equal(event('{ method: GET, path: /x, payload: 1.0 }').payload, '1.0');
    assert.equal(event('{ method: GET, path: /x, payload: 2 }').payload, '2.0');
  });
  it('rejects other payload versions, saying what each one is', () => {
    for (const [v, got] of [['"1"', 'string "1"'], ['"3.0"', 'string "3.0"'], ['v2', 'string "v2"'], ['null', 'null'], ['3', 'number 3']]) {
      assert.deepEqual(problems(errorOf(() => event(`{ method: GET, path: /x, payload: ${v} }`))), [
        `functions.f.events[0].http.payload: must be "1.0" (REST API v1 proxy event) or "2.0" (HTTP API v2, the default), got ${got}`,
      ]);
    }
  });
  it('rejects a payload number that only rounds to 1.0 or 2.0', () => {
    assert.match(errorOf(() => event('{ method: GET, path: /x, payload: 1.04 }')), /payload: must be "1\.0".*got number 1\.04/);
    assert.match(errorOf(() => event('{ method: GET, path: /x, payload: 1.96 }')), /payload: must be "1\.0".*got number 1\.96/);
  });
  it('rejects events that are not one-kind mappings', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    events:\n      - GET /x\n')))), [
      'functions.f.events[0]: each event is a mapping with one kind, e.g. "- http: GET /path", got string "GET /x"',
    ]);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    events:\n      - {}\n')))), [
      'functions.f.events[0]: each event names exactly one kind, e.g. "- http: GET /path"',
    ]);
  });
  it('rejects two routes with the same method and path shape, ANY overlapping every method', () => {
    const two = (a: string, b: string): string => `app: a\nfunctions:\n  f:\n    handler: src/a.h\n    events:\n      - http: ${a}\n  g:\n    handler: src/a.h\n    events:\n      - http: ${b}\n`;
    assert.deepEqual(problems(errorOf(() => parseManifest(two('GET /u/{id}', 'ANY /u/{name}')))), [
      'functions.g.events[0].http: ANY /u/{name} is also declared by function "f" (GET /u/{id})',
    ]);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    events:\n      - http: GET /u\n      - http: get /u\n')))), [
      'functions.f.events[1].http: GET /u is also declared by function "f" (GET /u)',
    ]);
    // Different methods, or a parameter against a greedy parameter, do not collide.
    assert.equal(parseManifest(two('GET /u/{id}', 'POST /u/{id}')).functions.g.events.length, 1);
    assert.equal(parseManifest(two('GET /u/{id}', 'GET /u/{rest+}')).functions.g.events.length, 1);
  });
});

describe('environment', () => {
  it('turns numbers and booleans into strings, as YAML read them', () => {
    assert.deepEqual(parseManifest(oneFn('    environment: { A: 1, B: true, C: x, V: 1.10, Q: "1.10" }\n')).functions.f.environment, { A: '1', B: 'true', C: 'x', V: '1.1', Q: '1.10' });
  });
  it('rejects bad names, reserved names and values that are not scalars, naming each variable', () => {
    const msg = errorOf(() => parseManifest(oneFn('    environment: { 1A: x, AWS_REGION: y, NIMBUS_X: z, TZ: q, _HANDLER: h, C: [1], D: null, E: { a: 1 } }\n')));
    const reserved = 'is reserved by the platform (NIMBUS_*, AWS_*, LAMBDA_*, NODE_OPTIONS, TZ, HOME, TMPDIR, LANG)';
    assert.deepEqual(problems(msg), [
      'functions.f.environment.1A: variable names are letters, digits and _, not starting with a digit',
      `functions.f.environment.AWS_REGION: ${reserved}`,
      `functions.f.environment.NIMBUS_X: ${reserved}`,
      `functions.f.environment.TZ: ${reserved}`,
      `functions.f.environment._HANDLER: ${reserved}`,
      'functions.f.environment.C: must be a string, number or boolean, got a list',
      'functions.f.environment.D: must be a string, number or boolean, got null',
      'functions.f.environment.E: must be a string, number or boolean, got a mapping',
    ]);
  });
  it('only reserves the prefixes and exact names, not look-alikes', () => {
    assert.deepEqual(parseManifest(oneFn('    environment: { MY_AWS_KEY: k, HOMEDIR: h, TZX: t }\n')).functions.f.environment, { MY_AWS_KEY: 'k', HOMEDIR: 'h', TZX: 't' });
  });
});

describe('YAML', () => {
  it('reads unquoted {param} paths inside a flow mapping', () => {
    const path = (p: string) => httpOf(parseManifest(withEvent(p)).functions.f.events[0]!);
    assert.deepEqual(path('{ method: GET, path: /users/{id} }'), { method: 'GET', path: '/users/{id}', payload: '2.0' });
    assert.equal(path('{ method: GET, path: /users/{id}/orders/{orderId} }').path, '/users/{id}/orders/{orderId}');
    assert.equal(path('{method: GET, path: /x/{a}}').path, '/x/{a}');
    assert.equal(path('{ path: /y/{id}, method: PUT }').path, '/y/{id}');
    assert.equal(path('{ method: ANY, path: /site/{proxy+}, payload: "1.0" }').path, '/site/{proxy+}');
    assert.equal(path('{ method: GET, path: "/users/{id}" }').path, '/users/{id}');
  });
  it('gives syntax errors with the file, line and column', () => {
    assert.equal(
      errorOf(() => parseManifest('app: a\nfunctions:\n  f:\n    handler: src/a.h\n   memory: 256\n')),
      'nimbus.yml:5:1: YAML syntax error: All mapping items must start at the same column',
    );
    assert.match(errorOf(() => parseManifest('app: a\nfunctions:\n\tf: 1\n')), /^nimbus\.yml:3:1: YAML syntax error: Tabs are not allowed as indentation/);
    assert.match(errorOf(() => parseManifest(oneFn('    memory: 128\n    memory: 256\n'))), /^nimbus\.yml:6:5: YAML syntax error: Map keys must be unique/);
    assert.match(errorOf(() => parseManifest('app: [\n', 'apps/shop/nimbus.yaml')), /^apps\/shop\/nimbus\.yaml:\d+:\d+: YAML syntax error: /);
  });
  it('points a syntax error at the real mistake when the file also has flow {param} paths', () => {
    const text = withEvent('{ method: GET, path: /users/{id} }') + '    memory: [\n';
    const quoted = withEvent('{ method: GET, path: "/users/{id}" }') + '    memory: [\n';
    const expected = errorOf(() => parseManifest(quoted));
    assert.match(expected, /^nimbus\.yml:8:1: /);
    assert.equal(errorOf(() => parseManifest(text)), expected);
  });
});

describe('validateManifest', () => {
  it('validates an already-parsed value (the admin API path)', () => {
    assert.deepEqual(validateManifest({ app: 'a', functions: { f: { handler: 'src/a.h', events: [{ http: 'post /a' }] } } }).functions.f, {
      handler: 'src/a.h', memory: 128, timeout: 3, environment: {}, concurrency: { max: 10, queueTimeoutMs: 1000, provisioned: 0, perInstance: 1 }, events: [{ http: { method: 'POST', path: '/a', payload: '2.0' } }],
      async: { retries: 2, maxEventAge: 21600 }, secrets: [], permissions: { buckets: {}, tables: {}, queues: {}, topics: {}, functions: {}, bus: [], secrets: [], workflows: {} },
    });
  });
  it('names the source it was given, "manifest" by default', () => {
    assert.equal(errorOf(() => validateManifest({ app: 'a', functions: { f: { handler: 'src/a.h', memory: 99999 } } })), 'manifest is not valid:\n  functions.f.memory: must be an integer from 128 to 10240 (MB), got number 99999');
    assert.equal(errorOf(() => validateManifest(null)), 'manifest: must be a mapping with "app" and "functions", got null');
    assert.equal(errorOf(() => validateManifest('x', 'body.manifest')), 'body.manifest: must be a mapping with "app" and "functions", got string "x"');
  });
});

describe('files on disk', () => {
  let dir = '';
  let outside = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nimbus-manifest-test-'));
    outside = await mkdtemp(join(tmpdir(), 'nimbus-manifest-outside-'));
    await mkdir(join(dir, 'src'));
    for (const f of ['src/both.ts', 'src/both.js', 'src/plain.js', 'src/esm.mjs', 'src/common.cjs', 'src/typed.mts', 'src/typed.cts', 'src/a.ts.ts']) await writeFile(join(dir, f), '');
    await writeFile(join(outside, 'evil.ts'), '');
    await symlink(join(outside, 'evil.ts'), join(dir, 'src/evil.ts'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it('resolveHandlerFile tries each extension, .ts first', async () => {
    assert.equal(await resolveHandlerFile(dir, 'src/both', 'f'), join(dir, 'src/both.ts'));
    assert.equal(await resolveHandlerFile(dir, 'src/plain', 'f'), join(dir, 'src/plain.js'));
    assert.equal(await resolveHandlerFile(dir, 'src/esm', 'f'), join(dir, 'src/esm.mjs'));
    assert.equal(await resolveHandlerFile(dir, 'src/common', 'f'), join(dir, 'src/common.cjs'));
    assert.equal(await resolveHandlerFile(dir, 'src/typed', 'f'), join(dir, 'src/typed.mts'));
  });

  it('resolveHandlerFile takes a file that already has an extension as it is', async () => {
    assert.equal(await resolveHandlerFile(dir, 'src/both.js', 'f'), join(dir, 'src/both.js'));
    assert.equal(await resolveHandlerFile(dir, 'src/typed.cts', 'f'), join(dir, 'src/typed.cts'));
    // src/a.ts.handler names src/a.ts, never src/a.ts.ts.
    assert.equal(await asyncErrorOf(() => resolveHandlerFile(dir, 'src/a', 'f'), 'HANDLER_NOT_FOUND'), `functions.f.handler: no file src/a(.ts|.mts|.js|.mjs|.cjs|.cts) in ${dir}`);
  });

  it('resolveHandlerFile says which files it looked for', async () => {
    assert.equal(await asyncErrorOf(() => resolveHandlerFile(dir, 'src/nope', 'createUser'), 'HANDLER_NOT_FOUND'), `functions.createUser.handler: no file src/nope(.ts|.mts|.js|.mjs|.cjs|.cts) in ${dir}`);
    assert.equal(await asyncErrorOf(() => resolveHandlerFile(dir, 'src/nope.ts', 'f'), 'HANDLER_NOT_FOUND'), `functions.f.handler: no file src/nope.ts in ${dir}`);
  });

  it('resolveHandlerFile refuses a symlink that leads out of the app folder', async () => {
    assert.equal(await asyncErrorOf(() => resolveHandlerFile(dir, 'src/evil', 'f'), 'HANDLER_NOT_FOUND'), 'functions.f.handler: src/evil.ts leads outside the app folder');
  });

  it('resolveHandlerFile finds a file inside the app whose name starts with ".."', async () => {
    // The manifest accepts this handler, so the file lookup should too.
    assert.equal(parseManifest(oneFn('', '..hooks.handler')).functions.f.handler, '..hooks.handler');
    await writeFile(join(dir, '..hooks.ts'), '');
    assert.equal(await resolveHandlerFile(dir, '..hooks', 'f'), join(dir, '..hooks.ts'));
  });

  it('loadManifest prefers nimbus.yml, then nimbus.yaml, then nimbus.json', async () => {
    const app = await mkdtemp(join(tmpdir(), 'nimbus-manifest-load-'));
    try {
      const body = (name: string): string => `app: ${name}\nfunctions:\n  f:\n    handler: src/a.h\n`;
      assert.equal(await asyncErrorOf(() => loadManifest(app), 'MANIFEST_INVALID'), `no manifest in ${app}: looked for nimbus.yml, nimbus.yaml, nimbus.json`);
      await writeFile(join(app, 'nimbus.json'), JSON.stringify({ app: 'from-json', functions: { f: { handler: 'src/a.h' } } }));
      assert.deepEqual(await loadManifest(app).then((r) => [r.path, r.manifest.app]), [join(app, 'nimbus.json'), 'from-json']);
      await writeFile(join(app, 'nimbus.yaml'), body('from-yaml'));
      assert.deepEqual(await loadManifest(app).then((r) => [r.path, r.manifest.app]), [join(app, 'nimbus.yaml'), 'from-yaml']);
      await writeFile(join(app, 'nimbus.yml'), body('from-yml'));
      assert.deepEqual(await loadManifest(app).then((r) => [r.path, r.manifest.app]), [join(app, 'nimbus.yml'), 'from-yml']);
    } finally {
      await rm(app, { recursive: true, force: true });
    }
  });

  it('loadManifest names the file in its errors', async () => {
    const app = await mkdtemp(join(tmpdir(), 'nimbus-manifest-load-'));
    try {
      await writeFile(join(app, 'nimbus.yaml'), 'app: a\nfunctions:\n  f:\n    handler: src/a.h\n    timeout: 0\n');
      assert.equal(await asyncErrorOf(() => loadManifest(app), 'MANIFEST_INVALID'), 'nimbus.yaml is not valid:\n  functions.f.timeout: must be an integer from 1 to 900 (seconds), got number 0');
      await writeFile(join(app, 'nimbus.yml'), 'app: [\n');
      assert.match(await asyncErrorOf(() => loadManifest(app), 'MANIFEST_INVALID'), /^nimbus\.yml:\d+:\d+: YAML syntax error: /);
    } finally {
      await rm(app, { recursive: true, force: true });
    }
  });
});

describe('queues, queue events and async settings', () => {
  const WITH_QUEUES = `app: shop
functions:
  worker:
    handler: src/w.handler
    concurrency: { max: 4 }
    events:
      - queue: orders
      - queue: { name: bulk, batchSize: 500, batchWindow: 2, maxConcurrency: 2 }
    async:
      retries: 1
      maxEventAge: 3600
      onSuccess: queue:done
      onFailure: { function: alert }
      deadLetterQueue: dead
  alert:
    handler: src/a.handler
queues:
  orders:
    visibilityTimeout: 60
    deadLetter: { queue: dead, maxReceiveCount: 3 }
  bulk:
  done: {}
  dead: {}
  tasks.fifo: { contentBasedDeduplication: true }
`;

  it('fills in defaults and normalises destinations', () => {
    const m = parseManifest(WITH_QUEUES);
    assert.deepEqual(m.functions.worker!.events, [
      { queue: { name: 'orders', batchSize: 10, batchWindow: 0 } },
      { queue: { name: 'bulk', batchSize: 500, batchWindow: 2, maxConcurrency: 2 } },
    ]);
    assert.deepEqual(m.functions.worker!.async, { retries: 1, maxEventAge: 3600, onSuccess: { kind: 'queue', name: 'done' }, onFailure: { kind: 'function', name: 'alert' }, deadLetterQueue: 'dead' });
    assert.deepEqual(m.functions.alert!.async, { retries: 2, maxEventAge: 21600 });
    assert.deepEqual(m.queues.orders, { visibilityTimeout: 60, retention: 345600, delay: 0, maxMessageSize: 262144, contentBasedDeduplication: false, deadLetter: { queue: 'dead', maxReceiveCount: 3 } });
    assert.deepEqual(m.queues.bulk, { visibilityTimeout: 30, retention: 345600, delay: 0, maxMessageSize: 262144, contentBasedDeduplication: false });
  });

  it('validates its own output again unchanged (the CLI sends the parsed manifest as JSON)', () => {
    for (const text of [WITH_QUEUES, EXAMPLE]) {
      const m = parseManifest(text);
      assert.deepEqual(validateManifest(JSON.parse(JSON.stringify(m))), JSON.parse(JSON.stringify(m)));
    }
  });

  const broken: [string, string, string][] = [
    ['an event on an undeclared queue', '      - queue: nope\n', 'functions.f.events[0].queue.name: no queue "nope" in this manifest\'s queues (declare it under queues:)'],
    ['a FIFO batch over 10', '      - queue: { name: t.fifo, batchSize: 20 }\n', 'functions.f.events[0].queue.batchSize: a FIFO queue delivers at most 10 messages per batch, got 20'],
    ['a large batch without a window', '      - queue: { name: q, batchSize: 100 }\n', 'functions.f.events[0].queue.batchWindow: a batchSize over 10 (100) needs a batchWindow of at least 1 second to gather it'],
    ['a batch size out of range', '      - queue: { name: q, batchSize: 0 }\n', 'functions.f.events[0].queue.batchSize: must be an integer from 1 to 10000 (messages per invocation), got number 0'],
    ['a bad queue name', '      - queue: "a b"\n', 'functions.f.events[0].queue.name: must be letters, digits, "-" and "_" (at most 80 characters, ending in ".fifo" for a FIFO queue), got "a b"'],
  ];
  for (const [what, event, message] of broken) {
    it(`refuses ${what}`, () => {
      const text = oneFn(`    events:\n${event}`) + 'queues:\n  q: {}\n  t.fifo: {}\n';
      assert.deepEqual(problems(errorOf(() => parseManifest(text))), [message]);
    });
  }

  it('checks destinations and dead-letter queues', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    async: { onSuccess: topic:news }\n')))), [
      'functions.f.async.onSuccess: topic destinations are not available yet; use a queue or a function',
    ]);
    // Cross-references are checked once every field is valid on its own.
    const text = oneFn('    async:\n      onFailure: queue:t.fifo\n      deadLetterQueue: missing\n') + 'queues:\n  q: { deadLetter: { queue: t.fifo } }\n  t.fifo: { deadLetter: { queue: t.fifo } }\n';
    assert.deepEqual(problems(errorOf(() => parseManifest(text))), [
      'queues.q.deadLetter.queue: the dead-letter queue of a standard queue must be standard (not .fifo)',
      'queues.t.fifo.deadLetter.queue: a queue cannot be its own dead-letter queue',
      'functions.f.async.onFailure: a FIFO queue cannot be a destination (use a standard queue)',
      'functions.f.async.deadLetterQueue: no queue "missing" in this manifest\'s queues',
    ]);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    async: { onSuccess: somewhere, retries: 3 }\n')))), [
      'functions.f.async.retries: must be an integer from 0 to 2 (retries after a failed attempt), got number 3',
      'functions.f.async.onSuccess: must be "queue:<name>" or "function:<name>" (or a mapping like { queue: orders }), got string "somewhere"',
    ]);
  });

  it('refuses a queue listed twice on one function, and function destinations that loop', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    events:\n      - queue: q\n      - queue: { name: q, batchSize: 5 }\n') + 'queues:\n  q: {}\n'))), [
      'functions.f.events[1].queue.name: queue "q" is already an event of this function; list it once',
    ]);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    async: { onSuccess: function:f }\n')))), [
      'functions.f.async.onSuccess: function destinations would loop forever (f → f); break the cycle',
    ]);
    const pair = 'app: a\nfunctions:\n  f:\n    handler: src/a.h\n    async: { onFailure: function:g }\n  g:\n    handler: src/a.h\n    async: { onSuccess: function:f }\n';
    assert.deepEqual(problems(errorOf(() => parseManifest(pair))), [
      'functions.f.async.onFailure: function destinations would loop forever (f → g → f); break the cycle',
      'functions.g.async.onSuccess: function destinations would loop forever (g → f → g); break the cycle',
    ]);
    assert.equal(parseManifest('app: a\nfunctions:\n  f:\n    handler: src/a.h\n    async: { onSuccess: function:g }\n  g:\n    handler: src/a.h\n').functions.f!.async.onSuccess?.name, 'g', 'a chain without a cycle is fine');
  });

  it('checks queue settings and names', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn() + 'queues:\n  q: { contentBasedDeduplication: true }\n'))), [
      'queues.q.contentBasedDeduplication: applies to FIFO queues only (names ending in ".fifo")',
    ]);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn() + 'queues:\n  q: { visibilityTimeout: 50000, maxMessageSize: 100, colour: red }\n'))), [
      'queues.q.visibilityTimeout: must be an integer from 0 to 43200 (seconds), got number 50000',
      'queues.q.maxMessageSize: must be an integer from 1024 to 262144 (bytes), got number 100',
      'queues.q: unknown key "colour"; allowed keys: visibilityTimeout, retention, delay, maxMessageSize, contentBasedDeduplication, deadLetter',
    ]);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn() + 'queues:\n  "bad name": {}\n'))), [
      'queues.bad name: queue names are letters, digits, "-" and "_", at most 80 characters, ending in ".fifo" for a FIFO queue',
    ]);
    // A workflow's name is the key: the problem is said of the name, not of its definition.
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn() + 'workflows:\n  "bad name!": { definition: { StartAt: A, States: { A: { Type: Succeed } } } }\n'))), [
      'workflows.bad name!: workflow names are 1 to 80 letters, digits, "_" and "-"',
    ]);
  });
});

describe('schedules', () => {
  it('reads the short and long forms of a schedule event, and standalone schedules', () => {
    const m = parseManifest(oneFn('    events:\n      - schedule: rate(5 minutes)\n      - schedule: { name: nightly, expression: "cron(0 2 * * ? *)", timezone: Europe/London, input: { job: tidy }, catchUp: false }\n')
      + 'queues:\n  ticks: {}\nschedules:\n  heartbeat: { expression: rate(1 minute), target: queue:ticks, enabled: false }\n');
    assert.deepEqual(m.functions.f!.events, [
      { schedule: { expression: 'rate(5 minutes)', timezone: 'UTC', enabled: true, catchUp: true } },
      { schedule: { name: 'nightly', expression: 'cron(0 2 * * ? *)', timezone: 'Europe/London', input: { job: 'tidy' }, enabled: true, catchUp: false } },
    ]);
    assert.deepEqual(m.schedules.heartbeat, { expression: 'rate(1 minute)', timezone: 'UTC', enabled: false, catchUp: true, target: { kind: 'queue', name: 'ticks' } });
    assert.deepEqual(validateManifest(JSON.parse(JSON.stringify(m))), JSON.parse(JSON.stringify(m)), 'its own output validates again unchanged');
  });

  it('refuses invalid expressions with the rule that was broken, unknown zones, missing targets and name clashes', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    events:\n      - schedule: rate(1 minutes)\n')))), [
      'functions.f.events[0].schedule.expression: Invalid Schedule Expression "rate(1 minutes)": a rate of 1 takes the singular unit: rate(1 minute)',
    ]);
    assert.match(errorOf(() => parseManifest(oneFn('    events:\n      - schedule: { expression: rate(5 minutes), timezone: Mars/Olympus }\n'))), /not an IANA time zone name/);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn() + 'schedules:\n  s: { expression: rate(1 hour), target: queue:nope }\n'))), [
      'schedules.s.target: no queue "nope" in this manifest\'s queues',
    ]);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn() + 'schedules:\n  s: { expression: rate(1 hour) }\n'))), [
      'schedules.s.target: is required: "function:<name>", "queue:<name>" or "workflow:<name>"',
    ]);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    events:\n      - schedule: { name: s, expression: rate(1 hour) }\n') + 'schedules:\n  s: { expression: rate(1 hour), target: function:f }\n'))), [
      'functions.f.events[0].schedule: the schedule name "s" is also used by schedules.s; give one a different name',
    ]);
  });
});

describe('topics', () => {
  it('reads topics, subscriptions and topic events with their filter policies', () => {
    const m = parseManifest(oneFn('    events:\n      - topic: news\n      - topic: { name: alerts, filterPolicy: { level: [error] } }\n')
      + 'queues:\n  q: {}\ntopics:\n  news:\n    subscriptions:\n      - queue: q\n      - { url: "https://example.com/hook", filterPolicy: { price: [{ numeric: [">", 5] }] }, filterPolicyScope: MessageBody }\n  alerts: {}\n');
    assert.deepEqual(m.functions.f!.events, [
      { topic: { name: 'news', filterPolicyScope: 'MessageAttributes' } },
      { topic: { name: 'alerts', filterPolicy: { level: ['error'] }, filterPolicyScope: 'MessageAttributes' } },
    ]);
    assert.deepEqual(m.topics.news!.subscriptions, [
      { queue: 'q', rawMessageDelivery: false, filterPolicyScope: 'MessageAttributes' },
      { url: 'https://example.com/hook', filterPolicy: { price: [{ numeric: ['>', 5] }] }, filterPolicyScope: 'MessageBody' },
    ]);
    assert.deepEqual(m.topics.alerts, { subscriptions: [] });
    assert.deepEqual(validateManifest(JSON.parse(JSON.stringify(m))), JSON.parse(JSON.stringify(m)), 'its own output validates again unchanged');
  });

  it('refuses bad policies, unknown queues and topics, FIFO topics and odd subscriptions', () => {
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    events:\n      - topic: { name: news, filterPolicy: { price: [{ numeric: [">", "ten"] }] } }\n') + 'topics:\n  news: {}\n'))), [
      'functions.f.events[0].topic: filterPolicy.price[0].numeric[1]: must be a number, got "ten"',
    ]);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    events:\n      - topic: nope\n') + 'topics:\n  news:\n    subscriptions:\n      - queue: missing\n      - url: ftp://x\n'))), [
      'topics.news.subscriptions[1].url: must be an http:// or https:// URL, got "ftp://x"',
    ]);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    events:\n      - topic: nope\n') + 'topics:\n  news:\n    subscriptions:\n      - queue: missing\n      - { queue: missing, url: "http://x" }\n'))), [
      'topics.news.subscriptions[1]: each subscription names one "queue:" or one "url:" (functions subscribe with "- topic:" in their events), got a mapping (it has "queue", "url")',
    ]);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn('    events:\n      - topic: nope\n') + 'topics:\n  news:\n    subscriptions:\n      - queue: missing\n'))), [
      'topics.news.subscriptions[0]: no queue "missing" in this manifest\'s queues',
      'functions.f.events[0].topic.name: no topic "nope" in this manifest\'s topics (declare it under topics:)',
    ]);
    assert.deepEqual(problems(errorOf(() => parseManifest(oneFn() + 'topics:\n  news.fifo: {}\n'))), [
      'topics.news.fifo: FIFO topics are not available; use a standard topic (and a FIFO queue for ordering)',
    ]);
  });
});

describe('event bus rules', () => {
  const base = oneFn() + 'queues:\n  q: {}\ntopics:\n  t: {}\n';
  it('reads rules with their pattern and targets, in both forms', () => {
    const m = parseManifest(base + 'rules:\n  r:\n    pattern: { source: [shop] }\n    targets:\n      - function: f\n      - { queue: q, inputPath: $.detail }\n      - topic:t\n');
    assert.deepEqual(m.rules.r, { pattern: { source: ['shop'] }, enabled: true, targets: [{ kind: 'function', name: 'f' }, { kind: 'queue', name: 'q', inputPath: '$.detail' }, { kind: 'topic', name: 't' }] });
    assert.deepEqual(validateManifest(JSON.parse(JSON.stringify(m))), JSON.parse(JSON.stringify(m)), 'its own output validates again unchanged');
  });
  it('refuses invalid patterns, unknown targets, HTTP targets and bad input settings', () => {
    assert.match(errorOf(() => parseManifest(base + 'rules:\n  r:\n    pattern: { source: shop }\n    targets: [function:f]\n')), /rules\.r\.pattern: .*source/);
    assert.deepEqual(problems(errorOf(() => parseManifest(base + 'rules:\n  r:\n    pattern: { source: [shop] }\n    targets: [function:g, { queue: nope }]\n'))), [
      'rules.r.targets[0]: no function "g" in this manifest',
      'rules.r.targets[1]: no queue "nope" in this manifest',
    ]);
    assert.deepEqual(parseManifest(base + 'rules:\n  r:\n    pattern: { source: [shop] }\n    targets: [{ url: "https://x.example/hook", retryPolicy: { maximumRetryAttempts: 3 }, deadLetterQueue: q }]\n').rules.r!.targets,
      [{ kind: 'url', name: 'https://x.example/hook', retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 86400 }, deadLetterQueue: 'q' }]);
    assert.match(errorOf(() => parseManifest(base + 'rules:\n  r:\n    pattern: { source: [shop] }\n    targets: [{ url: "ftp://x" }]\n')), /targets\[0\]\.url: must be an http:\/\/ or https:\/\/ URL/);
    assert.match(errorOf(() => parseManifest(base + 'rules:\n  r:\n    pattern: { source: [shop] }\n    targets: [{ url: "https://x", retryPolicy: { maximumRetryAttempts: 200 } }]\n')), /retryPolicy\.maximumRetryAttempts: must be an integer from 0 to 185/);
    assert.match(errorOf(() => parseManifest(base + 'rules:\n  r:\n    pattern: { source: [shop] }\n    targets: [{ queue: q, retryPolicy: {} }]\n')), /unknown key "retryPolicy"; allowed keys: queue, input, inputPath, inputTransformer/);
    assert.match(errorOf(() => parseManifest(base + 'rules:\n  r:\n    pattern: { source: [shop] }\n    targets: [{ queue: q, input: "{}", inputPath: $.detail }]\n')), /rules\.r\.targets\[0\]: /);
    assert.match(errorOf(() => parseManifest(base + 'rules:\n  r:\n    pattern: { source: [shop] }\n    targets: []\n')), /1 to 5 targets/);
    assert.match(errorOf(() => parseManifest(base + 'rules:\n  r:\n    pattern: { detailType: [X] }\n    targets: [queue:q]\n')), /"detailType" never matches: the event's field is "detail-type"/);
  });
});

describe('buckets, tables, storage and table events, permissions', () => {
  const TEXT = `app: svc
buckets:
  uploads: {}
  logs:
tables:
  users: { partitionKey: id, ttl: expiresAt }
  orders: { partitionKey: customer, sortKey: placedAt }
functions:
  f:
    handler: src/f.handler
    secrets: [B_KEY]
    events:
      - storage: uploads
      - storage: { bucket: logs, events: [removed, created, created], prefix: a/, suffix: .gz }
      - table: users
      - table: { name: orders, batchSize: 500, batchWindow: 2, startingPosition: trim_horizon, maxRetries: 3 }
    permissions:
      buckets: { uploads: [write, read, read] }
      tables: { users: read }
      queues: { other-app-queue: [send] }
      functions: { g: [invoke] }
      bus: [put]
      secrets: [A_KEY]
`;

  it('normalises them, with defaults, and a parsed manifest validates unchanged (what the CLI sends)', () => {
    const m = parseManifest(TEXT);
    assert.deepEqual(m.buckets, { uploads: {}, logs: {} });
    assert.deepEqual(m.tables, { users: { partitionKey: 'id', ttl: 'expiresAt' }, orders: { partitionKey: 'customer', sortKey: 'placedAt' } });
    const f = m.functions.f!;
    assert.deepEqual(f.events, [
      { storage: { bucket: 'uploads', events: ['created'], prefix: '', suffix: '' } },
      { storage: { bucket: 'logs', events: ['created', 'removed'], prefix: 'a/', suffix: '.gz' } },
      { table: { name: 'users', batchSize: 100, batchWindow: 0, startingPosition: 'latest', maxRetries: -1 } },
      { table: { name: 'orders', batchSize: 500, batchWindow: 2, startingPosition: 'trim_horizon', maxRetries: 3 } },
    ]);
    // secrets: and permissions.secrets are one list.
    assert.deepEqual(f.secrets, ['A_KEY', 'B_KEY']);
    assert.deepEqual(f.permissions, {
      buckets: { uploads: ['read', 'write'] }, tables: { users: ['read'] }, queues: { 'other-app-queue': ['send'] }, topics: {},
      functions: { g: ['invoke'] }, bus: ['put'], secrets: ['A_KEY', 'B_KEY'], workflows: {},
    });
    assert.deepEqual(validateManifest(JSON.parse(JSON.stringify(m))), m);
  });

  it('refuses what is wrong, naming the key', () => {
    const bad = (text: string) => problems(errorOf(() => parseManifest(text)));
    const fn = (extra: string) => `app: svc\nbuckets:\n  up-loads: {}\ntables:\n  users: { partitionKey: id }\nfunctions:\n  f:\n    handler: src/f.handler\n${extra}`;
    assert.deepEqual(bad('app: svc\nbuckets:\n  Up_Loads: {}\nfunctions:\n  f:\n    handler: src/f.handler\n').length, 1);
    assert.match(bad(fn('    events:\n      - storage: nope\n'))[0]!, /events\[0\]\.storage\.bucket: no bucket "nope" in this manifest's buckets/);
    assert.match(bad(fn('    events:\n      - storage: { bucket: up-loads, events: [changed] }\n'))[0]!, /must be created or removed/);
    assert.match(bad(fn('    events:\n      - table: nope\n'))[0]!, /no table "nope" in this manifest's tables/);
    assert.match(bad(fn('    events:\n      - table: { name: users, batchSize: 1001 }\n'))[0]!, /batchSize: must be an integer from 1 to 1000/);
    assert.match(bad(fn('    events:\n      - table: users\n      - table: users\n'))[0]!, /already an event of this function/);
    assert.match(bad('app: svc\ntables:\n  users: { partitionKey: id, sortKey: id }\nfunctions:\n  f:\n    handler: src/f.handler\n')[0]!, /tables\.users\.sortKey: must differ from partitionKey/);
    assert.match(bad('app: svc\ntables:\n  users: { sortKey: id }\nfunctions:\n  f:\n    handler: src/f.handler\n')[0]!, /tables\.users\.partitionKey: is required/);
    assert.match(bad(fn('    permissions: { tables: { users: [delete] } }\n'))[0]!, /permissions\.tables\.users: must be a list of rights from: read, write/);
  });

  it('never takes a name for declared because every object has it (another app\'s "constructor" table or queue)', () => {
    const bare = (events: string) => `app: spy\nfunctions:\n  s:\n    handler: src/s.handler\n    events:\n${events}`;
    assert.match(problems(errorOf(() => parseManifest(bare('      - table: constructor\n'))))[0]!, /no table "constructor" in this manifest's tables/);
    assert.match(problems(errorOf(() => parseManifest(bare('      - queue: constructor\n'))))[0]!, /no queue "constructor" in this manifest's queues/);
    assert.match(problems(errorOf(() => parseManifest(bare('      - topic: toString\n'))))[0]!, /no topic "toString" in this manifest's topics/);
    assert.match(problems(errorOf(() => parseManifest(bare('      - http: GET /a\n    async: { onSuccess: queue:hasOwnProperty }\n'))))[0]!, /no queue "hasOwnProperty"/);
  });
});
