// `nimbus workflows <subcommand>`: list workflows, start executions (optionally waiting for the
// result), list / describe / show the history of / stop / redrive executions, through the admin
// API. People output by default, the API's JSON with --json; errors are thrown to main.ts.
import { readFileSync } from 'node:fs';
import { api, CliError, resolveTarget } from './client.ts';
import type { Flags } from './commands.ts';
import { table } from './queues.ts';

interface Execution {
  executionArn: string; workflow: string; name: string; status: string; input: unknown; output: unknown;
  error: string | null; cause: string | null; startedAt: string; stoppedAt: string | null; redriveCount: number;
}
interface HistoryEvent { id: number; type: string; timestamp: string; frameId: string; details: Record<string, unknown> }

const SUBCOMMANDS = 'ls, start, executions, describe, history, stop, redrive';
const USAGE: Record<string, string> = {
  start: 'nimbus workflows start <workflow> [--input JSON | --file F] [--name N] [--sync]',
  executions: 'nimbus workflows executions <workflow> [--status RUNNING|SUCCEEDED|FAILED|ABORTED|TIMED_OUT] [--limit N]',
  describe: 'nimbus workflows describe <executionArn | workflow:name>',
  history: 'nimbus workflows history <executionArn | workflow:name>',
  stop: 'nimbus workflows stop <executionArn | workflow:name>',
  redrive: 'nimbus workflows redrive <executionArn | workflow:name>',
};

const HISTORY_PAGE = 1000;
const out = (s: string): void => { process.stdout.write(s + '\n'); };
const exec = (id: string, rest = ''): string => `/_nimbus/api/executions/${encodeURIComponent(id)}${rest}`;

export async function workflows(args: (string | undefined)[], flags: Flags): Promise<void> {
  const [sub, name] = args;
  if (!sub) throw new CliError(`usage: nimbus workflows <subcommand>; subcommands: ${SUBCOMMANDS}`);
  const target = resolveTarget(flags);
  if (sub === 'ls') {
    const { data } = await api<{ workflows: { name: string; app: string; updatedAt: string }[] }>(target, 'GET', '/_nimbus/api/workflows');
    if (flags.json) return out(JSON.stringify(data));
    if (data.workflows.length === 0) return out('No workflows. Declare them under `workflows:` in nimbus.yml and deploy (see docs/workflows.md).');
    return table([['WORKFLOW', 'APP', 'UPDATED'], ...data.workflows.map((w) => [w.name, w.app, w.updatedAt])]);
  }
  if (!Object.hasOwn(USAGE, sub)) throw new CliError(`unknown workflows subcommand "${sub}"; use one of: ${SUBCOMMANDS}`);
  if (!name) throw new CliError(`usage: ${USAGE[sub]}`);
  switch (sub) {
    case 'start': {
      const raw = typeof flags.input === 'string' ? flags.input : typeof flags.file === 'string' ? readFileSync(flags.file, 'utf8') : undefined;
      let input: unknown = {};
      if (raw !== undefined) {
        try { input = JSON.parse(raw); } catch { throw new CliError(`--input: not valid JSON: ${raw.slice(0, 80)}`); }
      }
      const body = { input, ...(typeof flags.name === 'string' ? { name: flags.name } : {}) };
      const { data } = await api<Execution>(target, 'POST', `/_nimbus/api/workflows/${encodeURIComponent(name)}/executions${flags.sync ? '?sync=true' : ''}`, body);
      if (flags.json) return out(JSON.stringify(data));
      showExecution(data);
      if (flags.sync && data.status !== 'SUCCEEDED') process.exitCode = 1;
      return;
    }
    case 'executions': {
      const q = new URLSearchParams();
      if (typeof flags.status === 'string') q.set('status', flags.status.toUpperCase());
      if (typeof flags.limit === 'string') q.set('limit', flags.limit);
      const { data } = await api<{ executions: Execution[] }>(target, 'GET', `/_nimbus/api/workflows/${encodeURIComponent(name)}/executions${q.size ? `?${q}` : ''}`);
      if (flags.json) return out(JSON.stringify(data));
      if (data.executions.length === 0) return out(`No executions of ${name}${flags.status ? ` with status ${String(flags.status).toUpperCase()}` : ''}.`);
      return table([['NAME', 'STATUS', 'STARTED', 'STOPPED', 'ERROR'], ...data.executions.map((e) => [e.name, e.status, e.startedAt, e.stoppedAt ?? '-', e.error ?? '-'])]);
    }
    case 'describe': {
      const { data } = await api<Execution>(target, 'GET', exec(name));
      return flags.json ? out(JSON.stringify(data)) : showExecution(data);
    }
    case 'history': {
      // The API answers a page at a time (up to 25,000 events in all): follow `after` to the end.
      const events: HistoryEvent[] = [];
      for (;;) {
        const { data } = await api<{ events: HistoryEvent[] }>(target, 'GET', exec(name, `/history?after=${events.at(-1)?.id ?? 0}&limit=${HISTORY_PAGE}`));
        events.push(...data.events);
        if (data.events.length < HISTORY_PAGE) break;
      }
      if (flags.json) return out(JSON.stringify({ events }));
      return table([['ID', 'TIME', 'TYPE', 'STATE / DETAILS'], ...events.map((e) => [String(e.id), e.timestamp, e.type, summary(e)])]);
    }
    case 'stop':
    case 'redrive': {
      const { data } = await api<Execution>(target, 'POST', exec(name, `/${sub}`), {});
      return flags.json ? out(JSON.stringify(data)) : showExecution(data);
    }
  }
}

function showExecution(e: Execution): void {
  out(`${e.executionArn}\n  status:  ${e.status}${e.redriveCount ? ` (redriven ${e.redriveCount}×)` : ''}\n  started: ${e.startedAt}${e.stoppedAt ? `\n  stopped: ${e.stoppedAt}` : ''}`);
  out(`  input:   ${JSON.stringify(e.input)}`);
  if (e.status === 'SUCCEEDED') out(`  output:  ${JSON.stringify(e.output)}`);
  if (e.error !== null) out(`  error:   ${e.error}\n  cause:   ${e.cause ?? ''}`);
}

function summary(e: HistoryEvent): string {
  const d = e.details;
  const text = typeof d.name === 'string' ? d.name : typeof d.error === 'string' ? `${d.error}${d.cause ? `: ${String(d.cause).slice(0, 80)}` : ''}` : typeof d.functionName === 'string' ? d.functionName : '';
  return text || '-';
}
