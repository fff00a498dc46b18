// Turns what the engine returns (state, commands, history events) into one store commit: new work
// items for tasks and timers, removals for what it cancelled, task tokens, and the execution's
// status. Several steps of one execution can be folded into one commit (a burst of Map iterations
// finishing), so a work item added and cancelled within the same batch is never written at all.
import type { ExecState, HistoryEvent, StepResult } from './asl/index.ts';
import type { ExecutionStatus, HistoryRecord, NewWork, StepCommit, WorkRemoval } from '../store/workflows.ts';

export class CommitBuilder {
  readonly events: HistoryRecord[] = [];
  add: NewWork[] = [];
  readonly remove: WorkRemoval[] = [];
  tokens: { token: string; taskId: string }[] = [];
  /** Task ids whose invocations were scheduled in this batch (for the loop's wake-up). */
  scheduled = 0;

  /** `trace`: the execution's trace context (traceContext()), carried in each task's work item to its invocation. */
  take(r: StepResult, now: number, trace: string | null = null): void {
    for (const e of r.events) this.events.push(toRecord(e));
    for (const c of r.commands) {
      switch (c.kind) {
        case 'invokeTask':
          this.scheduled++;
          this.add.push({ kind: 'task', ref: c.taskId, dueAt: now, data: JSON.stringify(trace ? { ...c, trace } : c) });
          if (c.timeoutAt !== null) this.add.push({ kind: 'timeout', ref: c.taskId, dueAt: c.timeoutAt, data: '0' });
          // Heartbeats come with a task token (SendTaskHeartbeat): a direct invocation cannot send one.
          if (c.taskToken !== null) {
            this.tokens.push({ token: c.taskToken, taskId: c.taskId });
            if (c.heartbeatSeconds !== null) this.add.push({ kind: 'heartbeat', ref: c.taskId, dueAt: now + c.heartbeatSeconds * 1000, data: String(c.heartbeatSeconds * 1000) });
          }
          break;
        case 'startTimer':
          this.add.push({ kind: 'timer', ref: c.timerId, dueAt: c.fireAt, data: '0' });
          break;
        case 'cancelTask':
        case 'cancelTimer': {
          const ref = c.kind === 'cancelTask' ? c.taskId : c.timerId;
          this.add = this.add.filter((w) => w.ref !== ref);
          this.tokens = this.tokens.filter((t) => t.taskId !== ref);
          this.remove.push({ ref });
          break;
        }
        case 'succeed':
        case 'fail':
          break;
      }
    }
  }

  build(execution: string, expectedVersion: number, state: ExecState, now: number): StepCommit {
    const status = statusOf(state, this.events);
    return {
      execution, expectedVersion, state: JSON.stringify(state), status,
      output: status === 'SUCCEEDED' ? JSON.stringify(state.output ?? null) : null,
      error: status === 'RUNNING' || status === 'SUCCEEDED' ? null : state.error ?? null,
      cause: status === 'RUNNING' || status === 'SUCCEEDED' ? null : state.cause ?? null,
      stoppedAt: status === 'RUNNING' ? null : now,
      events: this.events, add: this.add, remove: this.remove, tokens: this.tokens,
    };
  }
}

export function statusOf(state: ExecState, events: HistoryRecord[]): ExecutionStatus {
  switch (state.status) {
    case 'running': return 'RUNNING';
    case 'succeeded': return 'SUCCEEDED';
    case 'aborted': return 'ABORTED';
    case 'failed': return events.some((e) => e.type === 'ExecutionTimedOut') ? 'TIMED_OUT' : 'FAILED';
  }
}

function toRecord(e: HistoryEvent): HistoryRecord {
  return { id: e.id, previousEventId: e.previousEventId, type: e.type, timestamp: e.timestamp, frameId: e.frameId, details: e.details };
}
