import type { JobProgress } from '../jobs/progress.js';
import type { Sql } from '../db/connection.js';
import { resolveSchema } from '../config/schema-name.js';
import {
  LOST_AFTER_SECONDS, readFlowControlStates, readSchedules, readStatusRows, schemaNames, type HeldBack, type QueueSettings, type QueueState, type Schedule, type WorkerRow,
} from '../store/index.js';

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
  /** Seconds between its heartbeats (null for a worker of taiat 0.1, which did not record it). */
  heartbeatSeconds: number | null;
  /** Jobs this worker holds now. */
  jobsInHand: number;
  /** The agents it runs. */
  agents: string[];
}

/**
 * The state of the whole system, as `taiat-worker --status --json` prints it. A stable contract:
 * fields are only ever added.
 */
export interface SystemStatus {
  generatedAt: Date;
  pending: { ready: number; blocked: number; scheduled: number; total: number };
  running: {
    total: number;
    /** `workerLost`: no live worker has that id (its jobs go back to pending when their leases expire). */
    byWorker: { workerId: string; jobs: number; oldestStartedAt: Date; oldestRunningSeconds: number; workerLost: boolean }[];
    /** Running jobs that reported progress (`ctx.progress`), longest running first, at most 10. */
    progress: { jobId: string; name: string; workerId: string; runningSeconds: number; progress: JobProgress; workerLost: boolean }[];
  };
  finished: { lastHour: FinishedCounts; lastDay: FinishedCounts };
  /** The unfinished jobs that most pending jobs wait for (sampled over the oldest 10,000 blocked). */
  blockedOn: { jobId: string; name: string; status: string; waiting: number }[];
  recentFailures: { id: string; name: string; jobType: string; errorMessage: string | null; completedAt: Date; attempts: number }[];
  workers: { alive: WorkerStatus[]; lost: WorkerStatus[] };
  /** `servedBy`: live workers that serve the queue (0 with ready jobs: nothing will run them). */
  queues: { queue: string; priority: number; ready: number; blocked: number; scheduled: number; running: number; servedBy: number }[];
  /** Seconds the longest-waiting ready job has been ready: since its run_at, or its release if later (0 when none is ready). */
  oldestReadyWaitSeconds: number;
  /** Schedules, their next and last tick, and a warning when no live worker runs their agents. */
  schedules: ScheduleStatus[];
  /** Queues with flow control (paused or limited), by name, and the ready jobs it holds back now. */
  flowControl: QueueFlowStatus[];
}

/** A queue with flow control, as the status shows it. */
export interface QueueFlowStatus {
  queue: string;
  paused: boolean;
  pausedAt: Date | null;
  concurrency: number | null;
  keyConcurrency: number | null;
  rateLimit: QueueSettings['rateLimit'];
  keyRateLimit: QueueSettings['keyRateLimit'];
  /** Concurrency keys with limits of their own. */
  keysWithLimits: number;
  ready: number;
  running: number;
  /** Claims in the queue's rate window now (0 without a rate limit). */
  recentClaims: number;
  /** Ready jobs held back, by the first of pause, queue limit, rate limit, key limit that holds them. */
  heldBack: HeldBack;
}

export interface ScheduleStatus {
  id: string;
  paused: boolean;
  nextTickAt: Date;
  lastTickAt: Date | null;
  lastOutcome: string | null;
  lastError: string | null;
  /** Set when a job of the schedule names an agent that no live worker runs. */
  warning: string | null;
}

function counts(rows: { status: string; n: number }[]): FinishedCounts {
  const c: FinishedCounts = { completed: 0, failed: 0, cancelled: 0 };
  for (const r of rows) if (r.status in c) c[r.status as keyof FinishedCounts] = r.n;
  return c;
}

/**
 * Reads the status of the taiat instance in `schema` (default: `TAIAT_SCHEMA`, then `public`): a
 * handful of index-backed queries, no scan of history.
 */
export async function readStatus(sql: Sql, options: { schema?: string } = {}): Promise<SystemStatus> {
  const t = schemaNames(resolveSchema(options.schema));
  const [rows, schedules, flow] = await Promise.all([readStatusRows(sql, t, LOST_AFTER_SECONDS), readSchedules(sql, t), readFlowControlStates(sql, t)]);
  const { workers } = rows;
  const alive = workers.filter((w) => !w.lost);
  const aliveIds = new Set(alive.map((w) => w.id));
  const queues = rows.queues.map((q) => ({ ...q, servedBy: alive.filter((w) => w.queues.includes(q.queue)).length }));
  const sum = (k: 'ready' | 'blocked' | 'scheduled' | 'running') => queues.reduce((n, q) => n + q[k], 0);
  const toWorker = (w: WorkerRow): WorkerStatus => ({
    id: w.id, hostname: w.hostname, pid: w.pid, queues: w.queues, concurrency: w.concurrency, version: w.version,
    startedAt: w.started_at, lastHeartbeatAt: w.last_heartbeat_at, heartbeatSeconds: w.heartbeat_seconds, jobsInHand: w.jobs,
    agents: w.agents,
  });
  return {
    generatedAt: new Date(),
    pending: { ready: sum('ready'), blocked: sum('blocked'), scheduled: sum('scheduled'), total: sum('ready') + sum('blocked') + sum('scheduled') },
    running: {
      total: sum('running'),
      byWorker: rows.running.map((r) => ({
        workerId: r.worker_id, jobs: r.jobs, oldestStartedAt: r.oldest, oldestRunningSeconds: r.seconds, workerLost: !aliveIds.has(r.worker_id),
      })),
      progress: rows.progress.map((p) => ({
        jobId: p.id, name: p.name, workerId: p.worker_id, runningSeconds: p.seconds, progress: p.progress, workerLost: !aliveIds.has(p.worker_id),
      })),
    },
    finished: { lastHour: counts(rows.hour), lastDay: counts(rows.day) },
    blockedOn: rows.blockedOn.map((b) => ({ jobId: b.job_id, name: b.name, status: b.status, waiting: b.waiting })),
    recentFailures: rows.failures.map((f) => ({ id: f.id, name: f.name, jobType: f.job_type, errorMessage: f.error_message, completedAt: f.completed_at, attempts: f.attempts })),
    workers: { alive: alive.map(toWorker), lost: workers.filter((w) => w.lost).map(toWorker) },
    queues,
    oldestReadyWaitSeconds: Math.max(0, rows.oldestReadySeconds ?? 0),
    schedules: scheduleStatus(schedules, alive),
    flowControl: flow.map(flowStatus),
  };
}

function flowStatus(q: QueueState): QueueFlowStatus {
  return {
    queue: q.name, paused: q.paused, pausedAt: q.pausedAt, concurrency: q.concurrency, keyConcurrency: q.keyConcurrency,
    rateLimit: q.rateLimit, keyRateLimit: q.keyRateLimit, keysWithLimits: q.keys.length, ready: q.ready, running: q.running,
    recentClaims: q.recentClaims, heldBack: q.heldBack,
  };
}

/** The schedules as the status shows them, each warned about when no live worker runs its agents. */
function scheduleStatus(schedules: Schedule[], alive: WorkerRow[]): ScheduleStatus[] {
  const running = new Set(alive.flatMap((w) => w.agents));
  return schedules.map((s) => {
    const jobs = Array.isArray(s.job) ? s.job : [s.job];
    const agents = jobs.filter((j) => j.jobType === 'agent').map((j) => String(j.payload?.agent_name));
    const missing = [...new Set(agents.filter((a) => !running.has(a)))];
    return {
      id: s.id, paused: s.paused, nextTickAt: s.nextTickAt, lastTickAt: s.lastTickAt, lastOutcome: s.lastOutcome, lastError: s.lastError,
      // A paused schedule creates nothing: no warning until it is resumed.
      warning: !s.paused && missing.length > 0 ? `no live worker runs agent${missing.length > 1 ? 's' : ''} ${missing.map((a) => `'${a}'`).join(', ')}` : null,
    };
  });
}
