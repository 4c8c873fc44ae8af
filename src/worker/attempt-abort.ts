import type { JobAbortReason } from './types.js';

/**
 * The abort switch of one attempt. The `AbortSignal` executors see is made only when one reads
 * it: an AbortController per job was a tenth of the worker's CPU for no-op jobs that never look
 * at it.
 */
export class AttemptAbort {
  #reason: JobAbortReason | undefined;
  #controller: AbortController | undefined;
  #reject: ((reason: JobAbortReason) => void) | undefined;

  get reason(): JobAbortReason | undefined {
    return this.#reason;
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Aborts once; later calls keep the first reason. */
  abort(reason: JobAbortReason): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
    this.#reject?.(reason);
  }

  /** Rejects with the reason when the attempt is aborted, until `settle()`. */
  aborted(): Promise<never> {
    return new Promise<never>((_, reject) => {
      if (this.#reason !== undefined) reject(this.#reason);
      else this.#reject = reject;
    });
  }

  /** The attempt ended: a later abort changes nothing and rejects nothing. */
  settle(): void {
    this.#reject = undefined;
  }
}
