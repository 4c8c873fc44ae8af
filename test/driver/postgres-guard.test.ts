import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { guardedSource } from '../../src/db/driver-guard.js';
import { useTestDatabase } from '../support/database.js';
import { ROOT } from '../support/cli.js';

const db = useTestDatabase();
const SCRIPT = path.join(ROOT, 'test/fixtures/driver-crash.mjs');

function run(nodeArgs: string[], mode: 'bare' | 'taiat'): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, SCRIPT, db.url, mode], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('the guard on postgres.js (porsager/postgres#1208)', () => {
  it('turns the crash of a statement on a closed connection into a CONNECTION_CLOSED error', async () => {
    // The installed driver, as every user gets it, still has the bug: the process dies.
    const bare = await run([], 'bare');
    expect(bare.code).not.toBe(0);
    expect(bare.output).toMatch(/TypeError: Cannot read properties of null \(reading 'write'\)/);
    // taiat's own pools carry the guard, with nothing to install.
    expect(await run([], 'taiat')).toEqual({ code: 0, output: 'rejected CONNECTION_CLOSED\n' });
    // An application's own driver, guarded by starting Node with taiat/register.
    expect(await run(['--import', path.join(ROOT, 'dist/driver/register.js')], 'bare')).toEqual({ code: 0, output: 'rejected CONNECTION_CLOSED\n' });
  });

  it('adds the guard to the shape of postgres.js it knows, once, and leaves any other shape alone', async () => {
    const require = createRequire(import.meta.url);
    const source = await readFile(path.join(path.dirname(require.resolve('postgres')), '../src/connection.js'), 'utf8');
    const guarded = guardedSource(source)!;
    expect(guarded).toContain("error(Errors.connection('CONNECTION_CLOSED', options))");
    expect(guarded.length).toBeGreaterThan(source.length);
    expect(guardedSource(guarded)).toBeNull();
    expect(guardedSource('function somethingElse() {}')).toBeNull();
  });
});
