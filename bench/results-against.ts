/**
 * `--against <ref>`'s report: per round and at the median, this checkout's build over the ref's
 * (jobs/s: above 1 is faster; CPU and statement time per job: below 1 is cheaper). The ratio of
 * each round is taken first and the median of those is reported: a round's two sides met the
 * same minutes of the machine, rounds did not.
 */
import path from 'node:path';
import { fmt, table, writeJson } from './lib/report.js';
import { median } from './lib/stats.js';
import { checks } from './checks.js';
import { HEAD_ENV, RESULTS_DIR, SIZES } from './config.js';
import type { AgainstRound, SideResult } from './workloads/against.js';

export interface AgainstRun {
  ref: string;
  sha: string;
  head: string;
  startedAt: Date;
  rounds: (AgainstRound | null)[];
}

type Ratio = (head: SideResult, ref: SideResult) => number | null;

const RATIOS: [string, Ratio][] = [
  ['drain jobs/s', (h, r) => r.drainSeconds / h.drainSeconds],
  ['worker CPU per job', (h, r) => h.workerCpuUsPerJob / r.workerCpuUsPerJob],
  ['statements per job', (h, r) => (h.statementsUsPerJob === null || r.statementsUsPerJob === null ? null : h.statementsUsPerJob / r.statementsUsPerJob)],
];

const x = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(3)}x`);

/** Prints the tables, writes bench/results/against.json; exit code 1 if a check failed or no round finished. */
export async function reportAgainst(run: AgainstRun): Promise<number> {
  const done = run.rounds.filter((r): r is AgainstRound => r !== null);
  const jobsPerSec = (s: SideResult) => SIZES.w1Jobs / s.drainSeconds;
  const rows = run.rounds.map((r, i) => r
    ? [`round ${i + 1}`, fmt(jobsPerSec(r.head)), fmt(jobsPerSec(r.ref)), fmt(r.head.workerCpuUsPerJob, 1), fmt(r.ref.workerCpuUsPerJob, 1),
      fmt(r.head.statementsUsPerJob, 1), fmt(r.ref.statementsUsPerJob, 1), ...RATIOS.map(([, f]) => x(f(r.head, r.ref)))]
    : [`round ${i + 1}`, 'failed', '', '', '', '', '', '', '', '']);
  const medians = RATIOS.map(([name, f]) => {
    const values = done.map((r) => f(r.head, r.ref)).filter((v): v is number => v !== null);
    return { name, median: values.length > 0 ? median(values) : null, values };
  });
  rows.push(['median', '', '', '', '', '', '', ...medians.map((m) => x(m.median))]);
  const label = `${run.ref} (${run.sha.slice(0, 12)})`;
  const headEnv = Object.entries(HEAD_ENV).map(([k, v]) => `${k}=${v}`).join(' ');
  console.log(`\nthis checkout (${run.head.slice(0, 12)}${run.head.endsWith('+') ? ', with uncommitted changes' : ''}${headEnv ? `, with ${headEnv}` : ''}) against ${label}: W1's drain of ${fmt(SIZES.w1Jobs)} jobs by both at once, each from its own database; ratios this checkout / ${run.ref}`);
  console.log(table(
    ['', 'jobs/s here', `jobs/s ${run.ref}`, 'worker us/job here', `worker us/job ${run.ref}`, 'stmt us/job here', `stmt us/job ${run.ref}`,
      ...RATIOS.map(([name]) => name)],
    rows,
  ));
  const failed = checks.filter((c) => !c.ok);
  console.log(failed.length === 0 ? `\ncorrectness: all ${checks.length} checks passed` : `\ncorrectness: ${failed.length} of ${checks.length} checks FAILED:\n${failed.map((c) => `  ${c.workload} / ${c.system} / run ${c.run}: ${c.detail}`).join('\n')}`);
  const file = path.join(RESULTS_DIR, 'against.json');
  await writeJson(file, { ...run, headEnv: HEAD_ENV, startedAt: run.startedAt.toISOString(), jobs: SIZES.w1Jobs, medians, checks });
  console.log(`results: ${path.relative(process.cwd(), file)}`);
  return failed.length > 0 || done.length === 0 ? 1 : 0;
}
