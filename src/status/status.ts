import type { Sql } from '../db/connection.js';

/** Counts of finished jobs by status. */
export interface FinishedCounts {
  completed: number;
  failed: number;
  cancelled: number;
}

export interface WorkerStatus {
  id: string;
  hostname: string;
  pid: number;
  queues: string[];
  concurrency: number;
  version: string;
  startedAt: Date;
  lastHeartbeatAt: Date;
  /** Jobs this worker holds now. */
  jobsInHand: number;
}

/**
 * The state of the whole system, as `taiat-worker --status --json` prints it. A stable contract:
 * fields are only ever added.
 */
export interface SystemStatus {
  generatedAt: Date;
  pending: { ready: number; blocked: number; scheduled: number; total: number };
  running: { total: number; byWorker: { workerId: string; jobs: number; oldestStartedAt: Date; oldestRunningSeconds: number }[] };
  finished: { lastHour: FinishedCounts; lastDay: FinishedCounts };
  /** The unfinished jobs that most pending jobs wait for (sampled over the oldest 10,000 blocked). */
  blockedOn: { jobId: string; name: string; status: string; waiting: number }[];
  recentFailures: { id: string; name: string; jobType: string; errorMessage: string | null; completedAt: Date; attempts: number }[];
  workers: { alive: WorkerStatus[]; lost: WorkerStatus[] };
  queues: { queue: string; priority: number; ready: number; blocked: number; scheduled: number; running: number }[];
  /** Seconds the oldest ready job has waited since its run_at (0 when none is ready). */
  oldestReadyWaitSeconds: number;
}

/** A worker whose heartbeat is older than this is lost (it heartbeats every lease/3, 10 s by default). */
const LOST_AFTER_SECONDS = 90;

function counts(rows: { status: string; n: number }[]): FinishedCounts {
  const c: FinishedCounts = { completed: 0, failed: 0, cancelled: 0 };
  for (const r of rows) if (r.status in c) c[r.status as keyof FinishedCounts] = r.n;
  return c;
}

/** Finished jobs by status since an interval ago: one index-only range scan per status. */
function finishedSince(sql: Sql, interval: '1 hour' | '1 day') {
  return sql<{ status: string; n: number }[]>`
    SELECT s.status, (SELECT count(*)::int FROM taiat_job_history h
                       WHERE h.status = s.status AND h.completed_at >= now() - ${interval}::interval) AS n
      FROM unnest(ARRAY['completed', 'failed', 'cancelled']) AS s(status)`;
}

/** Reads the system's status: a handful of index-backed queries, no scan of history. */
export async function readStatus(sql: Sql): Promise<SystemStatus> {
  const [queues, running, hour, day, failures, workers, blockedOn, oldest] = await Promise.all([
    sql<{ queue: string; priority: number; ready: number; blocked: number; scheduled: number; running: number }[]>`
      SELECT queue, priority,
             count(*) FILTER (WHERE status = 'pending' AND pending_dependencies = 0 AND run_at <= now())::int AS ready,
             count(*) FILTER (WHERE status = 'pending' AND pending_dependencies > 0)::int AS blocked,
             count(*) FILTER (WHERE status = 'pending' AND pending_dependencies = 0 AND run_at > now())::int AS scheduled,
             count(*) FILTER (WHERE status = 'running')::int AS running
        FROM taiat_jobs GROUP BY queue, priority ORDER BY queue, priority DESC`,
    sql<{ worker_id: string; jobs: number; oldest: Date; seconds: number }[]>`
      SELECT lease_owner AS worker_id, count(*)::int AS jobs, min(started_at) AS oldest,
             extract(epoch FROM now() - min(started_at))::float8 AS seconds
        FROM taiat_jobs WHERE status = 'running' GROUP BY lease_owner ORDER BY oldest`,
    finishedSince(sql, '1 hour'),
    finishedSince(sql, '1 day'),
    sql<{ id: string; name: string; job_type: string; error_message: string | null; completed_at: Date; attempts: number }[]>`
      SELECT job_id AS id, name, job_type, error_message, completed_at, attempts FROM taiat_job_history
       WHERE status = 'failed' ORDER BY completed_at DESC LIMIT 10`,
    sql<{ id: string; hostname: string; pid: number; queues: string[]; concurrency: number; version: string; started_at: Date; last_heartbeat_at: Date; lost: boolean; jobs: number }[]>`
      SELECT w.*, w.last_heartbeat_at < now() - make_interval(secs => ${LOST_AFTER_SECONDS}) AS lost,
             (SELECT count(*)::int FROM taiat_jobs j WHERE j.status = 'running' AND j.lease_owner = w.id) AS jobs
        FROM taiat_workers w
       WHERE w.stopped_at IS NULL AND w.last_heartbeat_at >= now() - interval '1 day'
       ORDER BY w.started_at`,
    sql<{ job_id: string; name: string; status: string; waiting: number }[]>`
      SELECT d.id AS job_id, j.name, j.status, count(*)::int AS waiting
        FROM (SELECT dependencies FROM taiat_jobs WHERE pending_dependencies > 0 ORDER BY created_at LIMIT 10000) b
             CROSS JOIN LATERAL jsonb_array_elements_text(b.dependencies) AS d(id)
             JOIN taiat_jobs j ON j.id = d.id
       GROUP BY d.id, j.name, j.status ORDER BY waiting DESC, d.id LIMIT 10`,
    sql<{ seconds: number | null }[]>`
      SELECT extract(epoch FROM now() - min(run_at))::float8 AS seconds FROM taiat_jobs
       WHERE status = 'pending' AND pending_dependencies = 0 AND run_at <= now()`,
  ]);
  const sum = (k: 'ready' | 'blocked' | 'scheduled' | 'running') => queues.reduce((n, q) => n + q[k], 0);
  const toWorker = (w: (typeof workers)[number]): WorkerStatus => ({
    id: w.id, hostname: w.hostname, pid: w.pid, queues: w.queues, concurrency: w.concurrency, version: w.version,
    startedAt: w.started_at, lastHeartbeatAt: w.last_heartbeat_at, jobsInHand: w.jobs,
  });
  return {
    generatedAt: new Date(),
    pending: { ready: sum('ready'), blocked: sum('blocked'), scheduled: sum('scheduled'), total: sum('ready') + sum('blocked') + sum('scheduled') },
    running: {
      total: sum('running'),
      byWorker: running.map((r) => ({ workerId: r.worker_id, jobs: r.jobs, oldestStartedAt: r.oldest, oldestRunningSeconds: r.seconds })),
    },
    finished: { lastHour: counts(hour), lastDay: counts(day) },
    blockedOn: blockedOn.map((b) => ({ jobId: b.job_id, name: b.name, status: b.status, waiting: b.waiting })),
    recentFailures: failures.map((f) => ({ id: f.id, name: f.name, jobType: f.job_type, errorMessage: f.error_message, completedAt: f.completed_at, attempts: f.attempts })),
    workers: { alive: workers.filter((w) => !w.lost).map(toWorker), lost: workers.filter((w) => w.lost).map(toWorker) },
    queues,
    oldestReadyWaitSeconds: Math.max(0, oldest[0]?.seconds ?? 0),
  };
}
