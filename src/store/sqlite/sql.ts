// A node:sqlite connection with a prepared-statement cache and IMMEDIATE transactions: what every
// part of the embedded store uses to talk to its files.
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';

export type Row = Record<string, SQLInputValue>;

export class Sql {
  readonly db: DatabaseSync;
  readonly #stmts = new Map<string, StatementSync>();
  #depth = 0;
  #pending: { fn: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  stmt(sql: string): StatementSync {
    let st = this.#stmts.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.#stmts.set(sql, st);
    }
    return st;
  }

  all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.stmt(sql).all(...params) as Row[];
  }

  get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.stmt(sql).get(...params) as Row | undefined;
  }

  /** Runs a statement; returns the number of rows it changed. */
  run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.stmt(sql).run(...params).changes);
  }

  /** Runs `fn` in one IMMEDIATE transaction (nested calls join the outer one). */
  tx<T>(fn: () => T): T {
    if (this.#depth > 0) return fn();
    this.db.exec('BEGIN IMMEDIATE');
    this.#depth++;
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    } finally {
      this.#depth--;
    }
  }

  /**
   * Group commit: runs `fn` in a transaction shared with every other batched call made in the same
   * turn of the event loop, and resolves once that transaction is committed. Each call is its own
   * savepoint, so one that throws is rolled back alone. With synchronous=FULL a commit is an fsync;
   * under load this turns many fsyncs into one, and when idle it costs one setImmediate.
   */
  batched<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#pending.push({ fn, resolve: resolve as (v: unknown) => void, reject }) === 1) setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const ops = this.#pending;
    this.#pending = [];
    const results: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = [];
    try {
      this.tx(() => {
        for (const op of ops) {
          this.db.exec('SAVEPOINT op');
          try {
            results.push({ ok: true, value: op.fn() });
            this.db.exec('RELEASE op');
          } catch (err) {
            this.db.exec('ROLLBACK TO op');
            this.db.exec('RELEASE op');
            results.push({ ok: false, err });
          }
        }
      });
    } catch (err) {
      for (const op of ops) op.reject(err);
      return;
    }
    ops.forEach((op, i) => {
      const r = results[i]!;
      if (r.ok) op.resolve(r.value);
      else op.reject(r.err);
    });
  }

  close(): void {
    this.#stmts.clear();
    if (this.db.isOpen) this.db.close();
  }
}

export const str = (v: SQLInputValue | undefined): string | null => (v === null || v === undefined ? null : String(v));
export const num = (v: SQLInputValue | undefined): number | null => (v === null || v === undefined ? null : Number(v));
