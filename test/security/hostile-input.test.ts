import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobManager, TaiatError } from '../../src/index.js';
import { useTestDatabase } from '../support/database.js';
import { snapshot } from '../support/harness.js';
import { runBin } from '../support/cli.js';

const db = useTestDatabase();
let jobs: JobManager;
beforeAll(async () => {
  jobs = await JobManager.connect({ databaseUrl: db.url });
});
afterAll(async () => {
  await jobs.close();
});

/** Strings that break naive SQL building, terminals and text handling. */
const HOSTILE = [
  `O'Brien "quoted" \\ backslash`,
  `'; DROP TABLE taiat_jobs; --`,
  `x' OR '1'='1`,
  `$1 $$ dollar $tag$ quoting $tag$`,
  `🚀 emoji 👩‍👩‍👧 family`,
  `\u202Eright-to-left override\u202C and \u200Fmark`,
  `line\nbreak\ttab\r`,
  `%s %d {{template}} \${injection}`,
];

async function tablesIntact(): Promise<void> {
  const [row] = await db.sql`SELECT to_regclass('taiat_jobs') IS NOT NULL AND to_regclass('taiat_job_history') IS NOT NULL AND to_regclass('taiat_workers') IS NOT NULL AS ok`;
  expect(row!.ok).toBe(true);
}

describe('hostile strings through the API', () => {
  it.each(HOSTILE.map((s, i) => [i, s] as const))('stores and returns hostile string #%i verbatim in every field', async (i, s) => {
    const id = `${s}#${i}`;
    const dep = await jobs.createJob({ jobType: s, name: s, id: `dep-${id}`, queue: s });
    const job = await jobs.createJob({
      id, jobType: 'agent', name: s, description: s, queue: s, dependencies: [dep.id],
      payload: { agent_name: s, parameters: { [s]: s, list: [s] } },
    });
    expect(job).toMatchObject({ id, name: s, description: s, queue: s, dependencies: [`dep-${id}`], payload: { agent_name: s, parameters: { [s]: s, list: [s] } } });
    expect(await jobs.getJob(id)).toMatchObject({ id, name: s });
    expect((await jobs.listJobs({ queue: s })).map((j) => j.id).sort()).toEqual([`dep-${id}`, id].sort());
    expect((await jobs.explain(id))!.waitingOn).toEqual([{ id: `dep-${id}`, name: s, state: 'ready' }]);
    const cancelled = await jobs.cancelJob(`dep-${id}`);
    expect(cancelled).toMatchObject({ status: 'cancelled', name: s });
    expect((await jobs.getJob(id))!.errorMessage).toBe(`dependency dep-${id} (${s}) was cancelled`);
    await jobs.retryJob(`dep-${id}`, { dependents: true });
    expect((await jobs.getJob(id))!.status).toBe('pending');
    await tablesIntact();
  });

  it('rejects NUL bytes and oversized strings with a clear error, and changes nothing', async () => {
    const before = await snapshot(db.sql);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ jobType: 'x', name: 'a\u0000b' }, /^name: name must not contain a NUL character$/],
      [{ jobType: 'x', name: 'n', id: 'i\u0000d' }, /^id: id must not contain a NUL character$/],
      [{ jobType: 'x', name: 'n', payload: { k: 'v\u0000' } }, /^payload\.k: contains a NUL character/],
      [{ jobType: 'x', name: 'n', payload: { ['k\u0000']: 1 } }, /^payload\.k\u0000: key contains a NUL character$/],
      [{ jobType: 'x', name: 'x'.repeat(1024 * 1024) }, /^name: name must be at most 1000 characters$/],
      [{ jobType: 'x', name: 'n', payload: { big: 'x'.repeat(1024 * 1024) } }, /^payload: is \d+ bytes of JSON, more than the limit of 1048576$/],
      [{ jobType: 'x', name: 'n', queue: 'q'.repeat(201) }, /^queue: queue must be at most 200 characters$/],
    ];
    for (const [input, message] of cases) {
      const error = await jobs.createJob(input as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TaiatError);
      expect((error as TaiatError).code).toBe('TAIAT_INVALID_INPUT');
      expect((error as Error).message).toMatch(message);
    }
    await expect(jobs.getJob('x'.repeat(1024 * 1024))).rejects.toThrow(/^id: id must be at most 200 characters$/);
    for (const s of HOSTILE) {
      expect(await jobs.getJob(s)).toBeNull();
      await expect(jobs.cancelJob(s)).rejects.toMatchObject({ code: 'TAIAT_JOB_NOT_FOUND' });
      await expect(jobs.retryJob(s)).rejects.toMatchObject({ code: 'TAIAT_JOB_NOT_FOUND' });
      await expect(jobs.listJobs({ status: s as never })).rejects.toMatchObject({ code: 'TAIAT_INVALID_INPUT' });
      await expect(jobs.getJobHistory({ status: s as never })).rejects.toMatchObject({ code: 'TAIAT_INVALID_INPUT' });
    }
    expect(await snapshot(db.sql)).toBe(before);
    await tablesIntact();
  });
});

describe('hostile strings through the CLI', () => {
  const taiat = (...args: string[]) => runBin('taiat', args, { TAIAT_DATABASE_URL: db.url });

  it('stores and shows them verbatim in every option, or rejects them clearly', async () => {
    for (const [i, s] of HOSTILE.entries()) {
      const id = `cli-${i}-${s}`;
      const created = await taiat('job', 'create', '--type', s, '--name', s, '--description', s, '--queue', s, '--id', id, '--payload', JSON.stringify({ v: s }), '--json');
      expect(created.stderr).toBe('');
      expect(JSON.parse(created.stdout)).toMatchObject({ id, jobType: s, name: s, description: s, queue: s, payload: { v: s } });
      const got = await taiat('job', 'get', id, '--json');
      expect(JSON.parse(got.stdout)).toMatchObject({ id, name: s });
      const listed = await taiat('job', 'list', '--queue', s, '--json');
      expect(JSON.parse(listed.stdout).map((j: { id: string }) => j.id)).toContain(id);
      const shown = await taiat('job', 'get', id);
      expect(shown.stdout).toContain(s.replace(/\s+$/, ''));
    }
    const nul = await taiat('job', 'create', '--type', 'x', '--name', 'n', '--payload', '{"k":"a\\u0000b"}');
    expect(nul).toMatchObject({ code: 1, stderr: 'error [TAIAT_INVALID_INPUT]: payload.k: contains a NUL character, which Postgres cannot store\n' });
    const status = await taiat('job', 'list', '--status', `'; DROP TABLE taiat_jobs; --`);
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(/^error \[TAIAT_INVALID_INPUT\]: options\.status: status must be one of pending, running, completed, failed, cancelled/);
    await tablesIntact();
  }, 120_000);
});
