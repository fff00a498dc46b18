// The gateway: HTTP ingress for function routes (and workflow routes, in ./workflow.ts). Matches the route, reads the body within the
// synchronous payload limit, builds the event (API Gateway v2 or v1) or a fetch Request, invokes,
// and maps the result back to HTTP. This is the hot path: it reads only in-memory state.
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, METHODS, type ServerResponse } from 'node:http';
import { MAX_SYNC_PAYLOAD_BYTES } from '../config/limits.ts';
import type { Registry } from '../control/registry.ts';
import { NimbusError } from '../errors.ts';
import { invocationError, type Invoker } from '../invoker/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { RouteRecord } from '../store/types.ts';
import { type Attributes, ShapeCache, type SpanHandle, type Tracing } from '../observability/tracing.ts';
import { joinTraceContext } from '../observability/trace-context.ts';
import { readBody, requestIdFrom, sendError } from '../util/http.ts';
import { MAX_PAYLOAD_BYTES } from '../workflows/executor.ts';
import { startFromRoute, type WorkflowStarter } from './workflow.ts';
import { buildV1Event, buildV2Event, type HttpRequestInfo, type HttpResponse, mapV1Result, mapV2Result } from './events.ts';

// A route's end shapes (method and status pairs) at most.
const END_SHAPES = 64;
// An end shape's key: status × 64 + the method's place in node:http's METHODS (the methods its parser
// accepts), a number, so that the hot path looks a shape up without building a string.
const METHOD_INDEX = new Map(METHODS.map((m, i) => [m, i]));
const endKey = (method: string, status: number): number | undefined => {
  const i = METHOD_INDEX.get(method);
  // (Past 64 methods, were node:http ever to accept so many, the status is set per span instead.)
  return i === undefined || i >= 64 ? undefined : status * 64 + i;
};

export class Gateway {
  readonly #registry: Registry;
  readonly #invoker: Invoker;
  readonly #logger: Logger;
  readonly #tracing: Tracing;
  // The server span's shape, by route and request method (a route of ANY takes several).
  readonly #shapes: ShapeCache<RouteRecord>;
  // And the shape it ends with, by method and status: the status (http.response.status_code) is copied
  // with the shape's bytes rather than encoded per span. A function picks its statuses and, on an ANY
  // route, a client its method: past END_SHAPES a route's further pairs set the status per span.
  readonly #endShapes: ShapeCache<RouteRecord, number>;

  constructor(registry: Registry, invoker: Invoker, logger: Logger, tracing: Tracing) {
    this.#registry = registry;
    this.#invoker = invoker;
    this.#logger = logger;
    this.#tracing = tracing;
    const shape = (route: RouteRecord, method: string, more?: Attributes) =>
      tracing.shape(`${method} ${route.path}`, 'server', { 'http.request.method': method, 'http.route': route.path, 'faas.invoked_name': route.fn ?? '', ...more });
    this.#shapes = new ShapeCache((route, method) => shape(route, method));
    this.#endShapes = new ShapeCache((route, key) => shape(route, METHODS[key % 64]!, { 'http.response.status_code': Math.floor(key / 64) }));
  }

  /** Starts executions for workflow routes (set by the server once the executor runs). */
  workflows: WorkflowStarter | undefined;

  /** Sees each answer: the route template ("METHOD /path/{param}", or "unmatched") and the status (the metrics). */
  onResponse: ((route: string, status: number) => void) | undefined;

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = requestIdFrom(req.headers['x-request-id'], randomUUID);
    const headers = { 'x-request-id': requestId };
    let route = 'unmatched';
    let span: SpanHandle | undefined;
    // The function route the span is shaped by, and the method (none for a workflow route's span).
    let shapedBy: RouteRecord | undefined;
    let method = '';
    try {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const rawPath = q < 0 ? url : url.slice(0, q);
      const rawQuery = q < 0 ? '' : url.slice(q + 1);
      method = req.method ?? 'GET';
      const match = this.#registry.routes.match(method, rawPath);
      if (match === undefined) throw new NimbusError('NOT_FOUND', `no route for ${method} ${rawPath}`);
      if (match === 'method-not-allowed') {
        const allow = this.#registry.routes.allowed(rawPath).join(', ');
        sendError(res, new NimbusError('METHOD_NOT_ALLOWED', `${rawPath} does not accept ${method}; allowed: ${allow}`), this.#logger, { ...headers, allow });
        return;
      }
      route = `${match.route.method} ${match.route.path}`;
      // The request's trace context (W3C traceparent, and tracestate with it) continues here, or a trace
      // starts: the headers joined unchecked (a header holds no newline) and parsed once, by the span.
      // (Node joins a header sent on several lines into one string, as W3C reads a tracestate sent so.)
      const tp = req.headers.traceparent;
      const parent = typeof tp === 'string' ? joinTraceContext(tp, req.headers.tracestate as string | undefined) : undefined;
      if (match.route.workflow !== null) {
        if (!this.workflows) throw new NimbusError('NOT_FOUND', `no route for ${method} ${rawPath}`);
        span = this.#tracing.start(`${method} ${match.route.path}`, parent, 'server', { 'http.request.method': method, 'http.route': match.route.path, 'nimbus.workflow': match.route.workflow });
        res.setHeader('x-nimbus-trace-id', span.traceId);
        // The execution continues this request's trace: its task invocations are children of this span.
        await startFromRoute(this.workflows, match.route, await readBody(req, MAX_PAYLOAD_BYTES), span.context, res, headers);
        return;
      }
      const fn = match.route.fn === null ? undefined : this.#registry.functions.get(match.route.fn);
      if (!fn) throw new NimbusError('NOT_FOUND', `no route for ${method} ${rawPath}`);
      span = this.#tracing.startShaped(this.#shapes.get(match.route, method), parent);
      shapedBy = match.route;
      res.setHeader('x-nimbus-trace-id', span.traceId);
      const body = await readBody(req, MAX_SYNC_PAYLOAD_BYTES);
      const host = req.headers.host ?? '127.0.0.1';
      const pairs: [string, string][] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
      const info: HttpRequestInfo = {
        method, rawPath, rawQuery, headers: pairs, body, sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        protocol: `HTTP/${req.httpVersion}`, requestId, timeEpochMs: Date.now(), routeKey: `${match.route.method} ${match.route.path}`,
        routePath: match.route.path, pathParameters: match.params, host, scheme: 'http', localPort: req.socket.localPort,
      };
      const result = await this.#invoker.invoke({
        fn, qualifier: match.route.qualifier ?? undefined, requestId, trigger: 'http', trace: span, styled: true,
        prepare: (style) => style === 'fetch'
          ? { kind: 'fetch', payload: { method, url: `http://${host}${url}`, headers: pairs.filter(([k]) => !/^(host|connection|content-length|transfer-encoding)$/i.test(k)), bodyB64: body.toString('base64') } }
          : { kind: 'event', payload: match.route.payload === '1.0' ? buildV1Event(info) : buildV2Event(info) },
      });
      if (result.outcome !== 'success') throw invocationError(result);
      let out: HttpResponse;
      if (result.style === 'fetch') {
        const r = JSON.parse(result.json!) as { status: number; headers: [string, string][]; bodyB64: string };
        out = { status: r.status, headers: r.headers, body: Buffer.from(r.bodyB64, 'base64') };
      } else {
        const value: unknown = result.json === undefined ? undefined : JSON.parse(result.json);
        out = match.route.payload === '1.0' ? mapV1Result(value) : mapV2Result(value);
      }
      this.#write(res, out, requestId);
    } catch (err) {
      sendError(res, err, this.#logger, headers);
    } finally {
      this.onResponse?.(route, res.statusCode);
      if (span) {
        const key = shapedBy && span.recorded ? endKey(method, res.statusCode) : undefined;
        const shape = shapedBy && key !== undefined ? this.#endShapes.find(shapedBy, key, END_SHAPES) : undefined;
        if (shape) span.setShape(shape);
        else span.setAttributes({ 'http.response.status_code': res.statusCode });
        span.end(res.statusCode >= 500 ? `HTTP ${res.statusCode}` : undefined);
      }
    }
  }

  #write(res: ServerResponse, out: HttpResponse, requestId: string): void {
    const grouped = new Map<string, string[]>();
    for (const [k, v] of out.headers) {
      const key = k.toLowerCase();
      if (key === 'content-length' || key === 'transfer-encoding' || key === 'connection') continue;
      const list = grouped.get(key);
      if (list) list.push(v); else grouped.set(key, [v]);
    }
    if (!grouped.has('x-request-id')) grouped.set('x-request-id', [requestId]);
    grouped.set('content-length', [String(out.body.length)]);
    const flat: Record<string, string | string[]> = {};
    for (const [k, v] of grouped) flat[k] = v.length === 1 ? v[0]! : v;
    res.writeHead(out.status, flat);
    res.end(out.body);
  }
}
