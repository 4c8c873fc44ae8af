/**
 * The calls of a `JobManager` in flight, so that `close()` lets them finish: a create closed
 * between its commit and its flush would report an error for jobs that were committed.
 */
export class InFlight {
  readonly #calls = new Set<Promise<unknown>>();

  /** Runs `fn`, counted in flight until it settles. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    let call: Promise<T> | undefined;
    try {
      call = fn();
      this.#calls.add(call);
      return await call;
    } finally {
      if (call) this.#calls.delete(call);
    }
  }

  /** Waits for the calls in flight, at most `seconds`; returns the seconds left of them. */
  async settle(seconds: number): Promise<number> {
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.#calls),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, seconds * 1000).unref())),
    ]);
    clearTimeout(timer);
    return Math.max(0, seconds - (performance.now() - start) / 1000);
  }
}
