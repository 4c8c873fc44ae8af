/**
 * The dashboard's API at scale (issue 21): `npm run bench:dashboard` fills a database with
 * --live live jobs (default 1,000,000) and --history history rows (default 10,000,000), spread
 * like a busy installation's (statuses, queues, types, customers in the payload, graphs, a month
 * of finish times), then times every API call behind a page, --calls times each (default 40),
 * through the real handler (createDashboardHandler's fetch: routing, validation, JSON), and
 * reports p50 and p95. --quick: 20,000 / 200,000. Writes bench/results/dashboard.json. --keep: after
 * filling, print the database's URL and wait (for EXPLAIN by hand) until interrupted; --url U: time
 * the calls on that database, filled before (by --keep), without filling or dropping it.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createDashboardHandler, runMigrations } from '../dist/index.js';
import { freshDatabase, startServer, withSql } from './lib/server.js';
import { percentile } from './lib/stats.js';

const { values: flags } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, live: { type: 'string' }, history: { type: 'string' }, calls: { type: 'string', default: '40' }, keep: { type: 'boolean', default: false }, url: { type: 'string' } },
});
const LIVE = Number(flags.live ?? (flags.quick ? 20_000 : 1_000_000));
const HISTORY = Number(flags.history ?? (flags.quick ? 200_000 : 10_000_000));
const CALLS = Number(flags.calls);
const CHUNK = 1_000_000;
const log = (line: string) => process.stderr.write(`[dashboard-bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** History: h-<n>; every 10th job depends on the one before; failed ones cancelled their next 2. */
async function fill(url: string): Promise<void> {
  await withSql(url, async (sql) => {
    for (let from = 1; from <= HISTORY; from += CHUNK) {
      const to = Math.min(HISTORY, from + CHUNK - 1);
      await sql`
        INSERT INTO taiat_job_history (id, job_id, job_type, name, payload, dependencies, status, error_message, result, started_at,
                                       completed_at, duration_seconds, created_at, updated_at, priority, queue, run_at, attempts,
                                       worker_id, cause_job_id, attempt_errors)
        SELECT 'h-' || g, 'h-' || g, 'agent', 'job-' || (g % 1000), jsonb_build_object('agent_name', 'a' || (g % 20), 'customer', g % 5000),
               CASE WHEN g % 10 = 0 THEN jsonb_build_array('h-' || (g - 1)) ELSE '[]'::jsonb END,
               s, CASE WHEN s = 'failed' THEN 'boom ' || g WHEN s = 'cancelled' THEN 'dependency failed' END,
               CASE WHEN s = 'completed' THEN jsonb_build_object('rows', g % 100) END,
               t - interval '2 s', t, 2, t - interval '3 s', t, 2, 'q' || (g % 10), t - interval '3 s', 1, 'w-' || (g % 8),
               CASE WHEN s = 'cancelled' THEN 'h-' || (g - g % 100 + 50) END,
               CASE WHEN s = 'failed' THEN jsonb_build_array(jsonb_build_object('attempt', 1, 'error', 'boom', 'at', t, 'workerId', 'w-1')) ELSE '[]'::jsonb END
          FROM generate_series(${from}::int, ${to}::int) AS g,
               LATERAL (SELECT now() - interval '30 days' * (1 - g::float8 / ${HISTORY}) AS t,
                               CASE WHEN g % 100 = 50 THEN 'failed' WHEN g % 100 IN (51, 52) THEN 'cancelled' ELSE 'completed' END AS s) x`;
      log(`history: ${to.toLocaleString()} of ${HISTORY.toLocaleString()}`);
    }
    // Live: pending (ready, blocked on the job before), running; l-<n>.
    for (let from = 1; from <= LIVE; from += CHUNK) {
      const to = Math.min(LIVE, from + CHUNK - 1);
      await sql`
        INSERT INTO taiat_jobs (id, job_type, name, payload, dependencies, pending_dependencies, has_dependents, status, queue, created_at,
                                lease_owner, lease_expires_at, started_at, attempts)
        SELECT 'l-' || g, 'agent', 'job-' || (g % 1000), jsonb_build_object('agent_name', 'a' || (g % 20), 'customer', g % 5000),
               CASE WHEN g % 4 = 0 THEN jsonb_build_array('l-' || (g - 1)) ELSE '[]'::jsonb END,
               CASE WHEN g % 4 = 0 THEN 1 ELSE 0 END, g % 4 = 3, CASE WHEN g % 1000 = 1 THEN 'running' ELSE 'pending' END,
               'q' || (g % 10), now() - interval '1 day' * (1 - g::float8 / ${LIVE}),
               CASE WHEN g % 1000 = 1 THEN 'w-' || (g % 8) END, CASE WHEN g % 1000 = 1 THEN now() + interval '1 hour' END,
               CASE WHEN g % 1000 = 1 THEN now() END, CASE WHEN g % 1000 = 1 THEN 1 ELSE 0 END
          FROM generate_series(${from}::int, ${to}::int) AS g`;
      log(`live: ${to.toLocaleString()} of ${LIVE.toLocaleString()}`);
    }
    await sql`INSERT INTO taiat_workers (id, hostname, pid, queues, concurrency, version, heartbeat_seconds)
              SELECT 'w-' || g, 'host', g, '["q1"]', 16, 'bench', 5 FROM generate_series(0, 7) g`;
    log('VACUUM ANALYZE');
    await sql.unsafe('VACUUM ANALYZE');
  });
}

async function main(): Promise<void> {
  const server = flags.url ? null : await startServer({ log });
  const results: { call: string; first: number; p50: number; p95: number; max: number }[] = [];
  try {
    let url = flags.url;
    if (server) {
      const db = await freshDatabase(server, 'bench_dashboard');
      await runMigrations(db.url);
      const t0 = performance.now();
      await fill(db.url);
      log(`filled in ${Math.round((performance.now() - t0) / 1000)} s`);
      if (flags.keep) {
        log(`kept: ${db.url} (Ctrl-C stops the server)`);
        await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
        return;
      }
      url = db.url;
    }
    const dash = await createDashboardHandler({ databaseUrl: url! });
    const failed = `h-${Math.floor(HISTORY / 200) * 100 + 50}`;
    const jobsPage = `jobs?limit=50`;
    let cursor = '';
    const calls: [string, () => string][] = [
      ['session', () => 'session'],
      ['overview', () => 'overview'],
      ['jobs (first page)', () => jobsPage],
      ['jobs (next page)', () => `${jobsPage}&after=${cursor}`],
      ['jobs status=failed', () => 'jobs?status=failed&limit=50'],
      ['jobs queue=q3, history', () => 'jobs?queue=q3&location=history&limit=50'],
      ['jobs type + name prefix', () => 'jobs?type=agent&name=job-42&limit=50'],
      ['jobs payload customer', () => `jobs?payload=${encodeURIComponent('{"customer":42}')}&limit=50`],
      ['jobs since an hour', () => `jobs?since=${new Date(Date.now() - 3_600_000).toISOString()}&limit=50`],
      ['jobs count queue=q3 (to 10,000)', () => 'jobs/count?queue=q3'],
      ['job (failed, blast radius)', () => `jobs/${failed}`],
      ['job (live, blocked)', () => `jobs/l-${Math.floor(LIVE / 2 / 4) * 4}`],
      ['job graph (depth 2)', () => `jobs/${failed}/graph?depth=2`],
      ['whole graph', () => `graph/h-${Math.floor(HISTORY / 20) * 10}`],
      ['cancel preview', () => `jobs/l-${Math.floor(LIVE / 2 / 4) * 4 - 1}/cancel-preview`],
      ['queues', () => 'queues'],
      ['workers', () => 'workers'],
      ['schedules', () => 'schedules'],
      ['actions', () => 'actions'],
    ];
    const first = (await (await dash.fetch(new Request(`http://127.0.0.1/api/${jobsPage}`))).json()) as { next: string };
    cursor = first.next;
    for (const [name, path] of calls) {
      const times: number[] = [];
      let firstMs = 0;
      for (let i = 0; i < CALLS + 3; i++) {
        const start = performance.now();
        const response = await dash.fetch(new Request(`http://127.0.0.1/api/${path()}`));
        await response.arrayBuffer();
        if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
        if (i === 0) firstMs = performance.now() - start; // cold: the shared readings (overview, queues, workers) are made here
        if (i >= 3) times.push(performance.now() - start); // 3 warm-up calls
      }
      const r = { call: name, first: Math.round(firstMs), p50: Math.round(percentile(times, 50) * 10) / 10, p95: Math.round(percentile(times, 95) * 10) / 10, max: Math.round(Math.max(...times)) };
      results.push(r);
      log(`${name}: p50 ${r.p50} ms, p95 ${r.p95} ms`);
    }
    await dash.close();
  } finally {
    await server?.stop();
  }
  const over = results.filter((r) => r.p95 >= 300);
  process.stdout.write(`\n${'call'.padEnd(36)}${'first ms'.padStart(10)}${'p50 ms'.padStart(10)}${'p95 ms'.padStart(10)}\n`);
  for (const r of results) process.stdout.write(`${r.call.padEnd(36)}${String(r.first).padStart(10)}${String(r.p50).padStart(10)}${String(r.p95).padStart(10)}\n`);
  process.stdout.write(`\n${LIVE.toLocaleString()} live, ${HISTORY.toLocaleString()} history: ${over.length === 0 ? 'every call under 300 ms at p95' : `${over.length} call(s) at or over 300 ms at p95: ${over.map((r) => r.call).join(', ')}`}\n`);
  writeFileSync(flags.quick ? 'bench/results/dashboard-quick.json' : 'bench/results/dashboard.json', JSON.stringify({ live: LIVE, history: HISTORY, calls: CALLS, results }, null, 2));
}

await main();
