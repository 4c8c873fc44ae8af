import type { Tx } from '../db/connection.js';
import type { Job } from '../jobs/model.js';
import type { ValidatedJob } from '../jobs/validation.js';
import type { InsertMode } from './insert-jobs.js';
import { insertJobs, jobRows } from './insert-jobs.js';
import { LIVE_JOB_COLUMNS } from './fragments.js';
import { jobFromCreated, jobFromRow } from './job-row.js';
import { announceCreated } from './notify.js';
import type { SchemaNames } from './schema-names.js';
import type { AllJobsView } from '../db/schema.js';

/**
 * Creates jobs of which some carry a unique key, in the caller's transaction. The database
 * decides, not a read before the insert: a live key (`pending`, `active`) is a slot under a
 * partial unique index, taken by `INSERT ... ON CONFLICT`; a `period` key is a row of
 * taiat_unique_keys, taken unless one is held and not yet expired. A job whose key is held is
 * not created: the holder is returned in its place, marked `deduplicated` (and, in the `replace`
 * mode, a pending holder takes the new payload and run time). Two jobs of one call with the same
 * key: the first is created, the second deduplicated to it. Returns the jobs in the order given.
 */
export async function insertUniqueJobs(tx: Tx, t: SchemaNames, jobs: ValidatedJob[], mode: InsertMode): Promise<Job[]> {
  const result = new Array<Job | undefined>(jobs.length);
  const firstOfKey = new Map<string, number>();
  const sameAs = new Map<number, number>();
  jobs.forEach((j, i) => {
    if (j.uniqueKey === null) return;
    const first = firstOfKey.get(j.uniqueKey);
    if (first === undefined) firstOfKey.set(j.uniqueKey, i);
    else sameAs.set(i, first);
  });
  const keyed = (i: number) => jobs[i]!.uniqueKey !== null && !sameAs.has(i);

  // Period keys first: a job whose key is held is not inserted at all.
  const period = jobs.map((_, i) => i).filter((i) => keyed(i) && jobs[i]!.uniqueWhile === 'period');
  const heldBy = await claimPeriodKeys(tx, t, period.map((i) => jobs[i]!));
  for (const i of period) {
    const holder = heldBy.get(jobs[i]!.uniqueKey!);
    if (holder !== undefined) result[i] = { ...(await readAnyJob(tx, t, holder)), deduplicated: true };
  }

  // Everything else in one statement per mode: `replace` jobs apart, their conflict updates.
  const pending = jobs.map((_, i) => i).filter((i) => !sameAs.has(i) && result[i] === undefined);
  const replacing = pending.filter((i) => keyed(i) && jobs[i]!.uniqueMode === 'replace');
  const keeping = pending.filter((i) => !replacing.includes(i));
  for (const [group, replace] of [[keeping, false], [replacing, true]] as const) {
    if (group.length === 0) continue;
    const plain = group.filter((i) => jobs[i]!.uniqueKey === null || jobs[i]!.uniqueWhile === 'period');
    const slotted = group.filter((i) => !plain.includes(i));
    if (plain.length > 0) {
      const created = await insertJobs(tx, t, plain.map((i) => jobs[i]!), mode);
      plain.forEach((i, k) => (result[i] = created[k]));
    }
    if (slotted.length > 0) await insertSlotted(tx, t, slotted.map((i) => jobs[i]!), replace, mode, (k, job) => (result[slotted[k]!] = job));
  }
  for (const [i, first] of sameAs) result[i] = { ...result[first]!, deduplicated: true };
  return result as Job[];
}

/**
 * Takes the period keys of these jobs where no unexpired holder has them; returns the job id
 * holding each key that was not taken.
 */
async function claimPeriodKeys(tx: Tx, t: SchemaNames, jobs: ValidatedJob[]): Promise<Map<string, string>> {
  if (jobs.length === 0) return new Map();
  const keys = jobs.map((j) => j.uniqueKey!);
  const taken = await tx<{ unique_key: string }[]>`
    INSERT INTO ${tx(t.uniqueKeys)} AS k (unique_key, job_id, until)
    SELECT u.key, u.job_id, now() + make_interval(secs => u.seconds)
      FROM unnest(${keys}::text[], ${jobs.map((j) => j.id)}::text[], ${jobs.map((j) => j.uniquePeriodSeconds!)}::float8[]) AS u(key, job_id, seconds)
    -- A key is free once its time is up (pruning history frees the keys of the jobs it deletes).
    ON CONFLICT (unique_key) DO UPDATE SET job_id = EXCLUDED.job_id, until = EXCLUDED.until WHERE k.until <= now()
    RETURNING unique_key`;
  const free = new Set(taken.map((r) => r.unique_key));
  const held = keys.filter((k) => !free.has(k));
  if (held.length === 0) return new Map();
  const rows = await tx<{ unique_key: string; job_id: string }[]>`
    SELECT unique_key, job_id FROM ${tx(t.uniqueKeys)} WHERE unique_key = ANY(${held}::text[])`;
  return new Map(rows.map((r) => [r.unique_key, r.job_id]));
}

/**
 * Inserts jobs holding live slots; a job whose slot is held is answered with the holder (read
 * back, and updated first in the `replace` mode when it is pending). A holder can finish between
 * the conflict and the read (its slot then free): those jobs are tried again.
 */
async function insertSlotted(
  tx: Tx,
  t: SchemaNames,
  jobs: ValidatedJob[],
  replace: boolean,
  mode: InsertMode,
  answer: (index: number, job: Job) => void,
): Promise<void> {
  let left = jobs.map((_, k) => k);
  for (let round = 0; left.length > 0; round++) {
    const batch = left.map((k) => jobs[k]!);
    const rows = jobRows(tx, batch, new Set());
    const written = await tx<{ id: string; inserted: boolean; now: Date }[]>`
      WITH written AS (
        INSERT INTO ${tx(t.jobs)} AS j (${tx.unsafe(rows.columns)}, parent_id)
        ${rows.select}, ${mode.parentId ?? null}::text FROM ${rows.from}
        ON CONFLICT (unique_slot) WHERE unique_slot IS NOT NULL
        ${replace
          ? tx`DO UPDATE SET payload = EXCLUDED.payload, run_at = EXCLUDED.run_at, updated_at = now() WHERE j.status = 'pending'`
          : tx`DO NOTHING`}
        RETURNING j.id, j.unique_slot, xmax = 0 AS inserted)
      SELECT w.id, w.inserted, now() AS now, ${announceCreated(tx, t, rows.readyQueues, mode.early)}
        FROM written w`;
    const byId = new Map(written.map((w) => [w.id, w]));
    const createdAt = written[0]?.now;
    const holders = await readHolders(tx, t, batch.filter((j) => !byId.get(j.id)?.inserted).map((j) => j.uniqueKey!));
    const retry: number[] = [];
    for (const k of left) {
      const job = jobs[k]!;
      const row = byId.get(job.id);
      if (row?.inserted) answer(k, jobFromCreated(job, createdAt!, mode.parentId ?? null));
      else if (holders.has(job.uniqueKey!)) answer(k, { ...holders.get(job.uniqueKey!)!, deduplicated: true });
      else if (round < 3) retry.push(k);
      else throw new Error(`the holder of unique key ${job.uniqueKey} kept changing`);
    }
    left = retry;
  }
}

/** The jobs holding these live slots now, by key. */
async function readHolders(tx: Tx, t: SchemaNames, keys: string[]): Promise<Map<string, Job>> {
  if (keys.length === 0) return new Map();
  const rows = await tx<(AllJobsView & { unique_slot: string })[]>`
    SELECT ${tx.unsafe(LIVE_JOB_COLUMNS)}, unique_slot FROM ${tx(t.jobs)} WHERE unique_slot = ANY(${keys}::text[])`;
  return new Map(rows.map((r) => [r.unique_slot, jobFromRow(r)]));
}

/** A job, live or finished (a period key's holder may have finished long ago). */
async function readAnyJob(tx: Tx, t: SchemaNames, id: string): Promise<Job> {
  const [row] = await tx<AllJobsView[]>`SELECT * FROM ${tx(t.allJobs)} WHERE id = ${id}`;
  // The key was refused to this create because its holder exists, in this transaction's view.
  return jobFromRow(row!);
}
