import { CompiledQuery } from 'kysely';
import { ValidationError } from '../errors.js';

/** A postgres.js transaction: the `sql` that `sql.begin(async (sql) => ...)` hands its callback. */
export interface PostgresJsTransaction {
  (template: TemplateStringsArray, ...parameters: never[]): PromiseLike<unknown>;
  unsafe(query: string, parameters?: never[]): PromiseLike<unknown>;
  savepoint: unknown;
}

/** A node-postgres client (`pg.Client`, or a `PoolClient`) on which `BEGIN` was run. */
export interface NodePostgresClient {
  query(text: string, values?: never[]): Promise<{ rows: unknown[] }>;
}

/** A Kysely transaction: the `trx` of `db.transaction().execute(async (trx) => ...)`. */
export interface KyselyTransaction {
  readonly isTransaction: boolean;
  executeQuery(query: CompiledQuery): Promise<{ rows: unknown[] }>;
}

/**
 * A transaction of the application's, open on its own connection: jobs created in it commit
 * with it, or not at all.
 */
export type AppTransaction = PostgresJsTransaction | NodePostgresClient | KyselyTransaction;

/** Runs one parameterised statement on an application's transaction; returns its rows. */
export type AppQuery = (text: string, parameters: unknown[]) => Promise<Record<string, unknown>[]>;

/**
 * Runs `work` in a savepoint of an application's transaction: if it throws, what it wrote is
 * rolled back and the transaction stays usable; the error is rethrown.
 */
export type InSavepoint = <T>(work: (query: AppQuery) => Promise<T>) => Promise<T>;

const WHAT = 'must be an open transaction: a postgres.js sql.begin() handle, a node-postgres client inside BEGIN, or a Kysely transaction';

type PostgresJsHandle = { unsafe(text: string, parameters: unknown[]): PromiseLike<Record<string, unknown>[]> };

/** A savepoint on an application's transaction, whichever driver it comes from. */
export function inSavepointOf(tx: unknown): InSavepoint {
  if (typeof tx === 'function' && typeof (tx as { unsafe?: unknown }).unsafe === 'function') {
    const savepoint = (tx as { savepoint?: unknown }).savepoint;
    if (typeof savepoint !== 'function') throw new ValidationError('tx', `${WHAT} (this postgres.js handle is not inside sql.begin)`);
    // postgres.js fails its whole transaction on any error of a statement sent on it, caught or
    // not, unless the statement ran in one of its own savepoints.
    return (work) => (savepoint as (fn: (sp: PostgresJsHandle) => Promise<unknown>) => Promise<never>).call(tx, (sp) =>
      work(async (text, parameters) => [...(await sp.unsafe(text, parameters))]));
  }
  let query: AppQuery;
  if (typeof tx === 'object' && tx !== null && typeof (tx as { executeQuery?: unknown }).executeQuery === 'function') {
    const kysely = tx as KyselyTransaction;
    if (kysely.isTransaction !== true) throw new ValidationError('tx', `${WHAT} (this Kysely instance is not a transaction)`);
    query = async (text, parameters) => (await kysely.executeQuery(CompiledQuery.raw(text, parameters))).rows as Record<string, unknown>[];
  } else if (typeof tx === 'object' && tx !== null && typeof (tx as { query?: unknown }).query === 'function') {
    const client = tx as { query(text: string, values: unknown[]): Promise<{ rows: Record<string, unknown>[] }> };
    query = async (text, parameters) => (await client.query(text, parameters)).rows;
  } else {
    throw new ValidationError('tx', WHAT);
  }
  return async (work) => {
    try {
      await query('SAVEPOINT taiat_create', []);
    } catch (error) {
      if ((error as { code?: string }).code === '25P01') throw new ValidationError('tx', `${WHAT} (no BEGIN was run on this client)`);
      throw error;
    }
    try {
      const result = await work(query);
      await query('RELEASE SAVEPOINT taiat_create', []);
      return result;
    } catch (error) {
      await query('ROLLBACK TO SAVEPOINT taiat_create', []);
      await query('RELEASE SAVEPOINT taiat_create', []);
      throw error;
    }
  };
}
