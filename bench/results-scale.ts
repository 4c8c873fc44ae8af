/**
 * Full mode's report of issue 22's parts: taiat against both peers (W1, W2, and W3/W4 against
 * pg-boss's flow()), the worker processes (WP) and the big graphs (G1-G4): tables and JSON.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fmt, ratio, table } from './lib/report.js';
import { round, summarize, type Summary } from './lib/stats.js';
import { CHILD_NODE, CONCURRENCY, ROOT, SIZES } from './config.js';
import type { Measurements } from './results.js';

/** The version in an installed package's package.json, or null when it is not installed. */
async function installedVersion(name: string): Promise<string | null> {
  try {
    return (JSON.parse(await readFile(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

const m = (s: Summary<object>, k: string) => s.median[k];
const spread = (s: Summary<object>, k: string, digits = 0) => (s.min[k] === undefined ? '-' : `${fmt(s.min[k], digits)}-${fmt(s.max[k], digits)}`);
const div = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b !== 0 ? round(a / b, 3) : null);

export async function scaleReport(measured: Measurements) {
  const versions = {
    childNode: CHILD_NODE?.version ?? null,
    graphileWorker: await installedVersion('graphile-worker'),
    pgBoss: await installedVersion('pg-boss'),
  };
  const T = { w1: summarize(measured.w1Taiat), w2: summarize(measured.w2Taiat), w3: summarize(measured.w3), w4: summarize(measured.w4), w8: summarize(measured.w8) };
  const G = { w1: summarize(measured.w1Graphile), w2: summarize(measured.w2Graphile) };
  const B = {
    w1: summarize(measured.w1Pgboss), w2: summarize(measured.w2Pgboss), w3: summarize(measured.w3Pgboss), w4: summarize(measured.w4Pgboss),
    w8: summarize(measured.w8Pgboss),
  };
  const most = (values: (number | undefined)[]) => { const v = values.filter((x): x is number => x !== undefined); return v.length ? Math.max(...v) : undefined; };
  const w8MostPerKey = { taiat: most(measured.w8.map((r) => r?.maxPerKey)), pgBoss: most(measured.w8Pgboss.map((r) => r?.maxPerKey)) };
  const w8PgbossOverLimit = measured.w8Pgboss.reduce((sum, r) => sum + (r?.keyOverLimit ?? 0), 0);
  const perJob = (s: Summary<object>, k: string) => (m(s, k) === undefined ? undefined : (m(s, k)! / SIZES.w1Jobs) * 1e6);

  type Row = [string, number | undefined, number | undefined, number | undefined, number];
  const peerRows: Row[] = [
    ['W1 create in one call (jobs/s)', m(T.w1, 'createJobsPerSec'), m(G.w1, 'createJobsPerSec'), m(B.w1, 'createJobsPerSec'), 0],
    ['W1 drain, 1 process x16 (jobs/s)', m(T.w1, 'drainJobsPerSec'), m(G.w1, 'drainJobsPerSec'), m(B.w1, 'drainJobsPerSec'), 0],
    ['W1 worker CPU per job (us)', perJob(T.w1, 'workerCpuSeconds'), perJob(G.w1, 'workerCpuSeconds'), perJob(B.w1, 'workerCpuSeconds'), 0],
    ['W1 Postgres CPU per job (us)', perJob(T.w1, 'serverCpuSeconds'), perJob(G.w1, 'serverCpuSeconds'), perJob(B.w1, 'serverCpuSeconds'), 0],
    ['W1 worker peak RSS (MB)', m(T.w1, 'peakRssMb'), m(G.w1, 'peakRssMb'), m(B.w1, 'peakRssMb'), 1],
    ['W2 latency p50 (ms)', m(T.w2, 'p50'), m(G.w2, 'p50'), m(B.w2, 'p50'), 1],
    ['W2 latency p95 (ms)', m(T.w2, 'p95'), m(G.w2, 'p95'), m(B.w2, 'p95'), 1],
    ['W2 latency p99 (ms)', m(T.w2, 'p99'), m(G.w2, 'p99'), m(B.w2, 'p99'), 1],
    [`W3 ${SIZES.w3Chains} chains x${SIZES.w3Steps}: all done (s)`, m(T.w3, 'seconds'), undefined, m(B.w3, 'seconds'), 2],
    [`W4 ${SIZES.w4Groups} x (${SIZES.w4Width} + join): all done (s)`, m(T.w4, 'seconds'), undefined, m(B.w4, 'seconds'), 2],
    [`W8 drain, ${SIZES.w8Keys} keys (groups), ${SIZES.w8KeyLimit} per key (jobs/s)`, m(T.w8, 'limitedJobsPerSec'), undefined, m(B.w8, 'limitedJobsPerSec'), 0],
    ['W8 the same, as a share of its own W1', m(T.w8, 'ratio'), undefined, m(B.w8, 'ratio'), 2],
    [`W8 most running (pg-boss: active) of one key, sampled`, w8MostPerKey.taiat, undefined, w8MostPerKey.pgBoss, 0],
  ];
  const peersTable = table(
    ['metric', 'taiat', 'graphile-worker', 'pg-boss', 'taiat/graphile', 'taiat/pg-boss'],
    peerRows.map(([name, t, g, b, d]) => [name, fmt(t, d), /^W[348] /.test(name) ? 'n/a' : fmt(g, d), fmt(b, d), ratio(t, g), ratio(t, b)]),
  );

  const wp = SIZES.wpProcesses.map((k) => {
    const t = summarize(measured.wp.taiat[k] ?? []);
    const g = summarize(measured.wp.graphile[k] ?? []);
    return { processes: k, taiat: t, graphileWorker: g, taiatOverGraphile: div(m(t, 'jobsPerSec'), m(g, 'jobsPerSec')) };
  });
  const wpTable = table(
    ['worker processes x16', 'taiat (jobs/s)', 'taiat min-max', 'graphile-worker (jobs/s)', 'graphile min-max', 'taiat/graphile', 'taiat claims (empty)', 'graphile fetches (empty)'],
    wp.map(({ processes, taiat: t, graphileWorker: g }) => [
      processes, fmt(m(t, 'jobsPerSec')), spread(t, 'jobsPerSec'), fmt(m(g, 'jobsPerSec')), spread(g, 'jobsPerSec'), ratio(m(t, 'jobsPerSec'), m(g, 'jobsPerSec')),
      `${fmt(m(t, 'claims'))} (${fmt(m(t, 'emptyClaims'))})`, `${fmt(m(g, 'claims'))} (${fmt(m(g, 'emptyClaims'))})`,
    ]),
  );

  const graphs = Object.fromEntries(Object.entries(measured.graphs).map(([key, runs]) => [key, { scenario: runs.find((r) => r)?.scenario ?? key, ...summarize(runs) }]));
  const graphsTable = table(
    ['big graph (taiat)', 'jobs', 'create (s)', 'run (s)', 'run min-max', 'creator peak MB (growth)', 'worker peak MB'],
    Object.values(graphs).map((s) => [s.scenario, fmt(m(s, 'jobs')), fmt(m(s, 'createSeconds'), 2), fmt(m(s, 'runSeconds'), 2), spread(s, 'runSeconds', 2), `${fmt(m(s, 'creatorPeakRssMb'))} (${fmt(m(s, 'creatorRssGrowthMb'))})`, fmt(m(s, 'workerPeakRssMb'))]),
  );

  const json = {
    peers: {
      pgBossSettings: { localConcurrency: CONCURRENCY, batchSize: 32, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 0.5, flowIntervalSeconds: 1, useListenNotify: true, queueNotify: true, max: CONCURRENCY + 2 },
      w1Throughput: { pgBoss: B.w1 },
      w2Latency: { pgBoss: B.w2 },
      w3Chains: { pgBoss: B.w3 },
      w4FanIn: { pgBoss: B.w4 },
      w8KeyLimit: { pgBoss: B.w8, groups: SIZES.w8Keys, groupConcurrency: SIZES.w8KeyLimit, maxPerGroupSampled: w8MostPerKey.pgBoss ?? null, activeOverLimitSamples: w8PgbossOverLimit },
      ratios: {
        taiatW1OverPgBossW1: div(m(T.w1, 'drainJobsPerSec'), m(B.w1, 'drainJobsPerSec')),
        taiatW1CreateOverPgBossW1Create: div(m(T.w1, 'createJobsPerSec'), m(B.w1, 'createJobsPerSec')),
        taiatW2P50OverPgBossW2P50: div(m(T.w2, 'p50'), m(B.w2, 'p50')),
        taiatW3SecondsOverPgBossFlow: div(m(T.w3, 'seconds'), m(B.w3, 'seconds')),
        taiatW4SecondsOverPgBossFlow: div(m(T.w4, 'seconds'), m(B.w4, 'seconds')),
        taiatW8KeyLimitedOverPgBossGrouped: div(m(T.w8, 'limitedJobsPerSec'), m(B.w8, 'limitedJobsPerSec')),
      },
    },
    processes: { jobs: SIZES.wpJobs, slotsPerProcess: CONCURRENCY, byProcesses: wp },
    bigGraphs: { scale: SIZES.graphScale, ...graphs },
  };
  const print = () => {
    console.log(`\ntaiat vs both peers, every worker process on node ${versions.childNode ?? process.version}: graphile-worker ${versions.graphileWorker}, pg-boss ${versions.pgBoss} (its flow() for W3/W4; its groupConcurrency for W8, one run, fetching ${SIZES.w8KeyLimit} at a time). Ratios taiat/peer: above 1 is better for taiat in jobs/s, below 1 in seconds, CPU, memory and latency\n`);
    console.log(peersTable);
    if (wp.some((r) => r.taiat.runs.length > 0)) console.log(`\nWP: ${fmt(SIZES.wpJobs)} no-op jobs on one queue, drained by N processes together (claims that found nothing in brackets)\n\n${wpTable}`);
    if (Object.keys(graphs).length > 0) console.log(`\nBig graphs: one worker process x${CONCURRENCY}; the creator is the orchestrator (peak RSS, growth over its RSS before the create)\n\n${graphsTable}`);
  };
  return { versions, json, print };
}
