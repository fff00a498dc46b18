// `nimbus secrets set NAME` (the value from standard input, never from an argument, so it stays out
// of shell history and process listings), `nimbus secrets ls` (names only), `nimbus secrets rm NAME`.
import { api, CliError, resolveTarget } from './client.ts';
import type { Flags } from './commands.ts';
import { table } from './queues.ts';

const out = (s: string): void => { process.stdout.write(s + '\n'); };

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Type the value, then Ctrl-D:\n');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  // One trailing newline (from `echo` or the terminal) is not part of the value.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function secrets(args: (string | undefined)[], flags: Flags): Promise<void> {
  const [sub = 'ls', name] = args;
  const target = resolveTarget(flags);
  if (sub === 'ls') {
    const { data } = await api<{ secrets: { name: string; updatedAt: string; grantedTo: string[] }[] }>(target, 'GET', '/_nimbus/api/secrets');
    if (flags.json) return out(JSON.stringify(data));
    if (data.secrets.length === 0) return out('No secrets. Set one with: nimbus secrets set NAME < value.txt');
    return table([['SECRET', 'UPDATED', 'GRANTED TO'], ...data.secrets.map((s) => [s.name, s.updatedAt, s.grantedTo.join(', ') || '-'])]);
  }
  if (sub !== 'set' && sub !== 'rm') throw new CliError(`unknown secrets subcommand "${sub}"; use one of: ls, set, rm`);
  if (!name) throw new CliError(sub === 'set' ? 'usage: nimbus secrets set NAME   (the value is read from standard input)' : 'usage: nimbus secrets rm NAME');
  if (sub === 'rm') {
    await api(target, 'DELETE', `/_nimbus/api/secrets/${encodeURIComponent(name)}`);
    return out(flags.json ? JSON.stringify({ deleted: name }) : `Deleted secret ${name}.`);
  }
  const value = await readStdin();
  if (value === '') throw new CliError('the value is empty: pipe it in, e.g. nimbus secrets set NAME < value.txt');
  const { data } = await api<{ name: string; updatedAt: string }>(target, 'PUT', `/_nimbus/api/secrets/${encodeURIComponent(name)}`, { value });
  out(flags.json ? JSON.stringify(data) : `Set secret ${data.name}. Functions granted it start new instances with the new value.`);
}
