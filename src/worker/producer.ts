import type { Sql } from '../db/connection.js';
import { TaiatError } from '../errors.js';
import type { Job } from '../jobs/model.js';
import { claimJobs, nextRateOpening, type SchemaNames } from '../store/index.js';
import { NO_HAND_OVER, type HandOverRoom } from './completer.js';
import { FlowView } from './flow-view.js';
import { keyHandOver, type KeyHandOver } from './key-hand-over.js';
import { queuedJobs, type QueuedJob } from './queued-job.js';
import { retryBackoffMs, sleep } from './timers.js';

/**
 * The claim loop's mode:
 * - `working`: claiming, or starting claimed jobs; a nudge now is kept for the next round;
 * - `nudged`: working, and nudged meanwhile: the next round starts without sleeping;
 * - `sleeping`: waiting for a nudge or the poll interval;
 * - `stopped`: no more claims and no more starts (the worker is stopping).
 */
type Mode = 'working' | 'nudged' | 'sleeping' | 'stopped';

const NEXT_MODES: Record<Mode, readonly Mode[]> = {
  working: ['working', 'nudged', 'sleeping', 'stopped'],
  nudged: ['working', 'stopped'],
  sleeping: ['working', 'nudged', 'stopped'],
  stopped: [],
};

/**
 * What the producer knows of ready jobs in the database: `maybe` (a notification came, a claim
 * came back full, a poll is due, an outcome may have released some) or `drained` (the last claim
 * found fewer than it asked for, and nothing since said otherwise). Claims run only on `maybe`.
 */
type Supply = 'maybe' | 'drained';

export interface ProducerOptions {
  t: SchemaNames;
  workerId: string;
  queues: string[];
  maxConcurrentJobs: number;
  localQueueSize: number;
  leaseSeconds: number;
  pollInterval: number;
}

/** What the producer needs from the rest of the worker. */
export interface ProducerPorts {
  /** Slots free now (`maxConcurrentJobs` less the jobs running). */
  freeSlots(): number;
  /** Starts a claimed job in a free slot. */
  start(queued: QueuedJob): void;
  /** A claimed job that will not run here: back to pending, its attempt not counted. */
  release(job: Job): void;
  /** The local queue is empty and the database had nothing more at the last look. */
  quiet(): void;
  /** A claim was answered with this many jobs (0: none ready). */
  claimed(jobs: number): void;
  /** A database error, survived: the loop backs off and retries. */
  survive(error: unknown): void;
}

/**
 * The producer's pools: claims on one of their own (shared only with heartbeats), the rest
 * (dependency results, the reading of flow control) on the worker's.
 */
export interface ProducerPools {
  claims: Sql;
  reads: Sql;
}

/**
 * Claims ready jobs for the free slots and keeps a local queue of claimed jobs
 * (`localQueueSize`) so that a busy worker claims in larger batches.
 */
export class Producer {
  readonly #pools: ProducerPools;
  readonly #opts: ProducerOptions;
  readonly #ports: ProducerPorts;
  #mode: Mode = 'working';
  #supply: Supply = 'maybe';
  #queued: QueuedJob[] = [];
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  readonly #flow: FlowView;
  /** The hand-over of queues that limit only their keys: the places committed writes freed, claimed for those keys. */
  readonly keys: KeyHandOver;
  /** What the claim loop's claim in flight may bring (0 when none is): the key hand-over leaves it that room. */
  #claiming = 0;
  /** Which kind of queue the next claim serves first (alternates: neither starves the other). */
  #limitedFirst = false;
  /** Resolves at `stop()`: ends a back-off wait at once. */
  #stopped!: () => void;
  readonly #whenStopped = new Promise<void>((resolve) => (this.#stopped = resolve));

  constructor(pools: ProducerPools, options: ProducerOptions, ports: ProducerPorts) {
    this.#pools = pools;
    this.#opts = options;
    this.#ports = ports;
    this.#flow = new FlowView(pools.reads, options.t, options.queues, () => this.nudge(true));
    this.keys = keyHandOver(pools.reads, options, {
      // Less what the claim loop's claim in flight may bring: the two never fill more than the room.
      reserve: (places) => (this.#mode === 'stopped' ? NO_HAND_OVER
        : this.#flow.reserveAhead(this.#ports.freeSlots() - this.#queued.length - this.#claiming, options.localQueueSize, places)),
      handedOver: (jobs, room) => this.handedOver(jobs, room),
      leftOver: () => this.nudge(true),
      survive: (error) => ports.survive(error),
    });
  }

  /** Starts the claim loop. */
  start(): void {
    this.#loop = this.#run();
  }

  /** Stops claiming and starting jobs; the claimed jobs not started go back to pending. */
  stop(): void {
    if (this.#mode !== 'stopped') this.#setMode('stopped');
    this.#stopped();
    this.#wake?.();
    this.releaseQueued();
  }

  /** Resolves when the loop has ended, after `stop()` (a claim in flight is awaited: its jobs go back too). */
  async ended(): Promise<void> {
    await this.#loop;
  }

  /** Wakes the claim loop; `more` says ready jobs may exist (a notification, an outcome). */
  nudge(more: boolean): void {
    if (more) this.#supply = 'maybe';
    if (this.#mode === 'working') this.#setMode('nudged');
    else if (this.#mode === 'sleeping') {
      this.#setMode('nudged');
      this.#wake?.();
    }
  }

  /** The worker's queues with flow control, as last read. */
  limitedQueues(): readonly string[] {
    return this.#flow.current.queues;
  }

  handOverBatch(): number {
    return this.#flow.handOverBatch(this.#opts.localQueueSize + this.#opts.maxConcurrentJobs);
  }

  /** What an outcome write may claim in its transaction (the hand-over): see FlowView.reserveHandOver. */
  reserveHandOver(most: number): HandOverRoom {
    if (this.#mode === 'stopped') return NO_HAND_OVER;
    return this.#flow.reserveHandOver(this.#ports.freeSlots() - this.#queued.length, most);
  }

  /** The jobs a hand-over claimed for what it reserved (none if its write or claim failed). */
  async handedOver(jobs: Job[], room: HandOverRoom): Promise<void> {
    try {
      if (jobs.length === 0) return;
      this.#ports.claimed(jobs.length);
      await this.#enqueue(jobs);
    } finally {
      // Only once the jobs are queued: until then a claim loop's round must not count that room free.
      this.#flow.handedOver(room);
    }
    if (this.#modeIs('stopped')) this.releaseQueued();
    else this.fillSlots();
  }

  /** Wakes the claim loop `seconds` from now (a retry falls due then), when that is sooner than its poll. */
  wakeIn(seconds: number): void {
    if (seconds < this.#opts.pollInterval) setTimeout(() => this.nudge(true), seconds * 1000 + 5).unref();
  }

  /** Notes that ready jobs may exist, without waking the loop. */
  mayHaveMore(): void {
    this.#supply = 'maybe';
  }

  /** Ids of the jobs in the local queue. */
  queuedIds(): string[] {
    return this.#queued.map((q) => q.job.id);
  }

  isQueued(jobId: string): boolean {
    return this.#queued.some((q) => q.job.id === jobId);
  }

  /** Takes a job out of the local queue (it will not start here); undefined if it is not there. */
  take(jobId: string): Job | undefined {
    const index = this.#queued.findIndex((q) => q.job.id === jobId);
    return index < 0 ? undefined : this.#queued.splice(index, 1)[0]!.job;
  }

  /** Claimed jobs that have not started go back to pending, their attempt not counted. */
  releaseQueued(): void {
    for (const { job } of this.#queued.splice(0)) this.#ports.release(job);
  }

  /** Starts queued jobs while there are free slots (and the worker is not stopping). */
  fillSlots(): void {
    while (this.#mode !== 'stopped' && this.#queued.length > 0 && this.#ports.freeSlots() > 0) {
      this.#ports.start(this.#queued.shift()!);
    }
  }

  #setMode(next: Mode): void {
    if (!NEXT_MODES[this.#mode].includes(next)) {
      throw new TaiatError('TAIAT_INVALID_STATE', `producer: no transition from ${this.#mode} to ${next}`);
    }
    this.#mode = next;
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (this.#mode !== 'stopped') {
      this.#setMode('working');
      this.fillSlots();
      const want = this.#claimSize();
      let waitMs = this.#opts.pollInterval * 1000;
      if (want > 0 && this.#supply === 'maybe') {
        this.#supply = 'drained';
        const reading = this.#flow.refresh();
        // Until the first reading, the ordinary claim leaves limited queues out and nothing claims
        // them: they would look empty, and a worker run with --once would stop at once.
        if (!this.#flow.known) await reading;
        const flow = this.#flow.current;
        // Limited queues whose jobs may not be claimed ahead take the free slots no hand-over holds.
        const reserved = this.#flow.reserve(this.#ports.freeSlots() - this.#queued.length);
        try {
          // A queue's running limit or a rate limit gets free slots only: a job claimed ahead into the
          // local queue would hold a place of the whole fleet's while waiting here (or start later
          // than its claim, in a burst). A key's place is held for that key alone: claimed ahead.
          this.#limitedFirst = !this.#limitedFirst;
          const limited = { queues: flow.queues, limit: flow.ahead ? want : reserved, first: this.#limitedFirst };
          // The queues known to be limited are left to the limited claim (a queue whose limits went
          // meanwhile is claimed by neither for at most a second, until the next reading).
          const open = flow.queues.length === 0 ? this.#opts.queues : this.#opts.queues.filter((q) => !flow.queues.includes(q));
          this.#claiming = want;
          const jobs = await claimJobs(this.#pools.claims, this.#opts.t, this.#opts.workerId, open, want, this.#opts.leaseSeconds, limited)
            .finally(() => (this.#flow.unreserve(reserved), (this.#claiming = 0)));
          failures = 0;
          this.#ports.claimed(jobs.length);
          if (jobs.length === want) this.#supply = 'maybe';
          // A place freed elsewhere under a limit is announced by the worker holding it, but not
          // always (a rescued lease, a reading a second old): with limited queues, look every second.
          if (flow.queues.length > 0) waitMs = Math.min(waitMs, 1000);
          if (jobs.length < want && flow.rated) {
            // A rate window lets the next claim through when its oldest claim leaves it: no notification says so.
            const opening = await nextRateOpening(this.#pools.reads, this.#opts.t, flow.queues);
            if (opening !== null) waitMs = Math.min(waitMs, opening + 5);
          }
          if (jobs.length > 0) await this.#enqueue(jobs);
          // A claim still in flight when stop() began: its jobs go back as if queued at the time.
          if (this.#modeIs('stopped')) this.releaseQueued();
        } catch (error) {
          this.#supply = 'maybe';
          this.#ports.survive(error);
          // Not the nudgeable wait: a notification during an outage must not cut the back-off short.
          await Promise.race([sleep(retryBackoffMs(failures++)), this.#whenStopped]);
          continue;
        }
        this.fillSlots();
      }
      if (this.#queued.length === 0 && this.#supply === 'drained' && this.#flow.known) this.#ports.quiet();
      await this.#waitForNudge(waitMs);
    }
  }

  /**
   * Jobs to claim now: one per free slot, plus enough to refill the local queue once it is down
   * to a quarter. Each claim has a fixed cost, so fewer, larger ones win, while the last quarter
   * keeps the slots busy during the claim's round trip (docs/performance.md).
   */
  #claimSize(): number {
    const room = this.#opts.localQueueSize - this.#queued.length;
    // Less what hand-overs by key in flight may claim into the same room.
    return Math.max(0, this.#ports.freeSlots() + (room * 4 >= this.#opts.localQueueSize * 3 ? room : 0) - this.#flow.heldAhead);
  }

  /** Waits until nudged or `ms` passed; the poll (no nudge) looks again without a notification. */
  async #waitForNudge(ms: number): Promise<void> {
    if (this.#mode !== 'working') return; // nudged meanwhile, or stopped
    this.#setMode('sleeping');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
    if (this.#modeIs('sleeping')) this.#supply = 'maybe';
  }

  /** A call, not an inline comparison: TypeScript would keep `#mode` narrowed across awaits. */
  #modeIs(mode: Mode): boolean {
    return this.#mode === mode;
  }

  /** Puts claimed jobs in the local queue, with their dependency results (queuedJobs). */
  async #enqueue(jobs: Job[]): Promise<void> {
    this.#queued.push(...(await queuedJobs(this.#pools.reads, this.#opts.t, jobs, (job) => this.#ports.release(job))));
  }
}
