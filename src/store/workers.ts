import os from 'node:os';
import type { Sql } from '../db/connection.js';
import { VERSION } from '../version.js';
import type { SchemaNames } from './schema-names.js';

/** What a worker says of itself in `taiat_workers`. */
export interface WorkerRegistration {
  id: string;
  queues: string[];
  concurrency: number;
  /** Seconds between heartbeats: `--status` calls the worker lost after three missed ones. */
  heartbeatSeconds: number;
  /** The agents it runs (`--status` warns about schedules no live worker can run). */
  agents: string[];
}

/** Registers the worker, or records its heartbeat (and that it runs again, if it was stopped). */
export async function recordHeartbeat(sql: Sql, t: SchemaNames, worker: WorkerRegistration): Promise<void> {
  await sql`
    INSERT INTO ${sql(t.workers)} AS w (id, hostname, pid, queues, concurrency, version, heartbeat_seconds, agents)
    VALUES (${worker.id}, ${os.hostname()}, ${process.pid}, ${sql.json(worker.queues)}, ${worker.concurrency}, ${VERSION},
            ${worker.heartbeatSeconds}, ${sql.json(worker.agents)})
    -- All of it, each time: a worker id reused by a new process (a fixed --worker-id) describes that process.
    ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = now(), stopped_at = NULL,
      started_at = CASE WHEN (w.hostname, w.pid) = (EXCLUDED.hostname, EXCLUDED.pid) THEN w.started_at ELSE now() END,
      hostname = EXCLUDED.hostname, pid = EXCLUDED.pid,
      queues = EXCLUDED.queues, concurrency = EXCLUDED.concurrency, version = EXCLUDED.version,
      heartbeat_seconds = EXCLUDED.heartbeat_seconds, agents = EXCLUDED.agents`;
}

/**
 * Extends the leases of the given jobs, where they are still running under this worker. Returns
 * each renewed job's id and whether its cancellation was requested (a fallback for a lost
 * NOTIFY); a job missing from the answer is no longer this worker's.
 */
export async function renewLeases(sql: Sql, t: SchemaNames, workerId: string, jobIds: string[], leaseSeconds: number): Promise<Map<string, boolean>> {
  const renewed = await sql<{ id: string; cancel: boolean }[]>`
    UPDATE ${sql(t.jobs)} SET lease_expires_at = now() + make_interval(secs => ${leaseSeconds}::float8)
     WHERE id = ANY(${jobIds}::text[]) AND status = 'running' AND lease_owner = ${workerId}
    RETURNING id, cancel_requested_at IS NOT NULL AS cancel`;
  return new Map(renewed.map((r) => [r.id, r.cancel]));
}

/** Marks the worker stopped (it no longer counts as alive or lost). */
export async function markWorkerStopped(sql: Sql, t: SchemaNames, workerId: string): Promise<void> {
  await sql`UPDATE ${sql(t.workers)} SET stopped_at = now(), last_heartbeat_at = now() WHERE id = ${workerId}`;
}
