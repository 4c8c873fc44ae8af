import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBin } from '../support/cli.js';

// The embedded default as a new user meets it: a project folder the postgres OS user cannot
// enter (mkdtemp makes it 0700, owned by root), commands run from the project and a sub-folder.
const dirs: string[] = [];
const homes: string[] = [];
afterAll(async () => {
  for (const home of homes) {
    await runBin('taiat', ['embedded', 'stop'], { TAIAT_HOME: home }, 60_000);
    const relocated = await readFile(path.join(home, 'cluster-is-in'), 'utf8').catch(() => null);
    if (relocated) await rm(relocated.trim(), { recursive: true, force: true });
  }
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function project(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taiat-project-'));
  dirs.push(dir);
  return dir;
}

describe('the embedded Postgres', () => {
  it('runs the demo as root in a folder the postgres user cannot enter, and is found again from a sub-folder', async () => {
    const dir = await project();
    homes.push(path.join(dir, '.taiat'));
    expect(((await stat(dir)).mode & 0o777).toString(8)).toBe('700');
    const demo = await runBin('taiat', ['demo', '--embedded'], {}, 120_000, dir);
    expect([demo.code, demo.stderr]).toEqual([0, expect.stringContaining(`embedded Postgres: ${path.join(dir, '.taiat')}, started`)]);
    expect(demo.stdout).toContain('Result of report:');
    // The cluster lives where the postgres user can reach it, and the project records where.
    const relocated = (await readFile(path.join(dir, '.taiat', 'cluster-is-in'), 'utf8')).trim();
    expect(relocated).toMatch(/^\/var\/tmp\/taiat-embedded-[0-9a-f]{16}$/);
    const sub = path.join(dir, 'src', 'deep');
    await mkdir(sub, { recursive: true });
    const url = await runBin('taiat', ['embedded', 'url'], {}, 60_000, sub);
    expect(url.code).toBe(0);
    expect(url.stdout).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/taiat\n$/);
    expect(url.stderr).toMatch(/password/);
    const status = await runBin('taiat', ['status', '--embedded', '--json'], {}, 60_000, sub);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).finished.lastDay.completed).toBe(5);
    // The status output shows no password; only `embedded url` prints it.
    expect(status.stdout + status.stderr).not.toContain(new URL(url.stdout.trim()).password);
    expect(await readdir(sub)).toEqual([]); // no second cluster
    // A PATH with what taiat itself runs (id) and no psql.
    const noPsql = path.join(dir, 'bin');
    await mkdir(noPsql);
    await symlink('/usr/bin/id', path.join(noPsql, 'id'));
    const psql = await runBin('taiat', ['embedded', 'psql'], { PATH: noPsql }, 60_000, sub);
    expect(psql.code).toBe(1);
    expect(psql.stderr).toMatch(/psql is not installed.*apt-get install postgresql-client/);
    expect((await runBin('taiat', ['embedded', 'stop'], {}, 60_000, sub)).stdout).toBe('stopped the embedded Postgres\n');
  }, 240_000);

  it('refuses to start a second, empty cluster where none is found, and follows TAIAT_HOME', async () => {
    const dir = await project();
    const none = await runBin('taiat', ['status', '--embedded'], {}, 30_000, dir);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^error \[TAIAT_EMBEDDED_POSTGRES\]: no embedded Postgres \(\.taiat\/\) in .* or any folder above it/);
    expect(await readdir(dir)).toEqual([]);
    const home = path.join(await project(), 'cluster');
    homes.push(home);
    const init = await runBin('taiat', ['init', '--embedded', '--json'], { TAIAT_HOME: home }, 120_000, dir);
    expect([init.code, init.stderr]).toEqual([0, expect.stringContaining(`embedded Postgres: ${home} (TAIAT_HOME), started`)]);
    expect(JSON.parse(init.stdout).current).toBe(true);
    expect(await readdir(dir)).toEqual([]);
  }, 240_000);
});
