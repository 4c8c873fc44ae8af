import type { Sql, Tx } from '../db/connection.js';
import { TaiatError } from '../errors.js';
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
  const sameAs = repeatedKeys(jobs);
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

/** Jobs of a call repeating a key of an earlier job of the call, by index: that job's index. */
function repeatedKeys(jobs: ValidatedJob[]): Map<number, number> {
  const firstOfKey = new Map<string, number>();
  const sameAs = new Map<number, number>();
  jobs.forEach((j, i) => {
    if (j.uniqueKey === null) return;
    const first = firstOfKey.get(j.uniqueKey);
    if (first === undefined) firstOfKey.set(j.uniqueKey, i);
    else sameAs.set(i, first);
  });
  return sameAs;
}

/**
 * Whether these jobs can be created by one statement committed on its own (`insertSlottedAlone`):
 * each holds a live key in the keep mode, and needs nothing else (no dependency, no chosen id).
 */
export function slottedOnly(jobs: ValidatedJob[]): boolean {
  return jobs.every((j) => (j.uniqueWhile === 'pending' || j.uniqueWhile === 'active') && j.uniqueMode === 'keep' && j.dependencies.length === 0 && !j.idChosen);
}

/**
 * Creates jobs that `slottedOnly` allows with one statement, outside a transaction: its insert
 * is the only write, all or nothing by itself, and a transaction's BEGIN and COMMIT were two
 * round trips of four. A key the statement neither took nor saw held (its holder committed while
 * the statement ran) is answered by reads alone: the job holding it now or, if that one has let
 * go of it since, the latest job of the key (it held the key when the statement met it).
 */
export async function insertSlottedAlone(sql: Sql, t: SchemaNames, jobs: ValidatedJob[], mode: InsertMode): Promise<Job[]> {
  const sameAs = repeatedKeys(jobs);
  const firsts = jobs.filter((_, i) => !sameAs.has(i));
  // The keys held already are read first, and their jobs never sent: a held key cost its whole
  // row to build, send and try to insert.
  const seen = await readHolders(sql, t, firsts.map((j) => j.uniqueKey!));
  const fresh = firsts.filter((j) => !seen.has(j.uniqueKey!));
  const { created, createdAt } = fresh.length > 0 ? await insertFresh(sql, t, fresh, mode) : { created: new Set<string>(), createdAt: undefined };
  const holders = seen;
  const unresolved = created.size === fresh.length ? [] : fresh.map((j) => j.uniqueKey!).filter((key) => !created.has(key));
  if (unresolved.length > 0) {
    for (const [key, job] of await readHolders(sql, t, unresolved)) holders.set(key, job);
    const gone = unresolved.filter((key) => !holders.has(key));
    if (gone.length > 0) {
      const rows = await sql<AllJobsView[]>`
        SELECT DISTINCT ON (unique_key) * FROM ${sql(t.allJobs)} WHERE unique_key = ANY(${gone}::text[]) ORDER BY unique_key, created_at DESC`;
      for (const row of rows) holders.set(row.unique_key!, jobFromRow(row));
    }
  }
  const result = jobs.map((j, i) => {
    if (sameAs.has(i)) return undefined;
    if (created.has(j.uniqueKey!)) return jobFromCreated(j, createdAt!, mode.parentId ?? null, mode.traceContext ?? null);
    const holder = holders.get(j.uniqueKey!);
    if (!holder) throw new Error(`no job holds unique key ${j.uniqueKey}, and none was created`);
    // Read for this call alone: marked in place (a copy of each was a tenth of the client's time).
    holder.deduplicated = true;
    return holder;
  });
  for (const [i, first] of sameAs) result[i] = { ...result[first]!, deduplicated: true };
  return result as Job[];
}

/**
 * The insert of `insertSlottedAlone`, whose keys were just seen free: one row back, the keys
 * inserted listed only when some were not (a holder committed since the read). A row a job
 * was a tenth of the client's time, decoding columns that were null.
 */
async function insertFresh(sql: Sql, t: SchemaNames, jobs: ValidatedJob[], mode: InsertMode): Promise<{ created: Set<string>; createdAt: Date }> {
  const rows = jobRows(sql, jobs, new Set());
  const [row] = await sql<{ inserted: number; slots: string[] | null; now: Date }[]>`
    WITH written AS (
      INSERT INTO ${sql(t.jobs)} AS j (${sql.unsafe(rows.columns)}, parent_id, trace_context)
      ${rows.select}, ${mode.parentId ?? null}::text, ${mode.traceContext ?? null}::text FROM ${rows.from}
      ON CONFLICT (unique_slot) WHERE unique_slot IS NOT NULL DO NOTHING
      RETURNING j.unique_slot
    )
    SELECT count(*)::int AS inserted, CASE WHEN count(*) < ${jobs.length} THEN array_agg(unique_slot) END AS slots, now() AS now,
           ${announceCreated(sql, t, rows.readyQueues, mode.early)}
      FROM written`;
  const created = row!.inserted === jobs.length ? new Set(jobs.map((j) => j.uniqueKey!)) : new Set(row!.slots ?? []);
  return { created, createdAt: row!.now };
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
 * Inserts jobs holding live slots; a job whose slot is held is answered with the holder. A holder
 * can finish between the conflict and the read (its slot then free): those jobs are tried again.
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
    const { created, holders, createdAt } = replace ? await replaceSlotted(tx, t, batch, mode) : await keepSlotted(tx, t, batch, mode);
    const retry: number[] = [];
    for (const k of left) {
      const job = jobs[k]!;
      if (created.has(job.uniqueKey!)) answer(k, jobFromCreated(job, createdAt!, mode.parentId ?? null, mode.traceContext ?? null));
      else if (holders.has(job.uniqueKey!)) answer(k, { ...holders.get(job.uniqueKey!)!, deduplicated: true });
      else if (round < 3) retry.push(k);
      // Each round found the key held, then free: four in a row is contention to report, not to spin on.
      else throw new TaiatError('TAIAT_INVALID_STATE', `the holder of unique key ${job.uniqueKey} kept changing; try again`);
    }
    left = retry;
  }
}

interface SlottedResult {
  /** Keys whose job this statement inserted. */
  created: Set<string>;
  /** Holders of the other keys, by key. */
  holders: Map<string, Job>;
  createdAt: Date | undefined;
}

/**
 * One statement: the insert, and the holders of the keys as the statement found them (its
 * snapshot: holders committed before it, never its own rows). A key inserted here although a
 * holder was seen (that holder's slot cleared meanwhile) counts as inserted; a key neither
 * inserted nor seen held (a holder committed during the statement) is left for another round.
 */
async function keepSlotted(tx: Sql | Tx, t: SchemaNames, batch: ValidatedJob[], mode: InsertMode): Promise<SlottedResult> {
  const rows = jobRows(tx, batch, new Set());
  const found = await tx<(AllJobsView & { inserted: string | null; slot: string; now: Date | null })[]>`
    WITH written AS (
      INSERT INTO ${tx(t.jobs)} AS j (${tx.unsafe(rows.columns)}, parent_id, trace_context)
      ${rows.select}, ${mode.parentId ?? null}::text, ${mode.traceContext ?? null}::text FROM ${rows.from}
      ON CONFLICT (unique_slot) WHERE unique_slot IS NOT NULL DO NOTHING
      RETURNING j.unique_slot
    ), announced AS (
      SELECT now() AS now, ${announceCreated(tx, t, rows.readyQueues, mode.early)} FROM (SELECT 1 FROM written LIMIT 1) AS first
    )
    SELECT w.unique_slot AS inserted, coalesce(w.unique_slot, h.unique_slot) AS slot,
           CASE WHEN w.unique_slot IS NOT NULL THEN (SELECT now FROM announced) END AS now, h.*
      FROM written w FULL JOIN (${holders(tx, t, batch.map((j) => j.uniqueKey!))}) AS h ON h.unique_slot = w.unique_slot`;
  const result: SlottedResult = { created: new Set(), holders: new Map(), createdAt: undefined };
  for (const row of found) {
    if (row.inserted !== null) {
      result.created.add(row.slot);
      result.createdAt = row.now!;
    } else {
      result.holders.set(row.slot, jobFromRow(row));
    }
  }
  return result;
}

/** The jobs holding these live slots, as a subquery. */
function holders(tx: Sql | Tx, t: SchemaNames, keys: string[]) {
  return tx`SELECT ${tx.unsafe(LIVE_JOB_COLUMNS)}, unique_slot FROM ${tx(t.jobs)} WHERE unique_slot = ANY(${keys}::text[])`;
}

/**
 * The insert, a pending holder taking the new payload and run time; then the holders as they
 * are after it.
 */
async function replaceSlotted(tx: Tx, t: SchemaNames, batch: ValidatedJob[], mode: InsertMode): Promise<SlottedResult> {
  const rows = jobRows(tx, batch, new Set());
  const written = await tx<{ id: string; unique_slot: string; inserted: boolean; now: Date }[]>`
    WITH written AS (
      INSERT INTO ${tx(t.jobs)} AS j (${tx.unsafe(rows.columns)}, parent_id, trace_context)
      ${rows.select}, ${mode.parentId ?? null}::text, ${mode.traceContext ?? null}::text FROM ${rows.from}
      ON CONFLICT (unique_slot) WHERE unique_slot IS NOT NULL
      DO UPDATE SET payload = EXCLUDED.payload, run_at = EXCLUDED.run_at, updated_at = now() WHERE j.status = 'pending'
      RETURNING j.id, j.unique_slot, xmax = 0 AS inserted)
    SELECT w.id, w.unique_slot, w.inserted, now() AS now, ${announceCreated(tx, t, rows.readyQueues, mode.early)}
      FROM written w`;
  const created = new Set(written.filter((w) => w.inserted).map((w) => w.unique_slot));
  const holders = await readHolders(tx, t, batch.map((j) => j.uniqueKey!).filter((key) => !created.has(key)));
  return { created, holders, createdAt: written[0]?.now };
}

/** The jobs holding these live slots now, by key. */
async function readHolders(tx: Sql | Tx, t: SchemaNames, keys: string[]): Promise<Map<string, Job>> {
  if (keys.length === 0) return new Map();
  const rows = await tx<(AllJobsView & { unique_slot: string })[]>`${holders(tx, t, keys)}`;
  return new Map(rows.map((r) => [r.unique_slot, jobFromRow(r)]));
}

/** A job, live or finished (a period key's holder may have finished long ago). */
async function readAnyJob(tx: Tx, t: SchemaNames, id: string): Promise<Job> {
  const [row] = await tx<AllJobsView[]>`SELECT * FROM ${tx(t.allJobs)} WHERE id = ${id}`;
  // The key was refused to this create because its holder exists, in this transaction's view.
  return jobFromRow(row!);
}
