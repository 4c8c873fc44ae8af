import pino from 'pino';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { JobManager, Worker } from '../../src/index.js';
import { useTestDatabase } from '../support/database.js';
import { runBin } from '../support/cli.js';
import { agentJob } from '../support/jobs.js';
import { startPgbouncer, type Pgbouncer } from '../support/pgbouncer.js';
import { waitFor } from '../support/wait.js';

// Through a real pgbouncer in transaction mode (a pool of 4 server connections for everything):
// creates, claims, outcomes and graphs work without prepared statements or session state; LISTEN
// goes on a direct connection, or is replaced by polling, with a warning.

const db = useTestDatabase();
let bouncer: Pgbouncer;
let pooled: string;

beforeAll(async () => {
  bouncer = await startPgbouncer(inject('adminUrl'), 4);
  pooled = bouncer.via(db.url);
});
afterAll(() => bouncer?.stop());

function recordingLogger() {
  const lines: { msg: string }[] = [];
  const logger = pino({ level: 'warn' }, new Writable({ write(chunk, _e, done) { lines.push(JSON.parse(String(chunk))); done(); } }));
  return { logger, lines };
}

async function runGraph(prefix: string, worker: { listenDatabaseUrl?: string; pollInterval?: number }) {
  const jobs = await JobManager.connect({ databaseUrl: pooled, transactionPooling: true, maxConnections: 8 });
  const ran: string[] = [];
  const { logger, lines } = recordingLogger();
  const w = new Worker({
    databaseUrl: pooled, transactionPooling: true, maxConcurrentJobs: 16, localQueueSize: 50, logger, ...worker,
    agents: { noop: (_p, ctx) => { ran.push(ctx.job.id); return { at: ctx.job.id }; } },
  });
  try {
    // 300 independent jobs (through COPY's chunks: over 2,000 would stream; these take the set-based insert), then a graph.
    await jobs.createJobs(Array.from({ length: 300 }, (_, i) => agentJob(`${prefix}-bulk-${i}`, 'noop')));
    await jobs.createJobs([agentJob(`${prefix}-a`, 'noop'), agentJob(`${prefix}-b`, 'noop', [`${prefix}-a`]), agentJob(`${prefix}-c`, 'noop', [`${prefix}-a`, `${prefix}-b`])]);
    await w.start();
    await waitFor(async () => (await jobs.getJob(`${prefix}-c`))?.status === 'completed', `${prefix}'s graph to complete through pgbouncer`, 30_000);
    await waitFor(async () => ran.length === 303, 'every job to run', 30_000);
    expect(new Set(ran).size).toBe(303);
    const history = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_job_history WHERE job_id LIKE ${`${prefix}-%`} AND status = 'completed'`;
    expect(history[0]!.n).toBe(303);
    return lines;
  } finally {
    await w.stop();
    await jobs.close();
  }
}

describe('through pgbouncer in transaction mode', () => {
  it('creates and runs jobs and graphs, every job once, with LISTEN on a direct connection', async () => {
    const lines = await runGraph('direct', { listenDatabaseUrl: db.url });
    expect(lines.filter((l) => l.msg.includes('transactionPooling'))).toEqual([]);
  });

  it('without a direct connection for LISTEN, says so and finds the jobs by polling', async () => {
    // The pooling pass gives every worker one through the environment: not this one.
    const fromEnv = process.env.TAIAT_LISTEN_DATABASE_URL;
    delete process.env.TAIAT_LISTEN_DATABASE_URL;
    try {
      const lines = await runGraph('polled', { pollInterval: 0.2 });
      expect(lines.some((l) => l.msg.includes('transactionPooling without listenDatabaseUrl'))).toBe(true);
    } finally {
      if (fromEnv !== undefined) process.env.TAIAT_LISTEN_DATABASE_URL = fromEnv;
    }
  });

  it('a dependency result reaches its dependent, and a retry comes back, through the pooler', async () => {
    const jobs = await JobManager.connect({ databaseUrl: pooled, transactionPooling: true });
    let fail = true;
    const w = new Worker({
      databaseUrl: pooled, transactionPooling: true, listenDatabaseUrl: db.url,
      agents: {
        produce: () => ({ rows: 42 }),
        consume: (_p, ctx) => {
          if (fail) { fail = false; throw new Error('first try fails'); }
          return { got: ctx.dependencyResults['produce'] ?? null };
        },
      },
      retryBackoff: { base: 0, max: 0, jitter: 0 },
    });
    try {
      await jobs.createJobs([
        { id: 'r-p', jobType: 'agent', name: 'produce', payload: { agent_name: 'produce' } },
        { id: 'r-c', jobType: 'agent', name: 'consume', payload: { agent_name: 'consume' }, dependencies: ['r-p'] },
      ]);
      await w.start();
      await waitFor(async () => (await jobs.getJob('r-c'))?.status === 'completed', 'the dependent to complete', 20_000);
      const done = (await jobs.getJob('r-c'))!;
      expect(done.result).toEqual({ got: { rows: 42 } });
      expect(done.attempts).toBe(2);
    } finally {
      await w.stop();
      await jobs.close();
    }
  });

  it('the command line through the pooler: --status, the queue commands and job listings, with TAIAT_TRANSACTION_POOLING or the flag', async () => {
    const jobs = await JobManager.connect({ databaseUrl: db.url });
    await jobs.createJobs(Array.from({ length: 30 }, (_, i) => agentJob(`cli-${i}`, 'noop', [], { queue: 'cli' })));
    await jobs.close();
    const env = { TAIAT_DATABASE_URL: pooled, TAIAT_TRANSACTION_POOLING: '1' };
    // Each runs many reads at once on its pool: with prepared statements they can hang in transaction mode.
    for (let round = 0; round < 3; round++) {
      const status = await runBin('taiat-worker', ['--status', '--json'], env, 20_000);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).pending.ready).toBe(30);
      const flagged = await runBin('taiat-worker', ['--status', '--json', '--transaction-pooling', '--database-url', pooled], {}, 20_000);
      expect(flagged.code, flagged.stderr).toBe(0);
      const listed = await runBin('taiat', ['job', 'list', '--queue', 'cli', '--json'], env, 20_000);
      expect(listed.code, listed.stderr).toBe(0);
      expect(JSON.parse(listed.stdout)).toHaveLength(30);
      const paused = await runBin('taiat', ['queue', 'pause', 'cli', '--json'], env, 20_000);
      expect(paused.code, paused.stderr).toBe(0);
      const resumed = await runBin('taiat', ['queue', 'resume', 'cli', '--json'], env, 20_000);
      expect(resumed.code, resumed.stderr).toBe(0);
    }
  }, 120_000);
});
