import { isConnectionError } from '../db/connection.js';

/**
 * Keeps a process alive through the one rejection the driver leaves unhandled. postgres.js drops
 * the promise of the type query it runs first on a new connection (porsager/postgres#1192): when
 * that connection is lost (Postgres crashing or restarting), the statement that was waiting for it
 * fails, and is retried or reported, but the same error also escapes as an unhandled rejection,
 * which Node turns into a crash. taiat fetches the types once per pool (db/connection.ts), so
 * only a pool's first connections are exposed. A connection error that nothing awaits stops
 * nothing either, so it is handed to `warn`; any other unhandled rejection still ends the process.
 */
export function surviveLostConnections(warn: (error: unknown) => void): void {
  process.on('unhandledRejection', (reason) => {
    if (!isConnectionError(reason)) throw reason;
    warn(reason);
  });
}
