// The invocation a cold start sends right behind init, at the instance: it runs once init ends, its
// clock starts then, and one built for the other handler style is skipped (the caller sends it again).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { type Assignment, Instance } from './instance.ts';
import { prepareLayout, UidPool } from './layout.ts';
import { Spawner } from './spawner.ts';

const data = mkdtempSync(join(tmpdir(), 'nimbus-instance-test-'));
const layout = prepareLayout(data, { isolateUids: false });
const spawner = new Spawner();
const uids = new UidPool();
after(async () => {
  await spawner.close();
  rmSync(data, { recursive: true, force: true });
});

/** A Lambda-style handler as the default export: the host's first guess for `default` is fetch style. */
const bundle = join(data, 'lambda-default.mjs');
writeFileSync(bundle, 'let calls = 0;\nexport default async (event) => ({ event, calls: ++calls });\n');
/** The same, with a top level that takes 300 ms. */
const slowBundle = join(data, 'slow-init.mjs');
writeFileSync(slowBundle, 'const until = Date.now() + 300;\nwhile (Date.now() < until) { /* init work */ }\nlet calls = 0;\nexport default async (event) => ({ event, calls: ++calls });\n');
/** A top level that sends, as user code can, a result for the invocation the host sent with init before init ends. */
const fakeBundle = join(data, 'fake-result.mjs');
writeFileSync(fakeBundle, "process.send({ type: 'result', id: 1, ok: true, json: '\"made up\"', maxRssBytes: 0 });\nexport default async () => 'real';\n");

function assignment(bundlePath = bundle): Assignment {
  return {
    bundlePath, compileCache: false, handler: 'index.default', exportName: 'default', env: {}, initTimeoutMs: 5000,
    meta: { functionName: 'f', functionVersion: '1', memoryMb: 128, invokedFunctionArn: 'arn:f', logStreamName: 's' },
    onLog: () => undefined, onCall: () => Promise.reject(new Error('no SDK here')), onExit: () => undefined,
  };
}

const frame = (requestId: string) => ({ requestId, kind: 'event' as const, payload: { n: 1 }, timeoutMs: 2000 });

it('runs the invocation sent with init once init ends, and starts its clock then', async () => {
  const inst = await Instance.boot({ id: 'first-1', layout, uids, spawner, memoryMb: 128 });
  const events: string[] = [];
  const t0 = performance.now();
  let startedAfter = 0;
  await inst.assign(assignment(slowBundle), { frame: frame('r1'), onStart: () => { startedAfter = performance.now() - t0; events.push('started'); } });
  events.push('assigned');
  assert.deepEqual(events, ['started', 'assigned'], 'its clock started as init ended');
  assert.ok(startedAfter >= 290, `its clock started after the 300 ms of init (${startedAfter.toFixed(0)} ms), not when it was sent`);
  assert.equal(inst.takeFirst('someone-else'), undefined, 'only the request it was sent for gets it');
  const out = await inst.takeFirst('r1');
  assert.ok(out?.ok);
  assert.deepEqual(JSON.parse(out.json!), { event: { n: 1 }, calls: 1 });
  assert.equal(inst.takeFirst('r1'), undefined, 'taken once');
  await inst.stop();
});

it('skips an invocation sent with init for the other handler style; sent again, it runs once', async () => {
  const inst = await Instance.boot({ id: 'first-2', layout, uids, spawner, memoryMb: 128 });
  let started = 0;
  await inst.assign(assignment(), { frame: { ...frame('r2'), kind: 'fetch' }, style: 'fetch', onStart: () => { started++; } });
  assert.equal(inst.style, 'lambda');
  assert.equal(await inst.takeFirst('r2'), undefined, 'skipped');
  assert.equal(started, 1);
  const out = await inst.invoke(frame('r2'));
  assert.ok(out.ok);
  assert.deepEqual(JSON.parse(out.json!), { event: { n: 1 }, calls: 1 }, 'the skipped frame never reached the handler');
  await inst.stop();
});

it('a result for the invocation sent with init that comes before init ends (sent by user code) still starts its clock first', async () => {
  const inst = await Instance.boot({ id: 'first-3', layout, uids, spawner, memoryMb: 128 });
  let started = 0;
  await inst.assign(assignment(fakeBundle), { frame: frame('r3'), onStart: () => { started++; } });
  const out = await inst.takeFirst('r3');
  assert.equal(started, 1, 'its START line and clock came before its outcome');
  assert.ok(out?.ok);
  await inst.stop();
});

it('cuts a log line at 256 KB of UTF-8 on a character boundary and says what it dropped, whether the runtime or user code sent it', async () => {
  // 100,000 "€" are 100,000 characters but 300,000 bytes; a raw frame from user code skips the runtime's cut.
  const logBundle = join(data, 'long-lines.mjs');
  // (Written to stdout, which the runtime makes log lines of, as it does console's.)
  writeFileSync(logBundle, "const line = (s) => process.stdout.write(s + '\\n');\nexport default async () => { line('€'.repeat(100000)); line('a'.repeat(300000)); process.send({ type: 'log', ts: Date.now(), requestId: 'r4', level: 'INFO', message: 'é'.repeat(200000) }); line('short'); return 1; };\n");
  const inst = await Instance.boot({ id: 'logs-1', layout, uids, spawner, memoryMb: 128 });
  const lines: string[] = [];
  await inst.assign({ ...assignment(logBundle), onLog: (l) => { lines.push(l.message); } });
  assert.ok((await inst.invoke(frame('r4'))).ok);
  await inst.stop();
  const mine = lines.filter((l) => !/^(START|END|REPORT) /.test(l));
  assert.equal(mine.length, 4, mine.map((l) => l.slice(0, 20)).join(' | '));
  const [euros, ascii, raw, short] = mine as [string, string, string, string];
  // The line's head, its kept bytes and its note; not the line itself (a failure would print 300 KB).
  const cut = (line: string) => {
    const at = line.indexOf(' ... [truncated ');
    return { chars: new Set(line.slice(0, at)), bytes: Buffer.byteLength(line.slice(0, at)), note: line.slice(at) };
  };
  // 262,144 bytes end inside the 87,382nd "€" (3 bytes each): cut before it, at 262,143.
  assert.deepEqual(cut(euros), { chars: new Set(['€']), bytes: 262143, note: ' ... [truncated 37857 bytes]' });
  assert.deepEqual(cut(ascii), { chars: new Set(['a']), bytes: 262144, note: ' ... [truncated 37856 bytes]' });
  assert.deepEqual(cut(raw), { chars: new Set(['é']), bytes: 262144, note: ' ... [truncated 137856 bytes]' });
  assert.equal(short, 'short');
});
