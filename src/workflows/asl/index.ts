// The Amazon States Language engine's public API: pure, no I/O. A durable executor drives it.
//
//   validateDefinition(def: unknown): { ok: true, machine: Machine } | { ok: false, errors: ValidationError[] }
//     Checks a parsed definition (JSONPath query language). Each error has the JSON path of the bad
//     field (`$.States.Pay.Retry[0].ErrorEquals`), a message, and `unsupported: true` when it is valid
//     AWS that Nimbus does not run (JSONata, Assign/variables, distributed Map, non-Lambda resources).
//
//   start(machine, StartInput): StepResult          step(machine, ExecState, StepInput): StepResult
//     StepResult = { state, commands, events }. `state` is plain JSON: store it (or the inputs, and
//     replay them: same inputs, same results). `commands` are for the executor to carry out:
//       invokeTask  — call `functionName` (`qualifier`) with `payload`; answer with taskSucceeded,
//                     taskFailed (error = the function's errorType, cause = the error JSON text),
//                     taskTimedOut (after `timeoutAt`) or heartbeatTimedOut, naming `taskId`.
//                     waitForTaskToken tasks carry `taskToken`; the executor maps it back to taskId.
//       startTimer  — send timerFired { timerId } at `fireAt` (Wait states, retry back-off, execution timeout).
//       cancelTask / cancelTimer — the state no longer waits on them (a branch failed, a stop).
//       succeed / fail — the execution ended (state.status says so too; a stop ends it as 'aborted').
//     `events` are the history events to append (AWS names, ids continuing from state.lastEventId).
//     Every input carries `now` (epoch ms); start() takes a `seed` from which all randomness derives.
//     Inputs naming a task or timer that is no longer awaited are ignored: redelivery is harmless.
//
//   redrive(machine, endedState, { stateName, input, now, redriveCount }): StepResult — re-enter a
//     top-level state of an ended execution (the executor finds the state and its input in the history).
//
//   STATES_ERRORS, errorMatches — the States.* error names and how ErrorEquals matches them.
export { validateDefinition, type ValidationError, type ValidationResult } from './validate.ts';
export { start, step, redrive, failExecution, MAX_TRANSITIONS_PER_STEP, MAX_HISTORY_EVENTS, MAX_WAIT_SECONDS, MAX_PAYLOAD_BYTES } from './interpreter.ts';
export type { StartInput, StepInput, StepResult, Command, InvokeTaskCommand, HistoryEvent, ExecState } from './exec-types.ts';
export type { Machine, StateDef, Json } from './types.ts';
export type { ResolvedResource } from './resource.ts';
export { STATES_ERRORS, errorMatches, type StatesErrorName } from './errors.ts';
