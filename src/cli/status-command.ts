import { openConnection, translateDatabaseError } from '../db/connection.js';
import { verifySchema } from '../db/migrate.js';
import { SchemaNotCurrentError } from '../errors.js';
import { ansi, formatStatus, plain } from '../status/format.js';
import { readStatus } from '../status/status.js';
import { printJson } from './common.js';

/** Prints the system status; fails (non-zero) when the database is unreachable or not migrated. */
export async function printStatus(url: string, json: boolean): Promise<void> {
  const schema = await verifySchema(url);
  if (!schema.current) throw new SchemaNotCurrentError(schema.missing);
  const conn = openConnection(url, { max: 8, applicationName: 'taiat status' });
  try {
    const status = await readStatus(conn.sql);
    if (json) printJson(status);
    else process.stdout.write(formatStatus(status, process.stdout.isTTY ? ansi : plain));
  } catch (error) {
    throw translateDatabaseError(error, url);
  } finally {
    await conn.close();
  }
}
