import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/database.js';
import { runBin } from '../support/cli.js';

const db = useTestDatabase();
const taiat = (...args: string[]) => runBin('taiat', args, { TAIAT_DATABASE_URL: db.url });
const json = async (...args: string[]) => {
  const r = await taiat(...args, '--json');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown> & Record<string, unknown>[];
};

describe('taiat job commands', () => {
  it('creates, lists, gets, explains, cancels and retries, as text and JSON', async () => {
    const a = await json('job', 'create', '--type', 'agent', '--name', 'extract', '--payload', '{"agent_name":"x","parameters":{"n":1}}', '--id', 'cli-a', '--priority', 'high');
    expect(a).toMatchObject({ id: 'cli-a', name: 'extract', priority: 3, status: 'pending', payload: { agent_name: 'x', parameters: { n: 1 } } });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'taiat-cli-'));
    await writeFile(path.join(dir, 'payload.json'), '{"agent_name":"y"}');
    const created = await taiat('job', 'create', '--type', 'agent', '--name', 'load', '--payload', `@${path.join(dir, 'payload.json')}`, '--dependencies', 'cli-a', '--id', 'cli-b', '--max-retries', '0', '--concurrency-key', 'tenant-7');
    expect(created).toMatchObject({ code: 0, stdout: 'created cli-b\n' });

    const list = await taiat('job', 'list', '--limit', '5');
    expect(list.stdout.split('\n')[0]).toMatch(/^id\s+name\s+type\s+status\s+queue\s+priority\s+attempts\s+created$/);
    expect(list.stdout).toMatch(/cli-b\s+load\s+agent\s+pending/);
    expect((await json('job', 'list', '--ready-only')).map((j) => j.id)).toEqual(['cli-a']);

    expect(await json('job', 'get', 'cli-b')).toMatchObject({ id: 'cli-b', dependencies: ['cli-a'], maxRetries: 0, concurrencyKey: 'tenant-7' });
    expect((await taiat('job', 'get', 'cli-b')).stdout).toMatch(/^concurrency key\s+tenant-7$/m);
    const explained = await taiat('job', 'explain', 'cli-b');
    expect(explained.stdout).toContain('cli-b (load): blocked on 1 unfinished dependency: cli-a (extract, ready)');
    expect(explained.stdout.split('\n')[1]).toBe('concurrency key: tenant-7');
    expect(await json('job', 'explain', 'cli-b')).toMatchObject({ state: 'blocked', rootCauses: [{ id: 'cli-a', state: 'ready' }] });

    expect((await taiat('job', 'cancel', 'cli-a')).stdout).toBe('cancelled cli-a\n');
    const history = await json('history', '--status', 'cancelled');
    expect(history.map((h) => [h.id, h.errorMessage])).toEqual(expect.arrayContaining([['cli-a', 'cancelled by request'], ['cli-b', 'dependency cli-a (extract) was cancelled']]));
    expect((await taiat('job', 'retry', 'cli-a', '--dependents')).stdout).toBe('cli-a is pending again\n');
    expect(await json('job', 'get', 'cli-b')).toMatchObject({ status: 'pending', location: 'live' });
  });

  it('creates a graph from a file, all or nothing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'taiat-cli-'));
    const file = path.join(dir, 'graph.json');
    await writeFile(file, JSON.stringify([{ id: 'g1', jobType: 'x', name: 'one' }, { id: 'g2', jobType: 'x', name: 'two', dependencies: ['g1'] }]));
    expect(await json('job', 'create-many', file)).toEqual(['g1', 'g2']);
    await writeFile(file, JSON.stringify([{ id: 'g3', jobType: 'x', name: 'three' }, { id: 'g4', jobType: 'x', name: 'four', dependencies: ['nope'] }]));
    const bad = await taiat('job', 'create-many', file);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('error [TAIAT_DEPENDENCY_UNKNOWN]: unknown dependency id(s): nope; needed by g4\n');
    expect(await json('job', 'get', 'g1')).toMatchObject({ id: 'g1' });
    expect((await taiat('job', 'get', 'g3')).stderr).toBe('error [TAIAT_JOB_NOT_FOUND]: job g3 does not exist\n');
  });

  it('reports bad input with the error code on stderr and a non-zero exit', async () => {
    const r = await taiat('job', 'create', '--type', 'agent', '--name', 'x');
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toBe('error [TAIAT_INVALID_INPUT]: payload.agent_name: an agent job needs payload.agent_name (a non-empty string)\n');
    const p = await taiat('job', 'create', '--type', 'q', '--name', 'x', '--payload', '{oops');
    expect(p.stderr).toMatch(/^error \[TAIAT_INVALID_INPUT\]: payload: is not valid JSON/);
    const usage = await taiat('job', 'frobnicate');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^error \[TAIAT_INVALID_INPUT\]/);
    const finished = await taiat('job', 'cancel', 'g1');
    expect(finished.code).toBe(0);
    const again = await taiat('job', 'cancel', 'g1');
    expect(again.stderr).toBe('error [TAIAT_INVALID_STATE]: job g1 already finished (cancelled); only pending or running jobs can be cancelled\n');
  });

  it('prunes history and shows an example in every --help', async () => {
    await db.sql`INSERT INTO taiat_job_history (id, job_id, job_type, name, status, completed_at) VALUES ('old', 'old', 'x', 'old', 'completed', now() - interval '40 days')`;
    expect(await json('prune', '--days', '30')).toEqual({ deleted: 1 });
    for (const command of [['init'], ['demo'], ['job', 'create'], ['job', 'create-many'], ['job', 'list'], ['job', 'get'], ['job', 'explain'], ['job', 'cancel'], ['job', 'retry'], ['history'], ['prune'], ['status']]) {
      const help = await runBin('taiat', [...command, '--help']);
      expect(help.stdout, command.join(' ')).toContain('Examples:');
    }
  }, 60_000);

  it('prints the package version with --version, for both commands', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const bin of ['taiat', 'taiat-worker'] as const) {
      const r = await runBin(bin, ['--version']);
      expect({ bin, code: r.code, stdout: r.stdout.trim() }).toEqual({ bin, code: 0, stdout: version });
    }
  });
});

describe('taiat history partition', () => {
  it('refuses a bad period naming it, partitions by day, and prunes the partitioned history', async () => {
    const bad = await taiat('history', 'partition', '--period', 'year');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^error \[TAIAT_INVALID_INPUT\]: Invalid values:\s+Argument: period, Given: "year", Choices: "day", "week", "month"\n$/);
    await db.sql`INSERT INTO taiat_job_history (id, job_id, job_type, name, status, completed_at) VALUES ('older', 'older', 'x', 'older', 'completed', now() - interval '40 days')`;
    expect(await json('history', 'partition', '--period', 'day')).toMatchObject({ converted: true, period: 'day' });
    expect((await taiat('history', 'partition', '--period', 'day')).stdout).toMatch(/^history was partitioned already by day; created 0 partition\(s\)\n$/);
    expect(await json('prune', '--days', '30')).toEqual({ deleted: 1 });
  }, 60_000);
});
