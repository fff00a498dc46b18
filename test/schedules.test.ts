// Schedules on an injected clock: rate and cron ticks deliver EventBridge's Scheduled Event (or a
// fixed input) to a function or a queue; each tick fires once, also across a restart, where the
// latest missed tick fires once (catchUp) or is skipped; enable/disable through the API.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas/eventbridge';
import { ManualClock } from '../src/util/clock.ts';
import { sleep, startTestServer, tempDir, type QueueMessage, type TestServer } from './helpers.ts';

const MANIFEST = `app: cron
functions:
  tick:
    handler: src/tick.handler
    permissions: { queues: { ticks: [send] } }
    events:
      - schedule: rate(1 minute)
queues:
  ticks: {}
  beats: {}
schedules:
  heartbeat:
    expression: cron(0/5 * * * ? *)
    target: queue:beats
    input: { hello: 1 }
    catchUp: false
`;
const SOURCES = {
  'src/tick.ts': `import { queues } from 'nimbus/sdk';
export const handler = async (event: unknown) => { await queues.send('ticks', event); return null; };`,
};

interface ScheduleView { name: string; expression: string; enabled: boolean; nextFireAt: string | null; lastFiredAt: string | null; description: string; target: unknown }

describe('schedules', () => {
  const dataDir = tempDir('nimbus-schedules-');
  const start = Date.UTC(2026, 0, 1, 0, 0, 30);
  const clock = new ManualClock(start);
  let srv: TestServer;
  after(async () => {
    await srv?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Reads a queue without long polling (the clock only moves when the test moves it). */
  const read = async (queue: string, n: number, ms = 5000): Promise<QueueMessage[]> => {
    const got: QueueMessage[] = [];
    const deadline = Date.now() + ms;
    while (got.length < n && Date.now() < deadline) {
      const r = await srv.api<{ messages: QueueMessage[] }>('POST', `/_nimbus/api/queues/${queue}/receive`, { maxMessages: 10 });
      for (const m of r.body.messages) {
        got.push(m);
        await srv.api('POST', `/_nimbus/api/queues/${queue}/delete`, { receiptHandle: m.receiptHandle });
      }
      if (r.body.messages.length === 0) await sleep(20);
    }
    return got;
  };
  const list = async () => (await srv.api<{ schedules: ScheduleView[] }>('GET', '/_nimbus/api/schedules')).body.schedules;
  const advance = async (ms: number) => { clock.advance(ms); await sleep(30); };

  it('lists schedules with their next fire times', async () => {
    srv = await startTestServer({ dataDir, clock });
    const d = await srv.deploy({ 'nimbus.yml': MANIFEST, ...SOURCES });
    assert.equal(d.status, 200, JSON.stringify(d.body));
    const all = await list();
    assert.deepEqual(all.map((s) => [s.name, s.nextFireAt]), [['heartbeat', '2026-01-01T00:05:00.000Z'], ['tick-schedule-1', '2026-01-01T00:01:30.000Z']]);
    assert.deepEqual(all[1]!.target, { kind: 'function', name: 'tick' });
    assert.ok(all[0]!.description.length > 0);
  });

  it('fires a rate schedule into its function with the Scheduled Event', async () => {
    await advance(60_000);
    const [m] = await read('ticks', 1);
    const event = JSON.parse(m!.body);
    EventBridgeSchema.parse(event);
    assert.equal(event['detail-type'], 'Scheduled Event');
    assert.equal(event.source, 'aws.events');
    assert.equal(event.time, '2026-01-01T00:01:30Z');
    assert.deepEqual(event.resources, ['arn:aws:events:local:000000000000:rule/tick-schedule-1']);
    assert.deepEqual(event.detail, {});
    assert.equal((await list())[1]!.nextFireAt, '2026-01-01T00:02:30.000Z');
    assert.equal((await read('ticks', 1, 300)).length, 0, 'once');
  });

  it('fires a cron schedule into a queue with its fixed input', async () => {
    await advance(Date.UTC(2026, 0, 1, 0, 5, 0) - clock.now());
    const [m] = await read('beats', 1);
    assert.deepEqual(JSON.parse(m!.body), { hello: 1 });
    assert.equal((await list())[0]!.nextFireAt, '2026-01-01T00:10:00.000Z');
    await read('ticks', 10, 500); // the rate ticks of the way here
  });

  it('after a restart, fires the latest missed tick once (catchUp) or skips it (catchUp: false)', async () => {
    await srv.close();
    clock.advance(33 * 60_000); // down from 00:05 to 00:38: 33 rate ticks and 6 cron ticks missed
    srv = await startTestServer({ dataDir, clock });
    await sleep(50);
    const ticks = await read('ticks', 2, 1500);
    assert.equal(ticks.length, 1, 'one catch-up tick for the rate schedule');
    assert.equal(JSON.parse(ticks[0]!.body).time, '2026-01-01T00:37:30Z', 'the latest missed tick');
    assert.equal((await read('beats', 1, 300)).length, 0, 'heartbeat skips missed ticks');
    const all = await list();
    assert.equal(all[0]!.nextFireAt, '2026-01-01T00:40:00.000Z');
    assert.equal(all[1]!.nextFireAt, '2026-01-01T00:38:30.000Z');
    // The metrics saw both: the catch-up tick fired 30 s late (00:37:30 at 00:38), the heartbeat's skipped.
    const text = await (await srv.req('/_nimbus/metrics', { headers: { authorization: `Bearer ${srv.token}` } })).text();
    assert.match(text, /^nimbus_schedule_ticks_total\{schedule="tick-schedule-1",result="fired"\} 1$/m);
    assert.match(text, /^nimbus_schedule_ticks_total\{schedule="heartbeat",result="skipped"\} 1$/m);
    assert.match(text, /^nimbus_schedule_lag_seconds_sum\{schedule="tick-schedule-1"\} 30$/m);
  });

  it('disable stops the ticks; enable starts again from the next tick after now', async () => {
    const off = await srv.api<ScheduleView>('POST', '/_nimbus/api/schedules/tick-schedule-1/disable');
    assert.equal(off.status, 200);
    assert.deepEqual([off.body.enabled, off.body.nextFireAt], [false, null]);
    await advance(5 * 60_000);
    assert.equal((await read('ticks', 1, 300)).length, 0);
    const on = await srv.api<ScheduleView>('POST', '/_nimbus/api/schedules/tick-schedule-1/enable');
    assert.equal(on.body.enabled, true);
    assert.ok(Date.parse(on.body.nextFireAt!) > clock.now());
    const missing = await srv.api<{ error: { code: string } }>('POST', '/_nimbus/api/schedules/nope/enable');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'SCHEDULE_NOT_FOUND');
  });
});
