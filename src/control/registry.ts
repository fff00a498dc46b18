// The in-memory copy of deployed configuration that the hot path reads: functions by name, their
// versions and aliases, and the route table. Refreshed from the store after a deploy or an alias
// change (and, in cluster mode, on a change signal). `resolve` is where a qualifier becomes the
// version that runs: an alias with a canary picks its second version by weight.
import { NimbusError } from '../errors.ts';
import { RouteTable } from '../gateway/router.ts';
import type { Scheduler } from '../scheduler/index.ts';
import type { FunctionRecord, QueueTriggerRecord, RouteRecord, RuleEndpoint, RuleRecord, Store, TableTriggerRecord } from '../store/types.ts';
import { type AliasRecord, DEFAULT_ALIAS, type VersionRecord } from '../store/versions.ts';

export class Registry {
  readonly #store: Store;
  readonly #scheduler: Scheduler;
  readonly #random: () => number;
  functions = new Map<string, FunctionRecord>();
  versions = new Map<string, Map<number, VersionRecord>>();
  aliases = new Map<string, Map<string, AliasRecord>>();
  routes = new RouteTable([]);
  routeList: RouteRecord[] = [];
  queueTriggers: QueueTriggerRecord[] = [];
  rules: RuleRecord[] = [];
  ruleEndpoints: RuleEndpoint[] = [];
  tableTriggers: TableTriggerRecord[] = [];
  /** Called after each change is loaded (queue triggers follow deploys through this). */
  onChange: (() => void) | undefined;
  #generation = -1;

  /** `random` picks canary traffic (tests seed it). */
  constructor(store: Store, scheduler: Scheduler, random: () => number = Math.random) {
    this.#store = store;
    this.#scheduler = scheduler;
    this.#random = random;
  }

  async refresh(): Promise<void> {
    const generation = await this.#store.configGeneration();
    if (generation === this.#generation) return;
    const [functions, routes, queueTriggers, rules, ruleEndpoints, tableTriggers, versions, aliases] = await Promise.all([
      this.#store.listFunctions(), this.#store.listRoutes(), this.#store.listQueueTriggers(), this.#store.listRules(), this.#store.listRuleEndpoints(),
      this.#store.kv.listTableTriggers(), this.#store.versions.listVersions(), this.#store.versions.listAliases(),
    ]);
    this.functions = new Map(functions.map((f) => [f.name, f]));
    this.versions = new Map();
    // Every version's instances restart when a secret of the function changes (the epoch is the function's, not the version's).
    for (const v of versions) (this.versions.get(v.name) ?? this.versions.set(v.name, new Map()).get(v.name)!).set(v.revision, { ...v, secretsEpoch: this.functions.get(v.name)?.secretsEpoch ?? 0 });
    this.aliases = new Map();
    for (const a of aliases) (this.aliases.get(a.fn) ?? this.aliases.set(a.fn, new Map()).get(a.fn)!).set(a.name, a);
    this.routes = new RouteTable(routes);
    this.routeList = routes;
    this.queueTriggers = queueTriggers;
    this.rules = rules;
    this.ruleEndpoints = ruleEndpoints;
    this.tableTriggers = tableTriggers;
    this.#generation = generation;
    this.#syncScheduler();
    this.onChange?.();
  }

  /**
   * The versions whose provisioned concurrency runs, each once with its count in `provisioned`:
   * `live`'s versions (the alias's count, or each version's own), and those of other aliases that
   * set a count — what the scheduler keeps initialised and what metering bills as provisioned.
   */
  provisioned: FunctionRecord[] = [];

  /**
   * Keeps the pools of each function's newest version and of every version an alias, a route or a
   * queue trigger names (the others are closed); provisions `live`'s versions.
   */
  #syncScheduler(): void {
    const active = new Map<string, Set<number>>();
    const counts = new Map<string, { v: FunctionRecord; n: number }>();
    const provision = (fn: FunctionRecord, version: number | null, n: number | null): void => {
      const v = version === null ? undefined : this.#version(fn, version);
      const want = n ?? v?.provisioned ?? 0;
      if (!v || want <= 0) return;
      const key = `${fn.name}@${version}`;
      counts.set(key, { v, n: Math.max(want, counts.get(key)?.n ?? 0) });
    };
    const pin = (fn: string, q: string | null | undefined): void => { if (q && /^\d+$/.test(q)) active.get(fn)?.add(Number(q)); };
    for (const fn of this.functions.values()) {
      const set = new Set([fn.revision]);
      for (const a of this.aliases.get(fn.name)?.values() ?? []) {
        set.add(a.version);
        if (a.extraVersion !== null) set.add(a.extraVersion);
      }
      active.set(fn.name, set);
      const live = this.aliases.get(fn.name)?.get(DEFAULT_ALIAS);
      if (!live) provision(fn, fn.revision, null);
      for (const a of this.aliases.get(fn.name)?.values() ?? []) {
        // live without a count: each version's own; another alias only with a count of its own.
        if (a.name !== DEFAULT_ALIAS && a.provisioned === null) continue;
        provision(fn, a.version, a.provisioned);
        provision(fn, a.extraVersion, a.provisioned);
      }
    }
    const provisioned = [...counts.values()].map(({ v, n }) => (v.provisioned === n ? v : { ...v, provisioned: n }));
    for (const r of this.routeList) if (r.fn !== null) pin(r.fn, r.qualifier);
    for (const t of this.queueTriggers) pin(t.fn, t.qualifier);
    this.provisioned = provisioned;
    this.#scheduler.sync(this.functions, active, provisioned);
  }

  #version(fn: FunctionRecord, n: number): FunctionRecord | undefined {
    return this.versions.get(fn.name)?.get(n) ?? (n === fn.revision ? fn : undefined);
  }

  /**
   * The version a qualifier names: `$LATEST` (the newest), a version number, or an alias (default
   * `live`), whose canary version takes its weight of the calls. VERSION_NOT_FOUND otherwise.
   */
  resolve(fn: FunctionRecord, qualifier: string = DEFAULT_ALIAS): FunctionRecord {
    if (qualifier === '$LATEST') return this.#version(fn, fn.revision) ?? fn;
    let n: number;
    if (/^\d+$/.test(qualifier)) n = Number(qualifier);
    else {
      const alias = this.aliases.get(fn.name)?.get(qualifier);
      if (!alias) {
        // Every function gets `live` when it is created (and the migration gave existing ones theirs);
        // should one lack it all the same, its newest version answers rather than a 404.
        if (qualifier === DEFAULT_ALIAS) return fn;
        throw new NimbusError('VERSION_NOT_FOUND', `function "${fn.name}" has no alias "${qualifier}" (nimbus versions ${fn.name} lists its versions and aliases)`);
      }
      n = alias.extraVersion !== null && this.#random() * 100 < alias.extraWeight ? alias.extraVersion : alias.version;
    }
    const v = this.#version(fn, n);
    if (!v) throw new NimbusError('VERSION_NOT_FOUND', `function "${fn.name}" has no version ${qualifier} (nimbus versions ${fn.name} lists them)`);
    return v;
  }
}
