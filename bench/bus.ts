// node bench/bus.ts — event-pattern matching throughput: a RuleIndex holding 1,000 realistic rules
// and one holding 10, against the same stream of generated events, next to two baselines measured in
// the same run: the same compiled patterns tried one by one (no index), and the reference matcher
// looping over all 1,000 rules. Prints events/s (median of the rounds, with min and max) and ratios;
// nothing here is a test. Target from the issue: ≥ 50,000 events/s with 1,000 rules.
//
// Rules mix what EventBridge users write: exact source and detail-type with detail fields by value,
// prefix/suffix, anything-but, numeric ranges, equals-ignore-case, exists, wildcard ARNs, CIDR, and
// $or. Events are parsed objects (the bus parses each event once on PutEvents). Rounds alternate the
// cases so noise spreads over all of them. Knobs: BENCH_ROUNDS (default 5), BENCH_MS per case and
// round (default 1500), BENCH_SEED (default 1), BENCH_ONLY (run only the cases whose name starts so).
import { availableParallelism, cpus } from 'node:os';
import { RuleIndex } from '../src/events/bus/matcher.ts';
import { type CompiledPattern, matchesReference, validatePattern } from '../src/events/bus/pattern.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CASE_MS = Number(process.env.BENCH_MS ?? 1500);
const EVENT_POOL = 20_000;
const TARGET_EVENTS_PER_S = 50_000;

// --- deterministic generation -------------------------------------------------------------------

let seed = Number(process.env.BENCH_SEED ?? 1);
const rand = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};
const int = (n: number): number => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const some = <T>(xs: readonly T[], n: number): T[] => [...new Set(Array.from({ length: n }, () => pick(xs)))];

const SERVICES = ['ec2', 's3', 'rds', 'lambda', 'ecs', 'dynamodb', 'sqs', 'sns', 'iam', 'kms', 'glue', 'batch', 'codebuild', 'cloudtrail', 'guardduty'];
const CUSTOM = ['orders', 'billing', 'shipping', 'inventory', 'users', 'payments', 'search', 'catalog', 'reviews', 'notifications', 'auth', 'reports', 'pricing', 'returns', 'loyalty'];
const SOURCES = [...SERVICES.map((s) => `aws.${s}`), ...CUSTOM.map((s) => `com.acme.${s}`)];
const VERBS = ['Created', 'Updated', 'Deleted', 'State Change', 'Failed', 'Completed'];
const detailTypes = (source: string): string[] => VERBS.map((v) => `${source.split('.').pop()!.replace(/^./, (c) => c.toUpperCase())} ${v}`);
const STATES = ['pending', 'running', 'stopping', 'stopped', 'terminated', 'failed', 'succeeded', 'queued', 'cancelled', 'initializing'];
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-southeast-1', 'ap-northeast-1'];
const EXTENSIONS = ['.png', '.jpg', '.csv', '.json', '.parquet', '.gz', '.txt', '.pdf'];
const TIERS = ['free', 'pro', 'business', 'enterprise'];
const CURRENCIES = ['USD', 'EUR', 'GBP', 'JPY'];

/** One rule: a source (exact or prefix), usually a detail-type, and one or two detail conditions. */
function makeRule(): unknown {
  const source = pick(SOURCES);
  const types = detailTypes(source);
  const p: Record<string, unknown> = { source: [source] };
  const detail: Record<string, unknown> = {};
  const r = rand();
  if (r < 0.3) {
    p['detail-type'] = some(types, 1 + int(2));
    detail.state = some(STATES, 1 + int(3));
  } else if (r < 0.42) {
    p['detail-type'] = [{ prefix: types[0]!.split(' ')[0]! }];
    detail.amount = [{ numeric: pick([['>', int(5000)], ['>=', int(1000), '<', 2000 + int(8000)], ['<=', int(500)]]) }];
  } else if (r < 0.52) {
    p['detail-type'] = [pick(types)];
    detail.key = [{ suffix: pick(EXTENSIONS) }];
    detail.bucket = [{ 'anything-but': some(['logs', 'tmp', 'backup', 'archive'], 2) }];
  } else if (r < 0.62) {
    p['detail-type'] = [pick(types)];
    detail.status = [pick([{ 'anything-but': some(STATES, 2) }, { 'anything-but': { prefix: 'term' } }, { prefix: 'stop' }])];
  } else if (r < 0.7) {
    detail.region = [{ 'equals-ignore-case': pick(REGIONS).toUpperCase() }];
    detail.error = [{ exists: rand() < 0.5 }];
  } else if (r < 0.76) {
    p['detail-type'] = [pick(types)];
    p.resources = [{ wildcard: `arn:aws:${source.split('.').pop()}:*:123456789012:${pick(['instance', 'table', 'function', 'queue'])}/*` }];
  } else if (r < 0.8) {
    // Account-wide rules: no source, so they are filed under "field present" and tried for every event.
    delete p.source;
    detail.sourceIPAddress = [{ cidr: pick(['10.0.0.0/8', '192.168.0.0/16', '172.16.0.0/12', '2001:db8::/32']) }];
  } else if (r < 0.84) {
    p['detail-type'] = [pick(types)];
    detail.items = { sku: Array.from({ length: 3 }, () => `sku-${int(500)}`), qty: [{ numeric: ['>=', 1 + int(5)] }] };
  } else if (r < 0.9) {
    p['detail-type'] = some(types, 2);
    detail.$or = [{ state: some(STATES, 2) }, { amount: [{ numeric: ['>', 1000 + int(8000)] }] }];
  } else if (r < 0.95) {
    p.source = [{ prefix: 'com.acme.' }];
    p['detail-type'] = [pick(types)];
    detail.customer = { tier: [pick(TIERS)], country: some(['US', 'DE', 'FR', 'JP', 'GB', 'BR'], 2) };
  } else {
    p['detail-type'] = [pick(types)];
    detail.currency = some(CURRENCIES, 2);
    detail.amount = [{ numeric: ['>=', 100 * int(50)] }];
  }
  if (Object.keys(detail).length) p.detail = detail;
  return p;
}

/** An event as services emit them: the EventBridge envelope and a detail of a dozen fields. */
function makeEvent(i: number): unknown {
  const source = pick(SOURCES);
  const service = source.split('.').pop()!;
  const state = pick(STATES);
  return {
    version: '0',
    id: `6a7e8feb-b491-4cf7-a9f1-${String(i).padStart(12, '0')}`,
    'detail-type': pick(detailTypes(source)),
    source,
    account: '123456789012',
    time: '2026-11-25T13:48:01Z',
    region: pick(REGIONS),
    resources: [`arn:aws:${service}:${pick(REGIONS)}:123456789012:${pick(['instance', 'table', 'function', 'queue'])}/r-${int(1000)}`],
    detail: {
      state,
      status: pick(STATES),
      amount: int(10_000),
      currency: pick(CURRENCIES),
      key: `uploads/${int(100)}/file${pick(EXTENSIONS)}`,
      bucket: pick(['media', 'logs', 'tmp', 'data', 'backup', 'archive']),
      region: rand() < 0.5 ? pick(REGIONS) : pick(REGIONS).toUpperCase(),
      ...(rand() < 0.2 ? { error: { code: 'E42', message: 'something failed' } } : {}),
      sourceIPAddress: pick(['10.1.2.3', '192.168.7.9', '172.20.1.1', '203.0.113.5', '2001:db8::17']),
      customer: { id: `c-${int(10_000)}`, tier: pick(TIERS), country: pick(['US', 'DE', 'FR', 'JP', 'GB', 'BR']) },
      items: Array.from({ length: 1 + int(3) }, () => ({ sku: `sku-${int(500)}`, qty: 1 + int(5) })),
      tags: some(['prod', 'staging', 'dev', 'pci', 'gdpr'], 2),
    },
  };
}

// --- measurement ------------------------------------------------------------------------------------

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

interface Case {
  name: string;
  match: (event: unknown) => number;
  ms: number;
  rates: number[];
}

function measure(c: Case, events: unknown[], start: number): number {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  let i = start;
  while (t - t0 < c.ms) {
    for (let k = 0; k < 64; k++) {
      c.match(events[i]!);
      i = (i + 1) % events.length;
    }
    n += 64;
    t = performance.now();
  }
  c.rates.push((n * 1000) / (t - t0));
  return i;
}

function table(rows: string[][]): void {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('   ') + '\n');
}

function main(): void {
  const rules = Array.from({ length: 1000 }, makeRule);
  const events = Array.from({ length: EVENT_POOL }, (_, i) => makeEvent(i));
  const compiled: CompiledPattern[] = rules.map((r) => validatePattern(r));

  let t0 = performance.now();
  const big = new RuleIndex();
  compiled.forEach((c, i) => big.add(`rule-${i}`, c));
  const buildMs = performance.now() - t0;
  const small = new RuleIndex();
  compiled.slice(0, 10).forEach((c, i) => small.add(`rule-${i}`, c));
  const oneByOne = compiled.map((c) => {
    const idx = new RuleIndex();
    idx.add('r', c);
    return idx;
  });

  // The index must agree with the baselines before its speed means anything.
  t0 = performance.now();
  for (const e of events.slice(0, 300)) {
    const want = rules.flatMap((r, i) => (matchesReference(r, e) ? [`rule-${i}`] : [])).sort().join();
    if (big.match(e).sort().join() !== want) throw new Error(`index and reference disagree on ${JSON.stringify(e)}`);
  }
  const checkMs = performance.now() - t0;

  const only = process.env.BENCH_ONLY; // a case name prefix, for profiling one case
  const all: Case[] = [
    { name: 'RuleIndex, 1,000 rules', match: (e) => big.match(e).length, ms: CASE_MS, rates: [] },
    { name: 'RuleIndex, 10 rules', match: (e) => small.match(e).length, ms: CASE_MS, rates: [] },
    {
      name: 'baseline: compiled patterns one by one, 1,000 rules',
      match: (e) => {
        let m = 0;
        for (const idx of oneByOne) m += idx.match(e).length;
        return m;
      },
      ms: CASE_MS, rates: [],
    },
    {
      name: 'baseline: matchesReference over all 1,000 rules',
      match: (e) => {
        let m = 0;
        for (const r of rules) if (matchesReference(r, e)) m++;
        return m;
      },
      ms: CASE_MS, rates: [],
    },
  ];
  const cases = only ? all.filter((c) => c.name.startsWith(only)) : all;

  const st = big.stats();
  process.stdout.write(`event-pattern matching — node ${process.version}, ${availableParallelism()} × ${cpus()[0]?.model.trim() ?? '?'}\n`);
  process.stdout.write(`1,000 rules → ${st.alternatives} alternatives over ${st.fields} fields: ${st.byValue} filed by value, ${st.byPresence} by field presence, ${st.always} checked always; built in ${buildMs.toFixed(1)} ms\n`);
  const perEvent = (idx: RuleIndex): string => (events.reduce((n: number, e) => n + idx.match(e).length, 0) / events.length).toFixed(2);
  process.stdout.write(`rules matched per event: ${perEvent(big)} of 1,000, ${perEvent(small)} of 10\n`);
  process.stdout.write(`${fmt(EVENT_POOL)} generated events, cycled; ${ROUNDS} rounds × ${CASE_MS} ms per case; index checked against the reference on 300 events (${checkMs.toFixed(0)} ms)\n\n`);

  // Warm-up, then rounds that rotate the order of the cases.
  for (const c of cases) measure({ ...c, ms: 300, rates: [] }, events, 0);
  let cursor = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < cases.length; k++) cursor = measure(cases[(round + k) % cases.length]!, events, cursor);
  }

  const rows = [['case', 'events/s (median)', 'min', 'max']];
  for (const c of cases) rows.push([c.name, fmt(median(c.rates)), fmt(Math.min(...c.rates)), fmt(Math.max(...c.rates))]);
  table(rows);
  if (only) return;
  const [k1000, k10, linear, reference] = cases.map((c) => median(c.rates)) as [number, number, number, number];
  process.stdout.write(`\nratios: 10 rules / 1,000 rules = ${(k10 / k1000).toFixed(2)}×; index / one-by-one = ${(k1000 / linear).toFixed(0)}×; index / reference loop = ${(k1000 / reference).toFixed(0)}×\n`);
  process.stdout.write(`target ≥ ${fmt(TARGET_EVENTS_PER_S)} events/s with 1,000 rules: ${k1000 >= TARGET_EVENTS_PER_S ? 'met' : 'NOT met'} (${fmt(k1000)})\n`);
}

main();
