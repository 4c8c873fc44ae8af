import { openConnection, translateDatabaseError } from '../db/connection.js';
import { verifySchema } from '../store/index.js';
import { SchemaNotCurrentError } from '../errors.js';
import { ansi, formatStatus, plain } from '../status/format.js';
import { readStatus } from '../status/status.js';
import { printJson } from './common.js';

/** Prints the system status; fails (non-zero) when the database is unreachable or not migrated. */
export async function printStatus(url: string, json: boolean): Promise<void> {
  const conn = openConnection(url, { max: 8, applicationName: 'taiat status' });
  try {
    // The schema check and the report run at once; the report is only shown if the schema is current.
    const [schema, status] = await Promise.all([verifySchema(url), readStatus(conn.sql).catch((error: unknown) => error as Error)]);
    if (!schema.current) throw new SchemaNotCurrentError(schema.missing);
    if (status instanceof Error) throw status;
    if (json) printJson(status);
    else process.stdout.write(formatStatus(status, process.stdout.isTTY ? ansi : plain));
  } catch (error) {
    throw translateDatabaseError(error, url);
  } finally {
    await conn.close();
  }
}
