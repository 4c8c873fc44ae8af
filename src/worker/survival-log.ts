import type { Logger } from 'pino';
import { isConnectionError } from '../db/connection.js';

/** Postgres's "prepared statement does not exist": what a transaction pooler does to named statements. */
const PREPARED_STATEMENT_MISSING = '26000';

/**
 * How the worker tells the errors it survives. A database outage is one warning when it starts
 * (the reason, no stack: every loop of the worker meets the same refused connection) and one line
 * when the database answers again, instead of an error with its stack from every loop that
 * retries meanwhile (an operator counted 13 in a 12 s restart). Other errors keep their stack.
 */
export class SurvivalLog {
  readonly #log: () => Logger;
  #outageSince: number | null = null;
  #missedDuringOutage = 0;
  #hintedPooler = false;

  /** `log`: the worker's logger, read when used (the worker makes it in its constructor). */
  constructor(log: () => Logger) {
    this.#log = log;
  }

  /** An error a worker loop survived (`err`: translated, without the password); it retries. Returns `err`. */
  survived(error: unknown, err: Error): Error {
    if (isConnectionError(error)) {
      if (this.#outageSince === null) {
        this.#outageSince = Date.now();
        this.#missedDuringOutage = 0;
        this.#log().warn({ error: err.message }, 'database unreachable; retrying (logged once until it answers again)');
      } else {
        this.#missedDuringOutage += 1;
      }
      return err;
    }
    const pooler = (error as { code?: unknown } | null)?.code === PREPARED_STATEMENT_MISSING && !this.#hintedPooler;
    this.#hintedPooler ||= pooler;
    this.#log().error(
      { err, ...(pooler ? { hint: 'a connection pooler in transaction mode (pgbouncer, a pooled endpoint) drops prepared statements: start the worker with transactionPooling (--transaction-pooling, TAIAT_TRANSACTION_POOLING=1)' } : {}) },
      'worker task failed; retrying',
    );
    return err;
  }

  /** A statement went through: ends an outage, saying how long it lasted. */
  reachable(): void {
    if (this.#outageSince === null) return;
    this.#log().info({ outageSeconds: Math.round((Date.now() - this.#outageSince) / 100) / 10, retriesFailed: this.#missedDuringOutage }, 'database reachable again');
    this.#outageSince = null;
  }
}
