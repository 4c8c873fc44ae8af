import type { Job } from '../jobs/model.js';
import { checkProgress, type JobProgress } from '../jobs/progress.js';

/** At most one progress write per job per this many milliseconds. */
export const PROGRESS_INTERVAL_MS = 1000;

/** Longest an attempt's end waits for its last progress write. */
const SETTLE_MS = 2000;

/** Stores a running attempt's progress; false when the attempt's lease is no longer this worker's. */
export type ProgressWriter = (job: Job, progress: JobProgress) => Promise<boolean>;

/**
 * One attempt's `ctx.progress`, throttled: the first report is written at once, later ones at
 * most once per `PROGRESS_INTERVAL_MS` (the latest value wins; the ones between are never
 * written), one write at a time. At the attempt's end the last unwritten value is written before
 * the outcome, so history keeps the last value reported. A write that finds the lease gone stops
 * the reporter; a failed write is dropped (progress is advisory: the next report or the end
 * writes again).
 */
export class ProgressReporter {
  readonly #job: Job;
  readonly #write: ProgressWriter;
  #latest: JobProgress | undefined;
  #writtenAt = -Infinity;
  #writing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #ending = false;

  constructor(job: Job, write: ProgressWriter) {
    this.#job = job;
    this.#write = write;
  }

  /** `ctx.progress(value, details?)`: checked now (a bad value throws in the executor), written throttled. */
  report(value: unknown, details?: unknown): void {
    const progress = checkProgress(value, details);
    if (this.#stopped) return;
    this.#latest = progress;
    this.#schedule();
  }

  /**
   * The attempt ended: writes what is left unwritten, then stops. Waits at most `SETTLE_MS` (a
   * database that does not answer must not hold the outcome back; the outcome write has its own
   * retries).
   */
  async settle(): Promise<void> {
    this.#ending = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, SETTLE_MS)));
    const last = (async () => {
      while (this.#writing) await this.#writing;
      if (this.#latest !== undefined && !this.#stopped) await this.#flush();
    })();
    await Promise.race([last, deadline]);
    clearTimeout(timer);
    this.#stopped = true;
  }

  #schedule(): void {
    if (this.#ending || this.#writing || this.#timer) return;
    const wait = this.#writtenAt + PROGRESS_INTERVAL_MS - Date.now();
    if (wait <= 0) void this.#flush();
    else this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#flush();
    }, wait);
  }

  #flush(): Promise<void> {
    const progress = this.#latest!;
    this.#latest = undefined;
    this.#writtenAt = Date.now();
    this.#writing = this.#write(this.#job, progress).then(
      (applied) => void (this.#stopped ||= !applied),
      () => undefined,
    ).finally(() => {
      this.#writing = undefined;
      if (this.#latest !== undefined && !this.#stopped) this.#schedule();
    });
    return this.#writing;
  }
}
