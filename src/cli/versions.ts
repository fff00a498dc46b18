// `nimbus versions | alias | rollouts | rollback`: a function's versions and aliases, pointing an
// alias (with an optional canary), the history of its rollouts step by step, and rolling `live`
// back at once — all through the admin API (docs/versions.md).
import { api, CliError, resolveTarget } from './client.ts';
import type { Flags } from './commands.ts';
import { describeStrategy } from '../config/strategy.ts';
import type { RolloutStrategy } from '../store/versions.ts';

const out = (s: string): void => { process.stdout.write(s + '\n'); };

interface AliasView { fn: string; name: string; version: number; extraVersion: number | null; extraWeight: number; updatedAt: number }
interface VersionView { version: number; createdAt: string; codeSha: string; memoryMb: number; timeoutMs: number }
interface StepView { at: number; weight: number; invocations: number; errors: number; p99Ms: number | null; note: string }
interface RolloutView {
  id: number; fromVersion: number; toVersion: number; strategy: RolloutStrategy; status: string; reason: string | null; weight: number;
  startedAt: number; nextAt: number | null; steps: StepView[]; current?: { invocations: number; errors: number; p99Ms: number | null };
}

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

export function aliasText(a: Pick<AliasView, 'version' | 'extraVersion' | 'extraWeight'> & { provisioned?: number | null }): string {
  const to = a.extraVersion === null ? `version ${a.version}` : `version ${a.version} (${100 - a.extraWeight}%) + version ${a.extraVersion} (${a.extraWeight}%)`;
  return a.provisioned == null ? to : `${to}, ${a.provisioned} provisioned`;
}

/** `nimbus versions <fn>`: every kept version, newest first, and where each alias points. */
export async function versions(fn: string | undefined, flags: Flags): Promise<void> {
  if (!fn) throw new CliError('usage: nimbus versions <function>');
  const { data } = await api<{ latest: number; versions: VersionView[]; aliases: AliasView[] }>(resolveTarget(flags), 'GET', `/_nimbus/api/functions/${encodeURIComponent(fn)}/versions`);
  if (flags.json) return out(JSON.stringify(data));
  const names = (v: number): string => [...(v === data.latest ? ['$LATEST'] : []), ...data.aliases.filter((a) => a.version === v || a.extraVersion === v).map((a) => a.name)].join(', ') || '-';
  table([['VERSION', 'CREATED', 'CODE', 'MEMORY', 'TIMEOUT', 'ALIASES'], ...[...data.versions].reverse().map((v) => [
    String(v.version), v.createdAt.replace('T', ' ').slice(0, 19), v.codeSha.slice(0, 12), `${v.memoryMb} MB`, `${v.timeoutMs / 1000} s`, names(v.version),
  ])]);
  out('');
  for (const a of data.aliases) out(`${a.name} → ${aliasText(a)}`);
}

/** `nimbus alias <fn> <alias> <version> [--canary V --weight P]`. */
export async function alias(args: string[], flags: Flags): Promise<void> {
  const [fn, name, version] = args;
  if (!fn || !name || !version) throw new CliError('usage: nimbus alias <function> <alias> <version> [--canary <version> --weight <percent>] [--provisioned N]');
  const num = (v: string, what: string): number => {
    if (!/^\d+$/.test(v)) throw new CliError(`${what}: a version number, got "${v}"`);
    return Number(v);
  };
  const body: Record<string, unknown> = { version: num(version, 'version') };
  if (flags.canary !== undefined) {
    body.additionalVersion = num(String(flags.canary), '--canary');
    const w = Number(flags.weight);
    if (flags.weight === undefined || !(w >= 0 && w <= 100)) throw new CliError('--weight: the percentage of calls the canary version takes, 0 to 100');
    body.weight = w;
  } else if (flags.weight !== undefined) throw new CliError('--weight goes with --canary <version>');
  if (flags.provisioned !== undefined) body.provisioned = num(String(flags.provisioned), '--provisioned');
  const { data } = await api<AliasView>(resolveTarget(flags), 'PUT', `/_nimbus/api/functions/${encodeURIComponent(fn)}/aliases/${encodeURIComponent(name)}`, body);
  out(flags.json ? JSON.stringify(data) : `${fn}:${data.name} → ${aliasText(data)}`);
}

/** `nimbus rollouts <fn>`: each rollout, newest first, with every step. */
export async function rollouts(fn: string | undefined, flags: Flags): Promise<void> {
  if (!fn) throw new CliError('usage: nimbus rollouts <function>');
  const { data } = await api<{ rollouts: RolloutView[] }>(resolveTarget(flags), 'GET', `/_nimbus/api/functions/${encodeURIComponent(fn)}/rollouts`);
  if (flags.json) return out(JSON.stringify(data));
  if (data.rollouts.length === 0) return out(`No rollouts for ${fn}: deploys so far went all at once. Try nimbus deploy --strategy canary:10%:5m.`);
  for (const r of data.rollouts) {
    const s = describeStrategy(r.strategy);
    out(`#${r.id}  version ${r.fromVersion} → ${r.toVersion}  ${s}  ${r.status.toUpperCase()}${r.reason ? `: ${r.reason}` : ''}`);
    const now = r.current ? [[
      '  now', `${r.weight}%`, String(r.current.invocations), String(r.current.errors), r.current.p99Ms === null ? '-' : `${Math.round(r.current.p99Ms * 10) / 10} ms`,
      r.nextAt === null ? 'running' : `next step at ${new Date(r.nextAt).toISOString().replace('T', ' ').slice(0, 19)}`,
    ]] : [];
    table([['  TIME', 'WEIGHT', 'INVOCATIONS', 'ERRORS', 'P99', 'STEP'], ...r.steps.map((st) => [
      `  ${new Date(st.at).toISOString().replace('T', ' ').slice(0, 19)}`, `${st.weight}%`, String(st.invocations), String(st.errors), st.p99Ms === null ? '-' : `${st.p99Ms} ms`, st.note,
    ]), ...now]);
    out('');
  }
}

/** `nimbus rollback <fn>`: live back to where it was, at once. */
export async function rollback(fn: string | undefined, flags: Flags): Promise<void> {
  if (!fn) throw new CliError('usage: nimbus rollback <function>');
  const { data } = await api<{ alias: AliasView; rollout: number | null }>(resolveTarget(flags), 'POST', `/_nimbus/api/functions/${encodeURIComponent(fn)}/rollback`);
  out(flags.json ? JSON.stringify(data) : `${fn}:live → ${aliasText(data.alias)}${data.rollout !== null ? ` (rollout #${data.rollout} rolled back)` : ''}`);
}
