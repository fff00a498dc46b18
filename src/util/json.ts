// JSON text of a value that came from a caller: a value JSON cannot hold (nested too deeply: a
// RangeError; a BigInt or a cycle, which function code can send over the SDK channel: a TypeError)
// is the caller's mistake, a 400, not a crash.
import { NimbusError } from '../errors.ts';

export function jsonText(value: unknown, what: string): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (err instanceof RangeError) throw new NimbusError('BAD_REQUEST', `${what} is nested too deeply to store; flatten it`);
    if (err instanceof TypeError) throw new NimbusError('BAD_REQUEST', `${what} is not JSON: ${/BigInt/i.test(err.message) ? 'it holds a BigInt (send it as a string or a number)' : 'it refers to itself (a cycle)'}`);
    throw err;
  }
}
