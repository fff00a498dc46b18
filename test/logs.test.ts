// Function logs: structured lines (level and fields from a logged object), queries by text and time
// range, and the live tail as server-sent events — through the API and `nimbus logs --follow`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startWithApp, type TestServer } from './helpers.ts';

const APP = {
  'nimbus.yml': 'app: logged\nfunctions:\n  talk:\n    handler: src/talk.handler\n',
  'src/talk.ts': `export const handler = async (e: { tag: string }) => {
  console.log({ level: 'warn', message: 'slow checkout', orderId: 'o-17', ms: 812, tag: e.tag });
  console.info(JSON.stringify({ message: 'paid', amount: 500, tag: e.tag }));
  console.log('plain', { amount: 500 }, e.tag);
  console.log({ level: 'nonsense', note: 'stays INFO', tag: e.tag });
  console.log({ level: 50, msg: 'pino says error', tag: e.tag });
  return null;
};`,
};

interface Line { seq: number; level: string; message: string; requestId: string | null; fields?: Record<string, unknown> }

describe('function logs', () => {
  let srv: TestServer;
  before(async () => { srv = await startWithApp(APP); });
  after(() => srv.close());
  const logs = async (query: string) => (await srv.api<{ logs: Line[] }>('GET', `/_nimbus/api/functions/talk/logs?${query}`)).body.logs;

  it('keeps a logged object as a structured line: its level, and its fields parsed', async () => {
    const r = await srv.invoke('talk', { tag: 'first' });
    const id = r.headers.get('x-nimbus-request-id')!;
    const mine = (await logs(`requestId=${id}`)).filter((l) => !/^(START|END|REPORT) /.test(l.message));
    assert.deepEqual(mine.map((l) => [l.level, l.fields ?? null]), [
      ['WARN', { level: 'warn', message: 'slow checkout', orderId: 'o-17', ms: 812, tag: 'first' }],
      ['INFO', { message: 'paid', amount: 500, tag: 'first' }],
      ['INFO', null],
      ['INFO', { level: 'nonsense', note: 'stays INFO', tag: 'first' }],
      ['ERROR', { level: 50, msg: 'pino says error', tag: 'first' }],
    ]);
    assert.equal(mine[2]!.message, 'plain { amount: 500 } first');
    assert.ok(mine.every((l) => l.requestId === id));
  });

  it('finds lines by text, case-insensitively, and by time range', async () => {
    const t0 = new Date().toISOString();
    await srv.invoke('talk', { tag: 'second' });
    const slow = await logs(`q=${encodeURIComponent('SLOW CHECKOUT')}&since=${encodeURIComponent(t0)}`);
    assert.equal(slow.length, 1);
    assert.equal(slow[0]!.fields!.tag, 'second');
    assert.equal((await logs(`q=checkout&until=${encodeURIComponent(t0)}`)).length, 1, 'only the first invocation\'s line is before t0');
    assert.equal((await logs('q=nowhere-to-be-found')).length, 0);
    const bad = await srv.api<{ error: { code: string; message: string } }>('GET', '/_nimbus/api/functions/talk/logs?until=garbage');
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /^until: "garbage" is neither a duration/);
  });

  it('streams new lines live as server-sent events, from a cursor, filtered by level', async () => {
    const stop = new AbortController();
    const res = await srv.req('/_nimbus/api/functions/talk/logs/stream?level=WARN', { headers: { authorization: `Bearer ${srv.token}` }, signal: stop.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const events: { id: string; line: Line }[] = [];
    const reading = (async () => {
      let buffered = '';
      try {
        for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
          buffered += chunk;
          let end: number;
          while ((end = buffered.indexOf('\n\n')) >= 0) {
            const event = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            const id = /^id: (\d+)$/m.exec(event)?.[1];
            const data = /^data: (.*)$/m.exec(event)?.[1];
            if (id && data) events.push({ id, line: JSON.parse(data) as Line });
          }
        }
      } catch { /* aborted */ }
    })();
    await srv.invoke('talk', { tag: 'live' });
    const deadline = Date.now() + 5000;
    while (events.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    await reading;
    assert.equal(events.length, 1, 'only the new WARN line (not the earlier ones, not INFO)');
    assert.equal(events[0]!.line.fields!.tag, 'live');
    assert.equal(events[0]!.id, String(events[0]!.line.seq));
  });

  it('nimbus logs --follow prints lines as they come, until Ctrl-C', async () => {
    const p = spawn(process.execPath, [new URL('../bin/nimbus.mjs', import.meta.url).pathname, 'logs', 'talk', '--follow', '--search', 'paid', '--since', '1s'], {
      env: { ...process.env, NIMBUS_URL: srv.url, NIMBUS_TOKEN: srv.token },
    });
    let out = '';
    p.stdout.on('data', (c) => { out += c; });
    await new Promise((r) => setTimeout(r, 600)); // connected
    await srv.invoke('talk', { tag: 'followed' });
    const deadline = Date.now() + 5000;
    while (!out.includes('followed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    p.kill('SIGINT');
    const code = await new Promise((r) => p.on('close', r));
    assert.match(out, /INFO\s+\{"message":"paid","amount":500,"tag":"followed"\}/);
    assert.doesNotMatch(out, /slow checkout/);
    assert.equal(code, 0);
  });
});
