// `nimbus schedules`: list schedules with their next fire times, enable and disable them.
import { api, CliError, resolveTarget } from './client.ts';
import type { Flags } from './commands.ts';

interface ScheduleView {
  name: string; app: string; expression: string; timezone: string; description: string; target: { kind: string; name: string };
  enabled: boolean; catchUp: boolean; nextFireAt: string | null; lastFiredAt: string | null;
}

const out = (s: string): void => { process.stdout.write(s + '\n'); };

export async function schedules(args: string[], flags: Flags): Promise<void> {
  const [sub = 'ls', name] = args;
  const target = resolveTarget(flags);
  if (sub === 'ls') {
    const { data } = await api<{ schedules: ScheduleView[] }>(target, 'GET', '/_nimbus/api/schedules');
    if (flags.json) return out(JSON.stringify(data));
    if (data.schedules.length === 0) return out('No schedules. Add `- schedule: rate(5 minutes)` to a function\'s events, or a `schedules:` section (docs/schedules.md).');
    const rows = [['SCHEDULE', 'APP', 'EXPRESSION', 'TARGET', 'NEXT FIRE (UTC)', 'LAST FIRED'], ...data.schedules.map((s) => [
      s.name, s.app, `${s.expression}${s.timezone !== 'UTC' ? ` ${s.timezone}` : ''}`, `${s.target.kind}:${s.target.name}`,
      // No next time: an at() that has fired, or a cron that selects no time from now on (31 February, past years).
      s.enabled ? (s.nextFireAt ?? (s.expression.startsWith('at(') ? 'none (done)' : 'never (no time matches)')) : 'disabled', s.lastFiredAt ?? '-',
    ])];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
    return;
  }
  if (sub === 'enable' || sub === 'disable') {
    if (!name) throw new CliError(`usage: nimbus schedules ${sub} <name>`);
    const { data } = await api<ScheduleView>(target, 'POST', `/_nimbus/api/schedules/${encodeURIComponent(name)}/${sub}`);
    if (flags.json) return out(JSON.stringify(data));
    return out(data.enabled ? `Enabled ${data.name}; next fire ${data.nextFireAt ?? 'none'}.` : `Disabled ${data.name}; nothing fires until it is enabled again.`);
  }
  throw new CliError(`unknown schedules subcommand "${sub}"; use one of: ls, enable, disable`);
}
