// The platform's own logger (pino). Platform code logs through this, never console.*.
// A child logger per invocation carries { requestId, fn }.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = opts.level ?? process.env.NIMBUS_LOG_LEVEL ?? 'info';
  return pino({ level, base: undefined }, opts.destination ?? pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything: for tests that do not look at the server log. */
export const silentLogger: Logger = pino({ level: 'silent' });
