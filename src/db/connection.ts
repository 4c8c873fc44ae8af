import { Kysely } from 'kysely';
import { PostgresJSDialect } from 'kysely-postgres-js';
import type postgresTypes from 'postgres';
import { postgres } from './driver.js';
import { DatabaseUnavailableError, TaiatError } from '../errors.js';
import { checkDatabaseUrl, redactUrl, scrubSecret, transactionPoolingFrom } from '../config/database-url.js';
import type { Database } from './schema.js';

export type Sql = postgresTypes.Sql;
/** A transaction handle: every store operation runs inside one. */
export type Tx = postgresTypes.TransactionSql;

/** A pool: postgres.js for hot-path statements and LISTEN, Kysely over the same pool. */
export interface Connection {
  readonly sql: Sql;
  readonly db: Kysely<Database>;
  readonly url: string;
  /** Ends the pool, letting running statements finish for at most `timeoutSeconds` (default 5). */
  close(timeoutSeconds?: number): Promise<void>;
}

export interface ConnectOptions {
  /** Pool size. */
  max?: number;
  /** Seconds to wait for a connection before failing. */
  connectTimeout?: number;
  applicationName?: string;
  /**
   * Named prepared statements (default: on, unless `TAIAT_TRANSACTION_POOLING` says the URL goes
   * through a pooler in transaction mode, so that every connection of taiat's, the command
   * line's included, follows it). Off through such a pooler: a statement prepared on one server
   * connection is unknown on the next (postgres.js then fails some queries, and leaves others hanging).
   */
  prepare?: boolean;
  /** The option the URL came from, named by the error when the URL cannot be parsed (default `databaseUrl`). */
  field?: string;
}

/**
 * Opens a pool (lazily: nothing connects until the first query). A URL the driver cannot parse is
 * refused here, with a `ValidationError` that does not echo it (the driver's own error would).
 */
export function openConnection(url: string, options: ConnectOptions = {}): Connection {
  checkDatabaseUrl(url, options.field ?? 'databaseUrl');
  const sql = postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeout ?? 10,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'taiat' },
    prepare: options.prepare ?? !transactionPoolingFrom(undefined),
  });
  fetchTypesOnce(sql);
  const db = new Kysely<Database>({ dialect: new PostgresJSDialect({ postgres: sql }) });
  let closed = false;
  return {
    sql,
    db,
    url,
    async close(timeoutSeconds = 5) {
      if (closed) return;
      closed = true;
      // The pool ends first, with a deadline: Kysely's destroy ends it too, but with no timeout,
      // so a statement that never returns (a lock wait, a connection lost mid-query) would hang
      // close() forever. After this, destroy() finds the pool ended.
      await sql.end({ timeout: timeoutSeconds });
      await db.destroy();
    },
  };
}

/**
 * The pool for pure reads (listings, explain, status): a pool of its own on a read replica's URL
 * when one is given, else `primary` itself (no second pool). Never for a read that decides a
 * write: a replica lags, and the decision must see the primary's truth.
 */
export function openReadConnection(primary: Connection, readUrl: string | undefined, options: ConnectOptions = {}): Connection {
  return readUrl ? openConnection(readUrl, { ...options, field: 'readDatabaseUrl' }) : primary;
}

/** The parts of postgres.js's parsed options that `fetchTypesOnce` reads and sets. */
interface DriverOptions {
  fetch_types: boolean;
  shared: { typeArrayMap: Record<string, number> };
}

/**
 * postgres.js fetches the array types on each new connection, first thing, and drops that query's
 * promise: a connection lost during the fetch (Postgres crashing or restarting) ends the process
 * with an unhandled rejection (porsager/postgres#1192, open; the soak saw a worker die of it).
 * The types it stores are shared by the pool's connections, so once the first fetch has stored
 * them, later connections (reconnects after a restart, a growing pool) skip it: the exposure
 * shrinks to a pool's first connections, and a reconnect saves a round trip.
 */
function fetchTypesOnce(sql: Sql): void {
  const options = sql.options as unknown as DriverOptions;
  options.shared.typeArrayMap = new Proxy(options.shared.typeArrayMap, {
    set(map, oid: string, arrayOid: number) {
      map[oid] = arrayOid;
      options.fetch_types = false;
      return true;
    },
  });
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE',
  'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED',
  // Postgres: admin shutdown, crash shutdown, cannot connect now, database does not exist,
  // authentication failures, too many connections.
  '57P01', '57P02', '57P03', '3D000', '28P01', '28000', '53300', '08006', '08001', '08004', '08003',
  // taiat's own: a statement that did not return in time (see withDeadline).
  'TAIAT_DATABASE_UNAVAILABLE',
]);

/** Refusals that waiting does not change: a wrong password or role, a database that does not exist. */
const REFUSED_LOGIN_CODES = new Set(['28P01', '28000', '3D000']);

function errorCode(error: unknown): string | undefined {
  if (error && typeof error === 'object' && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** Whether an error means the database could not be reached (as opposed to a bad statement). */
/** Whether the server refused the login itself (credentials, database name): no retry mends it. */
export function isRefusedLogin(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && REFUSED_LOGIN_CODES.has(code);
}

export function isConnectionError(error: unknown): boolean {
  const code = errorCode(error);
  if (code && UNAVAILABLE_CODES.has(code)) return true;
  if (error instanceof AggregateError) return error.errors.some(isConnectionError);
  return false;
}

/**
 * Turns a driver error into a `TaiatError` a user can act on: an unreachable database becomes a
 * `DatabaseUnavailableError` naming the (redacted) URL; other errors pass through unchanged.
 * Never lets the password through.
 */
export function translateDatabaseError(error: unknown, url: string): unknown {
  if (error instanceof TaiatError) return error;
  if (isConnectionError(error)) {
    const reason = scrubSecret(error instanceof Error && error.message ? error.message : String(errorCode(error)), url);
    return new DatabaseUnavailableError(`cannot reach the database at ${redactUrl(url)}: ${reason}`, { cause: error });
  }
  if (error instanceof Error) error.message = scrubSecret(error.message, url);
  return error;
}

/** A value sent as a JSON/JSONB parameter (postgres.js serialises it once). */
export function jsonParam(sql: Sql | Tx, value: unknown): postgresTypes.Parameter {
  return sql.json(value as postgresTypes.JSONValue);
}
