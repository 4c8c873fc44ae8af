import type { Sql } from '../db/connection.js';
import type { KeyLimits, QueueLimits, RateLimit, ValidatedQueueDeclaration } from '../jobs/queue-limits.js';
import { READY } from './fragments.js';
import type { SchemaNames } from './schema-names.js';

/** A queue's flow control as stored (docs/flow-control.md). */
export interface QueueSettings {
  name: string;
  paused: boolean;
  pausedAt: Date | null;
  concurrency: number | null;
  keyConcurrency: number | null;
  rateLimit: RateLimit | null;
  keyRateLimit: RateLimit | null;
  /** Keys with limits of their own. */
  keys: { key: string; concurrency: number | null; rateLimit: RateLimit | null }[];
  /** `module`: last set by an agents module's `queues` at a worker's start; `api`: by the API or the CLI. */
  source: 'api' | 'module';
  updatedAt: Date | null;
}

/** Ready jobs held back, by what holds them (the first that applies, in this order). */
export interface HeldBack {
  paused: number;
  queueLimit: number;
  rateLimit: number;
  keyLimit: number;
}

/** A queue: its settings, its jobs, and what its limits hold back now. */
export interface QueueState extends QueueSettings {
  pending: number;
  ready: number;
  running: number;
  /** Claims in the queue's rate window now (0 without a rate limit). */
  recentClaims: number;
  heldBack: HeldBack;
}

/** A row of `queueSettingsColumns`. */
export interface QueueSettingsRow {
  name: string; paused: boolean; paused_at: Date | null; concurrency: number | null; key_concurrency: number | null;
  rate_limit: number | null; rate_period_seconds: number | null; key_rate_limit: number | null;
  key_rate_period_seconds: number | null; source: 'api' | 'module'; updated_at: Date;
  keys: { key: string; concurrency: number | null; rate_limit: number | null; rate_period_seconds: number | null }[];
}

const rate = (limit: number | null, periodSeconds: number | null): RateLimit | null =>
  limit === null || periodSeconds === null ? null : { limit, periodSeconds };

/** The columns of a `QueueSettingsRow`, read from `taiat_queues` as `q`. */
export function queueSettingsColumns(sql: Sql, t: SchemaNames) {
  return sql`q.name, q.paused, q.paused_at, q.concurrency, q.key_concurrency, q.rate_limit, q.rate_period_seconds,
             q.key_rate_limit, q.key_rate_period_seconds, q.source, q.updated_at,
             coalesce((SELECT json_agg(json_build_object('key', k.concurrency_key, 'concurrency', k.concurrency,
                                                         'rate_limit', k.rate_limit, 'rate_period_seconds', k.rate_period_seconds)
                                       ORDER BY k.concurrency_key)
                         FROM ${sql(t.queueKeys)} k WHERE k.queue = q.name), '[]') AS keys`;
}

export function settingsFromRow(r: QueueSettingsRow): QueueSettings {
  return {
    name: r.name, paused: r.paused, pausedAt: r.paused_at, concurrency: r.concurrency, keyConcurrency: r.key_concurrency,
    rateLimit: rate(r.rate_limit, r.rate_period_seconds), keyRateLimit: rate(r.key_rate_limit, r.key_rate_period_seconds),
    keys: r.keys.map((k) => ({ key: k.key, concurrency: k.concurrency, rateLimit: rate(k.rate_limit, k.rate_period_seconds) })),
    source: r.source, updatedAt: r.updated_at,
  };
}

/** The stored settings of these queues (all with a row when `names` is left out). */
export async function readQueueSettings(sql: Sql, t: SchemaNames, names?: string[]): Promise<QueueSettings[]> {
  const rows = await sql<QueueSettingsRow[]>`
    SELECT ${queueSettingsColumns(sql, t)}
      FROM ${sql(t.queues)} q
     WHERE ${names === undefined ? sql`true` : sql`q.name = ANY(${names}::text[])`}
     ORDER BY q.name`;
  return rows.map((r) => settingsFromRow(r));
}

/**
 * Pauses or resumes a queue (its row made if it has none). Resuming wakes the queue's workers.
 * A pause waits for the claims of a limited queue in flight; a claim of a queue without limits
 * that began before the pause committed may still start its jobs, none after.
 */
export async function setQueuePaused(sql: Sql, t: SchemaNames, name: string, paused: boolean): Promise<void> {
  await sql`
    WITH changed AS (
      INSERT INTO ${sql(t.queues)} AS q (name, paused, paused_at) VALUES (${name}, ${paused}, CASE WHEN ${paused}::boolean THEN now() END)
      ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused, paused_at = CASE WHEN EXCLUDED.paused THEN coalesce(q.paused_at, now()) END,
                                       updated_at = now()
      RETURNING q.name)
    SELECT pg_notify(${t.readyChannel}, name) FROM changed WHERE NOT ${paused}::boolean`;
}

/**
 * Removes a queue's settings (the keys' limits go with them) and its rate window's claims, and
 * wakes its workers (a paused or limited queue's jobs may start); whether it had settings. A claim
 * of the queue in flight holds its row: the removal waits for it.
 */
export async function removeQueueSettings(sql: Sql, t: SchemaNames, name: string): Promise<boolean> {
  const rows = await sql`
    WITH removed AS (DELETE FROM ${sql(t.queues)} WHERE name = ${name} RETURNING name),
         claims AS (DELETE FROM ${sql(t.rateClaims)} WHERE queue = ${name} AND EXISTS (SELECT 1 FROM removed))
    SELECT pg_notify(${t.readyChannel}, name) FROM removed`;
  return rows.length > 0;
}

/**
 * Sets a queue's limits: a field left out keeps its value, `null` removes the limit. Wakes the
 * queue's workers (a raised or removed limit may let jobs start).
 */
export async function setQueueLimits(sql: Sql, t: SchemaNames, name: string, limits: QueueLimits, source: 'api' | 'module'): Promise<void> {
  const has = (field: keyof QueueLimits) => limits[field] !== undefined;
  await sql`
    WITH changed AS (
      INSERT INTO ${sql(t.queues)} AS q (name, concurrency, key_concurrency, rate_limit, rate_period_seconds,
                                         key_rate_limit, key_rate_period_seconds, source)
      VALUES (${name}, ${limits.concurrency ?? null}, ${limits.keyConcurrency ?? null}, ${limits.rateLimit?.limit ?? null},
              ${limits.rateLimit?.periodSeconds ?? null}, ${limits.keyRateLimit?.limit ?? null}, ${limits.keyRateLimit?.periodSeconds ?? null}, ${source})
      ON CONFLICT (name) DO UPDATE SET
        concurrency = CASE WHEN ${has('concurrency')} THEN EXCLUDED.concurrency ELSE q.concurrency END,
        key_concurrency = CASE WHEN ${has('keyConcurrency')} THEN EXCLUDED.key_concurrency ELSE q.key_concurrency END,
        rate_limit = CASE WHEN ${has('rateLimit')} THEN EXCLUDED.rate_limit ELSE q.rate_limit END,
        rate_period_seconds = CASE WHEN ${has('rateLimit')} THEN EXCLUDED.rate_period_seconds ELSE q.rate_period_seconds END,
        key_rate_limit = CASE WHEN ${has('keyRateLimit')} THEN EXCLUDED.key_rate_limit ELSE q.key_rate_limit END,
        key_rate_period_seconds = CASE WHEN ${has('keyRateLimit')} THEN EXCLUDED.key_rate_period_seconds ELSE q.key_rate_period_seconds END,
        source = EXCLUDED.source, updated_at = now()
      RETURNING q.name)
    SELECT pg_notify(${t.readyChannel}, name) FROM changed`;
  // A queue left without a rate limit (and no key of its own with one) keeps no claim log: the
  // claims that pruned it no longer run.
  await sql`
    DELETE FROM ${sql(t.rateClaims)} c USING ${sql(t.queues)} q
     WHERE c.queue = ${name} AND q.name = c.queue AND q.rate_limit IS NULL AND q.key_rate_limit IS NULL
       AND NOT EXISTS (SELECT 1 FROM ${sql(t.queueKeys)} k WHERE k.queue = q.name AND k.rate_limit IS NOT NULL)`;
}

/**
 * Sets one concurrency key's limits in place of its queue's defaults (the queue's row made if it
 * has none); both null removes them.
 */
export async function setKeyLimits(sql: Sql, t: SchemaNames, queue: string, key: string, limits: KeyLimits): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`INSERT INTO ${tx(t.queues)} (name) VALUES (${queue}) ON CONFLICT (name) DO NOTHING`;
    // The queue's row first: a claim locks it before reading the keys, so this waits for claims in flight.
    const [current] = await tx<{ concurrency: number | null; rate_limit: number | null; rate_period_seconds: number | null }[]>`
      SELECT k.concurrency, k.rate_limit, k.rate_period_seconds FROM ${tx(t.queues)} q
        LEFT JOIN ${tx(t.queueKeys)} k ON k.queue = q.name AND k.concurrency_key = ${key}
       WHERE q.name = ${queue} FOR UPDATE OF q`;
    const concurrency = limits.concurrency === undefined ? current!.concurrency : limits.concurrency;
    const rateLimit = limits.rateLimit === undefined ? rate(current!.rate_limit, current!.rate_period_seconds) : limits.rateLimit;
    if (concurrency === null && rateLimit === null) {
      await tx`DELETE FROM ${tx(t.queueKeys)} WHERE queue = ${queue} AND concurrency_key = ${key}`;
    } else {
      await tx`
        INSERT INTO ${tx(t.queueKeys)} (queue, concurrency_key, concurrency, rate_limit, rate_period_seconds)
        VALUES (${queue}, ${key}, ${concurrency}, ${rateLimit?.limit ?? null}, ${rateLimit?.periodSeconds ?? null})
        ON CONFLICT (queue, concurrency_key) DO UPDATE
          SET concurrency = EXCLUDED.concurrency, rate_limit = EXCLUDED.rate_limit, rate_period_seconds = EXCLUDED.rate_period_seconds`;
    }
    await tx`
      UPDATE ${tx(t.queues)} q SET has_key_limits = EXISTS (SELECT 1 FROM ${tx(t.queueKeys)} k WHERE k.queue = q.name), updated_at = now()
       WHERE q.name = ${queue}`;
    await tx`SELECT pg_notify(${t.readyChannel}, ${queue})`;
  });
}

/**
 * Sets the limits an agents module declares, at a worker's start (source `module`): a limit the
 * declaration leaves out is removed, keys it names get their limits, others keep theirs. Never
 * pauses or resumes (that is the operator's), and no worker removes a declaration that
 * disappeared: a limit lifted by one worker of a rolling deploy would be lifted for all.
 */
export async function applyQueueDeclarations(sql: Sql, t: SchemaNames, declared: ValidatedQueueDeclaration[]): Promise<void> {
  for (const d of declared) {
    await setQueueLimits(sql, t, d.name, d.limits, 'module');
    for (const k of d.keys) await setKeyLimits(sql, t, d.name, k.key, k.limits);
  }
}

/** Whether a queue is known: it has jobs (live or in history), settings, or a live worker serving it. */
export async function queueExists(sql: Sql, t: SchemaNames, name: string): Promise<boolean> {
  const [row] = await sql<{ known: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM ${sql(t.queues)} WHERE name = ${name})
        OR EXISTS (SELECT 1 FROM ${sql(t.jobs)} WHERE queue = ${name})
        OR EXISTS (SELECT 1 FROM ${sql(t.history)} WHERE queue = ${name})
        OR EXISTS (SELECT 1 FROM ${sql(t.workers)} WHERE stopped_at IS NULL AND queues ? ${name}) AS known`;
  return row!.known;
}

/**
 * Of these queues, those with flow control now (a worker's claim routing): whether any has a rate
 * limit, and whether every one limits only its keys' running jobs (`ahead`: jobs may then be
 * claimed ahead of free slots, each holding its key's place while it waits, which keeps the
 * limit; a queue's running limit or a rate limit takes free slots only).
 */
export async function readControlledQueues(sql: Sql, t: SchemaNames, queues: string[]): Promise<{ queues: string[]; rated: boolean; ahead: boolean }> {
  const rows = await sql<{ name: string; rated: boolean; ahead: boolean }[]>`
    SELECT q.name, (q.rate_limit IS NOT NULL OR q.key_rate_limit IS NOT NULL OR k.rated) AS rated,
           (q.concurrency IS NULL AND q.rate_limit IS NULL AND q.key_rate_limit IS NULL AND NOT k.rated) AS ahead
      FROM ${sql(t.queues)} q
      CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM ${sql(t.queueKeys)} o WHERE o.queue = q.name AND o.rate_limit IS NOT NULL) AS rated) k
     WHERE q.name = ANY(${queues}::text[]) AND q.controlled`;
  return { queues: rows.map((r) => r.name), rated: rows.some((r) => r.rated), ahead: rows.every((r) => r.ahead) };
}

/**
 * Milliseconds until the rate window of one of these queues next lets a claim through (its oldest
 * claim in the window leaves it), or null if none is held by a rate limit: a worker whose claim
 * came back short sleeps no longer than that.
 */
export async function nextRateOpening(sql: Sql, t: SchemaNames, queues: string[]): Promise<number | null> {
  // Each claim in a window leaves the queue's window after the queue's period, and its key's
  // window after the key's own period (or the queue's for keys): the first of those times.
  const [row] = await sql<{ ms: number | null }[]>`
    SELECT greatest(0, extract(epoch FROM min(c.claimed_at + make_interval(secs => p.period)) - clock_timestamp()) * 1000)::float8 AS ms
      FROM ${sql(t.queues)} q JOIN ${sql(t.rateClaims)} c ON c.queue = q.name
      LEFT JOIN ${sql(t.queueKeys)} o ON o.queue = c.queue AND o.concurrency_key = c.concurrency_key
     CROSS JOIN LATERAL (VALUES (q.rate_period_seconds),
                                (CASE WHEN c.concurrency_key IS NOT NULL THEN coalesce(o.rate_period_seconds, q.key_rate_period_seconds) END)) AS p(period)
     WHERE q.name = ANY(${queues}::text[]) AND q.controlled AND NOT q.paused AND p.period IS NOT NULL
       AND c.claimed_at + make_interval(secs => p.period) > clock_timestamp()`;
  return row?.ms ?? null;
}

/** Live jobs of one queue and concurrency key. */
export interface QueueCountRow { queue: string; key: string | null; pending: number; ready: number; running: number }
/** Claims of one queue and key in the queue's and the key's rate windows now. */
export interface RateWindowRow { queue: string; key: string | null; queue_window: number; key_window: number }

/**
 * Queues with settings and the queues of live jobs, with their counts and what their limits hold
 * back now: a ready job is held by a pause, else by its queue's running limit, else by the
 * queue's rate limit, else by its key's running or rate limit.
 */
export async function readQueueStates(sql: Sql, t: SchemaNames): Promise<QueueState[]> {
  const [settings, counts, windows] = await Promise.all([
    readQueueSettings(sql, t),
    sql<QueueCountRow[]>`
      SELECT queue, concurrency_key AS key, count(*) FILTER (WHERE status = 'pending')::int AS pending,
             count(*) FILTER (WHERE ${sql.unsafe(READY)})::int AS ready, count(*) FILTER (WHERE status = 'running')::int AS running
        FROM ${sql(t.jobs)} WHERE status IN ('pending', 'running') GROUP BY queue, concurrency_key`,
    sql<RateWindowRow[]>`
      SELECT c.queue, c.concurrency_key AS key,
             count(*) FILTER (WHERE c.claimed_at > now() - make_interval(secs => q.rate_period_seconds))::int AS queue_window,
             count(*) FILTER (WHERE c.claimed_at > now() - make_interval(secs =>
               CASE WHEN o.rate_limit IS NOT NULL THEN o.rate_period_seconds ELSE q.key_rate_period_seconds END))::int AS key_window
        FROM ${sql(t.rateClaims)} c JOIN ${sql(t.queues)} q ON q.name = c.queue
        LEFT JOIN ${sql(t.queueKeys)} o ON o.queue = c.queue AND o.concurrency_key = c.concurrency_key
       GROUP BY c.queue, c.concurrency_key`,
  ]);
  return queueStatesFrom(settings, counts, windows);
}

/**
 * Queue states from settings, counts and rate windows (the status reads the same three for its
 * queues with flow control only, in one statement).
 */
export function queueStatesFrom(settings: QueueSettings[], counts: QueueCountRow[], windows: RateWindowRow[]): QueueState[] {
  const byName = new Map<string, QueueState>();
  const state = (name: string): QueueState => {
    let s = byName.get(name);
    if (!s) {
      const stored = settings.find((q) => q.name === name);
      s = {
        ...(stored ?? { name, paused: false, pausedAt: null, concurrency: null, keyConcurrency: null, rateLimit: null, keyRateLimit: null, keys: [], source: 'api' as const, updatedAt: null }),
        pending: 0, ready: 0, running: 0, recentClaims: 0, heldBack: { paused: 0, queueLimit: 0, rateLimit: 0, keyLimit: 0 },
      };
      byName.set(name, s);
    }
    return s;
  };
  for (const q of settings) state(q.name);
  for (const c of counts) {
    const s = state(c.queue);
    s.pending += c.pending;
    s.ready += c.ready;
    s.running += c.running;
  }
  for (const w of windows) state(w.queue).recentClaims += w.queue_window;
  for (const c of counts) {
    if (c.ready === 0) continue;
    const s = state(c.queue);
    if (s.paused) s.heldBack.paused += c.ready;
    else if (s.concurrency !== null && s.running >= s.concurrency) s.heldBack.queueLimit += c.ready;
    else if (s.rateLimit !== null && s.recentClaims >= s.rateLimit.limit) s.heldBack.rateLimit += c.ready;
    else if (c.key !== null && keyIsFull(s, c, windows)) s.heldBack.keyLimit += c.ready;
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function keyIsFull(s: QueueState, c: QueueCountRow, windows: RateWindowRow[]): boolean {
  const own = s.keys.find((k) => k.key === c.key);
  const concurrency = own?.concurrency ?? s.keyConcurrency;
  const rateLimit = own?.rateLimit ?? s.keyRateLimit;
  if (concurrency !== null && c.running >= concurrency) return true;
  const recent = windows.find((w) => w.queue === c.queue && w.key === c.key)?.key_window ?? 0;
  return rateLimit !== null && recent >= rateLimit.limit;
}
