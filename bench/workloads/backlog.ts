/** W5's backlogs: a million rows set up in one statement, and checked untouched after the drain. */
import { performance } from 'node:perf_hooks';
import { JobManager } from '../../dist/index.js';
import { withSql } from '../lib/server.js';

/** `blocked`: jobs waiting on a job that never runs; `history`: rows of finished jobs. */
export type Backlog = 'none' | 'blocked' | 'history';

/** Set-based backlog setup for W5 (1,000,000 rows in full mode). Returns seconds spent. */
export async function setupBacklog(url: string, backlog: Backlog, n: number): Promise<number> {
  if (backlog === 'none') return 0;
  const t0 = performance.now();
  const jobs = await JobManager.connect({ databaseUrl: url, maxConnections: 1 });
  try {
    await withSql(url, async (sql) => {
      if (backlog === 'blocked') {
        // One job that never runs (scheduled in the far future), and n jobs of the same queue
        // blocked on it: exactly what a real backlog of waiting dependents looks like.
        await jobs.createJob({ id: 'bench-never', jobType: 'agent', name: 'never', payload: { agent_name: 'noop' }, runAt: new Date('2999-01-01T00:00:00Z') });
        await sql`
          INSERT INTO taiat_jobs (id, job_type, name, payload, dependencies, pending_dependencies, queue)
          SELECT 'bench-blocked-' || g, 'agent', 'blocked', '{"agent_name":"noop"}'::jsonb, '["bench-never"]'::jsonb, 1, 'default'
            FROM generate_series(1, ${n}::int) AS g`;
        await sql`UPDATE taiat_jobs SET has_dependents = true WHERE id = 'bench-never'`;
        await sql.unsafe('VACUUM ANALYZE taiat_jobs');
      } else {
        await sql`
          INSERT INTO taiat_job_history (id, job_id, job_type, name, payload, dependencies, status, started_at, completed_at,
                                         duration_seconds, created_at, updated_at, priority, queue, run_at, attempts, worker_id)
          SELECT 'bench-old-' || g, 'bench-old-' || g, 'agent', 'old', '{"agent_name":"noop"}'::jsonb, '[]'::jsonb, 'completed',
                 t - interval '5 ms', t, 0.005, t - interval '10 ms', t, 2, 'default', t - interval '10 ms', 1, 'bench-old-worker'
            FROM generate_series(1, ${n}::int) AS g, LATERAL (SELECT now() - interval '7 days' + g * interval '500 ms') AS x(t)`;
        await sql.unsafe('VACUUM ANALYZE taiat_job_history');
      }
      await sql.unsafe('CHECKPOINT').catch(() => {});
    });
  } finally {
    await jobs.close();
  }
  return (performance.now() - t0) / 1000;
}

export async function backlogProblems(url: string, backlog: Backlog, n: number): Promise<string[]> {
  if (backlog === 'none') return [];
  return withSql(url, async (sql) => {
    if (backlog === 'blocked') {
      const [r] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_jobs WHERE pending_dependencies = 1 AND status = 'pending'`;
      return r!.n === n ? [] : [`backlog changed: ${r!.n} blocked jobs instead of ${n}`];
    }
    const [r] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_job_history WHERE job_id LIKE 'bench-old-%'`;
    return r!.n === n ? [] : [`history backlog changed: ${r!.n} rows instead of ${n}`];
  });
}
