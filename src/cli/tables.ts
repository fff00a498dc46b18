// `nimbus tables <subcommand>`: list and inspect the KV tables apps declare, read and write items,
// query, scan and purge, through the admin API. People output by default, the API's JSON with
// --json; errors are one line on stderr and a non-zero exit (thrown to main.ts).
// Key values on the command line: what parses as a JSON string or number is that (`42` is a
// number, `'"42"'` the string "42"); anything else is taken as a string (`alice`).
import { readFileSync } from 'node:fs';
import { api, CliError, resolveTarget, type Target } from './client.ts';
import type { Flags } from './commands.ts';
import { table as printTable } from './queues.ts';

interface TableView {
  name: string; app: string; partitionKey: string; sortKey: string | null; ttlAttribute: string | null;
  stats: {
    items: number; bytes: number;
    stream: { records: number; firstSeq: number | null; lastSeq: number | null; oldestAt: number | null };
    triggers: { fn: string; app: string; checkpoint: number; lag: number }[];
  };
}
interface Versioned { item: Record<string, unknown>; version: number }
interface Page { items: Versioned[]; cursor: string | null }

const SUBCOMMANDS = 'ls, show, get, put, rm, query, scan, purge';
const USAGE: Record<string, string> = {
  show: 'nimbus tables show <table>',
  get: 'nimbus tables get <table> (<key-json> | <pk> [sk])',
  put: 'nimbus tables put <table> (<item-json> | -) [--if-not-exists] [--expected-version N]',
  rm: 'nimbus tables rm <table> (<key-json> | <pk> [sk]) [--expected-version N]',
  query: 'nimbus tables query <table> <pk> [--begins-with P] [--limit N] [--reverse] [--cursor C]',
  scan: 'nimbus tables scan <table> [--limit N] [--cursor C]',
  purge: 'nimbus tables purge <table>',
};

/** Help lines for main.ts. */
export const TABLES_HELP = `  nimbus tables ls                        list KV tables with their keys, item counts and triggers
  nimbus tables show <t>                  a table's keys, TTL attribute, stream and trigger positions
  nimbus tables get <t> <key-json|pk> [sk]
  nimbus tables put <t> <item-json|-> [--if-not-exists] [--expected-version N]
  nimbus tables rm <t> <key-json|pk> [sk] [--expected-version N]
  nimbus tables query <t> <pk> [--begins-with P] [--limit N] [--reverse] [--cursor C]
  nimbus tables scan <t> [--limit N] [--cursor C]
  nimbus tables purge <t>                 delete every item (no stream records)`;

const out = (s: string): void => { process.stdout.write(s + '\n'); };
const path = (t: string, rest = ''): string => `/_nimbus/api/tables/${encodeURIComponent(t)}${rest}`;
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `args` are the positionals after `tables`. */
export async function tables(args: (string | undefined)[], flags: Flags): Promise<void> {
  const [sub, t, a, b] = args;
  if (!sub) throw new CliError(`usage: nimbus tables <subcommand>; subcommands: ${SUBCOMMANDS}`);
  if (sub === 'ls') return list(flags);
  if (!Object.hasOwn(USAGE, sub)) throw new CliError(`unknown tables subcommand "${sub}"; use one of: ${SUBCOMMANDS}`);
  if (!t || (['get', 'put', 'rm', 'query'].includes(sub) && a === undefined)) throw new CliError(`usage: ${USAGE[sub]}`);
  const target = resolveTarget(flags);
  switch (sub) {
    case 'show': return show(target, t, flags);
    case 'get': return get(target, t, a!, b, flags);
    case 'put': return put(target, t, a!, flags);
    case 'rm': return remove(target, t, a!, b, flags);
    case 'query': return query(target, t, a!, flags);
    case 'scan': return scan(target, t, flags);
    case 'purge': return purge(target, t, flags);
    default: throw new CliError(`unknown tables subcommand "${sub}"; use one of: ${SUBCOMMANDS}`);
  }
}

async function list(flags: Flags): Promise<void> {
  const { data } = await api<{ tables: TableView[] }>(resolveTarget(flags), 'GET', '/_nimbus/api/tables');
  if (flags.json) return out(JSON.stringify(data));
  if (data.tables.length === 0) return out('No tables. Declare them under `tables:` in nimbus.yml and deploy (see docs/tables.md).');
  printTable([['TABLE', 'APP', 'PARTITION KEY', 'SORT KEY', 'TTL', 'ITEMS', 'TRIGGERS'], ...data.tables.map((v) => [
    v.name, v.app, v.partitionKey, v.sortKey ?? '-', v.ttlAttribute ?? '-', String(v.stats.items), v.stats.triggers.map((x) => x.fn).join(', ') || '-',
  ])]);
}

async function show(target: Target, t: string, flags: Flags): Promise<void> {
  const { data: v } = await api<TableView>(target, 'GET', path(t));
  if (flags.json) return out(JSON.stringify(v));
  const s = v.stats;
  out(`Table ${v.name} of app ${v.app}`);
  out(`  Partition key:  ${v.partitionKey}`);
  out(`  Sort key:       ${v.sortKey ?? 'none'}`);
  out(`  TTL attribute:  ${v.ttlAttribute ?? 'none (items never expire)'}`);
  out(`  Items:          ${s.items} (${s.bytes >= 1024 ? `${(s.bytes / 1024).toFixed(1)} KB` : `${s.bytes} bytes`})`);
  out(`  Stream:         ${plural(s.stream.records, 'record')} kept (24 h)${s.stream.lastSeq !== null ? `, sequence ${s.stream.firstSeq}…${s.stream.lastSeq}` : ''}`);
  const triggers = s.triggers.map((x) => `${x.fn}: checkpoint ${x.checkpoint}, ${plural(x.lag, 'record')} behind`);
  out(`  Triggers:       ${triggers.join('\n                  ') || 'none'}`);
}

/** A key from the command line: JSON, or the partition key (and sort key) values with the table's attribute names. */
async function key(target: Target, t: string, a: string, b: string | undefined): Promise<Record<string, unknown>> {
  if (a.trimStart().startsWith('{')) {
    if (b !== undefined) throw new CliError('give the key as one JSON object, or as <pk> [sk] values, not both');
    return parseJson(a, 'key') as Record<string, unknown>;
  }
  const { data: v } = await api<TableView>(target, 'GET', path(t));
  if (v.sortKey !== null && b === undefined) throw new CliError(`table "${t}" has a sort key (${v.sortKey}): give <pk> <sk>, or the key as JSON`);
  if (v.sortKey === null && b !== undefined) throw new CliError(`table "${t}" has no sort key: give <pk> alone`);
  return v.sortKey === null ? { [v.partitionKey]: scalar(a) } : { [v.partitionKey]: scalar(a), [v.sortKey]: scalar(b!) };
}

async function get(target: Target, t: string, a: string, b: string | undefined, flags: Flags): Promise<void> {
  const k = await key(target, t, a, b);
  const { data } = await api<Versioned | { item: null; version: null }>(target, 'GET', `${path(t, '/items')}?key=${encodeURIComponent(JSON.stringify(k))}`);
  if (flags.json) return out(JSON.stringify(data));
  if (data.item === null) throw new CliError(`no item with key ${JSON.stringify(k)} in ${t}${numberHint(k)}`);
  out(JSON.stringify(data.item, null, 2));
  out(`(version ${data.version})`);
}

async function put(target: Target, t: string, a: string, flags: Flags): Promise<void> {
  const text = a === '-' ? readFileSync(0, 'utf8') : a;
  const item = parseJson(text, 'item');
  const { data } = await api<{ version: number }>(target, 'PUT', path(t, '/items'), {
    item, ifNotExists: flags['if-not-exists'] === true ? true : undefined, expectedVersion: version(flags),
  });
  out(flags.json ? JSON.stringify(data) : `Put the item in ${t} (version ${data.version}).`);
}

async function remove(target: Target, t: string, a: string, b: string | undefined, flags: Flags): Promise<void> {
  const k = await key(target, t, a, b);
  const v = version(flags);
  const { data } = await api<{ deleted: boolean }>(target, 'DELETE', `${path(t, '/items')}?key=${encodeURIComponent(JSON.stringify(k))}${v === undefined ? '' : `&expectedVersion=${v}`}`);
  out(flags.json ? JSON.stringify(data) : data.deleted ? `Deleted the item from ${t}.` : `No item with key ${JSON.stringify(k)} in ${t}; nothing to delete.${numberHint(k)}`);
}

/** A bare 42 on the command line is the number 42; an item keyed by the string "42" needs quotes. */
function numberHint(k: Record<string, unknown>): string {
  const n = Object.values(k).find((v) => typeof v === 'number');
  return n === undefined ? '' : ` (${n} was read as a number; for the string, quote it: '"${n}"')`;
}

async function query(target: Target, t: string, pk: string, flags: Flags): Promise<void> {
  const prefix = flags['begins-with'];
  const { data } = await api<Page>(target, 'POST', path(t, '/query'), {
    partitionKey: scalar(pk), sortKey: typeof prefix === 'string' ? { beginsWith: prefix } : undefined,
    limit: count(flags, 'limit'), reverse: flags.reverse === true ? true : undefined, cursor: typeof flags.cursor === 'string' ? flags.cursor : undefined,
  });
  printPage(data, flags, `nimbus tables query ${t} ${pk}`);
}

async function scan(target: Target, t: string, flags: Flags): Promise<void> {
  const q = new URLSearchParams();
  const limit = count(flags, 'limit');
  if (limit !== undefined) q.set('limit', String(limit));
  if (typeof flags.cursor === 'string') q.set('cursor', flags.cursor);
  const { data } = await api<Page>(target, 'GET', `${path(t, '/scan')}${q.size ? `?${q}` : ''}`);
  printPage(data, flags, `nimbus tables scan ${t}`);
}

async function purge(target: Target, t: string, flags: Flags): Promise<void> {
  const { data } = await api<{ purged: number }>(target, 'POST', path(t, '/purge'));
  out(flags.json ? JSON.stringify(data) : `Purged ${plural(data.purged, 'item')} from ${t}.`);
}

function printPage(p: Page, flags: Flags, again: string): void {
  if (flags.json) return out(JSON.stringify(p));
  if (p.items.length === 0) out('No items.');
  for (const x of p.items) out(`${JSON.stringify(x.item)}  (version ${x.version})`);
  if (p.cursor) out(`More items: ${again} --cursor ${p.cursor}`);
}

function scalar(s: string): string | number {
  try {
    const v: unknown = JSON.parse(s);
    if (typeof v === 'string' || typeof v === 'number') return v;
  } catch { /* not JSON: a plain string */ }
  return s;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`the ${what} is not valid JSON (${(err as Error).message}); e.g. '{"id":"alice","age":30}'`);
  }
}

function version(flags: Flags): number | undefined {
  const v = flags['expected-version'];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new CliError(`--expected-version: a whole number (the version a read printed), got "${String(v)}"`);
  return Number(v);
}

function count(flags: Flags, flag: string): number | undefined {
  const v = flags[flag];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new CliError(`--${flag}: must be a whole number, got "${String(v)}"`);
  return Number(v);
}
