// npm run bench:kv — KV get and put ops/s from inside a function on the embedded store (target
// ≥ 10,000 ops/s each), next to the same operations made straight on a SqliteStore in the same run
// (the store's ceiling: no IPC, no SDK host). The function loops N puts then N gets through the SDK
// with CONCURRENCY calls in flight (an instance allows 64) and times itself, so the numbers are the
// SDK path alone, not the invocation around it. Prints medians of ROUNDS rounds and the ratios.
// Knobs: BENCH_ROUNDS (default 3), BENCH_OPS (per round and operation, default 20000),
// BENCH_CONCURRENCY (default 64). Bounded: well under a minute with the defaults.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/observability/logger.ts';
import { startServer } from '../src/server.ts';
import { SqliteStore } from '../src/store/sqlite/index.ts';
import { bundleApp, writeApp } from '../test/helpers.ts';
import { desiredApp } from '../src/store/desired.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const OPS = Number(process.env.BENCH_OPS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const int = (x: number): string => Math.round(x).toLocaleString('en-US');

const manifest = `app: kvbench
tables:
  bench: { partitionKey: id }
functions:
  loop:
    handler: src/loop.handler
    memory: 512
    timeout: 120
    permissions: { tables: { bench: [read, write] } }
`;

// Runs inside the function: N operations with at most `concurrency` in flight, timed in the instance.
const source = `import { kv } from 'nimbus/sdk';
const t = kv.table('bench');
async function run(n: number, concurrency: number, one: (i: number) => Promise<unknown>) {
  let next = 0;
  const worker = async () => { while (next < n) await one(next++); };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return performance.now() - t0;
}
export const handler = async (e: { n: number; concurrency: number; keys: number; round: number }) => {
  const putMs = await run(e.n, e.concurrency, (i) => t.put({ id: 'k' + (i % e.keys), round: e.round, pad: 'x'.repeat(100) }));
  const getMs = await run(e.n, e.concurrency, (i) => t.get({ id: 'k' + (i % e.keys) }));
  return { putMs, getMs };
};
`;

/** The same operations straight on the store: its ceiling on this machine. */
async function baseline(dir: string, round: number): Promise<{ putMs: number; getMs: number }> {
  const store = new SqliteStore(join(dir, `baseline-${round}.db`));
  try {
    await store.applyApp(desiredApp('b', { specHash: 'x', tables: [{ name: 'bench', partitionKey: 'id', sortKey: null, ttlAttribute: null }] }), Date.now());
    const run = async (one: (i: number) => Promise<unknown>) => {
      let next = 0;
      const worker = async () => { while (next < OPS) await one(next++); };
      const t0 = performance.now();
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      return performance.now() - t0;
    };
    const key = (i: number) => ({ pk: `k${i % 10_000}`, sk: null });
    const putMs = await run((i) => store.kv.writeItems('bench', [{ op: 'put', key: key(i), item: { id: `k${i % 10_000}`, round, pad: 'x'.repeat(100) } }], Date.now()));
    const getMs = await run((i) => store.kv.getItem('bench', key(i), Date.now()));
    return { putMs, getMs };
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-bench-kv-'));
  const srv = await startServer({ port: 0, dataDir: join(dir, 'data'), logger: silentLogger });
  const appDir = writeApp({ 'nimbus.yml': manifest, 'src/loop.ts': source });
  try {
    const body = await bundleApp(appDir, manifest);
    const auth = { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' };
    const dep = await fetch(`${srv.url}/_nimbus/api/apps/kvbench`, { method: 'PUT', headers: auth, body: JSON.stringify(body) });
    if (dep.status !== 200) throw new Error(`deploy failed: ${await dep.text()}`);
    const rows: { sdkPut: number; sdkGet: number; storePut: number; storeGet: number }[] = [];
    // A warm-up invocation: the instance starts and the SDK path is compiled before timing.
    const invoke = async (n: number, round: number) => {
      const r = await fetch(`${srv.url}/_nimbus/api/functions/loop/invocations`, { method: 'POST', headers: auth, body: JSON.stringify({ n, concurrency: CONCURRENCY, keys: 10_000, round }) });
      const text = await r.text();
      if (r.status !== 200) throw new Error(`invoke failed: ${r.status} ${text}`);
      return JSON.parse(text) as { putMs: number; getMs: number; errorMessage?: string };
    };
    await invoke(1000, -1);
    for (let round = 0; round < ROUNDS; round++) {
      const sdk = await invoke(OPS, round);
      if (sdk.errorMessage) throw new Error(sdk.errorMessage);
      const base = await baseline(dir, round);
      rows.push({ sdkPut: OPS / (sdk.putMs / 1000), sdkGet: OPS / (sdk.getMs / 1000), storePut: OPS / (base.putMs / 1000), storeGet: OPS / (base.getMs / 1000) });
      process.stderr.write(`round ${round + 1}/${ROUNDS}: put ${int(rows.at(-1)!.sdkPut)}/s, get ${int(rows.at(-1)!.sdkGet)}/s from the function\n`);
    }
    const m = (k: keyof (typeof rows)[number]) => median(rows.map((r) => r[k]));
    const out = [
      ['operation', 'from a function (ops/s)', 'store alone (ops/s)', 'function / store', 'target'],
      ['put', int(m('sdkPut')), int(m('storePut')), `${(m('sdkPut') / m('storePut') * 100).toFixed(0)}%`, m('sdkPut') >= 10_000 ? '≥ 10,000 ✓' : '≥ 10,000 ✗'],
      ['get', int(m('sdkGet')), int(m('storeGet')), `${(m('sdkGet') / m('storeGet') * 100).toFixed(0)}%`, m('sdkGet') >= 10_000 ? '≥ 10,000 ✓' : '≥ 10,000 ✗'],
    ];
    const w = out[0]!.map((_, i) => Math.max(...out.map((r) => r[i]!.length)));
    process.stdout.write(`\nKV ops/s, median of ${ROUNDS} rounds of ${int(OPS)} ops, ${CONCURRENCY} in flight, 100-byte items\n`);
    for (const r of out) process.stdout.write(r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd() + '\n');
  } finally {
    rmSync(appDir, { recursive: true, force: true });
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
