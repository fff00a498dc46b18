// npm run bench:workflows — what durability costs a workflow, on the embedded store:
//   1. state transitions/s of a 100-state Pass chain run durably (start, store every event, end),
//      next to the same chain run by the pure engine in memory (no store) in the same run;
//   2. the latency of a one-Task workflow started with ?sync=true, next to invoking the same function
//      directly through the admin API in the same run: the overhead of a Task state.
// Knobs: BENCH_EXECUTIONS (default 200), BENCH_TASKS (default 200). Sequential, one core's worth of
// load; bounded to well under a minute.
import { rmSync } from 'node:fs';
import { silentLogger } from '../src/observability/logger.ts';
import { startServer } from '../src/server.ts';
import { start, validateDefinition } from '../src/workflows/asl/index.ts';
import { bundleApp, tempDir, writeApp } from '../test/helpers.ts';

const EXECUTIONS = Number(process.env.BENCH_EXECUTIONS ?? 200);
const TASKS = Number(process.env.BENCH_TASKS ?? 200);
const STATES = 100;

const chain: Record<string, unknown> = {};
for (let i = 0; i < STATES; i++) chain[`S${i}`] = { Type: 'Pass', Result: i, ResultPath: '$.last', ...(i === STATES - 1 ? { End: true } : { Next: `S${i + 1}` }) };
const CHAIN = { StartAt: 'S0', States: chain };
const ONE_TASK = { StartAt: 'T', States: { T: { Type: 'Task', Resource: 'echo', End: true } } };

const manifest = `app: wfbench
functions:
  echo:
    handler: src/echo.handler
workflows:
  chain: { definition: ${JSON.stringify(CHAIN)} }
  task: { definition: ${JSON.stringify(ONE_TASK)} }
`;

const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]!; };

async function main(): Promise<void> {
  const dataDir = tempDir('nimbus-bench-wf-');
  const appDir = writeApp({ 'nimbus.yml': manifest, 'src/echo.ts': 'export const handler = async (e: unknown) => e;' });
  const srv = await startServer({ port: 0, dataDir, logger: silentLogger });
  const token = srv.token;
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: { status?: string } }> => {
    const res = await fetch(srv.url + path, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    return { status: res.status, body: await res.json() as { status?: string } };
  };
  try {
    const dep = await call('PUT', '/_nimbus/api/apps/wfbench', await bundleApp(appDir, manifest));
    if (dep.status !== 200) throw new Error(`deploy: ${JSON.stringify(dep.body)}`);

    // 1. The Pass chain: in memory, then durably (each execution = 1 commit of ~200 history events).
    const v = validateDefinition(CHAIN);
    if (!v.ok) throw new Error('chain does not validate');
    let t0 = performance.now();
    for (let i = 0; i < EXECUTIONS; i++) start(v.machine, { input: { i }, now: Date.now(), executionId: `e${i}`, executionName: `e${i}`, stateMachineId: 'sm', stateMachineName: 'chain', seed: String(i) });
    const memMs = performance.now() - t0;
    t0 = performance.now();
    for (let i = 0; i < EXECUTIONS; i++) {
      const e = await srv.workflows.startExecution('chain', { i });
      if (e.status !== 'SUCCEEDED') throw new Error(`chain ended ${e.status}`);
    }
    const durableMs = performance.now() - t0;
    const memRate = (EXECUTIONS * STATES) / (memMs / 1000);
    const durableRate = (EXECUTIONS * STATES) / (durableMs / 1000);
    process.stdout.write(`Pass chain, ${STATES} states × ${EXECUTIONS} executions\n`);
    process.stdout.write(`  engine in memory (baseline)   ${int(memRate)} transitions/s\n`);
    process.stdout.write(`  durable (embedded store)      ${int(durableRate)} transitions/s  (${(durableMs / EXECUTIONS).toFixed(2)} ms per execution; ${(memRate / durableRate).toFixed(1)}× the baseline's cost)\n`);

    // 2. One Task state vs a direct invoke of the same function (warm: a few of each first).
    const direct: number[] = [];
    const viaWorkflow: number[] = [];
    for (let i = 0; i < 5; i++) { await call('POST', '/_nimbus/api/functions/echo/invocations', { i }); await call('POST', '/_nimbus/api/workflows/task/executions?sync=true', { input: { i } }); }
    for (let i = 0; i < TASKS; i++) {
      let t = performance.now();
      await call('POST', '/_nimbus/api/functions/echo/invocations', { i });
      direct.push(performance.now() - t);
      t = performance.now();
      const r = await call('POST', '/_nimbus/api/workflows/task/executions?sync=true', { input: { i } });
      if (r.body.status !== 'SUCCEEDED') throw new Error(`task workflow ended ${JSON.stringify(r.body)}`);
      viaWorkflow.push(performance.now() - t);
    }
    const row = (name: string, xs: number[]) => process.stdout.write(`  ${name.padEnd(30)} p50 ${pct(xs, 0.5).toFixed(2)} ms  p99 ${pct(xs, 0.99).toFixed(2)} ms\n`);
    process.stdout.write(`\nOne Task state vs a direct invoke, ${TASKS} sequential calls each\n`);
    row('direct invoke (baseline)', direct);
    row('workflow with one Task (sync)', viaWorkflow);
    process.stdout.write(`  overhead of the Task state     p50 +${(pct(viaWorkflow, 0.5) - pct(direct, 0.5)).toFixed(2)} ms (${(pct(viaWorkflow, 0.5) / pct(direct, 0.5)).toFixed(1)}×)\n`);
  } finally {
    await srv.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(appDir, { recursive: true, force: true });
  }
}

await main();
