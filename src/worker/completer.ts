import type { Logger } from 'pino';
import type { Sql } from '../db/connection.js';
import type { AttemptOutcome } from '../jobs/outcome.js';
import { writeOutcomes, type SchemaNames } from '../store/index.js';
import type { Tracing } from '../tracing/tracing.js';
import { retryBackoffMs, sleep, withDeadline } from './timers.js';

export interface CompleterOptions {
  t: SchemaNames;
  workerId: string;
  /** Most outcomes written in one transaction. */
  batchSize: number;
  /** How long one write may take before it is sent again. */
  writeDeadlineMs: number;
  log: Logger;
  tracing: Tracing;
}

/** What the completer tells the rest of the worker. */
export interface CompleterPorts {
  /** A batch was written; `written` holds the ids whose write applied (still leased here). */
  written(batch: AttemptOutcome[], written: Set<string>): void;
  /** A batch may have made jobs ready (dependents released, jobs back to pending). */
  mayHaveMadeReady(): void;
  /** Every outcome recorded so far is written. */
  outboxEmptied(): void;
  /** The worker's queues with flow control: a job of one that finishes frees a place under its limits. */
  limitedQueues(): readonly string[];
  survive(error: unknown): void;
}

/**
 * Writes outcomes. They go to an outbox that one writer drains in batches, one transaction per
 * batch: outcomes that finish while a batch is being written form the next one, so a busy worker
 * writes many per transaction and an idle one writes each at once.
 */
export class Completer {
  readonly #sql: Sql;
  readonly #opts: CompleterOptions;
  readonly #ports: CompleterPorts;
  #outbox: AttemptOutcome[] = [];
  #writing: Promise<void> | undefined;
  /** Failed tries in a row after which the writer gives up: unbounded until shutdown. */
  #giveUpAfter = Infinity;

  constructor(sql: Sql, options: CompleterOptions, ports: CompleterPorts) {
    this.#sql = sql;
    this.#opts = options;
    this.#ports = ports;
  }

  /** Queues an outcome for writing (and starts the writer if it is idle). */
  record(outcome: AttemptOutcome, log: () => Logger): void {
    this.#outbox.push(outcome);
    if (this.#opts.log.isLevelEnabled('debug')) log().debug({ outcome: outcome.kind }, `job ${outcome.kind}; writing its outcome`);
    if (!this.#writing) this.#writing = this.#writeAll().finally(() => (this.#writing = undefined));
  }

  /** Ids of the jobs whose outcome is not written yet (still running in the database). */
  pendingIds(): string[] {
    return this.#outbox.map((o) => o.job.id);
  }

  /** Whether every outcome recorded so far is written. */
  get idle(): boolean {
    return this.#outbox.length === 0 && !this.#writing;
  }

  /**
   * At shutdown: writes what is left, giving up after `maxFailures` failed tries in a row (the
   * writer already at work gives up by the same rule, so a database that stays down cannot hold
   * the shutdown); what is not written returns with the leases, and the jobs run again.
   */
  async flush(maxFailures: number): Promise<void> {
    this.#giveUpAfter = maxFailures;
    await this.#writing;
    await this.#writeAll();
  }

  /** Writes the outbox in batches; on a database error keeps the batch and retries with backoff. */
  async #writeAll(): Promise<void> {
    let failures = 0;
    while (this.#outbox.length > 0) {
      const batch = this.#outbox.slice(0, this.#opts.batchSize);
      try {
        // Lease-guarded, so a write abandoned at the deadline and sent again lands at most once.
        const limited = this.#ports.limitedQueues();
        const freed = limited.length === 0 ? [] : [...new Set(batch.map((o) => o.job.queue))].filter((q) => limited.includes(q));
        const write = () => withDeadline(writeOutcomes(this.#sql, this.#opts.t, this.#opts.workerId, batch, freed), this.#opts.writeDeadlineMs, 'writing outcomes');
        const { tracing } = this.#opts;
        const written = await (tracing.enabled ? tracing.outcomes(batch.map((o) => o.traceContext), write) : write());
        if (written.readyMayExist) this.#ports.mayHaveMadeReady();
        this.#outbox.splice(0, batch.length);
        failures = 0;
        this.#ports.written(batch, written.ids);
      } catch (error) {
        this.#ports.survive(error);
        if (++failures >= this.#giveUpAfter) {
          this.#opts.log.error({ lost: this.#outbox.length }, 'could not write outcomes; their leases will expire and the jobs run again');
          return;
        }
        await sleep(retryBackoffMs(failures));
      }
    }
    this.#ports.outboxEmptied();
  }
}
