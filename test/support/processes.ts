import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './cli.js';

export const RECORDING_AGENTS = path.join(ROOT, 'test/fixtures/recording-agents.mjs');

export const TEST_RUNS_TABLE = `
  CREATE TABLE IF NOT EXISTS test_runs (
    id serial PRIMARY KEY, job_id text NOT NULL, attempt int NOT NULL, pid int NOT NULL,
    started_at timestamptz NOT NULL, ended_at timestamptz)`;

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The repository's `taiat-worker`; a test of the installed package passes the installed one. */
export const WORKER_BIN = path.join(ROOT, 'bin/taiat-worker.js');

/** Starts `taiat-worker` as a separate process with the recording agents. */
export function spawnWorker(url: string, args: string[] = [], bin = WORKER_BIN): WorkerProcess {
  const child = spawn(process.execPath, [bin, '--agents', RECORDING_AGENTS, '--poll-interval', '0.5', '--log-level', 'info', ...args], {
    cwd: ROOT,
    env: { ...process.env, TAIAT_DATABASE_URL: url, DATABASE_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => output, exited };
}
