// A small seeded generator (sfc32) whose whole state is four numbers kept in ExecState, so random
// values (retry jitter, States.UUID, States.MathRandom, task tokens) replay exactly.
import { createHash } from 'node:crypto';

export type RngState = [number, number, number, number];

export function seedRng(seed: string): RngState {
  const h = createHash('sha256').update(seed).digest();
  return [h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12)];
}

/** Next 32-bit value; advances `s` in place. */
export function nextU32(s: RngState): number {
  let [a, b, c, d] = s;
  const t = (((a + b) | 0) + d) | 0;
  d = (d + 1) | 0;
  a = b ^ (b >>> 9);
  b = (c + (c << 3)) | 0;
  c = (c << 21) | (c >>> 11);
  c = (c + t) | 0;
  s[0] = a; s[1] = b; s[2] = c; s[3] = d;
  return t >>> 0;
}

export function nextFloat(s: RngState): number { return nextU32(s) / 2 ** 32; }

/** A version 4 UUID from the generator. */
export function nextUuid(s: RngState): string {
  const hex = [nextU32(s), nextU32(s), nextU32(s), nextU32(s)].map((n) => n.toString(16).padStart(8, '0')).join('');
  const v = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${v}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
