// Tests for the API Gateway event mapping (events.ts), in three layers:
// 1. conformance: the requests behind real AWS samples (read at test time from the shared
//    conformance folder, never copied here) must produce the same request-determined fields;
// 2. every event we emit validates with the Powertools parser schemas, over a table and a property;
// 3. handler results map to HTTP responses as API Gateway maps them (payload 2.0 and 1.0).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { APIGatewayProxyEventSchema, APIGatewayProxyEventV2Schema } from '@aws-lambda-powertools/parser/schemas';
import fc from 'fast-check';
import { isNimbusError } from '../errors.ts';
import { buildV1Event, buildV2Event, type HttpRequestInfo, isTextContentType, mapV1Result, mapV2Result } from './events.ts';

// ---------------------------------------------------------------------------------------------
// Helpers

const SAMPLES_DIR = new URL('../../../shared/conformance/lambda-events/', import.meta.url);
const V2_SAMPLE = new URL('apigw-http-v2.json', SAMPLES_DIR);
const V1_SAMPLE = new URL('apigw-rest-v1-proxy.json', SAMPLES_DIR);
const skipIfMissing = (file: URL): string | false =>
  existsSync(file) ? false : `AWS sample ${file.pathname} is absent (the shared conformance folder sits beside the repo); conformance not checked`;

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => v as Json;
const readSample = (file: URL): Json => JSON.parse(readFileSync(file, 'utf8')) as Json;

function req(over: Partial<HttpRequestInfo> = {}): HttpRequestInfo {
  return {
    method: 'GET', rawPath: '/hello', rawQuery: '', headers: [['Host', 'api.example.com'], ['User-Agent', 'test/1.0']],
    body: Buffer.alloc(0), sourceIp: '203.0.113.7', protocol: 'HTTP/1.1', requestId: 'req-1', timeEpochMs: 1718639559080,
    routeKey: 'GET /hello', routePath: '/hello', pathParameters: {}, host: 'api.example.com', ...over,
  };
}

function assertValidV2(event: Json): void {
  const r = APIGatewayProxyEventV2Schema.safeParse(event);
  assert.ok(r.success, `v2 event fails APIGatewayProxyEventV2Schema: ${r.error?.message}`);
}

function assertValidV1(event: Json): void {
  const r = APIGatewayProxyEventSchema.safeParse(event);
  assert.ok(r.success, `v1 event fails APIGatewayProxyEventSchema: ${r.error?.message}`);
}

function assertInvalidResponse(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => isNimbusError(err) && err.code === 'INVALID_RESPONSE' && err.status === 502);
}

const titleCase = (name: string): string => name.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase());
const pick = (o: Json, keys: string[]): Json => Object.fromEntries(keys.map((k) => [k, o[k]]));
const sortedKeys = (o: unknown): string[] => Object.keys(obj(o)).sort();

// ---------------------------------------------------------------------------------------------
// 1. Conformance against real AWS samples

/** The request an HTTP API v2 sample describes, as our gateway would see it on the wire. */
function requestFromV2(sample: Json): HttpRequestInfo {
  const rc = obj(sample.requestContext);
  const http = obj(rc.http);
  const sampleHeaders = obj(sample.headers) as Record<string, string>;
  // Clients send mixed-case names; v2 must lower-case them.
  // The X-Forwarded-* headers are API Gateway's own additions, not the client's: the mapping must add them.
  const headers: [string, string][] = Object.entries(sampleHeaders).filter(([k]) => !k.startsWith('x-forwarded-')).map(([k, v]) => [titleCase(k), v]);
  const cookies = sample.cookies as string[] | undefined;
  if (cookies?.length) headers.push(['Cookie', cookies.join('; ')]);
  const body = typeof sample.body === 'string' ? Buffer.from(sample.body, sample.isBase64Encoded ? 'base64' : 'utf8') : Buffer.alloc(0);
  const routeKey = sample.routeKey as string;
  return {
    method: http.method as string, rawPath: sample.rawPath as string, rawQuery: sample.rawQueryString as string, headers, body,
    sourceIp: http.sourceIp as string, protocol: http.protocol as string, requestId: rc.requestId as string, timeEpochMs: rc.timeEpoch as number,
    routeKey, routePath: routeKey === '$default' ? (sample.rawPath as string) : routeKey.slice(routeKey.indexOf(' ') + 1),
    pathParameters: (sample.pathParameters as Record<string, string> | undefined) ?? {},
    host: sampleHeaders.host ?? (rc.domainName as string), scheme: 'https', localPort: 443,
  };
}

/** The request a REST v1 proxy sample describes: header names and repeats as in multiValueHeaders. */
function requestFromV1(sample: Json): HttpRequestInfo {
  const rc = obj(sample.requestContext);
  const identity = obj(rc.identity);
  const headers: [string, string][] = [];
  for (const [k, values] of Object.entries(obj(sample.multiValueHeaders ?? {}) as Record<string, string[]>)) {
    if (k.toLowerCase().startsWith('x-forwarded-')) continue; // added by the gateway, not sent by the client
    for (const v of values) headers.push([k, v]);
  }
  const multiQuery = (sample.multiValueQueryStringParameters as Record<string, string[]> | null) ?? {};
  const rawQuery = Object.entries(multiQuery).flatMap(([k, vs]) => vs.map((v) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)).join('&');
  const body = typeof sample.body === 'string' ? Buffer.from(sample.body, sample.isBase64Encoded ? 'base64' : 'utf8') : Buffer.alloc(0);
  const host = headers.find(([k]) => k.toLowerCase() === 'host')?.[1] ?? (rc.domainName as string);
  return {
    method: sample.httpMethod as string, rawPath: sample.path as string, rawQuery, headers, body,
    sourceIp: identity.sourceIp as string, protocol: rc.protocol as string, requestId: rc.requestId as string, timeEpochMs: rc.requestTimeEpoch as number,
    routeKey: `${sample.httpMethod as string} ${sample.resource as string}`, routePath: sample.resource as string,
    pathParameters: (sample.pathParameters as Record<string, string> | null) ?? {}, host, scheme: 'https', localPort: 443,
  };
}

const V2_TOP = ['version', 'routeKey', 'rawPath', 'rawQueryString', 'cookies', 'headers', 'queryStringParameters', 'pathParameters', 'stageVariables', 'body', 'isBase64Encoded'];
const V2_CONTEXT = ['domainName', 'domainPrefix', 'http', 'requestId', 'routeKey', 'stage', 'time', 'timeEpoch'];
const V1_TOP = ['resource', 'path', 'httpMethod', 'headers', 'multiValueHeaders', 'queryStringParameters', 'multiValueQueryStringParameters', 'pathParameters', 'stageVariables', 'body', 'isBase64Encoded'];
// requestId/extendedRequestId are fed from the sample; stage, path, resourceId, accountId, apiId differ by nature.
const V1_CONTEXT = ['resourcePath', 'httpMethod', 'protocol', 'requestTime', 'requestTimeEpoch', 'requestId', 'domainName', 'domainPrefix', 'identity'];

describe('conformance: HTTP API payload 2.0 sample', { skip: skipIfMissing(V2_SAMPLE) }, () => {
  const sample = (): Json => readSample(V2_SAMPLE);

  test('request-determined fields equal the AWS sample', () => {
    const s = sample();
    const ours = buildV2Event(requestFromV2(s));
    assert.deepEqual(pick(ours, V2_TOP), pick(s, V2_TOP));
    assert.deepEqual(pick(obj(ours.requestContext), V2_CONTEXT), pick(obj(s.requestContext), V2_CONTEXT));
    assertValidV2(ours);
  });

  test('the same keys as the sample, bar the authorizer block of an authorised API', () => {
    const s = sample();
    const ours = buildV2Event(requestFromV2(s));
    assert.deepEqual(sortedKeys(ours), sortedKeys(s));
    assert.deepEqual(sortedKeys(ours.requestContext), sortedKeys(s.requestContext).filter((k) => k !== 'authorizer'));
    assert.deepEqual(sortedKeys(obj(ours.requestContext).http), sortedKeys(obj(s.requestContext).http));
  });

  test('the sample itself validates with the Powertools schema (the schema is a fair judge)', () => {
    assertValidV2(sample());
  });

  test('from the client\'s own headers: hop-by-hop dropped, x-forwarded-* added', () => {
    const s = sample();
    const wire = requestFromV2(s);
    // What HTTPie actually sent: the sample's headers minus those AWS added, plus its Connection header.
    wire.headers = wire.headers.filter(([k]) => !/^(x-forwarded-.*|x-amzn-trace-id)$/i.test(k));
    wire.headers.push(['Connection', 'keep-alive']);
    const headers = obj(buildV2Event(wire).headers);
    assert.equal(headers.connection, undefined);
    assert.equal(headers['x-forwarded-for'], obj(obj(s.requestContext).http).sourceIp);
    assert.equal(typeof headers['x-forwarded-proto'], 'string');
    assert.equal(typeof headers['x-forwarded-port'], 'string');
  });
});

describe('conformance: REST API v1 proxy sample', { skip: skipIfMissing(V1_SAMPLE) }, () => {
  const sample = (): Json => readSample(V1_SAMPLE);

  test('request-determined fields equal the AWS sample', () => {
    const s = sample();
    const ours = buildV1Event(requestFromV1(s));
    // This sample came through an edge-optimised API: CloudFront's own hop follows the client's in
    // X-Forwarded-For. Without CloudFront in front, the client's address is the whole value.
    const clientOnly = (e: Json): Json => {
      const headers = { ...obj(e.headers), 'X-Forwarded-For': (obj(e.headers)['X-Forwarded-For'] as string).split(',')[0] };
      const multiValueHeaders = { ...obj(e.multiValueHeaders), 'X-Forwarded-For': [headers['X-Forwarded-For']] };
      return { ...e, headers, multiValueHeaders };
    };
    assert.equal(obj(ours.headers)['X-Forwarded-For'], obj(obj(s.requestContext).identity).sourceIp);
    assert.deepEqual(pick(ours, V1_TOP), pick(clientOnly(s), V1_TOP));
    assert.deepEqual(pick(obj(ours.requestContext), V1_CONTEXT), pick(obj(s.requestContext), V1_CONTEXT));
    assertValidV1(ours);
  });

  test('requestContext.path is the sample path without its stage prefix (we have no stage in the URL)', () => {
    const s = sample();
    const rc = obj(s.requestContext);
    const ours = obj(buildV1Event(requestFromV1(s)).requestContext);
    assert.equal(ours.path, (rc.path as string).replace(`/${rc.stage as string}`, ''));
    assert.equal(ours.stage, '$default');
  });

  test('the same keys as the sample', () => {
    const s = sample();
    const ours = buildV1Event(requestFromV1(s));
    assert.deepEqual(sortedKeys(ours), sortedKeys(s));
    assert.deepEqual(sortedKeys(ours.requestContext), sortedKeys(s.requestContext));
    assert.deepEqual(sortedKeys(obj(ours.requestContext).identity), sortedKeys(obj(s.requestContext).identity));
  });

  test('requestContext.deploymentId is present', () => {
    const ours = obj(buildV1Event(requestFromV1(sample())).requestContext);
    assert.equal(typeof ours.deploymentId, 'string');
  });

  test('the sample itself validates with the Powertools schema', () => {
    assertValidV1(sample());
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Schema validity and mapping facts over a table of requests

interface Case {
  name: string;
  req: HttpRequestInfo;
  check: (v2: Json, v1: Json) => void;
}

const BINARY = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f]);

const CASES: Case[] = [
  {
    name: 'no query', req: req(),
    check: (v2, v1) => {
      assert.equal(v2.rawQueryString, '');
      assert.equal('queryStringParameters' in v2, false);
      assert.equal(v1.queryStringParameters, null);
      assert.equal(v1.multiValueQueryStringParameters, null);
      assert.equal(v2.isBase64Encoded, false);
      assert.equal('body' in v2, false);
      assert.equal(v1.body, null);
    },
  },
  {
    name: 'repeated query keys', req: req({ rawQuery: 'a=1&b=3&a=2' }),
    check: (v2, v1) => {
      assert.equal(v2.rawQueryString, 'a=1&b=3&a=2');
      assert.deepEqual(v2.queryStringParameters, { a: '1,2', b: '3' });
      assert.deepEqual(v1.queryStringParameters, { a: '2', b: '3' });
      assert.deepEqual(v1.multiValueQueryStringParameters, { a: ['1', '2'], b: ['3'] });
    },
  },
  {
    name: 'encoded query values', req: req({ rawQuery: 'q=hello%20world&e=%C3%A9t%C3%A9&amp=a%26b%3Dc&empty=&flag' }),
    check: (v2, v1) => {
      assert.equal(v2.rawQueryString, 'q=hello%20world&e=%C3%A9t%C3%A9&amp=a%26b%3Dc&empty=&flag');
      const decoded = { q: 'hello world', e: 'été', amp: 'a&b=c', empty: '', flag: '' };
      assert.deepEqual(v2.queryStringParameters, decoded);
      assert.deepEqual(v1.queryStringParameters, decoded);
    },
  },
  {
    name: 'cookies (two Cookie headers)', req: req({ headers: [['Host', 'h'], ['Cookie', 'a=1; b=2'], ['cookie', 'c=3']] }),
    check: (v2, v1) => {
      assert.deepEqual(v2.cookies, ['a=1', 'b=2', 'c=3']);
      assert.equal('cookie' in obj(v2.headers), false);
      assert.deepEqual(obj(v1.multiValueHeaders).Cookie, ['a=1; b=2']);
      assert.deepEqual(obj(v1.multiValueHeaders).cookie, ['c=3']);
    },
  },
  {
    name: 'repeated headers', req: req({ headers: [['Host', 'h'], ['X-Multi', 'a'], ['x-multi', 'b'], ['X-Multi', 'c']] }),
    check: (v2, v1) => {
      assert.equal(obj(v2.headers)['x-multi'], 'a,b,c');
      assert.equal(obj(v1.headers)['X-Multi'], 'c');
      assert.deepEqual(obj(v1.multiValueHeaders)['X-Multi'], ['a', 'c']);
      assert.deepEqual(obj(v1.multiValueHeaders)['x-multi'], ['b']);
    },
  },
  {
    name: 'binary body (base64)',
    req: req({ method: 'POST', routeKey: 'POST /hello', headers: [['Host', 'h'], ['Content-Type', 'application/octet-stream']], body: BINARY }),
    check: (v2, v1) => {
      for (const e of [v2, v1]) {
        assert.equal(e.isBase64Encoded, true);
        assert.deepEqual(Buffer.from(e.body as string, 'base64'), BINARY);
      }
    },
  },
  {
    name: 'text body',
    req: req({ method: 'PUT', routeKey: 'PUT /hello', headers: [['Host', 'h'], ['Content-Type', 'application/json; charset=utf-8']], body: Buffer.from('{"é":1}') }),
    check: (v2, v1) => {
      for (const e of [v2, v1]) {
        assert.equal(e.isBase64Encoded, false);
        assert.equal(e.body, '{"é":1}');
      }
    },
  },
  {
    name: 'body without content type is text',
    req: req({ method: 'POST', routeKey: 'POST /hello', body: Buffer.from('plain') }),
    check: (v2, v1) => {
      assert.equal(v2.body, 'plain');
      assert.equal(v1.body, 'plain');
    },
  },
  {
    name: '{proxy+} greedy params',
    req: req({ rawPath: '/site/a/b/c.html', routeKey: 'ANY /site/{proxy+}', routePath: '/site/{proxy+}', pathParameters: { proxy: 'a/b/c.html' } }),
    check: (v2, v1) => {
      assert.equal(v2.routeKey, 'ANY /site/{proxy+}');
      assert.equal(obj(v2.requestContext).routeKey, 'ANY /site/{proxy+}');
      assert.deepEqual(v2.pathParameters, { proxy: 'a/b/c.html' });
      assert.equal(v1.resource, '/site/{proxy+}');
      assert.equal(obj(v1.requestContext).resourcePath, '/site/{proxy+}');
      assert.equal(v1.path, '/site/a/b/c.html');
      assert.deepEqual(v1.pathParameters, { proxy: 'a/b/c.html' });
    },
  },
  {
    name: 'HEAD', req: req({ method: 'HEAD', routeKey: 'ANY /hello' }),
    check: (v2, v1) => {
      assert.equal(obj(obj(v2.requestContext).http).method, 'HEAD');
      assert.equal(v1.httpMethod, 'HEAD');
    },
  },
  {
    name: 'OPTIONS', req: req({ method: 'OPTIONS', routeKey: 'OPTIONS /hello', headers: [['Host', 'h'], ['Origin', 'https://a.example'], ['Access-Control-Request-Method', 'PUT']] }),
    check: (v2, v1) => {
      assert.equal(obj(v2.headers)['access-control-request-method'], 'PUT');
      assert.equal(obj(v1.headers)['Access-Control-Request-Method'], 'PUT');
      assert.equal(obj(obj(v2.requestContext).http).userAgent, '');
      assert.equal(obj(obj(v1.requestContext).identity).userAgent, null);
    },
  },
  {
    name: 'empty body with a binary content type',
    req: req({ method: 'POST', routeKey: 'POST /hello', headers: [['Host', 'h'], ['Content-Type', 'image/png'], ['Content-Length', '0']] }),
    check: (v2, v1) => {
      assert.equal('body' in v2, false);
      assert.equal(v2.isBase64Encoded, false);
      assert.equal(v1.body, null);
      assert.equal(v1.isBase64Encoded, false);
    },
  },
  {
    name: 'IPv6 client and host with a port', req: req({ sourceIp: '2001:db8::1', host: 'localhost:3000' }),
    check: (v2, v1) => {
      assert.equal(obj(obj(v2.requestContext).http).sourceIp, '2001:db8::1');
      assert.equal(obj(v2.requestContext).domainName, 'localhost');
      assert.equal(obj(v1.requestContext).domainPrefix, 'localhost');
    },
  },
];

describe('events validate with the Powertools schemas', () => {
  for (const c of CASES) {
    test(c.name, () => {
      const v2 = buildV2Event(c.req);
      const v1 = buildV1Event(c.req);
      assertValidV2(v2);
      assertValidV1(v1);
      c.check(v2, v1);
    });
  }

  test('request time is API Gateway\'s format, in UTC', () => {
    const v2 = buildV2Event(req({ timeEpochMs: Date.UTC(2024, 0, 5, 3, 4, 5, 678) }));
    assert.equal(obj(v2.requestContext).time, '05/Jan/2024:03:04:05 +0000');
    assert.equal(obj(v2.requestContext).timeEpoch, Date.UTC(2024, 0, 5, 3, 4, 5, 678));
  });

  test('property: random paths, queries, headers and bodies stay valid and round-trip', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/);
    const queryPairs = fc.array(fc.tuple(fc.constantFrom('a', 'b', 'key', 'x y', 'é'), fc.string({ unit: 'grapheme', maxLength: 10 })), { maxLength: 6 });
    const header = fc.tuple(
      fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/).filter((n) => !/^(cookie|host)$/i.test(n)),
      fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,20}[\x21-\x7e])?$/),
    );
    const body = fc.oneof(
      fc.record({ type: fc.constant('application/octet-stream'), bytes: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) }),
      fc.record({ type: fc.constantFrom('text/plain', 'application/json', 'application/vnd.api+json'), bytes: fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => Buffer.from(s)) }),
    );
    fc.assert(fc.property(
      fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'), fc.array(segment, { maxLength: 5 }), queryPairs, fc.array(header, { maxLength: 6 }), body,
      (method, segments, pairs, headerPairs, b) => {
        const rawPath = '/' + segments.join('/');
        const rawQuery = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
        const headers: [string, string][] = [['Host', 'api.example.com'], ['Content-Type', b.type], ...headerPairs];
        const r = req({ method, rawPath, rawQuery, headers, body: b.bytes, routeKey: 'ANY /{proxy+}', routePath: '/{proxy+}', pathParameters: { proxy: rawPath.slice(1) } });
        const v2 = buildV2Event(r);
        const v1 = buildV1Event(r);
        assertValidV2(v2);
        assertValidV1(v1);
        assert.equal(v2.rawPath, rawPath);
        assert.equal(obj(obj(v2.requestContext).http).path, rawPath);
        assert.equal(v1.path, rawPath);
        assert.equal(v2.rawQueryString, rawQuery);
        const byKey = new Map<string, string[]>();
        for (const [k, v] of pairs) byKey.set(k, [...(byKey.get(k) ?? []), v]);
        for (const [k, vs] of byKey) {
          assert.equal(obj(v2.queryStringParameters)[k], vs.join(','));
          assert.deepEqual(obj(v1.multiValueQueryStringParameters)[k], vs);
          assert.equal(obj(v1.queryStringParameters)[k], vs.at(-1));
        }
        const byName = new Map<string, string[]>();
        for (const [k, v] of headers) byName.set(k.toLowerCase(), [...(byName.get(k.toLowerCase()) ?? []), v]);
        for (const [k, vs] of byName) assert.equal(obj(v2.headers)[k], vs.join(','));
        for (const [k, v] of headers) assert.ok((obj(v1.multiValueHeaders)[k] as string[]).includes(v));
        for (const e of [v2, v1]) {
          const sent = typeof e.body === 'string' ? Buffer.from(e.body, e.isBase64Encoded ? 'base64' : 'utf8') : Buffer.alloc(0);
          assert.deepEqual(sent, b.bytes);
        }
      },
    ), { numRuns: 200 });
  });
});

describe('isTextContentType', () => {
  const table: [string | undefined, boolean][] = [
    [undefined, true], ['', true], ['text/html; charset=utf-8', true], ['Application/JSON', true], ['application/ld+json', true],
    ['application/xml', true], ['image/svg+xml', true], ['application/x-www-form-urlencoded', true], ['application/graphql', true],
    ['application/octet-stream', false], ['image/png', false], ['multipart/form-data; boundary=x', false], ['application/pdf', false],
  ];
  for (const [type, text] of table) test(`${String(type)} → ${text ? 'text' : 'base64'}`, () => assert.equal(isTextContentType(type), text));
});

// ---------------------------------------------------------------------------------------------
// 3. Response mapping

const text = (b: Buffer): string => b.toString('utf8');

describe('mapV2Result', () => {
  test('a plain object is 200 JSON', () => {
    const r = mapV2Result({ hello: 'world' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers, [['content-type', 'application/json']]);
    assert.equal(text(r.body), '{"hello":"world"}');
  });

  test('a string is sent as the body itself, with content-type application/json', () => {
    const r = mapV2Result('hello');
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers, [['content-type', 'application/json']]);
    assert.equal(text(r.body), 'hello');
  });

  test('undefined, null, numbers, booleans and arrays are 200 JSON', () => {
    assert.deepEqual(mapV2Result(undefined), { status: 200, headers: [['content-type', 'application/json']], body: Buffer.alloc(0) });
    for (const [value, body] of [[null, 'null'], [42, '42'], [true, 'true'], [[1, 'a'], '[1,"a"]']] as const) {
      const r = mapV2Result(value);
      assert.equal(r.status, 200);
      assert.equal(text(r.body), body);
    }
  });

  test('an object without statusCode is serialised whole, even if it has body and headers', () => {
    const r = mapV2Result({ body: 'x', headers: { a: 'b' } });
    assert.equal(r.status, 200);
    assert.equal(text(r.body), '{"body":"x","headers":{"a":"b"}}');
  });

  test('structured: status, headers, each cookie as set-cookie, body', () => {
    const r = mapV2Result({ statusCode: 201, headers: { 'content-type': 'text/plain', 'x-n': 5, 'x-skip': null }, cookies: ['a=1; Path=/', 'b=2'], body: 'made' });
    assert.equal(r.status, 201);
    assert.deepEqual(r.headers, [['content-type', 'text/plain'], ['x-n', '5'], ['set-cookie', 'a=1; Path=/'], ['set-cookie', 'b=2']]);
    assert.equal(text(r.body), 'made');
  });

  test('isBase64Encoded bodies are decoded to bytes', () => {
    const r = mapV2Result({ statusCode: 200, headers: { 'content-type': 'image/png' }, body: BINARY.toString('base64'), isBase64Encoded: true });
    assert.deepEqual(r.body, BINARY);
  });

  test('structured without body or headers: empty body, no headers', () => {
    assert.deepEqual(mapV2Result({ statusCode: 204 }), { status: 204, headers: [], body: Buffer.alloc(0) });
  });

  test('a numeric-string statusCode is accepted', () => {
    assert.equal(mapV2Result({ statusCode: '404' }).status, 404);
  });

  test('a bad statusCode or a non-string body is INVALID_RESPONSE (502)', () => {
    for (const statusCode of ['abc', null, 99, 600, 200.5, {}]) assertInvalidResponse(() => mapV2Result({ statusCode }));
    assertInvalidResponse(() => mapV2Result({ statusCode: 200, body: { a: 1 } }));
    assertInvalidResponse(() => mapV2Result({ statusCode: 200, body: 42 }));
  });
});

describe('mapV1Result', () => {
  test('status, headers and body', () => {
    const r = mapV1Result({ statusCode: 200, headers: { 'Content-Type': 'text/plain', 'X-A': '1' }, body: 'hi' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers, [['Content-Type', 'text/plain'], ['X-A', '1']]);
    assert.equal(text(r.body), 'hi');
  });

  test('multiValueHeaders merge with headers; a name in both keeps only the multiValue values', () => {
    const r = mapV1Result({
      statusCode: 200,
      headers: { 'Content-Type': 'text/plain', 'X-A': '1' },
      multiValueHeaders: { 'x-a': ['2', '3'], 'Set-Cookie': ['a=1', 'b=2'] },
    });
    assert.deepEqual(r.headers, [['Content-Type', 'text/plain'], ['x-a', '2'], ['x-a', '3'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
  });

  test('isBase64Encoded bodies are decoded; a missing or null body is empty', () => {
    assert.deepEqual(mapV1Result({ statusCode: 200, body: BINARY.toString('base64'), isBase64Encoded: true }).body, BINARY);
    assert.equal(mapV1Result({ statusCode: 204 }).body.length, 0);
    assert.equal(mapV1Result({ statusCode: 200, body: null }).body.length, 0);
  });

  test('a cookies field is honoured on 1.0 too (not part of the REST proxy response format)', () => {
    assert.deepEqual(mapV1Result({ statusCode: 200, cookies: ['a=1'] }).headers, [['set-cookie', 'a=1']]);
  });

  test('malformed results are INVALID_RESPONSE (502), as API Gateway answers a malformed proxy response', () => {
    for (const result of [undefined, null, 42, 'ok', true, [], { body: 'x' }, { statusCode: 'abc' }, { statusCode: null }, { statusCode: 700 }]) {
      assertInvalidResponse(() => mapV1Result(result));
    }
    assertInvalidResponse(() => mapV1Result({ statusCode: 200, body: { a: 1 } }));
  });
});
