import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentModules } from '../../src/worker/modules.js';

const moduleWith = (text: string) => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'taiat-modules-')), 'agents.mjs');
  writeFileSync(file, text);
  return file;
};

describe('agents modules', () => {
  it('merges agents, schedules and queue limits', async () => {
    const file = moduleWith(`export const agents = { a: () => 1 };
      export const schedules = { nightly: { cron: '0 3 * * *', job: { jobType: 'agent', name: 'n', payload: { agent_name: 'a' } } } };
      export const queues = { reports: { concurrency: 5, keys: { acme: { concurrency: 1 } } } };`);
    const loaded = await loadAgentModules([file]);
    expect(Object.keys(loaded.agents)).toEqual(['a']);
    expect(Object.keys(loaded.schedules)).toEqual(['nightly']);
    expect(loaded.queueLimits).toEqual({ reports: { concurrency: 5, keys: { acme: { concurrency: 1 } } } });
  });

  it('a module exporting only queue limits loads; a bad limit is named by its field', async () => {
    expect((await loadAgentModules([moduleWith('export const queues = { q: { rateLimit: { limit: 5, periodSeconds: 1 } } };')])).queueLimits).toHaveProperty('q');
    await expect(loadAgentModules([moduleWith('export const queues = { q: { keyConcurrency: 0 } };')]))
      .rejects.toMatchObject({ field: 'queues.q.keyConcurrency' });
    await expect(loadAgentModules([moduleWith('export const queues = { q: { keys: { k: { rateLimit: { limit: 1 } } } } };')]))
      .rejects.toMatchObject({ field: 'queues.q.keys.k.rateLimit.periodSeconds' });
    await expect(loadAgentModules([moduleWith('export const queues = [];')])).rejects.toMatchObject({ code: 'TAIAT_MODULE_LOAD_FAILED' });
  });

  // The rule docs/cli.md states: a wrong container is the module's fault (named by module); a bad
  // entry is a Worker option's (named by field, when the Worker validates it).
  it('an export that is not the right container fails the module; its entries are left to the Worker', async () => {
    await expect(loadAgentModules([moduleWith("export const agents = 'greet';")]))
      .rejects.toMatchObject({ code: 'TAIAT_MODULE_LOAD_FAILED', message: expect.stringContaining('`agents` must be an object') });
    await expect(loadAgentModules([moduleWith('export const executors = {};')]))
      .rejects.toMatchObject({ code: 'TAIAT_MODULE_LOAD_FAILED', message: expect.stringContaining('`executors` must be an array') });
    expect((await loadAgentModules([moduleWith("export const agents = { greet: 'notafunction' };")])).agents).toEqual({ greet: 'notafunction' });
  });
});
