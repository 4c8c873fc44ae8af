import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type { Sql } from '../db/connection.js';
import type { Job } from '../jobs/model.js';
import type { ValidatedJob } from '../jobs/validation.js';
import { commitsEarly, durably } from './durability.js';
import { jobFromCreated } from './job-row.js';
import { announceCreated } from './notify.js';
import type { CreateOptions } from './insert-jobs.js';
import type { SchemaNames } from './schema-names.js';

/** Jobs validated at a time when a large call is streamed. */
export const STREAM_CHUNK = 2_000;

/**
 * Creates `count` independent jobs (no dependencies, generated ids) with one `COPY` in one
 * transaction, validating each chunk while Postgres stores the previous one, so that the client's
 * work overlaps the server's. `validate(from, to)` validates jobs `[from, to)` and throws on bad
 * input, which aborts the copy and rolls back: all or nothing, like `createJobs`. Faster than
 * an `INSERT` from column arrays: the server neither plans a statement per chunk nor unpacks
 * arrays (docs/performance.md).
 */
export async function copyJobs(
  sql: Sql, t: SchemaNames,
  count: number,
  validate: (from: number, to: number) => ValidatedJob[],
  options: CopyOptions = {},
): Promise<Job[]> {
  // The first chunk is validated before a connection is taken: bad input is reported as such even
  // when the database is unreachable.
  const first = validate(0, Math.min(count, STREAM_CHUNK));
  const early = await commitsEarly(sql);
  return durably(sql, t, early, () => sql.begin(async (tx) => {
    // Jobs without runAt run at the transaction's now(), which is also their created_at.
    const [clock] = await tx<{ now: Date; text: string }[]>`SELECT now() AS now, now()::text AS text`;
    const { now, text: nowText } = clock!;
    const parentId = options.parentId ?? null;
    const traceContext = options.traceContext ?? null;
    const keyed = options.concurrencyKeys ?? false;
    // The columns a whole call shares are sent only when set.
    const shared = [['parent_id', parentId], ['trace_context', traceContext]].filter((c): c is [string, string] => c[1] !== null);
    const columns = COPY_COLUMNS + (keyed ? ', concurrency_key' : '') + shared.map(([c]) => `, ${c}`).join('');
    const statement = tx`COPY ${tx(t.jobs)} (${tx.unsafe(columns)}) FROM STDIN`;
    const rowEnd = `${shared.map(([, v]) => `\t${copyText(v)}`).join('')}\n`;
    // postgres.js loses an error that arrives after the copy's end (a trigger refusing one of the
    // last rows): the stream never finishes, and the query has already resolved to the stream.
    // The query's own reject, which the driver still calls, is the one trace of it.
    const refused = new Promise<never>((_, reject) => {
      const query = statement as unknown as { reject: (error: unknown) => void };
      const own = query.reject;
      query.reject = (error) => {
        reject(error);
        own(error);
      };
    });
    refused.catch(() => {}); // raced below; a COPY refused before it starts throws from writable()
    const copy = await statement.writable();
    const stored = Promise.race([finished(copy), refused]);
    stored.catch(() => {}); // awaited below; an early failure is not unhandled meanwhile
    const send = async (rows: string): Promise<void> => {
      if (!copy.write(rows)) await Promise.race([once(copy, 'drain'), stored]);
    };
    const created: Job[] = [];
    const readyQueues = new Set<string>();
    try {
      for (let from = 0; from < count; from += STREAM_CHUNK) {
        const chunk = from === 0 ? first : validate(from, Math.min(count, from + STREAM_CHUNK));
        let rows = '';
        for (const j of chunk) {
          if (!keyed && j.concurrencyKey !== null) throw new Error('copyJobs: a job has a concurrency key, but the call said none has');
          rows += `${j.id}\t${copyText(j.jobType)}\t${copyText(j.name)}\t${j.description === null ? '\\N' : copyText(j.description)}\t` +
            `${copyText(j.payloadJson)}\t${j.priority}\t${j.maxRetries}\t${copyText(j.queue)}\t${j.runAt?.toISOString() ?? nowText}\t` +
            `${j.timeoutSeconds ?? '\\N'}\t${j.retryDelaySeconds ?? '\\N'}` +
            `${keyed ? `\t${j.concurrencyKey === null ? '\\N' : copyText(j.concurrencyKey)}` : ''}${rowEnd}`;
          created.push(jobFromCreated(j, now, parentId, traceContext));
          if ((j.runAt?.getTime() ?? 0) <= now.getTime()) readyQueues.add(j.queue);
          // Rows go out in pieces of a few MB: 2,000 large payloads exceed the longest string V8 holds.
          if (rows.length >= COPY_PIECE) {
            await send(rows);
            rows = '';
          }
        }
        if (rows.length > 0) await send(rows);
        // A local socket drains at once: without this turn of the event loop the driver would not
        // read Postgres's answer (a refusal) nor would timers (a worker's leases) run until the end.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      copy.end();
      await stored;
    } catch (error) {
      // A short fixed reason: Postgres drops the connection on a CopyFail message longer than
      // ~10 kB, and a validation error can echo that much input. The error itself is rethrown.
      copy.destroy(new Error('taiat: create aborted'));
      await stored.catch(() => {});
      throw error;
    }
    await tx`SELECT ${announceCreated(tx, t, readyQueues, early)}`;
    return created;
  }));
}

export interface CopyOptions extends CreateOptions {
  /** Some job of the call has a concurrency key: the column is sent (else it costs nothing). */
  concurrencyKeys?: boolean;
}

const COPY_COLUMNS = 'id, job_type, name, description, payload, priority, max_retries, queue, run_at, timeout_seconds, retry_delay_seconds';

/** Characters of COPY text sent at a time. */
const COPY_PIECE = 4 * 1024 * 1024;

/** A field of COPY's text format: backslash, tab, newline and carriage return escaped. */
function copyText(value: string): string {
  return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!) : value;
}
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
