// `nimbus queues ...` and `nimbus invoke --async` as a user runs them: each a real `nimbus` process
// against a real server (in this process, port 0) with an app that declares queues.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { cli, startTestServer, tempDir, type TestServer } from './helpers.ts';


const MANIFEST = `app: qcli
functions:
  work:
    handler: src/index.handler
    events:
      - schedule: { name: nightly, expression: "cron(0 2 * * ? *)", timezone: Europe/London }
      - schedule: { name: leapless, expression: "cron(0 0 31 2 ? *)" }
  drain:
    handler: src/index.handler
    events:
      - queue: events
queues:
  jobs:
    visibilityTimeout: 30
    deadLetter: { queue: jobs-dlq, maxReceiveCount: 3 }
  jobs-dlq: {}
  events: {}
  orders.fifo:
    contentBasedDeduplication: true
  feed: {}
topics:
  news:
    subscriptions:
      - queue: feed
rules:
  orders:
    pattern: { source: [shop] }
    targets: [{ queue: feed, inputPath: $.detail }]
`;

describe('nimbus queues and invoke --async', () => {
  let srv: TestServer;
  let work: string;
  let nimbus: (...args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

  before(async () => {
    srv = await startTestServer();
    const d = await srv.deploy({ 'nimbus.yml': MANIFEST, 'src/index.ts': 'export const handler = async () => null;' });
    assert.equal(d.status, 200, JSON.stringify(d.body));
    work = tempDir('nimbus-cli-queues-');
    nimbus = cli(srv, work);
  });

  after(async () => {
    await srv.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('schedules lists the next fire time, and disable / enable change it', async () => {
    const ls = await nimbus('schedules');
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^SCHEDULE\s+APP\s+EXPRESSION\s+TARGET\s+NEXT FIRE \(UTC\)\s+LAST FIRED$/m);
    assert.match(ls.stdout, /^nightly\s+qcli\s+cron\(0 2 \* \* \? \*\) Europe\/London\s+function:work\s+\d{4}-\d\d-\d\dT0[12]:00:00\.000Z\s+-$/m);
    // A cron that selects no date there is (31 February) says so, not that it is done.
    assert.match(ls.stdout, /^leapless\s+qcli\s+cron\(0 0 31 2 \? \*\)\s+function:work\s+never \(no time matches\)\s+-$/m);
    const off = await nimbus('schedules', 'disable', 'nightly');
    assert.equal(off.stdout.trim(), 'Disabled nightly; nothing fires until it is enabled again.');
    assert.match((await nimbus('schedules')).stdout, /^nightly\s.*\sdisabled\s+-$/m);
    assert.match((await nimbus('schedules', 'enable', 'nightly')).stdout, /^Enabled nightly; next fire \d{4}-/);
    const missing = await nimbus('schedules', 'enable', 'nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^nimbus: SCHEDULE_NOT_FOUND: no schedule named "nope"/);
  });

  it('topics ls, show and publish: the message reaches the subscribed queue', async () => {
    const ls = await nimbus('topics');
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^news\s+qcli\s+queue:feed$/m);
    assert.match((await nimbus('topics', 'show', 'news')).stdout, /^ {2}queue feed {2}\[[0-9a-f-]{36}\]$/m);
    const pub = await nimbus('topics', 'publish', 'news', '--message', 'extra!', '--subject', 'headline', '--attr', 'section=sport');
    assert.equal(pub.code, 0, pub.stderr);
    const id = /^Published message (\S+) to news$/m.exec(pub.stdout)?.[1];
    const [m] = await srv.take('feed', 1);
    const note = JSON.parse(m!.body) as { MessageId: string; Message: string; Subject: string; MessageAttributes: Record<string, { Value: string }> };
    assert.deepEqual([note.MessageId, note.Message, note.Subject, note.MessageAttributes.section?.Value], [id, 'extra!', 'headline', 'sport']);
    const bad = await nimbus('topics', 'publish', 'nope', '--message', 'x');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^nimbus: TOPIC_NOT_FOUND: no topic named "nope"/);
  });

  it('events put reaches the rule\'s target; rules lists it; test-pattern answers', async () => {
    const put = await nimbus('events', 'put', '--source', 'shop', '--detail-type', 'OrderPlaced', '--detail', '{"id":7}');
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, /^Put event [0-9a-f-]{36}$/m);
    const [m] = await srv.take('feed', 1);
    assert.deepEqual(JSON.parse(m!.body), { id: 7 });
    assert.match((await nimbus('rules')).stdout, /^orders\s+qcli\s+enabled\s+queue:feed \(shaped\)\s+\{"source":\["shop"\]\}$/m);
    assert.equal((await nimbus('events', 'test-pattern', '--pattern', '{"source":["shop"]}', '--event', '{"source":"shop"}')).stdout.trim(), 'match');
    const bad = await nimbus('events', 'test-pattern', '--pattern', '{"source":"shop"}', '--event', '{}');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^nimbus: INVALID_PATTERN: /);
    // JSON, but not an object: said so, not "not valid JSON".
    const scalar = await nimbus('events', 'put', '--source', 'shop', '--detail-type', 'OrderPlaced', '--detail', '"str"');
    assert.equal(scalar.code, 1);
    assert.match(scalar.stderr, /--detail must be a JSON object/);
  });

  it('queues ls shows each queue with its type, dead-letter queue and triggers', async () => {
    const [ls, json] = await Promise.all([nimbus('queues', 'ls'), nimbus('queues', 'ls', '--json')]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^QUEUE\s+APP\s+TYPE\s+VISIBLE\s+IN FLIGHT\s+DELAYED\s+OLDEST\s+DLQ\s+TRIGGERS$/m);
    assert.match(ls.stdout, /^jobs\s+qcli\s+standard\s+0\s+0\s+0\s+-\s+jobs-dlq\s+-$/m);
    assert.match(ls.stdout, /^events\s+qcli\s+standard\s+.*\sdrain$/m);
    assert.match(ls.stdout, /^orders\.fifo\s+qcli\s+FIFO\s/m);
    const names = (JSON.parse(json.stdout) as { queues: { name: string }[] }).queues.map((q) => q.name).sort();
    assert.deepEqual(names, ['events', 'feed', 'jobs', 'jobs-dlq', 'orders.fifo']);
  });

  it('send then receive --delete: the body and attributes come back, and the message is gone', async () => {
    const sent = await nimbus('queues', 'send', 'jobs', '--body', 'hello queue', '--attr', 'kind=greeting', '--attr', 'n=3');
    assert.equal(sent.code, 0, sent.stderr);
    const id = /^Sent message (\S+) to jobs$/m.exec(sent.stdout)?.[1];
    assert.ok(id, sent.stdout);

    const got = await nimbus('queues', 'receive', 'jobs', '--max', '10', '--delete');
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, new RegExp(`^Message ${id} \\(receive 1\\)$`, 'm'));
    assert.match(got.stdout, /^ {2}Attributes: kind=greeting, n=3 \(Number\)$/m);
    assert.match(got.stdout, /^ {2}Body: hello queue$/m);
    assert.match(got.stdout, /^ {2}Receipt handle: \S+$/m);
    assert.match(got.stdout, /^Deleted 1 message\.$/m);

    const show = JSON.parse((await nimbus('queues', 'show', 'jobs', '--json')).stdout) as { stats: { visible: number; inFlight: number } };
    assert.deepEqual([show.stats.visible, show.stats.inFlight], [0, 0]);
  });

  it('--json output parses: send, receive, delete by handle, FIFO sequence numbers, purge', async () => {
    const sent = await nimbus('queues', 'send', 'jobs', '--body', '{"a":1}', '--json');
    const { messageId, md5OfBody } = JSON.parse(sent.stdout) as { messageId: string; md5OfBody: string };
    assert.equal(md5OfBody, createHash('md5').update('{"a":1}').digest('hex'));
    const got = JSON.parse((await nimbus('queues', 'receive', 'jobs', '--json')).stdout) as { messages: { messageId: string; body: string; receiptHandle: string }[] };
    assert.equal(got.messages.length, 1);
    assert.equal(got.messages[0]!.messageId, messageId);
    assert.equal(got.messages[0]!.body, '{"a":1}');
    const del = await nimbus('queues', 'delete', 'jobs', got.messages[0]!.receiptHandle);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(del.stdout, 'Deleted the message from jobs.\n');

    const fifo = await nimbus('queues', 'send', 'orders.fifo', '--body', 'o1', '--group', 'g1');
    assert.match(fifo.stdout, /^Sent message \S+ to orders\.fifo \(sequence number \d{20}\)$/m);
    assert.deepEqual(JSON.parse((await nimbus('queues', 'purge', 'orders.fifo', '--json')).stdout), { purged: 1 });
    assert.deepEqual(JSON.parse((await nimbus('queues', 'redrive', 'jobs-dlq', '--json')).stdout), { moved: 0 });
  });

  it('invoke --async returns a request id; the same --idempotency-key returns it again as a duplicate', async () => {
    const a = await nimbus('invoke', 'work', '--async', '--data', '{"n":1}');
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^Accepted: RequestId [\w-]+\n$/);

    const first = await nimbus('invoke', 'work', '--async', '--idempotency-key', 'order-42', '--json');
    assert.equal(first.code, 0, first.stderr);
    const { requestId } = JSON.parse(first.stdout) as { requestId: string; duplicate?: boolean };
    assert.ok(requestId);
    const again = await nimbus('invoke', 'work', '--async', '--idempotency-key', 'order-42');
    assert.equal(again.stdout, `Accepted: RequestId ${requestId} (duplicate: not run again)\n`);
  });

  it('fails with one line on stderr and a non-zero exit', async () => {
    const [ghost, unknown, usage, attr, key] = await Promise.all([
      nimbus('queues', 'show', 'ghost'),
      nimbus('queues', 'frob'),
      nimbus('queues', 'delete', 'jobs'),
      nimbus('queues', 'send', 'jobs', '--body', 'x', '--attr', 'novalue'),
      nimbus('invoke', 'work', '--idempotency-key', 'k'),
    ]);
    assert.equal(ghost.code, 1);
    assert.equal(ghost.stdout, '');
    assert.equal(ghost.stderr, 'nimbus: QUEUE_NOT_FOUND: no queue named "ghost"\n');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^nimbus: unknown queues subcommand "frob"; use one of: ls, show, send, receive, delete, purge, redrive\n$/);
    assert.equal(usage.code, 1);
    assert.equal(usage.stderr, 'nimbus: usage: nimbus queues delete <queue> <receiptHandle>\n');
    assert.equal(attr.code, 1);
    assert.match(attr.stderr, /--attr: use name=value, got "novalue"/);
    assert.equal(key.code, 1);
    assert.match(key.stderr, /--idempotency-key goes with --async/);
  });
});
