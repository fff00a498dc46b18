// The route table of the gateway: a radix router (find-my-way) over every deployed route.
// `/users/{id}` becomes `/users/:id` and a greedy `{proxy+}` the wildcard; ANY registers every method.
import FindMyWay from 'find-my-way';
import type { RouteRecord } from '../store/types.ts';

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

export interface RouteMatch {
  route: RouteRecord;
  params: Record<string, string>;
}

interface Stored { route: RouteRecord; greedy: string | undefined }

export class RouteTable {
  readonly #router = FindMyWay({ ignoreTrailingSlash: false, caseSensitive: true, maxParamLength: 2048 });
  readonly size: number;

  constructor(routes: RouteRecord[]) {
    for (const route of routes) {
      const greedy = /\{([^}/]+)\+\}$/.exec(route.path)?.[1];
      const pattern = route.path.replace(/\{[^}/]+\+\}$/, '*').replace(/\{([^}/]+)\}/g, ':$1');
      const methods = route.method === 'ANY' ? HTTP_METHODS : [route.method];
      for (const m of methods) {
        // A specific method beats ANY on the same path: register ANY only where nothing else is.
        if (route.method === 'ANY' && this.#router.hasRoute(m as FindMyWay.HTTPMethod, pattern)) continue;
        if (this.#router.hasRoute(m as FindMyWay.HTTPMethod, pattern)) this.#router.off(m as FindMyWay.HTTPMethod, pattern);
        this.#router.on(m as FindMyWay.HTTPMethod, pattern, () => undefined, { route, greedy } satisfies Stored);
      }
    }
    this.size = routes.length;
  }

  /** The route for a request, `'method-not-allowed'` when the path exists for other methods, or undefined. */
  match(method: string, path: string): RouteMatch | 'method-not-allowed' | undefined {
    const found = this.#router.find(method as FindMyWay.HTTPMethod, path);
    if (found) {
      const stored = found.store as Stored;
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(found.params)) {
        if (k === '*') { if (stored.greedy) params[stored.greedy] = v ?? ''; } else params[k] = v ?? '';
      }
      return { route: stored.route, params };
    }
    for (const m of HTTP_METHODS) if (m !== method && this.#router.find(m, path)) return 'method-not-allowed';
    return undefined;
  }

  allowed(path: string): string[] {
    return HTTP_METHODS.filter((m) => this.#router.find(m, path));
  }
}
