/** Which database errors mean "unreachable for now" (a restart), and retrying through them. */
import { DatabaseUnavailableError } from '../dist/index.js';
import { sleep } from '../bench/lib/time.js';
import { DB_RETRY_MS } from './config.js';

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED',
  'CONNECTION_DESTROYED', '57P01', '57P02', '57P03', '08006', '08001', '08003', '08004', '53300',
]);

export function isTransient(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  if (error instanceof AggregateError) return error.errors.some(isTransient);
  return false;
}

/** A Postgres error other than "unreachable" (e.g. 26000 prepared statement does not exist). */
export const isUnexpectedDbError = (error: unknown) =>
  !isTransient(error) && typeof (error as { code?: unknown } | null)?.code === 'string' && /^[0-9A-Z]{5}$/.test((error as { code: string }).code);

export const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Runs a database call, retrying while the database is unreachable (a restart), up to `ms`. */
export async function untilReachable<T>(fn: () => Promise<T>, what: string, ms = DB_RETRY_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (error) {
      if (!isTransient(error) || Date.now() > deadline) throw new Error(`${what}: ${describe(error)}`, { cause: error });
      await sleep(Math.min(1_000, 100 * 2 ** i));
    }
  }
}
