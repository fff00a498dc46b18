// Durations as people type them: 500ms, 30s, 15m, 1h, 2d. Undefined when the text is not one.
import { NimbusError } from '../errors.ts';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  return m ? Number(m[1]) * UNITS[m[2]!]! : undefined;
}

/** A point in time as a query parameter (`since`, `until`): a duration back from now, or an ISO time. BAD_REQUEST otherwise. */
export function sinceToMs(value: string, name = 'since', now = Date.now()): number {
  const d = parseDuration(value);
  const t = d !== undefined ? now - d : Date.parse(value);
  if (Number.isNaN(t)) throw new NimbusError('BAD_REQUEST', `${name}: "${value.slice(0, 64)}" is neither a duration (30s, 15m, 1h, 2d) nor an ISO time`);
  // Dates hold ±8.64e15 ms from the epoch: beyond, the time cannot be written back.
  if (Math.abs(t) > 8.64e15) throw new NimbusError('BAD_REQUEST', `${name}: "${value.slice(0, 64)}" is too far from now`);
  return t;
}
