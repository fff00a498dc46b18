// HTTP ↔ API Gateway event mapping, as API Gateway does it, so Lambda handlers run unchanged:
// requests become HTTP API payload 2.0 events (default) or REST API v1 proxy events, and handler
// results become HTTP responses. Pure functions: no I/O.
import { NimbusError } from '../errors.ts';

export interface HttpRequestInfo {
  method: string;
  /** Path as received, without the query. */
  rawPath: string;
  /** Query without the leading '?', '' when none. */
  rawQuery: string;
  /** Header pairs in order, names as received. */
  headers: [string, string][];
  body: Buffer;
  sourceIp: string;
  protocol: string;
  requestId: string;
  timeEpochMs: number;
  /** `GET /users/{id}`, `ANY /site/{proxy+}`. */
  routeKey: string;
  /** The route template: `/users/{id}`. */
  routePath: string;
  /** Decoded path parameters: `{ id: '42' }`, `{ proxy: 'a/b' }`. */
  pathParameters: Record<string, string>;
  host: string;
  /** The scheme and port the client reached (defaults: http, the Host header's port or 80). */
  scheme?: 'http' | 'https';
  localPort?: number;
}

export interface HttpResponse { status: number; headers: [string, string][]; body: Buffer }

const ACCOUNT_ID = '000000000000';
const API_ID = 'nimbus';
const STAGE = '$default';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Text bodies travel as UTF-8 strings; anything else base64, as API Gateway decides by content type. */
export function isTextContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType === '') return true;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type.startsWith('text/') || type === 'application/json' || type.endsWith('+json') || type === 'application/xml' || type.endsWith('+xml')
    || type === 'application/javascript' || type === 'application/x-www-form-urlencoded' || type === 'application/graphql';
}

/** `17/Jun/2024:15:52:39 +0000`, API Gateway's request time format. */
function requestTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function headerValue(req: HttpRequestInfo, name: string): string | undefined {
  for (const [k, v] of req.headers) if (k.toLowerCase() === name) return v;
  return undefined;
}

/**
 * The headers a function sees, as API Gateway forwards them: hop-by-hop `Connection` dropped, the
 * client's address appended to X-Forwarded-For, and X-Forwarded-Port / -Proto set when absent.
 */
function forwardedHeaders(req: HttpRequestInfo): [string, string][] {
  const out: [string, string][] = [];
  let xff = -1;
  let port = false;
  let proto = false;
  for (const pair of req.headers) {
    const name = pair[0].toLowerCase();
    if (name === 'connection') continue;
    if (name === 'x-forwarded-for') {
      if (xff >= 0) { out[xff] = [out[xff]![0], `${out[xff]![1]}, ${pair[1]}`]; continue; }
      xff = out.length;
    } else if (name === 'x-forwarded-port') port = true;
    else if (name === 'x-forwarded-proto') proto = true;
    out.push(pair);
  }
  if (xff >= 0) out[xff] = [out[xff]![0], `${out[xff]![1]}, ${req.sourceIp}`];
  else out.push(['X-Forwarded-For', req.sourceIp]);
  const scheme = req.scheme ?? 'http';
  const hostPort = /:(\d+)$/.exec(req.host)?.[1];
  if (!port) out.push(['X-Forwarded-Port', String(req.localPort ?? hostPort ?? (scheme === 'https' ? 443 : 80))]);
  if (!proto) out.push(['X-Forwarded-Proto', scheme]);
  return out;
}

function encodeBody(req: HttpRequestInfo): { body: string; isBase64Encoded: boolean } {
  const text = isTextContentType(headerValue(req, 'content-type'));
  return text ? { body: req.body.toString('utf8'), isBase64Encoded: false } : { body: req.body.toString('base64'), isBase64Encoded: true };
}

function queryPairs(rawQuery: string): [string, string][] {
  return rawQuery ? [...new URLSearchParams(rawQuery)] : [];
}

function domain(req: HttpRequestInfo): { domainName: string; domainPrefix: string } {
  const domainName = req.host.replace(/:\d+$/, '');
  return { domainName, domainPrefix: domainName.split('.')[0]! };
}

export function buildV2Event(req: HttpRequestInfo): Record<string, unknown> {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (const [k, v] of forwardedHeaders(req)) {
    const name = k.toLowerCase();
    if (name === 'cookie') {
      for (const c of v.split(';')) if (c.trim()) cookies.push(c.trim());
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${v}` : v;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of queryPairs(req.rawQuery)) query[k] = k in query ? `${query[k]},${v}` : v;
  const { body, isBase64Encoded } = encodeBody(req);
  const event: Record<string, unknown> = {
    version: '2.0',
    routeKey: req.routeKey,
    rawPath: req.rawPath,
    rawQueryString: req.rawQuery,
  };
  if (cookies.length) event.cookies = cookies;
  event.headers = headers;
  if (req.rawQuery) event.queryStringParameters = query;
  event.requestContext = {
    accountId: ACCOUNT_ID,
    apiId: API_ID,
    ...domain(req),
    http: { method: req.method, path: req.rawPath, protocol: req.protocol, sourceIp: req.sourceIp, userAgent: headers['user-agent'] ?? '' },
    requestId: req.requestId,
    routeKey: req.routeKey,
    stage: STAGE,
    time: requestTime(req.timeEpochMs),
    timeEpoch: req.timeEpochMs,
  };
  if (req.body.length) event.body = body;
  if (Object.keys(req.pathParameters).length) event.pathParameters = req.pathParameters;
  event.isBase64Encoded = req.body.length ? isBase64Encoded : false;
  return event;
}

export function buildV1Event(req: HttpRequestInfo): Record<string, unknown> {
  // REST APIs keep header names as sent; the single-value map keeps the last value of a repeat.
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [k, v] of forwardedHeaders(req)) {
    headers[k] = v;
    (multiValueHeaders[k] ??= []).push(v);
  }
  const pairs = queryPairs(req.rawQuery);
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [k, v] of pairs) {
    query[k] = v;
    (multiQuery[k] ??= []).push(v);
  }
  const { body, isBase64Encoded } = encodeBody(req);
  const userAgent = headerValue(req, 'user-agent') ?? null;
  return {
    resource: req.routePath,
    path: req.rawPath,
    httpMethod: req.method,
    headers,
    multiValueHeaders,
    queryStringParameters: pairs.length ? query : null,
    multiValueQueryStringParameters: pairs.length ? multiQuery : null,
    pathParameters: Object.keys(req.pathParameters).length ? req.pathParameters : null,
    stageVariables: null,
    requestContext: {
      resourceId: API_ID,
      deploymentId: API_ID,
      resourcePath: req.routePath,
      httpMethod: req.method,
      extendedRequestId: req.requestId,
      requestTime: requestTime(req.timeEpochMs),
      path: req.rawPath,
      accountId: ACCOUNT_ID,
      protocol: req.protocol,
      stage: STAGE,
      ...domain(req),
      requestTimeEpoch: req.timeEpochMs,
      requestId: req.requestId,
      identity: {
        cognitoIdentityPoolId: null, accountId: null, cognitoIdentityId: null, caller: null, sourceIp: req.sourceIp, principalOrgId: null,
        accessKey: null, cognitoAuthenticationType: null, cognitoAuthenticationProvider: null, userArn: null, userAgent, user: null,
      },
      apiId: API_ID,
    },
    body: req.body.length ? body : null,
    isBase64Encoded: req.body.length ? isBase64Encoded : false,
  };
}

interface StructuredResult {
  statusCode: number;
  headers?: Record<string, unknown>;
  multiValueHeaders?: Record<string, unknown[]>;
  cookies?: unknown[];
  body?: unknown;
  isBase64Encoded?: boolean;
}

function isStructured(result: unknown): result is StructuredResult {
  return typeof result === 'object' && result !== null && !Array.isArray(result) && 'statusCode' in result;
}

function structured(result: StructuredResult, version: string): HttpResponse {
  const status = Number(result.statusCode);
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new NimbusError('INVALID_RESPONSE', `the handler returned statusCode ${JSON.stringify(result.statusCode)}; it must be an integer from 100 to 599 (payload ${version})`);
  }
  const headers: [string, string][] = [];
  const multi = result.multiValueHeaders ?? {};
  for (const [k, v] of Object.entries(result.headers ?? {})) {
    if (v === undefined || v === null) continue;
    if (Object.keys(multi).some((m) => m.toLowerCase() === k.toLowerCase())) continue;
    headers.push([k, String(v)]);
  }
  for (const [k, values] of Object.entries(multi)) {
    if (!Array.isArray(values)) continue;
    for (const v of values) headers.push([k, String(v)]);
  }
  for (const c of result.cookies ?? []) headers.push(['set-cookie', String(c)]);
  let body: Buffer;
  if (result.body === undefined || result.body === null) body = Buffer.alloc(0);
  else if (typeof result.body !== 'string') {
    throw new NimbusError('INVALID_RESPONSE', `the handler returned a ${typeof result.body} body; body must be a string (JSON.stringify objects, base64 binary with isBase64Encoded)`);
  } else body = result.isBase64Encoded ? Buffer.from(result.body, 'base64') : Buffer.from(result.body, 'utf8');
  return { status, headers, body };
}

/** Payload 2.0: a result with statusCode is a response; anything else is sent as 200 JSON. */
export function mapV2Result(result: unknown): HttpResponse {
  if (isStructured(result)) return structured(result, '2.0');
  if (result === undefined) return { status: 200, headers: [['content-type', 'application/json']], body: Buffer.alloc(0) };
  // A string is taken as the JSON text itself, as API Gateway does; other values are serialised.
  const text = typeof result === 'string' ? result : JSON.stringify(result);
  return { status: 200, headers: [['content-type', 'application/json']], body: Buffer.from(text, 'utf8') };
}

/** Payload 1.0 (REST proxy): the result must be { statusCode, headers?, multiValueHeaders?, body?, isBase64Encoded? }. */
export function mapV1Result(result: unknown): HttpResponse {
  if (!isStructured(result)) {
    throw new NimbusError('INVALID_RESPONSE', 'a handler on a payload "1.0" route must return { statusCode, headers, body }; it returned ' + (result === undefined ? 'nothing' : `a ${Array.isArray(result) ? 'array' : typeof result} without statusCode`));
  }
  return structured(result, '1.0');
}
