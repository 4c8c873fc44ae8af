/** The benchmark's correctness checks: every job executed exactly once, recorded per run. */
import type { BenchChild, Message } from './lib/child.js';
import { withSql } from './lib/server.js';
import { log, RUNS } from './config.js';

export interface Check {
  workload: string;
  system: string;
  run: number;
  ok: boolean;
  detail: string;
}

export const checks: Check[] = [];

export function check(workload: string, system: string, run: number, problems: string[], okDetail: string): boolean {
  const ok = problems.length === 0;
  checks.push({ workload, system, run, ok, detail: ok ? okDetail : problems.join('; ') });
  if (!ok) log(`CORRECTNESS FAILURE ${workload} ${system} run ${run}: ${problems.join('; ')}`);
  return ok;
}

/** Runs one measurement; a thrown error is a correctness failure of that run, not a crash. */
export async function attempt<T>(workload: string, system: string, run: number, fn: () => Promise<T | null>, runs = RUNS): Promise<T | null> {
  log(`${workload} / ${system} / run ${run} of ${runs}`);
  try {
    return await fn();
  } catch (error) {
    check(workload, system, run, [`error: ${(error as Error).message ?? error}`], '');
    return null;
  }
}

/** Problems with the in-memory execution counts: every expected id exactly once, nothing else. */
export function executionProblems(report: Message, expectedIds: string[]): string[] {
  const counts = new Map<string, number>(report.executions as [string, number][]);
  const problems: string[] = [];
  const expected = new Set(expectedIds);
  const notOnce = expectedIds.filter((id) => counts.get(id) !== 1);
  const missing = notOnce.filter((id) => !counts.has(id));
  const repeated = notOnce.filter((id) => (counts.get(id) ?? 0) > 1);
  const unexpected = [...counts.keys()].filter((id) => !expected.has(id));
  if (missing.length) problems.push(`${missing.length} job(s) never ran (e.g. ${missing.slice(0, 3).join(', ')})`);
  if (repeated.length) problems.push(`${repeated.length} job(s) ran more than once (e.g. ${repeated.slice(0, 3).map((id) => `${id} x${counts.get(id)}`).join(', ')})`);
  if (unexpected.length) problems.push(`${unexpected.length} unexpected job(s) ran (e.g. ${unexpected.slice(0, 3).join(', ')})`);
  return problems;
}

export function childProblems(child: BenchChild): string[] {
  const failed = child.received('job-failed');
  return failed.length ? [`${failed.length} job attempt(s) failed (e.g. ${failed[0]!.id}: ${failed[0]!.error})`] : [];
}

/** taiat: each id in history exactly once, completed, and gone from taiat_jobs. */
export async function taiatHistoryProblems(url: string, ids: string[]): Promise<string[]> {
  return withSql(url, async (sql) => {
    const [row] = await sql<{ rows: number; completed: number; distinct_ids: number; live: number }[]>`
      SELECT (SELECT count(*)::int FROM taiat_job_history WHERE job_id = ANY(${ids}::text[])) AS rows,
             (SELECT count(*)::int FROM taiat_job_history WHERE job_id = ANY(${ids}::text[]) AND status = 'completed') AS completed,
             (SELECT count(DISTINCT job_id)::int FROM taiat_job_history WHERE job_id = ANY(${ids}::text[])) AS distinct_ids,
             (SELECT count(*)::int FROM taiat_jobs WHERE id = ANY(${ids}::text[])) AS live`;
    const problems: string[] = [];
    if (row!.rows !== ids.length || row!.distinct_ids !== ids.length) problems.push(`history has ${row!.rows} row(s) for ${row!.distinct_ids}/${ids.length} job ids`);
    if (row!.completed !== ids.length) problems.push(`${ids.length - row!.completed} job(s) not completed in history`);
    if (row!.live !== 0) problems.push(`${row!.live} job(s) still in taiat_jobs`);
    return problems;
  });
}
