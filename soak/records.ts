/**
 * The soak's own tables, and how they are filled: the agents write soak_runs as they run; at the
 * end the driver adds its records (jobs, cancels, faults, processes, schedules) and merges the agents'
 * journal files, for the runs whose database write could not happen.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type postgres from 'postgres';
import { iso } from './clock.js';
import { cancels, created, faults, procs, run, schedules } from './state.js';

export const SOAK_TABLES = `
  DROP TABLE IF EXISTS soak_runs, soak_journal, soak_jobs, soak_cancels, soak_faults, soak_procs, soak_schedules;
  CREATE TABLE soak_runs (
    run_id text PRIMARY KEY, job_id text NOT NULL, attempt int NOT NULL, step int NOT NULL, pid int NOT NULL,
    started_at timestamptz NOT NULL, ended_at timestamptz, aborted_at timestamptz, abort_reason text,
    outcome text, children text[], anomaly text, source text NOT NULL DEFAULT 'db');
  CREATE INDEX soak_runs_job_idx ON soak_runs (job_id);
  CREATE TABLE soak_journal (
    run_id text PRIMARY KEY, job_id text, attempt int, step int, pid int, started_at timestamptz,
    ended_at timestamptz, aborted_at timestamptz, abort_reason text, outcome text, children text[], anomaly text);
  CREATE TABLE soak_jobs (job_id text PRIMARY KEY, scenario text NOT NULL, role text NOT NULL, params jsonb, created_at timestamptz NOT NULL);
  CREATE TABLE soak_cancels (job_id text NOT NULL, role text NOT NULL, sent_at timestamptz NOT NULL, acked_at timestamptz, result text NOT NULL);
  CREATE TABLE soak_faults (seq int PRIMARY KEY, kind text NOT NULL, at timestamptz NOT NULL, done_at timestamptz NOT NULL, pid int, detail text, skipped bool NOT NULL);
  CREATE TABLE soak_procs (pid int NOT NULL, slot int NOT NULL, concurrency int NOT NULL, started_at timestamptz NOT NULL,
    ready_at timestamptz, killed_at timestamptz, signalled_at timestamptz, exited_at timestamptz, how text NOT NULL, code int, signal text);
  CREATE TABLE soak_schedules (id text PRIMARY KEY, catch_up text NOT NULL, catch_up_limit int NOT NULL, sleep_ms int NOT NULL,
    declared_at timestamptz NOT NULL, declare_acked_at timestamptz, paused_at timestamptz, pause_acked_at timestamptz);`;

interface Journal {
  run_id: string; job_id?: string; attempt?: number; step?: number; pid?: number; started_at?: string; ended_at?: string;
  aborted_at?: string; abort_reason?: string; outcome?: string; children?: string[]; anomaly?: string;
}

export async function loadJournals(sql: postgres.Sql): Promise<{ records: number; dbErrors: number }> {
  const runs = new Map<string, Journal>();
  let dbErrors = 0;
  for (const file of (await readdir(run.dir)).filter((f) => f.startsWith('journal-'))) {
    for (const line of (await readFile(path.join(run.dir, file), 'utf8')).split('\n')) {
      if (!line.trim()) continue;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // a line cut by kill -9
      }
      const id = String(rec.run_id);
      const run = runs.get(id) ?? { run_id: id };
      runs.set(id, run);
      const at = typeof rec.at === 'number' ? iso(rec.at) : undefined;
      switch (rec.type) {
        case 'start':
          Object.assign(run, { job_id: rec.job_id, attempt: rec.attempt, step: rec.step, pid: rec.pid, started_at: at });
          break;
        case 'abort':
          run.aborted_at = at;
          run.abort_reason = String(rec.reason);
          break;
        case 'end':
          run.ended_at = at;
          run.outcome = String(rec.outcome);
          break;
        case 'children':
          run.children = rec.ids as string[];
          break;
        case 'anomaly':
          run.anomaly = String(rec.text);
          break;
        case 'db-error':
          dbErrors += 1;
          break;
      }
    }
  }
  const rows = [...runs.values()].filter((r) => r.job_id !== undefined).map((r) => ({
    run_id: r.run_id, job_id: r.job_id!, attempt: r.attempt!, step: r.step!, pid: r.pid!, started_at: r.started_at!,
    ended_at: r.ended_at ?? null, aborted_at: r.aborted_at ?? null, abort_reason: r.abort_reason ?? null,
    outcome: r.outcome ?? null, children: r.children ?? null, anomaly: r.anomaly ?? null,
  }));
  for (let i = 0; i < rows.length; i += 1_000) {
    await sql`
      INSERT INTO soak_journal
      SELECT run_id, job_id, attempt, step, pid, started_at, ended_at, aborted_at, abort_reason, outcome,
             (SELECT array_agg(c) FROM jsonb_array_elements_text(children) c), anomaly
        FROM jsonb_to_recordset(${sql.json(rows.slice(i, i + 1_000) as unknown as postgres.JSONValue)}::jsonb) AS x(
          run_id text, job_id text, attempt int, step int, pid int, started_at timestamptz, ended_at timestamptz,
          aborted_at timestamptz, abort_reason text, outcome text, children jsonb, anomaly text)`;
  }
  // Runs the database never heard of, and ends, aborts and outcomes it missed.
  await sql`
    INSERT INTO soak_runs (run_id, job_id, attempt, step, pid, started_at, ended_at, aborted_at, abort_reason, outcome, children, anomaly, source)
    SELECT run_id, job_id, attempt, step, pid, started_at, ended_at, aborted_at, abort_reason, outcome, children, anomaly, 'journal'
      FROM soak_journal j WHERE NOT EXISTS (SELECT 1 FROM soak_runs r WHERE r.run_id = j.run_id)`;
  await sql`
    UPDATE soak_runs r
       SET ended_at = coalesce(r.ended_at, j.ended_at), aborted_at = coalesce(r.aborted_at, j.aborted_at),
           abort_reason = coalesce(r.abort_reason, j.abort_reason), outcome = coalesce(r.outcome, j.outcome),
           children = coalesce(r.children, j.children), anomaly = coalesce(r.anomaly, j.anomaly),
           source = CASE WHEN r.ended_at IS NULL AND j.ended_at IS NOT NULL THEN 'db+journal' ELSE r.source END
      FROM soak_journal j WHERE j.run_id = r.run_id`;
  return { records: rows.length, dbErrors };
}

export async function saveDriverRecords(sql: postgres.Sql): Promise<void> {
  const chunks = <T>(items: T[], size = 1_000) => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
  for (const chunk of chunks([...created.values()])) {
    const rows = chunk.map((c) => ({ job_id: c.id, scenario: c.scenario, role: c.role, params: c.params, created_at: iso(c.createdAt) }));
    await sql`INSERT INTO soak_jobs SELECT * FROM jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)}::jsonb)
      AS x(job_id text, scenario text, role text, params jsonb, created_at timestamptz)`;
  }
  for (const chunk of chunks(cancels)) {
    const rows = chunk.map((c) => ({ job_id: c.jobId, role: c.role, sent_at: iso(c.sentAt), acked_at: c.ackedAt === null ? null : iso(c.ackedAt), result: c.result }));
    await sql`INSERT INTO soak_cancels SELECT * FROM jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)}::jsonb)
      AS x(job_id text, role text, sent_at timestamptz, acked_at timestamptz, result text)`;
  }
  if (faults.length > 0) {
    const rows = faults.map((f) => ({ seq: f.seq, kind: f.kind, at: iso(f.at), done_at: iso(f.doneAt || f.at), pid: f.pid, detail: f.detail, skipped: f.skipped }));
    await sql`INSERT INTO soak_faults SELECT * FROM jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)}::jsonb)
      AS x(seq int, kind text, at timestamptz, done_at timestamptz, pid int, detail text, skipped bool)`;
  }
  const at = (ms: number | null) => (ms === null ? null : iso(ms));
  if (schedules.length > 0) {
    const rows = schedules.map((s) => ({
      id: s.id, catch_up: s.catchUp, catch_up_limit: s.catchUpLimit, sleep_ms: s.sleepMs, declared_at: iso(s.declaredAt),
      declare_acked_at: at(s.declareAckedAt), paused_at: at(s.pausedAt), pause_acked_at: at(s.pauseAckedAt),
    }));
    await sql`INSERT INTO soak_schedules SELECT * FROM jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)}::jsonb)
      AS x(id text, catch_up text, catch_up_limit int, sleep_ms int, declared_at timestamptz, declare_acked_at timestamptz,
           paused_at timestamptz, pause_acked_at timestamptz)`;
  }
  const rows = procs.map((p) => ({
    pid: p.pid, slot: p.slot, concurrency: p.concurrency, started_at: iso(p.startedAt), ready_at: at(p.readyAt),
    killed_at: at(p.killedAt), signalled_at: at(p.signalledAt), exited_at: at(p.exitedAt), how: p.how, code: p.code, signal: p.signal,
  }));
  await sql`INSERT INTO soak_procs SELECT * FROM jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)}::jsonb)
    AS x(pid int, slot int, concurrency int, started_at timestamptz, ready_at timestamptz, killed_at timestamptz, signalled_at timestamptz, exited_at timestamptz, how text, code int, signal text)`;
}
