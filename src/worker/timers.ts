import { DatabaseUnavailableError } from '../errors.js';

/** Resolves after `ms`; the timer does not keep the process alive. */
export const sleep = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** The wait before retrying after `failures` failures in a row: 250 ms doubling, at most 10 s. */
export const retryBackoffMs = (failures: number): number => Math.min(10_000, 250 * 2 ** failures);

/**
 * Settles as `promise` does, or rejects after `ms`. postgres.js can leave a statement pending
 * forever after its connection was lost (the chaos soak caught it across Postgres restarts): a
 * worker must not wait on such a statement for ever. Only for statements that are safe to send
 * again: the abandoned one may still commit later.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseUnavailableError(`${what} did not return within ${ms / 1000} s; trying again`)), ms);
    timer.unref();
  });
  promise.catch(() => {}); // an abandoned statement's late failure is not an unhandled rejection
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Runs `task` every `seconds`, one run at a time, until the returned function is called. A run
 * still pending after 3 periods (at least 10 s) is abandoned: a heartbeat stuck in the driver
 * would otherwise stop every later one, and the leases of running jobs would expire under them.
 * Only for tasks that are safe to repeat.
 */
export function runEvery(seconds: number, task: () => Promise<unknown>, onError: (error: unknown) => void): () => void {
  let busy = false;
  let stopped = false;
  const timer = setInterval(() => {
    if (busy || stopped) return;
    busy = true;
    withDeadline(task(), Math.max(10, 3 * seconds) * 1000, 'a periodic task')
      .catch(onError)
      .finally(() => (busy = false));
  }, seconds * 1000);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
