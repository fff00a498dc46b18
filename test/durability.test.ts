// The promise queues and async invocations make: nothing accepted is lost. A real `nimbus serve`
// process takes 10,000 queue messages (batches of 10) and 1,000 async invocations while consumers
// run; it is killed with SIGKILL mid-way and restarted on the same data dir. Every message and
// event that was acknowledged (200 / 202) must come out processed at least once; duplicates
// (at-least-once delivery) are counted and reported.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { bundleApp, sleep, tempDir, writeApp } from './helpers.ts';
import { ServeProcess } from './serve-process.ts';

const MESSAGES = 10_000;
const EVENTS = 1_000;

const MANIFEST = `app: durable
functions:
  consumer:
    handler: src/consumer.handler
    permissions: { queues: { done: [send] } }
    concurrency: { max: 4 }
    events:
      - queue: { name: work, batchSize: 10 }
  worker:
    handler: src/worker.handler
    concurrency: { max: 4 }
    async: { onSuccess: queue:done-async }
queues:
  work:
    visibilityTimeout: 3
  done: {}
  done-async: {}
`;

const SOURCES = {
  // Processing a message = recording its body in "done" (durably, through the SDK) before the
  // batch is deleted: a crash in between means a redelivery (a duplicate), never a loss.
  'src/consumer.ts': `import { queues } from 'nimbus/sdk';
export const handler = async (event: { Records: { body: string }[] }) => {
  const r = await queues.sendBatch('done', event.Records.map((m, i) => ({ id: String(i), body: m.body })));
  if (r.failed.length) throw new Error('could not record ' + JSON.stringify(r.failed));
  return null;
};`,
  'src/worker.ts': 'export const handler = async (event: { id: string }) => ({ id: event.id });',
};


describe('durability', () => {
  const dataDir = tempDir('nimbus-durable-');
  const server = new ServeProcess(dataDir);
  after(async () => {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('loses no acknowledged message or async event across a kill -9 and restart', { timeout: 180_000 }, async (t) => {
    await server.start();
    const app = writeApp({ 'nimbus.yml': MANIFEST, ...SOURCES });
    const dep = await server.api('PUT', '/_nimbus/api/apps/durable', await bundleApp(app, MANIFEST));
    rmSync(app, { recursive: true, force: true });
    assert.equal(dep.status, 200, JSON.stringify(dep.body));

    const acceptedMessages = new Set<string>();
    const acceptedEvents = new Set<string>();
    let nextBatch = 0;
    let nextEvent = 0;
    let killed = false;
    let refused = 0;
    // Senders: 6 loops of message batches, 2 of async invocations.
    // A request the kill cut off was never acknowledged: the sender retries it, as a client would
    // (if it had in fact been stored, the retry is a duplicate, which at-least-once allows).
    const retrying = async (send: () => Promise<boolean>): Promise<void> => {
      for (;;) {
        try {
          if (await send()) return;
        } catch {
          refused++;
        }
        await sleep(20);
      }
    };
    const sendMessages = async (): Promise<void> => {
      while (nextBatch < MESSAGES / 10) {
        const b = nextBatch++;
        const ids = Array.from({ length: 10 }, (_, i) => `m${b * 10 + i}`);
        await retrying(async () => {
          const r = await server.api('POST', '/_nimbus/api/queues/work/messages', { entries: ids.map((id, i) => ({ id: String(i), body: id })) });
          if (r.status !== 200) return false;
          for (const s of r.body.successful as { id: string }[]) acceptedMessages.add(ids[Number(s.id)]!);
          return true;
        });
      }
    };
    const sendEvents = async (): Promise<void> => {
      while (nextEvent < EVENTS) {
        const id = `e${nextEvent++}`;
        await retrying(async () => {
          const r = await server.api('POST', '/_nimbus/api/functions/worker/invocations', { id }, { 'x-nimbus-invocation-type': 'Event' });
          if (r.status === 202) acceptedEvents.add(id);
          return r.status === 202;
        });
      }
    };
    const killer = (async () => {
      // Mid-way through whichever stream gets there first; both carry on after the restart.
      while (acceptedMessages.size < MESSAGES * 0.4 && acceptedEvents.size < EVENTS * 0.4) await sleep(5);
      await server.kill9();
      killed = true;
      const beforeRestart = { messages: acceptedMessages.size, events: acceptedEvents.size };
      await server.start();
      return beforeRestart;
    })();
    await Promise.all([...Array.from({ length: 6 }, sendMessages), ...Array.from({ length: 2 }, sendEvents)]);
    const atKill = await killer;
    assert.ok(killed);

    // Drain the "done" queues until every acknowledged id has come out, counting repeats.
    const seen = new Map<string, number>();
    const drain = async (queue: string, idOf: (body: string) => string): Promise<void> => {
      const r = await server.api('POST', `/_nimbus/api/queues/${queue}/receive`, { maxMessages: 10, waitSeconds: 1 });
      const msgs = r.body.messages as { body: string; receiptHandle: string }[];
      for (const m of msgs) { const id = idOf(m.body); seen.set(id, (seen.get(id) ?? 0) + 1); }
      if (msgs.length) await server.api('POST', `/_nimbus/api/queues/${queue}/delete`, { entries: msgs.map((m, i) => ({ id: String(i), receiptHandle: m.receiptHandle })) });
    };
    const missing = () => [...acceptedMessages, ...acceptedEvents].filter((id) => !seen.has(id));
    const deadline = Date.now() + Number(process.env.DURABILITY_DRAIN_MS ?? 120_000);
    // One loop per reader, each until its ids are all in (a long poll on an empty queue must not hold up the other).
    const until = async (expected: Set<string>, queue: string, idOf: (body: string) => string): Promise<void> => {
      while ([...expected].some((id) => !seen.has(id)) && Date.now() < deadline) await drain(queue, idOf);
    };
    await Promise.all([
      until(acceptedMessages, 'done', (b) => b), until(acceptedMessages, 'done', (b) => b),
      until(acceptedEvents, 'done-async', (b) => (JSON.parse(b) as { requestPayload: { id: string } }).requestPayload.id),
    ]);
    const lost = missing();
    const duplicates = [...seen.values()].reduce((n, c) => n + c - 1, 0);
    t.diagnostic(`acknowledged ${acceptedMessages.size} messages and ${acceptedEvents.size} async events (${atKill.messages} and ${atKill.events} before the kill; ${refused} requests refused or cut off around it, then retried); lost ${lost.length}; duplicates ${duplicates}`);
    if (lost.length) {
      const work = await server.api('GET', '/_nimbus/api/queues/work');
      const done = await server.api('GET', '/_nimbus/api/queues/done');
      const ok = await server.api('GET', '/_nimbus/api/functions/consumer/invocations?limit=10000');
      t.diagnostic(`done: ${JSON.stringify(done.body.stats)}; consumer invocations since the restart: ${ok.body.invocations.length}; sample lost: ${lost.slice(0, 5).join(' ')}`);
      const errors = await server.api('GET', '/_nimbus/api/functions/consumer/invocations?status=error&limit=5');
      const logs = await server.api('GET', '/_nimbus/api/functions/consumer/logs?level=ERROR&limit=5');
      t.diagnostic(`work queue: ${JSON.stringify(work.body.stats)}; consumer errors: ${JSON.stringify(errors.body.invocations)}; ${JSON.stringify(logs.body.logs)}`);
    }
    assert.deepEqual(lost.slice(0, 20), [], `${lost.length} acknowledged ids never processed`);
    assert.equal(acceptedMessages.size, MESSAGES);
    assert.equal(acceptedEvents.size, EVENTS);
  });
});
