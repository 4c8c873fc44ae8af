import type postgres from 'postgres';
import { ensureHistoryPartitions, partitionHistory, schemaNames, type HistoryPartitionPeriod } from '../../src/store/index.js';

/**
 * Partitions an empty history and leaves only period partitions and the default: the former table
 * (which would hold every past row) is dropped, so rows inserted for past periods land in the
 * default partition until `splitDefault` moves them into partitions of their own.
 */
export async function partitionEmptyHistory(sql: postgres.Sql, period: HistoryPartitionPeriod = 'day'): Promise<void> {
  await partitionHistory(sql, schemaNames(), period);
  await sql`DROP TABLE taiat_job_history_unpartitioned`;
}

/** What the workers' maintenance does: partitions for the default partition's rows and the periods ahead. */
export async function splitDefault(sql: postgres.Sql): Promise<string[] | null> {
  return ensureHistoryPartitions(sql, schemaNames());
}

/** The partitions of history, oldest first, the default last, with their row counts. */
export async function partitionRows(sql: postgres.Sql): Promise<{ name: string; rows: number }[]> {
  return sql<{ name: string; rows: number }[]>`
    SELECT c.relname AS name, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I', c.relname), false, true, '')))[1]::text::int AS rows
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'taiat_job_history'::regclass
     ORDER BY c.relname = 'taiat_job_history_default', c.relname`;
}
