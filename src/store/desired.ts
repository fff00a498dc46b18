// An app's desired state with nothing in it: tests, benchmarks and the deploy start from this and
// fill in what they declare, so a new kind of resource is one line here, not one per caller.
import type { DesiredApp } from './types.ts';

export function desiredApp(name: string, over: Partial<Omit<DesiredApp, 'name'>> = {}): DesiredApp {
  return {
    name, specHash: '', functions: [], routes: [], queues: [], queueTriggers: [], schedules: [], topics: [], rules: [],
    buckets: [], storageTriggers: [], tables: [], tableTriggers: [], budgets: [], ...over,
  };
}
