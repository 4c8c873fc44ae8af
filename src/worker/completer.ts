import type { Logger } from 'pino';
import type { Sql } from '../db/connection.js';
import type { Job } from '../jobs/model.js';
import type { AttemptOutcome } from '../jobs/outcome.js';
import { writeOutcomes, type FreedPlace, type OutcomesWritten, type SchemaNames } from '../store/index.js';
import type { Tracing } from '../tracing/tracing.js';
import { retryBackoffMs, sleep, withDeadline } from './timers.js';

export interface CompleterOptions {
  t: SchemaNames;
  workerId: string;
  /** Most outcomes written in one transaction. */
  batchSize: number;
  /** How long one write may take before it is sent again. */
  writeDeadlineMs: number;
  /** The lease of the jobs a hand-over claims. */
  leaseSeconds: number;
  log: Logger;
  tracing: Tracing;
}

/** What the completer tells the rest of the worker. */
export interface CompleterPorts {
  /** A batch was written; `written` holds the ids whose write applied (still leased here). */
  written(batch: AttemptOutcome[], written: Set<string>): void;
  /** A batch may have made jobs ready (dependents released, jobs back to pending). */
  mayHaveMadeReady(): void;
  /** Every outcome recorded so far is written (and the places their writes freed are handed over). */
  outboxEmptied(): void;
  /** Places under flow control that finishing jobs free, taken again for this worker's free slots. */
  handOver: HandOver;
  survive(error: unknown): void;
}

/**
 * The hand-over: a job of a queue with flow control that finishes frees a place under its limits;
 * the transaction that writes its outcome claims the next jobs of that queue for this worker, so
 * the place passes on without a notification, a wake-up and a claim of their own (and the race of
 * every idle worker for it). A queue's running limit or a rate limit hands over to free slots. A
 * limit on keys alone hands over to the next jobs of the keys whose places the batch frees
 * (claimed ahead), in a claim of their own once the write has committed (`keys`).
 */
export interface HandOver {
  /** The worker's queues with flow control: a job of one that finishes frees a place under its limits. */
  limitedQueues(): readonly string[];
  /** Most outcomes one write should take (FlowView.handOverBatch). */
  handOverBatch(): number;
  /** What a write that frees `most` places may claim, reserved meanwhile (no other claim takes that room). */
  reserveHandOver(most: number): HandOverRoom;
  /** The jobs the write claimed (none if it failed); gives back the reservation. */
  handedOver(jobs: Job[], room: HandOverRoom): Promise<void>;
  /** For a `byKey` room: takes the keys' places a committed write freed; `freed` resolves once their next jobs are claimed and queued. */
  readonly keys: { freed(places: readonly FreedPlace[]): Promise<void> };
}

export interface HandOverRoom {
  /** Most jobs the hand-over may claim. */
  limit: number;
  /** Only the next jobs of the keys whose places a write freed (queues that limit only their keys), into the local queue. */
  byKey: boolean;
}

export const NO_HAND_OVER: HandOverRoom = { limit: 0, byKey: false };

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
  /** Hand-overs whose jobs are being put in the local queue (or released, at a stop). */
  readonly #handingOver = new Set<Promise<void>>();
  /** Failed tries in a row after which the writer gives up: unbounded until shutdown. */
  #giveUpAfter = Infinity;
  #gaveUp = false;

  constructor(sql: Sql, options: CompleterOptions, ports: CompleterPorts) {
    this.#sql = sql;
    this.#opts = options;
    this.#ports = ports;
  }

  /** Queues an outcome for writing (and starts the writer if it is idle). */
  record(outcome: AttemptOutcome, log: () => Logger): void {
    this.#outbox.push(outcome);
    if (this.#opts.log.isLevelEnabled('debug')) log().debug({ outcome: outcome.kind }, `job ${outcome.kind}; writing its outcome`);
    if (!this.#writing) this.#startWriter();
  }

  #startWriter(): void {
    this.#writing = this.#writeAll().finally(() => (this.#writing = undefined));
  }

  /** Ids of the jobs whose outcome is not written yet (still running in the database). */
  pendingIds(): string[] {
    return this.#outbox.map((o) => o.job.id);
  }

  /** Whether every outcome recorded so far is written, and the jobs their writes freed places for are queued. */
  get idle(): boolean {
    return this.#outbox.length === 0 && !this.#writing && this.#handingOver.size === 0;
  }

  /**
   * At shutdown: writes what is left, giving up after `maxFailures` failed tries in a row (the
   * writer already at work gives up by the same rule, so a database that stays down cannot hold
   * the shutdown); what is not written returns with the leases, and the jobs run again.
   */
  async flush(maxFailures: number): Promise<void> {
    this.#giveUpAfter = maxFailures;
    // Until nothing is left: the jobs of a hand-over that ends after the stop come back as releases.
    while (!this.#gaveUp && (this.#writing || this.#handingOver.size > 0 || this.#outbox.length > 0)) {
      if (!this.#writing && this.#outbox.length > 0) this.#startWriter();
      await Promise.all([this.#writing, ...this.#handingOver]);
    }
  }

  /** Gives the jobs a write claimed (none if it failed) to the claim side, tracked until it has them. */
  #handOver(jobs: Job[], room: HandOverRoom): void {
    this.#track(this.#ports.handOver.handedOver(jobs, room));
  }

  /** Tracks a hand-over until the claim side has its jobs: a flush and `idle` wait for it. */
  #track(handingOver: Promise<void>): void {
    const done: Promise<void> = handingOver
      .catch((error: unknown) => this.#ports.survive(error))
      .finally(() => {
        this.#handingOver.delete(done);
        // The claim loop looks again: a worker that was only waiting for this (`--once`) may be done.
        if (this.idle) this.#ports.outboxEmptied();
      });
    this.#handingOver.add(done);
  }

  /**
   * A write abandoned at its deadline may still commit, and with it the jobs its hand-over
   * claimed: leased to this worker, which does not know them (they would wait for their lease to
   * expire, and a rescue). They go back to pending as soon as that commit is seen, no attempt
   * counted. The keys' places it freed (`freedByKey`: its jobs whose outcome it wrote; the write sent
   * again found them gone) are handed over then.
   */
  #releaseIfLate(sent: Promise<OutcomesWritten>, freedByKey: readonly AttemptOutcome[]): void {
    sent.then(({ claimed, ids }) => {
      const places = placesOf(freedByKey.filter((o) => ids.has(o.job.id)));
      if (places.length > 0) {
        this.#opts.log.warn({ places: places.length }, 'an abandoned outcome write committed late; handing over the places it freed');
        this.#track(this.#ports.handOver.keys.freed(places));
      }
      if (claimed.length === 0) return;
      this.#opts.log.warn({ jobs: claimed.length }, 'an abandoned outcome write committed late; releasing the jobs it claimed');
      for (const job of claimed) this.record({ kind: 'released', job }, () => this.#opts.log);
    }, () => {});
  }

  /** Writes the outbox in batches; on a database error keeps the batch and retries with backoff. */
  async #writeAll(): Promise<void> {
    let failures = 0;
    let room = NO_HAND_OVER;
    while (this.#outbox.length > 0) {
      let sent: Promise<OutcomesWritten> | undefined;
      let freedByKey: AttemptOutcome[] = [];
      const batch = this.#outbox.slice(0, Math.min(this.#opts.batchSize, this.#ports.handOver.handOverBatch()));
      try {
        // Lease-guarded, so a write abandoned at the deadline and sent again lands at most once.
        const { handOver } = this.#ports;
        const limited = handOver.limitedQueues();
        const freed = limited.length === 0 ? [] : [...new Set(batch.map((o) => o.job.queue))].filter((q) => limited.includes(q));
        const freeing = freed.length === 0 ? [] : batch.filter((o) => freed.includes(o.job.queue));
        // No more than the batch frees: a worker keeps its share of a limit, and does not sweep up
        // places other workers free (they take those back themselves, or announce them).
        room = freeing.length === 0 ? NO_HAND_OVER : handOver.reserveHandOver(freeing.length);
        const claim = room.limit > 0 ? { limit: room.limit, leaseSeconds: this.#opts.leaseSeconds } : undefined;
        // Places under key limits alone pass on after the write (`keys`), and are announced only if left over.
        if (room.byKey) freedByKey = freeing;
        const announced = room.byKey ? [] : freed;
        const write = () => withDeadline(sent = writeOutcomes(this.#sql, this.#opts.t, this.#opts.workerId, batch, announced, claim), this.#opts.writeDeadlineMs, 'writing outcomes');
        const { tracing } = this.#opts;
        const written = await (tracing.enabled ? tracing.outcomes(batch.map((o) => o.traceContext), write) : write());
        // Only a write that had room can have claimed jobs (a queue without limits never does).
        if (claim) this.#handOver(written.claimed, room);
        if (room.byKey) this.#track(handOver.keys.freed(placesOf(freedByKey.filter((o) => written.ids.has(o.job.id)))));
        room = NO_HAND_OVER;
        if (written.readyMayExist) this.#ports.mayHaveMadeReady();
        this.#outbox.splice(0, batch.length);
        failures = 0;
        this.#ports.written(batch, written.ids);
      } catch (error) {
        if (room.limit > 0) this.#handOver([], room);
        if (sent) this.#releaseIfLate(sent, freedByKey);
        room = NO_HAND_OVER;
        this.#ports.survive(error);
        if (++failures >= this.#giveUpAfter) {
          this.#opts.log.error({ lost: this.#outbox.length }, 'could not write outcomes; their leases will expire and the jobs run again');
          this.#gaveUp = true;
          return;
        }
        await sleep(retryBackoffMs(failures));
      }
    }
    this.#ports.outboxEmptied();
  }
}

/** The keys' places that finishing `outcomes` free (a job without a key frees none). */
function placesOf(outcomes: readonly AttemptOutcome[]): FreedPlace[] {
  return outcomes.flatMap(({ job }) => (job.concurrencyKey === null ? [] : [{ queue: job.queue, key: job.concurrencyKey }]));
}
