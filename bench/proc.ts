// Process-tree CPU time from /proc: a server's own CPU plus every descendant's (sandbox instances),
// including children that already exited and were reaped (cutime/cstime).
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_S = 100; // USER_HZ on Linux

function stat(pid: number): { ppid: number; cpuTicks: number; childTicks: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state ppid ... utime(14th field overall → index 11 here) stime cutime cstime
    return { ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]), childTicks: Number(fields[13]) + Number(fields[14]) };
  } catch {
    return undefined;
  }
}

/** CPU milliseconds used so far by `root` and all its descendants, living or reaped. */
export function treeCpuMs(root: number): number {
  const all = new Map<number, { ppid: number; cpuTicks: number; childTicks: number }>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const s = stat(pid);
    if (s) all.set(pid, s);
  }
  let ticks = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    const s = all.get(pid);
    if (!s) continue;
    ticks += s.cpuTicks + s.childTicks;
    for (const [child, cs] of all) if (cs.ppid === pid) stack.push(child);
  }
  return (ticks / TICKS_PER_S) * 1000;
}
