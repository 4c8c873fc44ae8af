import type { Sql } from '../db/connection.js';

/** Whether the database answers within `timeoutMs` (a health check: never throws). */
export function databaseAnswers(sql: Sql, timeoutMs = 2000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    sql`SELECT 1`.then(() => true, () => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs).unref())),
  ]).finally(() => clearTimeout(timer));
}
