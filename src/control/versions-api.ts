// The admin API of versions, aliases and rollouts (docs/versions.md): list a function's versions and
// aliases, point an alias (optionally with a weighted second version), list rollouts with every
// step, and roll `live` back at once.
import { z } from 'zod';
import { isAliasName } from '../config/strategy.ts';
import { NimbusError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import { readBody, parseJsonBody, sendJson } from '../util/http.ts';
import type { VersionRecord } from '../store/versions.ts';
import type { ApiRoute } from './route.ts';
import type { Registry } from './registry.ts';
import type { RolloutRunner } from './rollouts.ts';

const AliasBody = z.strictObject({
  version: z.number().int().positive(),
  additionalVersion: z.number().int().positive().nullable().optional(),
  weight: z.number().min(0).max(100).optional(),
  provisioned: z.number().int().min(0).max(1000).nullable().optional(),
});

const json = (description: string) => ({ description, content: { 'application/json': { schema: { type: 'object' } } } });
const fnParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'function name' };
const err = { $ref: '#/components/responses/Error' };

export function versionRoutes(deps: { store: Store; registry: Registry; rollouts: RolloutRunner; now: () => number }): ApiRoute[] {
  const fnOf = (name: string) => {
    const fn = deps.registry.functions.get(name);
    if (!fn) throw new NimbusError('FUNCTION_NOT_FOUND', `no function named "${name}"`);
    return fn;
  };
  return [
    {
      method: 'GET', path: '/_nimbus/api/functions/:name/versions',
      handler: async (req, res, p) => {
        req.resume();
        const fn = fnOf(p.name!);
        const [versions, aliases] = await Promise.all([deps.store.versions.listVersions(fn.name), deps.store.versions.listAliases(fn.name)]);
        sendJson(res, 200, { latest: fn.revision, versions: versions.map(versionView), aliases });
      },
      openapi: { summary: 'A function\'s versions (newest last; each with its code hash and configuration) and aliases', parameters: [fnParam], responses: { 200: json('{ latest, versions, aliases }'), 404: err } },
    },
    {
      method: 'PUT', path: '/_nimbus/api/functions/:name/aliases/:alias',
      handler: async (req, res, p) => {
        const fn = fnOf(p.name!);
        if (!isAliasName(p.alias!)) { req.resume(); throw new NimbusError('BAD_REQUEST', `alias: letters, digits, "-" and "_" (not only digits), at most 128, got ${JSON.stringify(p.alias)}`); }
        const parsed = AliasBody.safeParse(parseJsonBody(await readBody(req, 64 * 1024), 'the alias'));
        if (!parsed.success) throw new NimbusError('BAD_REQUEST', `alias body: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')} — send { "version": 3 }, { "version": 3, "additionalVersion": 4, "weight": 10 } or { "version": 3, "provisioned": 2 }`);
        const b = parsed.data;
        const extra = b.additionalVersion ?? null;
        if (extra !== null && b.weight === undefined) throw new NimbusError('BAD_REQUEST', 'weight: required with additionalVersion (the percentage of calls it takes, 0 to 100)');
        if (extra === b.version) throw new NimbusError('BAD_REQUEST', 'additionalVersion: must differ from version');
        if (extra === null && b.weight !== undefined) throw new NimbusError('BAD_REQUEST', 'weight: goes with additionalVersion (the second version that takes that share)');
        // At most what the versions the alias points to may run at once (each version keeps its own concurrency.max).
        const max = Math.min(...[b.version, extra].filter((v): v is number => v !== null).map((v) => deps.registry.versions.get(fn.name)?.get(v)?.concurrencyMax ?? fn.concurrencyMax));
        if (b.provisioned != null && b.provisioned > max) throw new NimbusError('BAD_REQUEST', `provisioned: at most the concurrency.max of the versions the alias points to (${max}), got ${b.provisioned}`);
        const alias = await deps.store.versions.setAlias(fn.name, p.alias!, {
          version: b.version, extraVersion: extra, extraWeight: extra === null ? 0 : b.weight!, ...(b.provisioned !== undefined ? { provisioned: b.provisioned } : {}),
        }, deps.now());
        await deps.registry.refresh();
        sendJson(res, 200, alias);
      },
      openapi: {
        summary: 'Creates or moves an alias: one version, or a second one taking `weight` percent of the calls (a canary). Moving `live` by hand ends a running rollout.',
        parameters: [fnParam, { name: 'alias', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { version: { type: 'integer' }, additionalVersion: { type: ['integer', 'null'] }, weight: { type: 'number', minimum: 0, maximum: 100 }, provisioned: { type: ['integer', 'null'], minimum: 0, maximum: 1000, description: 'instances of the alias\'s versions kept initialised (null: live uses each version\'s own concurrency.provisioned; left out: unchanged)' } }, required: ['version'] } } } },
        responses: { 200: json('The alias'), 400: err, 404: err },
      },
    },
    {
      method: 'DELETE', path: '/_nimbus/api/functions/:name/aliases/:alias',
      handler: async (req, res, p) => {
        req.resume();
        const fn = fnOf(p.name!);
        if (!(await deps.store.versions.deleteAlias(fn.name, p.alias!))) throw new NimbusError('VERSION_NOT_FOUND', `function "${fn.name}" has no alias "${p.alias}"`);
        await deps.registry.refresh();
        sendJson(res, 200, { deleted: p.alias });
      },
      openapi: { summary: 'Deletes an alias (not `live`)', parameters: [fnParam, { name: 'alias', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: json('{ deleted }'), 400: err, 404: err } },
    },
    {
      method: 'GET', path: '/_nimbus/api/functions/:name/rollouts',
      handler: async (req, res, p) => {
        req.resume();
        const fn = fnOf(p.name!);
        const rollouts = await deps.store.versions.listRollouts({ fn: fn.name, limit: 50 });
        // A running rollout also says what its new version has done so far (steps record it only when taken).
        sendJson(res, 200, {
          rollouts: await Promise.all(rollouts.map(async (r) => (r.status === 'running' ? { ...r, current: await deps.store.versions.versionStats(r.fn, r.toVersion, r.startedAt) } : r))),
        });
      },
      openapi: { summary: 'The function\'s rollouts, newest first, each with every step (time, weight, the new version\'s invocations, errors and p99) and its outcome', parameters: [fnParam], responses: { 200: json('{ rollouts }'), 404: err } },
    },
    {
      method: 'POST', path: '/_nimbus/api/functions/:name/rollback',
      handler: async (req, res, p) => {
        req.resume();
        const fn = fnOf(p.name!);
        sendJson(res, 200, await deps.rollouts.rollback(fn.name));
      },
      openapi: { summary: 'Points `live` back at once: a running rollout is rolled back; otherwise live goes to the version before the one it points to', parameters: [fnParam], responses: { 200: json('{ alias, rollout }'), 404: err } },
    },
  ];
}

function versionView(v: VersionRecord): Record<string, unknown> {
  return {
    version: v.revision, createdAt: new Date(v.createdAt).toISOString(), codeSha: v.codeSha, handler: v.handler, memoryMb: v.memoryMb, timeoutMs: v.timeoutMs,
    environment: Object.keys(v.environment), concurrency: { max: v.concurrencyMax, provisioned: v.provisioned, perInstance: v.perInstance },
  };
}
