import postgres from 'postgres';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { JobManager, Worker, type Job, type WorkerOptions } from '../../src/index.js';
import { useTestDatabase, type TestDatabase } from './database.js';
import { waitFor } from './wait.js';

/** A fingerprint of both job tables, to prove a failed call changed nothing. */
export async function snapshot(sql: postgres.Sql): Promise<string> {
  const rows = await sql`
    SELECT (SELECT coalesce(json_agg(j ORDER BY id), '[]') FROM taiat_jobs j) AS live,
           (SELECT coalesce(json_agg(h ORDER BY id), '[]') FROM taiat_job_history h) AS history`;
  return JSON.stringify(rows);
}

export interface WorkerHarness {
  db: TestDatabase;
  /** A JobManager on the file's database (set in beforeAll). */
  readonly jobs: JobManager;
  /** Starts an in-process worker, stopped after each test (tables are emptied then too). */
  startWorker(options: WorkerOptions): Promise<Worker>;
  /** Waits until the job is in history and returns it. */
  finished(id: string): Promise<Job>;
}

/** A test file's database, a JobManager, and in-process workers cleaned up after each test. */
export function useWorkerHarness(): WorkerHarness {
  const db = useTestDatabase();
  const workers: Worker[] = [];
  let jobs: JobManager | undefined;
  beforeAll(async () => {
    jobs = await JobManager.connect({ databaseUrl: db.url });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await db.sql`TRUNCATE taiat_jobs, taiat_job_history, taiat_workers, taiat_schedules, taiat_queues, taiat_rate_claims CASCADE`;
  });
  afterAll(async () => {
    await jobs?.close();
  });
  return {
    db,
    get jobs() {
      return jobs!;
    },
    async startWorker(options) {
      const worker = new Worker({ databaseUrl: db.url, pollInterval: 0.2, cleanupIntervalHours: 0, ...options });
      workers.push(worker);
      await worker.start();
      return worker;
    },
    finished: (id) =>
      waitFor(async () => {
        const job = await jobs!.getJob(id);
        return job?.location === 'history' ? job : null;
      }, `job ${id} to finish`),
  };
}
