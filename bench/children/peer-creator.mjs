// A peer's creator for the benchmark (BENCH_SYSTEM: graphile | pgboss), on the same child Node
// as the workers (graphile-worker 0.18 and pg-boss 12 need Node 22; the orchestrator may run on
// Node 20). It installs the peer's schema in the run's database, then creates jobs on request and
// times each call itself, so the figures hold no IPC:
//   create-many {n, groups?} -> created {ids, ms}     (W1: one call of n no-op jobs; W8, pg-boss:
//                                                     job i in group k<block> of `groups` blocks)
//   create-one {seq}      -> created-one {id, t}      (W2: t is the wall clock at the call)
//   flow {jobs}           -> flowed {ids, ms}         (W3/W4, pg-boss: one flow() of the graph)
// A call that failed answers with {error} instead.
import { performance } from 'node:perf_hooks';
import { now, send, serve } from './common.mjs';

const url = process.env.BENCH_DATABASE_URL;
const system = process.env.BENCH_SYSTEM;
export const PGBOSS_QUEUE = 'noop';

async function graphileCreator() {
  const { Logger, makeWorkerUtils } = await import('graphile-worker');
  const logger = new Logger(() => (level, message) => {
    if (level === 'error') process.stderr.write(`graphile-worker: ${message}\n`);
  });
  const utils = await makeWorkerUtils({ connectionString: url, logger });
  await utils.migrate();
  return {
    async many(n, groups) {
      if (groups) throw new Error('graphile-worker has no concurrency limit per group');
      const created = await utils.addJobs(Array.from({ length: n }, () => ({ identifier: 'noop', payload: {} })));
      return created.map((j) => String(j.id));
    },
    async one(seq) {
      return String((await utils.addJob('noop', { seq })).id);
    },
    close: () => utils.release(),
  };
}

async function pgbossCreator() {
  const { PgBoss } = await import('pg-boss');
  // The creator only writes: no maintenance, no schedules, no listener of its own.
  const boss = new PgBoss({ connectionString: url, schema: 'pgboss', max: 2, supervise: false, schedule: false });
  boss.on('error', (error) => process.stderr.write(`pg-boss: ${error?.stack ?? error}\n`));
  await boss.start();
  // notify: the workers are woken by a NOTIFY at each create rather than at their next poll (W2).
  await boss.createQueue(PGBOSS_QUEUE, { notify: true });
  return {
    async many(n, groups) {
      const block = groups ? Math.ceil(n / groups) : 0;
      return boss.insert(PGBOSS_QUEUE, Array.from({ length: n }, (_, i) => (groups ? { data: {}, group: { id: `k${Math.floor(i / block)}` } } : { data: {} })), { returnId: true });
    },
    async one(seq) {
      return boss.send(PGBOSS_QUEUE, { seq });
    },
    async flow(jobs) {
      return boss.flow(jobs.map((j) => ({ ref: j.ref, name: PGBOSS_QUEUE, data: { ref: j.ref }, dependsOn: j.dependsOn })));
    },
    close: () => boss.stop({ graceful: false, close: true }),
  };
}

const creator = system === 'graphile' ? await graphileCreator() : await pgbossCreator();

process.on('message', (message) => {
  const reply = async () => {
    switch (message?.type) {
      case 'create-many': {
        const t0 = performance.now();
        const ids = await creator.many(message.n, message.groups);
        send({ type: 'created', ids, ms: performance.now() - t0 });
        break;
      }
      case 'create-one': {
        const t = now();
        send({ type: 'created-one', id: await creator.one(message.seq), t });
        break;
      }
      case 'flow': {
        const t0 = performance.now();
        const ids = await creator.flow(message.jobs);
        send({ type: 'flowed', ids, ms: performance.now() - t0 });
        break;
      }
    }
  };
  // A failed call answers with its error, in the reply the orchestrator waits for.
  const replies = { 'create-many': 'created', 'create-one': 'created-one', flow: 'flowed' };
  reply().catch((error) => send({ type: replies[message?.type] ?? 'creator-error', error: String(error?.stack ?? error) }));
});

serve({ onStop: () => creator.close() });
send({ type: 'ready', startMs: 0, rss: process.memoryUsage.rss() });
