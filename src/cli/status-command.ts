import { readDatabaseUrlFrom } from '../config/database-url.js';
import { resolveSchema } from '../config/schema-name.js';
import { openConnection, translateDatabaseError } from '../db/connection.js';
import { verifySchema } from '../store/index.js';
import { SchemaNotCurrentError } from '../errors.js';
import { ansi, formatStatus, plain } from '../status/format.js';
import { readStatus } from '../status/status.js';
import { printJson } from './common.js';

/**
 * Prints the system status; fails (non-zero) when the database is unreachable or not migrated. The
 * report is read from the replica when there is one (`readDatabaseUrl`); the schema check asks the primary.
 */
export async function printStatus(url: string, json: boolean, schema?: string, readDatabaseUrl?: string, transactionPooling?: boolean): Promise<void> {
  const prepare = transactionPooling === undefined ? undefined : !transactionPooling;
  const conn = openConnection(readDatabaseUrlFrom(readDatabaseUrl) ?? url, { max: 8, applicationName: 'taiat status', ...(prepare === undefined ? {} : { prepare }) });
  try {
    // The schema check and the report run at once; the report is only shown if the schema is current.
    const [verified, status] = await Promise.all([
      verifySchema(url, { schema, ...(transactionPooling === undefined ? {} : { transactionPooling }) }),
      readStatus(conn.sql, { schema }).catch((error: unknown) => translateDatabaseError(error, conn.url) as Error),
    ]);
    if (!verified.current) throw new SchemaNotCurrentError(verified.missing, resolveSchema(schema));
    if (status instanceof Error) throw status;
    if (json) printJson(status);
    else process.stdout.write(formatStatus(status, process.stdout.isTTY ? ansi : plain));
  } catch (error) {
    throw translateDatabaseError(error, url);
  } finally {
    await conn.close();
  }
}
