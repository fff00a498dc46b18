// The in-memory copy of deployed configuration that the hot path reads: functions by name and the
// route table. Refreshed from the store after a deploy (and, in cluster mode, on a change signal).
import { RouteTable } from '../gateway/router.ts';
import type { Scheduler } from '../scheduler/index.ts';
import type { FunctionRecord, QueueTriggerRecord, RouteRecord, RuleEndpoint, RuleRecord, Store, TableTriggerRecord } from '../store/types.ts';

export class Registry {
  readonly #store: Store;
  readonly #scheduler: Scheduler;
  functions = new Map<string, FunctionRecord>();
  routes = new RouteTable([]);
  routeList: RouteRecord[] = [];
  queueTriggers: QueueTriggerRecord[] = [];
  rules: RuleRecord[] = [];
  ruleEndpoints: RuleEndpoint[] = [];
  tableTriggers: TableTriggerRecord[] = [];
  /** Called after each change is loaded (queue triggers follow deploys through this). */
  onChange: (() => void) | undefined;
  #generation = -1;

  constructor(store: Store, scheduler: Scheduler) {
    this.#store = store;
    this.#scheduler = scheduler;
  }

  async refresh(): Promise<void> {
    const generation = await this.#store.configGeneration();
    if (generation === this.#generation) return;
    const [functions, routes, queueTriggers, rules, ruleEndpoints, tableTriggers] = await Promise.all([
      this.#store.listFunctions(), this.#store.listRoutes(), this.#store.listQueueTriggers(), this.#store.listRules(), this.#store.listRuleEndpoints(),
      this.#store.kv.listTableTriggers(),
    ]);
    this.functions = new Map(functions.map((f) => [f.name, f]));
    this.routes = new RouteTable(routes);
    this.routeList = routes;
    this.queueTriggers = queueTriggers;
    this.rules = rules;
    this.ruleEndpoints = ruleEndpoints;
    this.tableTriggers = tableTriggers;
    this.#generation = generation;
    this.#scheduler.sync(this.functions);
    this.onChange?.();
  }
}
