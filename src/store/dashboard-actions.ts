import type { Sql } from '../db/connection.js';
import type { JsonValue } from '../jobs/model.js';
import type { SchemaNames } from './schema-names.js';

/** One action taken through the dashboard or its HTTP API. */
export interface DashboardAction {
  id: string;
  at: Date;
  actor: string;
  action: string;
  target: string;
  affected: number;
  detail: Record<string, JsonValue>;
}

/** Records an action (in the caller's transaction when given one: it commits with what it did). */
export async function recordAction(sql: Sql, t: SchemaNames, a: Omit<DashboardAction, 'id' | 'at'>): Promise<void> {
  await sql`INSERT INTO ${sql(t.actions)} (actor, action, target, affected, detail)
            VALUES (${a.actor}, ${a.action}, ${a.target}, ${a.affected}, ${sql.json(a.detail as never)})`;
}

/** The latest actions, newest first; on one target (a job id, a queue, a schedule) when given. */
export async function readActions(sql: Sql, t: SchemaNames, filter: { target?: string | undefined; limit: number }): Promise<DashboardAction[]> {
  const rows = await sql<(Omit<DashboardAction, 'id'> & { id: string })[]>`
    SELECT id::text AS id, at, actor, action, target, affected, detail FROM ${sql(t.actions)}
     ${filter.target ? sql`WHERE target = ${filter.target}` : sql``}
     ORDER BY at DESC, id DESC LIMIT ${filter.limit}`;
  return rows.map((r) => ({ ...r }));
}
