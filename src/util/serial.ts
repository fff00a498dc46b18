// One run at a time: a call made while a run is going runs after it (not merged into it), so a caller
// that changed something just before asking sees its change. Periodic checks (rollouts, budgets)
// use it for their timer's runs and the ones tests ask for.
export class Serial {
  #tail: Promise<void> | undefined;

  run(fn: () => Promise<void>): Promise<void> {
    // A run that failed does not stop the next one (its own caller has its error).
    const next = (this.#tail ?? Promise.resolve()).catch(() => undefined).then(fn);
    const tracked = next.finally(() => { if (this.#tail === tracked) this.#tail = undefined; });
    this.#tail = tracked;
    return tracked;
  }

  /** Settles when the runs asked for so far have ended. */
  idle(): Promise<void> {
    return (this.#tail ?? Promise.resolve()).catch(() => undefined);
  }
}
