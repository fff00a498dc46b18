// `nimbus storage <subcommand>`: buckets and objects through the admin API. Object bodies are
// streamed between the file (or stdin/stdout) and the server with node:http, never read whole.
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { api, CliError, resolveTarget, type Target } from './client.ts';
import type { Flags } from './commands.ts';
import { table } from './queues.ts';
import { objectKeyProblem } from '../services/storage/keys.ts';

const out = (s: string): void => { process.stdout.write(s + '\n'); };
const USAGE = `usage:
  nimbus storage buckets                          list buckets (also: nimbus storage ls)
  nimbus storage ls <bucket>[/prefix] [--recursive]
  nimbus storage put <file|-> <bucket>/<key> [--content-type T] [--meta name=value ...]
  nimbus storage get <bucket>/<key> [file|-]
  nimbus storage rm <bucket>/<key>  |  nimbus storage rm --recursive <bucket>/<prefix>
  nimbus storage cp <bucket>/<key> <bucket>/<key>
  nimbus storage presign <bucket>/<key> [--put] [--expires 3600] [--content-type T]`;

interface BucketView { name: string; app: string; objects: number; bytes: number }
interface Listed { key: string; size: number; etag: string; lastModified: string }
interface Page { contents: Listed[]; commonPrefixes: string[]; isTruncated: boolean; nextContinuationToken?: string }

/** A few common types by extension, so a browser opening a presigned URL shows the file. */
const TYPES: Record<string, string> = {
  txt: 'text/plain; charset=utf-8', html: 'text/html; charset=utf-8', css: 'text/css', js: 'text/javascript', json: 'application/json', csv: 'text/csv',
  md: 'text/markdown', xml: 'application/xml', pdf: 'application/pdf', zip: 'application/zip', gz: 'application/gzip', png: 'image/png',
  jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', svg: 'image/svg+xml', mp4: 'video/mp4', mp3: 'audio/mpeg', wasm: 'application/wasm',
};

// "." and ".." are encoded too: a URL would otherwise resolve them away and name another key.
const encKey = (key: string): string => key.split('/').map((s) => (s === '.' || s === '..' ? s.replaceAll('.', '%2E') : encodeURIComponent(s))).join('/');
const objPath = (bucket: string, key: string): string => `/_nimbus/api/buckets/${encodeURIComponent(bucket)}/objects/${encKey(key)}`;

/** `bucket/key` → its parts; the key may be empty only where `allowEmpty`. */
function parseTarget(arg: string | undefined, what: string, allowEmpty = false): { bucket: string; key: string } {
  if (!arg) throw new CliError(`${what}: give <bucket>/<key>\n${USAGE}`);
  const slash = arg.indexOf('/');
  const bucket = slash < 0 ? arg : arg.slice(0, slash);
  const key = slash < 0 ? '' : arg.slice(slash + 1);
  if (!bucket || (!key && !allowEmpty)) throw new CliError(`${what}: "${arg}" names no object; write <bucket>/<key>, e.g. uploads/photos/cat.jpg`);
  const problem = key && !allowEmpty ? objectKeyProblem(key) : undefined;
  if (problem) throw new CliError(`${what}: INVALID_OBJECT_KEY: ${problem.message}`);
  return { bucket, key };
}

function size(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** One streamed request: `body` is piped up, the response handed back unread on success. */
async function stream(target: Target, method: string, path: string, headers: Record<string, string>, body?: Readable): Promise<IncomingMessage> {
  const url = new URL(target.url + path);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = send(url, { method, headers: { ...(target.token ? { authorization: `Bearer ${target.token}` } : {}), ...headers } }, resolve);
    req.on('error', (err: NodeJS.ErrnoException) => reject(new CliError(`cannot reach the Nimbus server at ${target.url} (${err.code ?? err.message}); start it with \`npx nimbus serve\`, or set NIMBUS_URL`)));
    if (body) {
      // The server may refuse before reading it all (too large, no bucket): its answer is what counts.
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    } else {
      req.end();
    }
  });
  if ((res.statusCode ?? 500) >= 400) {
    let text = '';
    for await (const c of res) text += c;
    let e: { code?: string; message?: string } | undefined;
    try { e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error; } catch { e = undefined; }
    throw Object.assign(new CliError(e ? `${e.code}: ${e.message}` : `HTTP ${res.statusCode}: ${text.slice(0, 500)}`), { status: res.statusCode });
  }
  return res;
}

export async function storage(args: (string | undefined)[], flags: Flags, meta: string[] = []): Promise<void> {
  const [sub, a, b] = args;
  const target = resolveTarget(flags);
  switch (sub) {
    case undefined: case 'buckets': return buckets(target, flags);
    case 'ls': return a ? list(target, a, flags) : buckets(target, flags);
    case 'put': return put(target, a, b, flags, meta);
    case 'get': return get(target, a, b, flags);
    case 'rm': return remove(target, a, flags);
    case 'cp': return copy(target, a, b, flags);
    case 'presign': return presignUrl(target, a, flags);
    default: throw new CliError(`unknown storage subcommand "${sub}"\n${USAGE}`);
  }
}

async function buckets(target: Target, flags: Flags): Promise<void> {
  const { data } = await api<{ buckets: BucketView[] }>(target, 'GET', '/_nimbus/api/buckets');
  if (flags.json) return out(JSON.stringify(data));
  if (data.buckets.length === 0) return out('No buckets. Declare them under `buckets:` in nimbus.yml and deploy (see docs/storage.md).');
  table([['BUCKET', 'APP', 'OBJECTS', 'SIZE'], ...data.buckets.map((x) => [x.name, x.app, String(x.objects), size(x.bytes)])]);
}

async function* pages(target: Target, bucket: string, prefix: string, delimiter: string): AsyncGenerator<Page> {
  let token: string | undefined;
  do {
    const q = new URLSearchParams({ prefix, ...(delimiter ? { delimiter } : {}), ...(token ? { 'continuation-token': token } : {}) });
    const { data } = await api<Page>(target, 'GET', `/_nimbus/api/buckets/${encodeURIComponent(bucket)}/objects?${q}`);
    yield data;
    token = data.isTruncated ? data.nextContinuationToken : undefined;
  } while (token);
}

async function list(target: Target, arg: string, flags: Flags): Promise<void> {
  const { bucket, key: prefix } = parseTarget(arg, 'ls', true);
  const all: Page = { contents: [], commonPrefixes: [], isTruncated: false };
  let shown = 0;
  for await (const page of pages(target, bucket, prefix, flags.recursive ? '' : '/')) {
    if (flags.json) { all.contents.push(...page.contents); all.commonPrefixes.push(...page.commonPrefixes); continue; }
    for (const p of page.commonPrefixes) out(`${''.padStart(19)}  ${'PRE'.padStart(9)}  ${p}`);
    for (const o of page.contents) out(`${o.lastModified.slice(0, 19).replace('T', ' ')}  ${size(o.size).padStart(9)}  ${o.key}`);
    shown += page.contents.length + page.commonPrefixes.length;
  }
  if (flags.json) return out(JSON.stringify(all));
  if (shown === 0) out(`No objects in ${bucket}${prefix ? ` under "${prefix}"` : ''}.`);
}

async function put(target: Target, file: string | undefined, dest: string | undefined, flags: Flags, meta: string[]): Promise<void> {
  if (!file || !dest) throw new CliError(`usage: nimbus storage put <file|-> <bucket>/<key> [--content-type T] [--meta name=value ...]`);
  const { bucket, key } = parseTarget(dest, 'put');
  const headers: Record<string, string> = {};
  const ext = /\.([a-z0-9]+)$/i.exec(key)?.[1]?.toLowerCase();
  const type = typeof flags['content-type'] === 'string' ? flags['content-type'] : ext ? TYPES[ext] : undefined;
  if (type) headers['content-type'] = type;
  for (const m of meta) {
    const eq = m.indexOf('=');
    if (eq <= 0) throw new CliError(`--meta: use name=value, got "${m}"`);
    headers[`x-nimbus-meta-${m.slice(0, eq).toLowerCase()}`] = m.slice(eq + 1);
  }
  let source: Readable;
  if (file === '-') {
    source = process.stdin;
  } else {
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) throw new CliError(`put: ${file} is not a readable file`);
    headers['content-length'] = String(st.size);
    source = createReadStream(file);
  }
  const res = await stream(target, 'PUT', objPath(bucket, key), headers, source);
  let text = '';
  for await (const c of res) text += c;
  const info = JSON.parse(text) as { size: number; etag: string };
  out(flags.json ? text : `Uploaded ${bucket}/${key} (${size(info.size)}, ETag ${info.etag}).`);
}

async function get(target: Target, src: string | undefined, file: string | undefined, flags: Flags): Promise<void> {
  const { bucket, key } = parseTarget(src, 'get');
  const res = await stream(target, 'GET', objPath(bucket, key), {});
  const toStdout = file === '-';
  const path = file ?? basename(key);
  try {
    await pipeline(res, toStdout ? process.stdout : createWriteStream(path), ...(toStdout ? [{ end: false }] as const : []));
  } catch (err) {
    if (!toStdout) await rm(path, { force: true });
    throw new CliError(`get: the download of ${bucket}/${key} failed (${(err as Error).message})${toStdout ? '' : `; ${path} was removed`}`);
  }
  if (!toStdout && !flags.json) out(`Downloaded ${bucket}/${key} to ${path} (${size(Number(res.headers['content-length'] ?? 0))}).`);
  else if (!toStdout) out(JSON.stringify({ bucket, key, file: path, size: Number(res.headers['content-length'] ?? 0) }));
}

async function remove(target: Target, arg: string | undefined, flags: Flags): Promise<void> {
  const { bucket, key } = parseTarget(arg, 'rm', flags.recursive === true);
  if (!flags.recursive) {
    if (key.endsWith('/')) throw new CliError(`rm: "${arg}" ends with "/": to delete every object under that prefix, use nimbus storage rm --recursive ${arg}`);
    // As S3, deleting a missing key succeeds; say so rather than claim a deletion.
    const existed = (await stream(target, 'HEAD', objPath(bucket, key), {}).then((r) => { r.resume(); return true; }, (err: unknown) => {
      // A HEAD answer has no body: 404 is a missing key (or bucket, which the DELETE then names).
      if ((err as { status?: number }).status === 404) return false;
      throw err;
    }));
    await api(target, 'DELETE', objPath(bucket, key));
    return out(flags.json ? JSON.stringify({ deleted: existed ? [key] : [] }) : existed ? `Deleted ${bucket}/${key}.` : `No object ${bucket}/${key}; nothing to delete.`);
  }
  let n = 0;
  // Each page is listed again from the start of what is left: deleting as we go never skips a key.
  for (;;) {
    const first = await pages(target, bucket, key, '').next();
    const page: Page | undefined = first.done ? undefined : first.value;
    if (!page || page.contents.length === 0) break;
    for (let i = 0; i < page.contents.length; i += 8) {
      await Promise.all(page.contents.slice(i, i + 8).map((o) => api(target, 'DELETE', objPath(bucket, o.key))));
    }
    n += page.contents.length;
  }
  out(flags.json ? JSON.stringify({ deleted: n }) : `Deleted ${n} object${n === 1 ? '' : 's'} from ${bucket}${key ? ` under "${key}"` : ''}.`);
}

async function copy(target: Target, from: string | undefined, to: string | undefined, flags: Flags): Promise<void> {
  const src = parseTarget(from, 'cp');
  const dst = parseTarget(to, 'cp');
  const { data } = await api<{ size: number; etag: string }>(target, 'PUT', objPath(dst.bucket, dst.key), undefined, { 'x-nimbus-copy-source': `${encodeURIComponent(src.bucket)}/${encKey(src.key)}` });
  out(flags.json ? JSON.stringify(data) : `Copied ${src.bucket}/${src.key} to ${dst.bucket}/${dst.key} (${size(data.size)}).`);
}

async function presignUrl(target: Target, arg: string | undefined, flags: Flags): Promise<void> {
  const { bucket, key } = parseTarget(arg, 'presign');
  const expires = flags.expires;
  if (expires !== undefined && (typeof expires !== 'string' || !/^\d+$/.test(expires))) throw new CliError(`--expires: seconds, from 1 to 604800 (seven days), got "${String(expires)}"`);
  const { data } = await api<{ url: string; method: string; expiresAt: string }>(target, 'POST', `/_nimbus/api/buckets/${encodeURIComponent(bucket)}/presign`, {
    key, method: flags.put ? 'PUT' : 'GET', expiresIn: expires === undefined ? undefined : Number(expires),
    contentType: typeof flags['content-type'] === 'string' ? flags['content-type'] : undefined,
  });
  if (flags.json) return out(JSON.stringify(data));
  out(data.url);
  const type = typeof flags['content-type'] === 'string' && flags['content-type'] !== '' ? ` -H 'content-type: ${flags['content-type'].trim()}'` : '';
  process.stderr.write(`${data.method} until ${data.expiresAt}${data.method === 'PUT' ? ` — e.g. curl -T file${type} '${data.url}'` : ''}\n`);
}
