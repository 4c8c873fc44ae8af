import { TaiatError } from '../errors.js';

/**
 * The calls of a `JobManager` in flight, so that `close()` lets them finish: a create closed
 * between its commit and its flush would report an error for jobs that were committed. Once
 * closing, new calls are refused at once (on a closed pool, some would wait for ever).
 */
export class InFlight {
  readonly #calls = new Set<Promise<unknown>>();
  #closing = false;

  /** Runs `fn`, counted in flight until it settles; refused once `close` was called. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closing) throw new TaiatError('TAIAT_INVALID_STATE', 'this JobManager is closed (close() was called): connect a new one');
    let call: Promise<T> | undefined;
    try {
      call = fn();
      this.#calls.add(call);
      return await call;
    } finally {
      if (call) this.#calls.delete(call);
    }
  }

  /** Refuses new calls, then waits for those in flight, at most `seconds`; returns the seconds left of them. */
  async close(seconds: number): Promise<number> {
    this.#closing = true;
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
