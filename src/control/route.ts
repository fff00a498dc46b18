// What a service module hands the admin API: its endpoints, each with its handler and its OpenAPI
// description, so a service's HTTP surface lives next to the service (src/services/<x>/api.ts) and
// the API's router and OpenAPI document take it in whole.
import type { IncomingMessage, ServerResponse } from 'node:http';

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE' | 'HEAD' | 'PATCH';

export interface ApiRoute {
  method: HttpMethod;
  /** find-my-way syntax: `/_nimbus/api/buckets/:bucket/objects/*` (the wildcard is `params['*']`). */
  path: string;
  handler: (req: IncomingMessage, res: ServerResponse, params: Record<string, string | undefined>, query: URLSearchParams) => Promise<void>;
  /** Needs the admin token (default true). Presigned URLs carry their own proof instead. */
  auth?: boolean;
  /** The OpenAPI 3.1 operation object for this method and path (summary, parameters, requestBody, responses). */
  openapi: Record<string, unknown>;
}
