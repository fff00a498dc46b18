// The sleep of a dispatcher loop (async events, webhook deliveries): wait until there is work or a
// time passes. A kick that lands while the loop is busy is remembered, so the next wait returns at
// once — no wake-up is lost between "nothing to do" and "sleep".
import type { Clock, Timer } from './clock.ts';

export class Waker {
  readonly #clock: Clock;
  #kicked = false;
  #wake: (() => void) | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  kick(): void {
    this.#kicked = true;
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Call at the start of each pass: kicks before this point are handled by the pass. */
  reset(): void {
    this.#kicked = false;
  }

  get kicked(): boolean {
    return this.#kicked;
  }

  /** Resolves after `ms`, or at once on a kick (including one since the last reset). */
  wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: Timer | undefined = undefined;
      this.#wake = () => { timer?.cancel(); resolve(); };
      if (this.#kicked) return this.kick();
      timer = this.#clock.setTimeout(() => { this.#wake = undefined; resolve(); }, Math.max(1, ms));
    });
  }
}
