import { isConnectionError, isRefusedLogin } from '../db/connection.js';
import { DatabaseUnavailableError } from '../errors.js';

/** Resolves after `ms`; the timer does not keep the process alive. */
export const sleep = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** Back-off step `n` (0, 1, 2, ...) of a loop retrying the database: 250 ms doubling, at most 10 s. */
export const retryBackoffMs = (n: number): number => Math.min(10_000, 250 * 2 ** n);

/** The longest delay Node's timers take (a longer one fires at once). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

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
 * Runs `task` every `seconds`, one run at a time, until the returned function is called; that
 * function resolves once a run in flight has settled. A run still pending after 3 periods (at
 * least 10 s) is abandoned: a heartbeat stuck in the driver would otherwise stop every later
 * one, and the leases of running jobs would expire under them. Only for tasks that are safe to
 * repeat.
 */
export function runEvery(seconds: number, task: () => Promise<unknown>, onError: (error: unknown) => void): () => Promise<void> {
  if (seconds * 1000 > MAX_TIMER_MS) throw new RangeError(`runEvery: ${seconds} s is longer than a timer can wait`);
  let running: Promise<void> | undefined;
  let stopped = false;
  const timer = setInterval(() => {
    if (running || stopped) return;
    running = withDeadline(task(), Math.min(MAX_TIMER_MS, Math.max(10, 3 * seconds) * 1000), 'a periodic task')
      .then(() => {}, onError)
      .finally(() => (running = undefined));
  }, seconds * 1000);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}

/**
 * Runs `attempt` until it succeeds, trying again with back-off (1 s doubling to 10 s) while it
 * fails because the database cannot be reached (down, restarting, not accepting connections
 * yet), for at most `timeoutMs`. Any other error (a refused login among them: a wrong password
 * stays wrong), the last one at the deadline, or `gaveUp()` turning true, ends it with that error.
 */
export async function retryWhileUnreachable<T>(
  attempt: () => Promise<T>,
  timeoutMs: number,
  onRetry: (error: unknown, waitMs: number) => void,
  gaveUp: () => boolean,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let n = 2; ; n++) {
    try {
      // Each try has a deadline too: a server that accepts connections and closes them unanswered
      // keeps postgres.js reconnecting, with the statement never failing.
      return await withDeadline(attempt(), Math.max(1_000, Math.min(15_000, deadline - Date.now())), 'connecting at start-up');
    } catch (error) {
      const waitMs = Math.min(retryBackoffMs(n), deadline - Date.now());
      if (!isConnectionError(error) || isRefusedLogin(error) || waitMs <= 0 || gaveUp()) throw error;
      onRetry(error, waitMs);
      // A timer that holds the process open: while start() waits, nothing else may (the caller
      // awaits its outcome; an unreferenced wait let a bare script exit 0 in the middle).
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      if (gaveUp()) throw error;
    }
  }
}
