/**
 * Samples the running jobs of a taiat database (or pg-boss's active jobs, per group) from beside
 * a drain: each sample is one statement, so one snapshot of committed state, counted per
 * concurrency key. What it sees was true at that
 * instant (a sample never overstates); what it can miss is a peak shorter than the gap between
 * two samples.
 */
import postgres from 'postgres';
import { sleep, wallNow } from './time.js';

export interface RunningSamples {
  samples: number;
  /** Mean milliseconds from one sample's start to the next one's. */
  meanGapMs: number;
  /** Most running jobs in one sample, in all, and of one key (keyed jobs only). */
  maxRunning: number;
  maxPerKey: number;
  /** A key that had maxPerKey running. */
  maxKey: string | null;
  /** Samples in which some key had more than `keyLimit` running / more than `limit` in all. */
  keyOverLimit: number;
  overLimit: number;
}

/** What a sample counts: taiat's running jobs per concurrency key, or pg-boss's active jobs per group. */
const SAMPLES = {
  taiat: `SELECT concurrency_key AS k, count(*)::int AS n FROM taiat_jobs WHERE status = 'running' GROUP BY 1`,
  pgboss: `SELECT group_id AS k, count(*)::int AS n FROM pgboss.job WHERE state = 'active' GROUP BY 1`,
} as const;

export interface RunningSampler {
  stop(): Promise<RunningSamples>;
}

/**
 * Starts sampling `taiat_jobs` every `everyMs` (after each sample's answer) on a connection of
 * its own, until stop().
 */
export function sampleRunning(
  url: string, everyMs: number, limits: { limit?: number; keyLimit?: number } = {}, system: keyof typeof SAMPLES = 'taiat',
): RunningSampler {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const out: RunningSamples = { samples: 0, meanGapMs: 0, maxRunning: 0, maxPerKey: 0, maxKey: null, keyOverLimit: 0, overLimit: 0 };
  let stopped = false;
  let first = 0;
  let last = 0;
  const loop = (async () => {
    while (!stopped) {
      const at = wallNow();
      if (out.samples === 0) first = at;
      last = at;
      const rows = await sql.unsafe<{ k: string | null; n: number }[]>(SAMPLES[system]);
      out.samples += 1;
      let total = 0;
      let keyOver = false;
      for (const { k, n } of rows) {
        total += n;
        if (k === null) continue;
        if (n > out.maxPerKey) {
          out.maxPerKey = n;
          out.maxKey = k;
        }
        if (limits.keyLimit !== undefined && n > limits.keyLimit) keyOver = true;
      }
      if (total > out.maxRunning) out.maxRunning = total;
      if (keyOver) out.keyOverLimit += 1;
      if (limits.limit !== undefined && total > limits.limit) out.overLimit += 1;
      if (everyMs > 0) await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop.finally(() => sql.end({ timeout: 5 }));
      out.meanGapMs = out.samples > 1 ? (last - first) / (out.samples - 1) : 0;
      return out;
    },
  };
}
