// A node:sqlite connection with a prepared-statement cache and IMMEDIATE transactions: what every
// part of the embedded store uses to talk to its files.
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';

export type Row = Record<string, SQLInputValue>;

export class Sql {
  readonly db: DatabaseSync;
  readonly #stmts = new Map<string, StatementSync>();
  #depth = 0;

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

  close(): void {
    this.#stmts.clear();
    if (this.db.isOpen) this.db.close();
  }
}

export const str = (v: SQLInputValue | undefined): string | null => (v === null || v === undefined ? null : String(v));
export const num = (v: SQLInputValue | undefined): number | null => (v === null || v === undefined ? null : Number(v));
