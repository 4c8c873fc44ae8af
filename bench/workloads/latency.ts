/**
 * W2: an idle worker process; jobs created one at a time at a fixed pace from this process.
 * Latency = executor start (child clock, corrected by the measured offset) - createJob call.
 * `floor` measures the same path with no job runner (see children/latency-floor.mjs). A peer's
 * creates are made by its creator child, which stamps each call's start (corrected by its own
 * clock offset), so the IPC to it is not counted.
 */
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { JobManager } from '../../dist/index.js';
import type { BenchChild } from '../lib/child.js';
import { percentile } from '../lib/stats.js';
import { sleep, wallNow } from '../lib/time.js';
import { check, childProblems, executionProblems, taiatHistoryProblems } from '../checks.js';
import { SIZES, TIMEOUTS } from '../config.js';
import { peerCreator, spawnWorker, withDatabase } from '../setup.js';
import { creatorCall, PEER_LABEL } from './peers.js';

export interface LatencyResult {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  createCallP50Ms: number;
  clockRttMs: number;
}

/** W2's floor: bare SQL doing the least taiat's create-to-start path must (latency-floor.mjs). */
const FLOOR_TABLE = 'CREATE TABLE bench_floor (id bigserial PRIMARY KEY, seq int NOT NULL, taken boolean NOT NULL DEFAULT false)';

export async function latency(system: 'taiat' | 'graphile' | 'pgboss' | 'floor', run: number): Promise<LatencyResult | null> {
  const n = SIZES.w2Jobs;
  const label = system === 'taiat' ? 'taiat' : system === 'floor' ? 'floor (bare SQL)' : PEER_LABEL[system];
  return withDatabase(`bench_w2_${system}_r${run}`, system === 'floor' ? 'ceiling' : system === 'taiat' ? 'taiat' : 'peer', async (db) => {
    const jobs = system === 'taiat' ? await JobManager.connect({ databaseUrl: db.url, maxConnections: 2 }) : undefined;
    const creator = system === 'graphile' || system === 'pgboss' ? await peerCreator(system, db) : undefined;
    const creatorClock = creator ? await creator.clockOffset() : undefined;
    const bare = system === 'floor' ? postgres(db.url, { max: 2, onnotice: () => {} }) : undefined;
    await bare?.unsafe(FLOOR_TABLE);
    /** Creates job `seq`; a creator child's reply carries its own start stamp, on our clock. */
    const create = async (seq: number): Promise<string | { id: string; start: number }> => {
      if (jobs) return (await jobs.createJob({ jobType: 'agent', name: 'latency', payload: { agent_name: 'noop', parameters: { seq } } })).id;
      if (creator) {
        const reply = await creatorCall(creator, { type: 'create-one', seq }, 'created-one');
        return { id: String(reply.id), start: (reply.t as number) - creatorClock!.offsetMs };
      }
      const [row] = await bare!<{ id: string }[]>`
        WITH i AS (INSERT INTO bench_floor (seq) VALUES (${seq}) RETURNING id)
        SELECT id, pg_notify('bench_floor', ''), set_config('synchronous_commit', 'off', true) FROM i`;
      await bare!`SELECT pg_logical_emit_message(true, 'bench', 'flush')`;
      return String(row!.id);
    };
    let child: BenchChild | undefined;
    try {
      child = spawnWorker(system, db, n);
      await child.next('ready', TIMEOUTS.ready);
      const clock = await child.clockOffset();
      await sleep(500); // let the worker settle into idle
      const createdAt = new Array<number>(n);
      const callMs: number[] = [];
      const ids: string[] = [];
      const t0 = performance.now();
      for (let seq = 0; seq < n; seq++) {
        const wait = t0 + seq * SIZES.w2GapMs - performance.now();
        if (wait > 0) await sleep(wait);
        const start = wallNow();
        const created = await create(seq);
        callMs.push(wallNow() - start);
        ids.push(typeof created === 'string' ? created : created.id);
        createdAt[seq] = typeof created === 'string' ? start : created.start;
      }
      await child.next('drained', TIMEOUTS.drain);
      const report = await child.request({ type: 'report' }, 'report', 30_000);
      await child.stop();
      const latencies = (report.starts as [number, number][]).map(([seq, t]) => t - clock.offsetMs - createdAt[seq]!);
      const problems = [...executionProblems(report, ids), ...childProblems(child)];
      if (system === 'taiat') problems.push(...(await taiatHistoryProblems(db.url, ids)));
      if (latencies.length !== n) problems.push(`${latencies.length} executor starts recorded for ${n} jobs`);
      check('W2 latency', label, run, problems, `${n} jobs, each executed once`);
      return {
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        max: Math.max(...latencies),
        createCallP50Ms: percentile(callMs, 50),
        clockRttMs: clock.rttMs,
      };
    } finally {
      child?.kill();
      await jobs?.close();
      await creator?.stop(10_000);
      await bare?.end();
    }
  });
}
