// The W2 floor: the least that "a job created durably wakes an idle worker, which claims it
// durably and starts it" takes on this machine and server, with no job runner in the way. Bare
// SQL on a one-index table: the creator (bench/run.ts) inserts a row and notifies in a transaction
// that commits without waiting for its flush, then flushes (taiat's durable create); this process
// listens on one connection and, on each notification, claims rows with SKIP LOCKED in
// synchronous commits on another (taiat's durable claim), recording when each claim returned.
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { recordExecution, send, serve } from './common.mjs';

const url = process.env.BENCH_DATABASE_URL;
const expect = Number(process.env.BENCH_EXPECT ?? 0);
const listener = postgres(url, { max: 1, onnotice: () => {} });
const claimer = postgres(url, { max: 1, onnotice: () => {} });

let claimed = 0;
let busy = false;
let again = false;
const t0 = performance.now();

// One claim at a time; a notification during a claim asks for one more round.
async function claim() {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  try {
    do {
      again = false;
      const rows = await claimer`
        UPDATE bench_floor SET taken = true
         WHERE id = (SELECT id FROM bench_floor WHERE NOT taken ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING id, seq`;
      for (const row of rows) {
        recordExecution(String(row.id), row.seq);
        claimed += 1;
        again = true;
      }
    } while (again);
  } catch (error) {
    send({ type: 'job-failed', id: 'claim', error: String(error?.message ?? error) });
  } finally {
    busy = false;
  }
  if (expect > 0 && claimed === expect) send({ type: 'drained', ms: performance.now() - t0, cpu: process.cpuUsage() });
}

serve({ onStop: async () => Promise.all([listener.end({ timeout: 1 }), claimer.end({ timeout: 1 })]) });
await claimer`SELECT 1`;
await listener.listen('bench_floor', () => void claim());
send({ type: 'ready', startMs: performance.now() - t0, rss: process.memoryUsage.rss() });
