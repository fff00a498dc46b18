// Function logs: structured lines (level and fields from a logged object), queries by text and time
// range, and the live tail as server-sent events — through the API and `nimbus logs --follow`.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { rmSync } from 'node:fs';
import { startTestServer, startWithApp, tempDir, type TestServer } from './helpers.ts';

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

const BIN = new URL('../bin/nimbus.mjs', import.meta.url).pathname;

/** `nimbus logs talk <args>` against `srv`, left running (a follow ends with SIGINT). */
const spawnLogs = (srv: TestServer, ...args: string[]) =>
  spawn(process.execPath, [BIN, 'logs', 'talk', ...args], { env: { ...process.env, NIMBUS_URL: srv.url, NIMBUS_TOKEN: srv.token } });

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
    while (events.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    stop.abort();
    await reading;
    // A level is a minimum: WARN and the ERROR line, not INFO, and only the new invocation's.
    assert.deepEqual(events.map((e) => [e.line.level, e.line.fields!.tag]), [['WARN', 'live'], ['ERROR', 'live']]);
    assert.equal(events[0]!.id, String(events[0]!.line.seq));
  });

  it('nimbus logs --follow prints lines as they come, until Ctrl-C, without replaying older ones', async () => {
    // A line from before the command: its --since leaves it out, and the tail must not replay it.
    await srv.invoke('talk', { tag: 'older' });
    // --since is inclusive and times are whole milliseconds: the line and the response can share one.
    await new Promise((r) => setTimeout(r, 20));
    const since = new Date().toISOString();
    const p = spawnLogs(srv, '--follow', '--search', 'paid', '--since', since);
    let out = '';
    p.stdout.on('data', (c) => { out += c; });
    const waitFor = async (text: string) => {
      const deadline = Date.now() + 10_000;
      while (!out.includes(text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    };
    await new Promise((r) => setTimeout(r, 600));
    // The first may still be found by the command's first query; once it is printed, that query is done,
    // so the second comes by the live tail.
    await srv.invoke('talk', { tag: 'followed-1' });
    await waitFor('followed-1');
    await srv.invoke('talk', { tag: 'followed-2' });
    await waitFor('followed-2');
    p.kill('SIGINT');
    const code = await new Promise((r) => p.on('close', r));
    assert.deepEqual(out.trim().split('\n').map((l) => /"tag":"([^"]+)"/.exec(l)?.[1]), ['followed-1', 'followed-2'], out);
    assert.match(out, /INFO\s+\{"message":"paid","amount":500,"tag":"followed-2"\}/);
    assert.equal(code, 0);
  });

  it('nimbus logs refuses --until with --follow', () => {
    const r = spawnSync(process.execPath, [BIN, 'logs', 'talk', '--follow', '--until', '10m'], {
      env: { ...process.env, NIMBUS_URL: srv.url, NIMBUS_TOKEN: srv.token }, encoding: 'utf8',
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--until and --follow do not go together/);
  });

  it('following from the cursor GET /logs returns starts after every line there was, even when none matched', async () => {
    await srv.invoke('talk', { tag: 'before' });
    const all = (await srv.api<{ logs: Line[]; cursor?: number }>('GET', '/_nimbus/api/functions/talk/logs?limit=1')).body;
    const none = (await srv.api<{ logs: Line[]; cursor?: number }>('GET', '/_nimbus/api/functions/talk/logs?q=nowhere-to-be-found')).body;
    assert.equal(none.logs.length, 0);
    assert.equal(none.cursor, all.logs[0]!.seq, 'the newest line\'s seq, not none');
    const since = (await srv.api<{ logs: Line[]; cursor?: number }>('GET', '/_nimbus/api/functions/talk/logs?since=2099-01-01T00:00:00Z')).body;
    assert.equal(since.cursor, all.logs[0]!.seq);
    // Paging on with `after` still moves only as far as the lines returned.
    const page = (await srv.api<{ logs: Line[]; cursor?: number }>('GET', `/_nimbus/api/functions/talk/logs?after=${all.logs[0]!.seq - 3}&limit=2`)).body;
    assert.deepEqual(page.logs.map((l) => l.seq), [all.logs[0]!.seq - 2, all.logs[0]!.seq - 1]);
    assert.equal(page.cursor, all.logs[0]!.seq - 1);
  });

  it('a live tail from an old cursor sends a backlog larger than its buffer cap, as fast as the client reads', async () => {
    // ~3 MB of lines, three times the 1 MB a tail may have unread before it waits for the client.
    const big = await startWithApp({
      'nimbus.yml': 'app: loud\nfunctions:\n  loud:\n    handler: src/loud.handler\n',
      'src/loud.ts': `export const handler = async () => { for (let i = 0; i < 300; i++) console.log(i + ' ' + 'x'.repeat(2000)); return null; };`,
    });
    try {
      for (let i = 0; i < 5; i++) await big.invoke('loud', {});
      const stop = new AbortController();
      const res = await big.req('/_nimbus/api/functions/loud/logs/stream?after=0&q=xxxx', { headers: { authorization: `Bearer ${big.token}` }, signal: stop.signal });
      assert.equal(res.status, 200);
      let lines = 0;
      let buffered = '';
      const deadline = Date.now() + 20_000;
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      while (lines < 1500 && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += value;
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          if (buffered.slice(0, end).includes('data: ')) lines++;
          buffered = buffered.slice(end + 2);
        }
        await new Promise((r) => setImmediate(r));
      }
      stop.abort();
      assert.equal(lines, 1500, 'every backlog line arrived, none dropped with the connection');
    } finally {
      await big.close();
    }
  });
});

describe('nimbus logs --follow across a server restart', () => {
  it('takes the tail up again where it was cut off: no line lost, none printed twice, the outage said on stderr', async () => {
    const dataDir = tempDir();
    let srv = await startWithApp(APP, { dataDir });
    const port = new URL(srv.url).port;
    const p = spawnLogs(srv, '--follow', '--search', 'paid');
    try {
      let out = '';
      let err = '';
      p.stdout.on('data', (c) => { out += c; });
      p.stderr.on('data', (c) => { err += c; });
      const waitFor = async (what: () => boolean, label: string) => {
        const deadline = Date.now() + 15_000;
        while (!what() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.ok(what(), `waited for ${label}; stdout: ${out}; stderr: ${err}`);
      };
      await new Promise((r) => setTimeout(r, 600));
      await srv.invoke('talk', { tag: 'before-restart' });
      await waitFor(() => out.includes('before-restart'), 'the first line');
      await srv.close();
      await waitFor(() => /cut off/.test(err), 'the outage to be said');
      // Written while nothing was following: the tail, back, must print it.
      srv = await startWithApp(APP, { dataDir, port: Number(port) });
      await srv.invoke('talk', { tag: 'while-away' });
      await waitFor(() => out.includes('while-away'), 'the line written during the outage');
      await srv.invoke('talk', { tag: 'after-restart' });
      await waitFor(() => out.includes('after-restart'), 'the line after');
      p.kill('SIGINT');
      const code = await new Promise((r) => p.on('close', r));
      assert.deepEqual(out.trim().split('\n').map((l) => /"tag":"([^"]+)"/.exec(l)?.[1]), ['before-restart', 'while-away', 'after-restart'], out);
      assert.match(err, /The live tail was cut off \(.+\): trying again until it is back \(Ctrl-C to stop\)\./);
      assert.match(err, /The live tail is back: going on after line \d+\./);
      assert.equal(err.match(/cut off/g)!.length, 1, `one outage, said once: ${err}`);
      assert.equal(code, 0);
    } finally {
      p.kill('SIGKILL');
      await srv.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('ends with the error when the function is gone once the server is back, rather than trying for ever', async () => {
    const dataDir = tempDir();
    let srv = await startWithApp(APP, { dataDir });
    const port = Number(new URL(srv.url).port);
    // A line to print first: once it is out, the command's first query is done, and the server may go.
    await srv.invoke('talk', { tag: 'existing' });
    const p = spawnLogs(srv, '--follow');
    // (Listened for from the start: a command that ended early must not be waited for in vain.)
    const closed = new Promise((r) => p.on('close', r));
    try {
      let out = '';
      let err = '';
      p.stdout.on('data', (c) => { out += c; });
      p.stderr.on('data', (c) => { err += c; });
      const deadline = Date.now() + 15_000;
      while (!out.includes('existing') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.match(out, /existing/, err);
      assert.equal((await srv.api('DELETE', '/_nimbus/api/apps/logged')).status, 200);
      await srv.close();
      srv = await startTestServer({ dataDir, port });
      const code = await Promise.race([closed, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
      assert.equal(code, 1, err);
      assert.match(err, /the live tail failed: HTTP 404 .*talk/);
    } finally {
      p.kill('SIGKILL');
      await srv.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
