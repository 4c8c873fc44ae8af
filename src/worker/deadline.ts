import { DatabaseUnavailableError } from '../errors.js';

/**
 * Settles as `promise` does, or rejects after `ms`. postgres.js can leave a statement pending
 * forever after its connection was lost (the chaos soak caught one call in ~9,200 across Postgres
 * restarts): a worker must not wait on such a statement for ever. Only for statements that are
 * safe to send again: the abandoned one may still commit later.
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
