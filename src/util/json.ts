// JSON text of a value that came from a caller: a value nested too deeply for JSON.stringify (it
// throws a RangeError) is the caller's mistake, a 400, not a crash.
import { NimbusError } from '../errors.ts';

export function jsonText(value: unknown, what: string): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (err instanceof RangeError) throw new NimbusError('BAD_REQUEST', `${what} is nested too deeply to store; flatten it`);
    throw err;
  }
}
