import type { Sql } from '../db/connection.js';
import type { SchemaNames } from './schema-names.js';

/**
 * The names of the queues with settings, live jobs or a live worker serving them, by name (at
 * most `limit`): what an error about an unknown queue lists. History is not read.
 */
export async function readKnownQueues(sql: Sql, t: SchemaNames, limit = 50): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    SELECT name FROM (
      SELECT name FROM ${sql(t.queues)}
      UNION SELECT DISTINCT queue FROM ${sql(t.jobs)}
      UNION SELECT jsonb_array_elements_text(queues) FROM ${sql(t.workers)} WHERE stopped_at IS NULL
    ) known ORDER BY name LIMIT ${limit}`;
  return rows.map((r) => r.name);
}
