import { describe, expect, it } from 'vitest';
import type { AgentFor, AgentRegistry, JobManager } from '../../src/index.js';

// Type-level tests: `npm run typecheck` (part of `npm test`) fails if a line marked as an expected
// error compiles, or an unmarked one does not.
declare module '../../src/index.js' {
  interface AgentParameters {
    'typed-mail': { to: string; subject: string };
  }
}

const mail: AgentFor<'typed-mail'> = async ({ to, subject }) => ({ sent: `${subject} -> ${to}` });
const registry: AgentRegistry = { 'typed-mail': mail, untyped: async (parameters) => parameters };

function compileOnly(jobs: JobManager) {
  void jobs.createJob({ jobType: 'agent', name: 'ok', payload: { agent_name: 'typed-mail', parameters: { to: 'a@b', subject: 'hi' } } });
  // @ts-expect-error: a parameter of the declared type is missing
  void jobs.createJob({ jobType: 'agent', name: 'bad', payload: { agent_name: 'typed-mail', parameters: { to: 'a@b' } } });
  // @ts-expect-error: a parameter has the wrong type
  void jobs.createJob({ jobType: 'agent', name: 'bad', payload: { agent_name: 'typed-mail', parameters: { to: 1, subject: 'x' } } });
  void jobs.createJobs([
    { jobType: 'agent', name: 'ok', payload: { agent_name: 'typed-mail', parameters: { to: 'a', subject: 's' } } },
    { jobType: 'agent', name: 'untyped', payload: { agent_name: 'anything', parameters: { free: [1, 'form'] } } },
    { jobType: 'task', name: 'no agent', payload: { any: { json: true } }, dependencies: ['x'] },
  ]);
  // @ts-expect-error: one job of a list has the wrong parameters
  void jobs.createJobs([{ jobType: 'agent', name: 'bad', payload: { agent_name: 'typed-mail', parameters: {} } }]);
  // @ts-expect-error: an agent typed for its parameters reads them typed
  const wrong: AgentFor<'typed-mail'> = async ({ to }: { to: number }) => to;
  void wrong;
}

describe('typed agents', () => {
  it('checks jobs and agents of declared names at compile time (see npm run typecheck)', async () => {
    expect(typeof compileOnly).toBe('function');
    expect(await registry['typed-mail']!({ to: 'x', subject: 'y' }, undefined as never)).toEqual({ sent: 'y -> x' });
  });
});
