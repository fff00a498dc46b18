// Entry point of the `nimbus` command: parses arguments and dispatches to a command.
import { totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { loadPrices } from '../config/prices.ts';
import { LOG_RETENTION_DEFAULT_MS, LOG_RETENTION_DEFAULT_ROWS } from '../config/limits.ts';
import { parseDuration } from '../util/duration.ts';
import { CliError } from './client.ts';
import { budgets, deploy, describeError, type Flags, init, invocations, invoke, logs, ls, rm, usage } from './commands.ts';
import { queues } from './queues.ts';
import { workflows } from './workflows.ts';
import { schedules } from './schedules.ts';
import { topics } from './topics.ts';
import { events, rules } from './events.ts';
import { secrets } from './secrets.ts';
import { tables, TABLES_HELP } from './tables.ts';
import { storage } from './storage.ts';
import { alias, rollback, rollouts, versions } from './versions.ts';

const HELP = `nimbus — a self-hosted serverless platform

Usage:
  nimbus serve [--port 8080] [--host 127.0.0.1] [--data ./.nimbus] [--keep-alive 5m]
               [--max-instances 1000] [--memory-budget 75%|MB] [--max-starts N] [--spares 1] [--max-spares 8] [--compile-cache on|off] [--prices prices.json]
               [--log-retention 7d] [--log-max-lines 200000] [--keep-versions 10]
  nimbus init <name>                      scaffold an app (nimbus.yml + a TypeScript function)
  nimbus deploy [dir] [--strategy all-at-once|canary:10%:5m|linear:10%:1m]
                                          bundle and deploy the app in dir (default .); each changed function gets a new version
  nimbus invoke <fn> [--data JSON | --file F] [--qualifier ALIAS|VERSION] [--async [--idempotency-key KEY]]
  nimbus versions <fn>                    a function's versions and where its aliases point
  nimbus alias <fn> <alias> <version> [--canary V --weight P] [--provisioned N]
  nimbus rollouts <fn>                    rollouts with every step (time, weight, invocations, errors, p99) and outcome
  nimbus rollback <fn>                    point live back at once
  nimbus logs <fn> [--follow] [--since 1h] [--until 10m] [--request-id ID] [--level LEVEL] [--search TEXT]
  nimbus invocations <fn> [--since 1h] [--status error] [--limit N]
                                          invocation records, newest first: outcome, duration, billed, init, memory
  nimbus usage [--by function|day|hour] [--since 30d] [--function F]
                                          requests, GB-seconds, provisioned GB-seconds, init time and estimated cost
  nimbus budgets                          each budget's month-to-date cost and the alerts raised
  nimbus ls                               list functions
  nimbus rm <fn> | nimbus rm --app <app>
  nimbus queues ls                        list queues with their messages, dead-letter queue and triggers
  nimbus queues show <q>                  a queue's settings and message counts
  nimbus queues send <q> (--body TEXT | --file F) [--group G] [--dedup D] [--delay S] [--attr name=value ...]
  nimbus queues receive <q> [--max N] [--wait S] [--visibility S] [--delete]
  nimbus queues delete <q> <receiptHandle>
  nimbus queues purge <q>
  nimbus queues redrive <dlq> [--to Q] [--max N]
  nimbus topics ls                        list topics and their subscriptions
  nimbus topics show <t>                  a topic's subscriptions, filter policies and webhook signing secrets
  nimbus topics publish <t> (--message TEXT | --file F) [--subject S] [--attr name=value ...]
  nimbus events put --source S --detail-type T [--detail JSON | --file F]
  nimbus events test-pattern --pattern JSON --event JSON
  nimbus rules                            list event bus rules and their targets
  nimbus secrets set NAME                 set a secret (the value from standard input)
  nimbus secrets ls | rm NAME             list secret names (never values), delete one
  nimbus schedules [ls]                   list schedules with their next fire times
  nimbus schedules enable|disable <name>
  nimbus storage buckets                  list buckets with app, objects and size (also: storage ls)
  nimbus storage ls <bucket>[/prefix] [--recursive]
  nimbus storage put <file|-> <bucket>/<key> [--content-type T] [--meta name=value ...]
  nimbus storage get <bucket>/<key> [file|-]
  nimbus storage rm <bucket>/<key> | rm --recursive <bucket>/<prefix>
  nimbus storage cp <bucket>/<key> <bucket>/<key>
  nimbus storage presign <bucket>/<key> [--put] [--expires 3600] [--content-type T]
${TABLES_HELP}
  nimbus workflows ls                     list deployed workflows
  nimbus workflows start <wf> [--input JSON | --file F] [--name N] [--sync]
  nimbus workflows executions <wf> [--status S] [--limit N]
  nimbus workflows describe|history|stop|redrive <executionArn | wf:name>

Common flags: --json (machine output), --url URL, --token TOKEN, --data DIR (--data-dir DIR with invoke)
The CLI finds a local server through DIR/server.json and DIR/admin-token (DIR defaults to ./.nimbus),
or uses NIMBUS_URL and NIMBUS_TOKEN.`;

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' }, host: { type: 'string' }, data: { type: 'string' }, 'data-dir': { type: 'string' }, 'keep-alive': { type: 'string' },
      'max-instances': { type: 'string' }, 'memory-budget': { type: 'string' }, 'max-starts': { type: 'string' }, spares: { type: 'string' }, 'max-spares': { type: 'string' }, 'compile-cache': { type: 'string' },
      json: { type: 'boolean' }, url: { type: 'string' }, token: { type: 'string' },
      file: { type: 'string' }, follow: { type: 'boolean', short: 'f' }, since: { type: 'string' }, 'request-id': { type: 'string' },
      level: { type: 'string' }, limit: { type: 'string' }, app: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      async: { type: 'boolean' }, 'idempotency-key': { type: 'string' },
      body: { type: 'string' }, group: { type: 'string' }, dedup: { type: 'string' }, delay: { type: 'string' }, attr: { type: 'string', multiple: true },
      max: { type: 'string' }, wait: { type: 'string' }, visibility: { type: 'string' }, delete: { type: 'boolean' }, to: { type: 'string' },
      message: { type: 'string' }, subject: { type: 'string' },
      source: { type: 'string' }, 'detail-type': { type: 'string' }, detail: { type: 'string' }, pattern: { type: 'string' }, event: { type: 'string' },
      'content-type': { type: 'string' }, recursive: { type: 'boolean', short: 'r' }, put: { type: 'boolean' }, expires: { type: 'string' }, meta: { type: 'string', multiple: true },
      status: { type: 'string' }, 'log-retention': { type: 'string' }, 'log-max-lines': { type: 'string' }, until: { type: 'string' }, search: { type: 'string' }, by: { type: 'string' }, function: { type: 'string' }, prices: { type: 'string' },
      strategy: { type: 'string' }, qualifier: { type: 'string' }, canary: { type: 'string' }, weight: { type: 'string' }, provisioned: { type: 'string' }, 'keep-versions': { type: 'string' },
      input: { type: 'string' }, sync: { type: 'boolean' }, name: { type: 'string' },
      'if-not-exists': { type: 'boolean' }, 'expected-version': { type: 'string' }, 'begins-with': { type: 'string' }, reverse: { type: 'boolean' }, cursor: { type: 'string' },
    },
  });
  const [command, arg] = positionals;
  const { attr, meta, ...single } = values;
  // `--data` is the data dir everywhere but in invoke, where (as in the docs) it is the payload;
  // `--data-dir` names the data dir in every command.
  const flags: Flags = { ...single, data: command === 'invoke' ? values['data-dir'] : values.data ?? values['data-dir'] };
  if (command === 'invoke') flags.payload = values.data;
  if (values.help || !command || command === 'help') {
    process.stdout.write(HELP + '\n');
    return;
  }
  switch (command) {
    case 'serve': return serve({ ...single, data: flags.data });
    case 'init': return init(arg, flags);
    case 'deploy': return deploy(arg, flags);
    case 'invoke': return invoke(arg, flags);
    case 'logs': return logs(arg, flags);
    case 'invocations': return invocations(arg, flags);
    case 'usage': return usage(flags);
    case 'budgets': return budgets(flags);
    case 'versions': return versions(arg, flags);
    case 'alias': return alias(positionals.slice(1), flags);
    case 'rollouts': return rollouts(arg, flags);
    case 'rollback': return rollback(arg, flags);
    case 'ls': return ls(flags);
    case 'rm': return rm(arg, flags);
    case 'queues': return queues(positionals.slice(1), flags, attr);
    case 'schedules': return schedules(positionals.slice(1), flags);
    case 'topics': return topics(positionals.slice(1), flags, attr);
    case 'events': return events(positionals.slice(1), flags);
    case 'rules': return rules(flags);
    case 'secrets': return secrets(positionals.slice(1), flags);
    case 'tables': return tables(positionals.slice(1), flags);
    case 'storage': return storage(positionals.slice(1), flags, meta);
    case 'workflows': return workflows(positionals.slice(1), flags);
    default: throw new CliError(`unknown command "${command}"; run \`nimbus --help\``);
  }
}

async function serve(values: Record<string, string | boolean | undefined>): Promise<void> {
  const { startServer } = await import('../server.ts');
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new CliError(`--port: must be a port number from 0 to 65535, got "${values.port}"`);
  const keepAliveMs = typeof values['keep-alive'] === 'string' ? parseDuration(values['keep-alive']) : undefined;
  if (values['keep-alive'] !== undefined && keepAliveMs === undefined) throw new CliError(`--keep-alive: use a duration like 30s, 5m or 1h, got "${values['keep-alive']}"`);
  const count = (flag: string, min: number): number | undefined => {
    const v = values[flag];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new CliError(`--${flag}: must be an integer ≥ ${min}, got "${String(v)}"`);
    return n;
  };
  let memoryBudgetMb: number | undefined;
  const budget = values['memory-budget'];
  if (typeof budget === 'string') {
    const pct = /^(\d+(?:\.\d+)?)%$/.exec(budget);
    memoryBudgetMb = pct ? Math.floor((totalmem() / (1024 * 1024)) * Number(pct[1]) / 100) : Number(budget);
    if (!Number.isFinite(memoryBudgetMb) || memoryBudgetMb < 128) throw new CliError(`--memory-budget: use MB (at least 128) or a share of RAM like 75%, got "${budget}"`);
  }
  const sparesMin = count('spares', 0);
  const sparesMax = count('max-spares', 0);
  const spares = sparesMin === undefined && sparesMax === undefined ? undefined
    : { min: sparesMin ?? Math.min(1, sparesMax ?? 1), max: Math.max(sparesMax ?? 8, sparesMin ?? 0) };
  const retention = typeof values['log-retention'] === 'string' ? parseDuration(values['log-retention']) : undefined;
  if (values['log-retention'] !== undefined && (retention === undefined || retention < 60_000)) throw new CliError(`--log-retention: use a duration of at least 1m, like 7d or 12h, got "${String(values['log-retention'])}"`);
  const maxLines = count('log-max-lines', 1000);
  const logRetention = retention === undefined && maxLines === undefined ? undefined : { maxAgeMs: retention ?? LOG_RETENTION_DEFAULT_MS, maxRows: maxLines ?? LOG_RETENTION_DEFAULT_ROWS };
  const cc = values['compile-cache'];
  if (cc !== undefined && cc !== 'on' && cc !== 'off') throw new CliError(`--compile-cache: use on or off, got "${String(cc)}"`);
  const server = await startServer({
    port, host: values.host as string | undefined, dataDir: values.data as string | undefined, keepAliveMs,
    maxInstances: count('max-instances', 1), memoryBudgetMb, maxConcurrentStarts: count('max-starts', 1), spares, compileCache: cc === undefined ? undefined : cc === 'on',
    prices: typeof values.prices === 'string' ? loadPrices(values.prices) : undefined,
    logRetention,
    keepVersions: count('keep-versions', 1),
  });
  process.stdout.write(`Nimbus is listening on ${server.url}\n`);
  process.stdout.write(`Data: ${server.dataDir}\n`);
  process.stdout.write(`Admin token: ${server.tokenPath}${server.tokenCreated ? ` (new: ${server.token})` : ''}\n`);
  const stop = (): void => {
    process.stdout.write('Stopping: instances are stopped and logs flushed…\n');
    void server.close().then(() => { process.stdout.write('Stopped.\n'); process.exit(0); });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

// `nimbus logs fn | head` closes stdout early: stop quietly instead of crashing on EPIPE.
process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); else throw e; });

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`nimbus: ${describeError(e)}\n`);
  process.exitCode = 1;
});
