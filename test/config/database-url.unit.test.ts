// A database URL the driver cannot parse is refused before it reaches the driver, whose own error
// carries the whole URL; and no form of a URL's password reaches an error or a redacted URL.
import { describe, expect, it } from 'vitest';
import { createDashboardHandler, JobManager, redactUrl, runMigrations, ValidationError, verifySchema, Worker } from '../../src/index.js';
import { resolveDatabaseUrl, scrubSecret } from '../../src/config/database-url.js';
import { openConnection } from '../../src/db/connection.js';

const BAD_PORT = 'postgres://app:S3KRIT@127.0.0.1:notaport/app';
const BAD_ESCAPE = 'postgres://app:S3KRIT@h%ZZost/app';

/** The error `attempt` throws or rejects with, checked to be the ValidationError of `field` and free of the password. */
async function refusal(attempt: () => unknown, field: string, code = 'TAIAT_CONFIG_INVALID'): Promise<ValidationError> {
  let error: unknown;
  try {
    await attempt();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ValidationError);
  const v = error as ValidationError;
  expect(v.code).toBe(code);
  expect(v.field).toBe(field);
  expect(v.message).toMatch(/not a URL the driver can parse/);
  // Nothing anywhere on the error, as a logger would serialize it, holds the password.
  expect(JSON.stringify({ ...v, message: v.message, stack: v.stack })).not.toContain('S3KRIT');
  return v;
}

describe('database URLs', () => {
  it('refuses a URL the driver cannot parse with a ValidationError that does not echo it, on every entry point', async () => {
    for (const url of [BAD_PORT, BAD_ESCAPE]) {
      await refusal(() => resolveDatabaseUrl({ explicit: url }), 'databaseUrl');
      await refusal(() => openConnection(url), 'databaseUrl');
      await refusal(() => JobManager.connect({ databaseUrl: url }), 'databaseUrl');
      await refusal(() => new Worker({ databaseUrl: url, agents: {} }).start(), 'databaseUrl');
      await refusal(() => runMigrations(url), 'databaseUrl');
      await refusal(() => verifySchema(url), 'databaseUrl');
      await refusal(() => createDashboardHandler({ databaseUrl: url }), 'databaseUrl');
      await refusal(() => resolveDatabaseUrl({ env: { TAIAT_DATABASE_URL: url } }), 'databaseUrl');
    }
    await refusal(() => JobManager.connect({ databaseUrl: 'postgres://u@127.0.0.1:1/x', readDatabaseUrl: BAD_PORT }), 'readDatabaseUrl', 'TAIAT_INVALID_INPUT');
    await refusal(() => new Worker({ databaseUrl: 'postgres://u@127.0.0.1:1/x', listenDatabaseUrl: BAD_PORT, agents: {} }).start(), 'listenDatabaseUrl', 'TAIAT_INVALID_INPUT');
    await refusal(() => openConnection(BAD_PORT, { field: 'listenDatabaseUrl' }), 'listenDatabaseUrl');
  });

  it('accepts what the driver accepts: several hosts, a socket directory, escapes', () => {
    for (const url of ['postgres://u:p@h1:5432,h2:5433/db', 'postgres:///db?host=/var/run/postgresql', 'postgresql://u:p%40x@h/db', 'postgres://h/db?sslmode=require']) {
      expect(resolveDatabaseUrl({ explicit: url })).toBe(url);
    }
  });

  it('redacts the password in the user part and in a password parameter, and scrubs both from texts', () => {
    expect(redactUrl('postgres://u:S3KRIT@h/d')).toBe('postgres://u:***@h/d');
    expect(redactUrl('postgres://u@h/d?password=QSECRET&sslmode=require')).toBe('postgres://u@h/d?password=***&sslmode=require');
    expect(redactUrl('postgres://u:S3KRIT@h:notaport/d?password=QSECRET')).not.toMatch(/S3KRIT|QSECRET/);
    expect(scrubSecret('failed for S3KRIT and QSECRET', 'postgres://u:S3KRIT@h/d?password=QSECRET')).toBe('failed for *** and ***');
  });
});
