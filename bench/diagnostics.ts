/** What a run records besides its figures: pg_stat_statements (--pgss) and EXPLAIN of the claim. */
import { withSql } from './lib/server.js';
import { CONCURRENCY, PGSS } from './config.js';
import { server } from './setup.js';

export async function pgssReset(): Promise<void> {
  if (PGSS) await server().admin`SELECT pg_stat_statements_reset()`;
}

export async function pgssTop(dbName: string): Promise<unknown[] | undefined> {
  if (!PGSS) return undefined;
  const rows = await server().admin<{ query: string; calls: string; total_ms: number; mean_ms: number; rows: string; share: number }[]>`
    SELECT left(regexp_replace(s.query, '\\s+', ' ', 'g'), 240) AS query, s.calls, round(s.total_exec_time::numeric, 1)::float8 AS total_ms,
           round(s.mean_exec_time::numeric, 3)::float8 AS mean_ms, s.rows,
           round((100 * s.total_exec_time / nullif(sum(s.total_exec_time) OVER (), 0))::numeric, 1)::float8 AS share
      FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
     WHERE d.datname = ${dbName}
     ORDER BY s.total_exec_time DESC LIMIT 12`;
  return rows.map((r) => ({ ...r, calls: Number(r.calls), rows: Number(r.rows) }));
}

class RollbackSignal extends Error {}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of taiat's claim statement (a copy of src/store/claim-jobs.ts's) as the
 * worker runs it: prepared, with the generic plan postgres.js ends up using, claiming 16 jobs; rolled back.
 */
export async function explainClaim(url: string): Promise<string> {
  return withSql(url, async (sql) => {
    let plan = '';
    await sql
      .begin(async (tx) => {
        await tx.unsafe(`SET LOCAL plan_cache_mode = force_generic_plan`);
        await tx.unsafe(`
          PREPARE bench_claim(text, int, text, float8) AS
          WITH ready AS (
            SELECT id FROM taiat_jobs
             WHERE status = 'pending' AND pending_dependencies = 0 AND run_at <= now() AND queue = $1
             ORDER BY priority DESC, run_at, id
             LIMIT $2
             FOR UPDATE SKIP LOCKED
          )
          UPDATE taiat_jobs j
             SET status = 'running', lease_owner = $3,
                 lease_expires_at = now() + make_interval(secs => $4),
                 attempts = j.attempts + 1, started_at = now(), updated_at = now(), cancel_requested_at = NULL
           WHERE j.id = ANY(ARRAY(SELECT id FROM ready))
          RETURNING j.id`);
        const rows = await tx.unsafe(`EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_claim('default', ${CONCURRENCY}, 'bench-explain', 30)`);
        plan = rows.map((r) => (r as Record<string, string>)['QUERY PLAN']).join('\n');
        throw new RollbackSignal();
      })
      .catch((error: unknown) => {
        if (!(error instanceof RollbackSignal)) throw error;
      });
    return plan;
  });
}
