// The error names of the States Language that this engine raises or matches, and StatesError, the one
// exception type its pure parts throw. A StatesError is an *execution* error (it becomes a state's
// failure, may be retried or caught), not a platform error: those are NimbusErrors in src/errors.ts.
// docs/workflows.md lists every name in STATES_ERRORS; a test keeps the two in sync.

export const STATES_ERRORS = {
  'States.ALL': 'Wildcard in Retry/Catch: matches every error name except States.Runtime and States.DataLimitExceeded.',
  'States.TaskFailed': 'Wildcard in Retry/Catch: matches every error except States.Timeout and States.HeartbeatTimeout.',
  'States.Timeout': 'A Task ran longer than TimeoutSeconds (in Retry/Catch it also matches States.HeartbeatTimeout), or the execution ran past its TimeoutSeconds.',
  'States.HeartbeatTimeout': 'A Task sent no heartbeat for longer than HeartbeatSeconds.',
  'States.Runtime': 'A path or value could not be processed (InputPath/OutputPath/ItemsPath on a missing field, a Choice variable that is absent, a Wait time that is not a time or over 99,999,999 s), the history limit, an engine failure. Retried or caught only by a Retrier/Catcher that names it (not by States.ALL).',
  'States.ResultPathMatchFailure': 'ResultPath cannot be applied to the state input (it goes through a value that is not an object).',
  'States.ParameterPathFailure': 'A `.$` field of Parameters, ResultSelector, ItemSelector or Credentials names a path that is not in the input.',
  'States.IntrinsicFailure': 'An intrinsic function got arguments it cannot work with.',
  'States.NoChoiceMatched': 'No Choice rule matched and the Choice state has no Default.',
  'States.BranchFailed': 'A Parallel branch failed without an error name of its own.',
  'States.ExceedToleratedFailureThreshold': 'More Map iterations failed than ToleratedFailureCount/Percentage allow.',
  'States.DataLimitExceeded': 'A task result or a state output is over 256 KB (UTF-8 JSON). Retried or caught only by a Retrier/Catcher that names it (not by States.ALL).',
} as const;

export type StatesErrorName = keyof typeof STATES_ERRORS;

/** An execution error with an AWS-style name (`States.*` or a task's own error type) and cause. */
export class StatesError extends Error {
  readonly error: string;
  readonly causeText: string;
  constructor(error: string, cause: string) {
    super(`${error}: ${cause}`);
    this.name = 'StatesError';
    this.error = error;
    this.causeText = cause;
  }
}

export function isStatesError(e: unknown): e is StatesError {
  return e instanceof Error && e.name === 'StatesError';
}

/** Does a Retrier's or Catcher's ErrorEquals list match this error name? */
export function errorMatches(errorEquals: readonly string[], error: string): boolean {
  if (errorEquals.includes(error)) return true;
  const terminal = error === 'States.Runtime' || error === 'States.DataLimitExceeded';
  if (terminal) return false;
  if (errorEquals.includes('States.ALL')) return true;
  if (errorEquals.includes('States.Timeout') && error === 'States.HeartbeatTimeout') return true;
  if (errorEquals.includes('States.TaskFailed') && error !== 'States.Timeout' && error !== 'States.HeartbeatTimeout') return true;
  return false;
}
