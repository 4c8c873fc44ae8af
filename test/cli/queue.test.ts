import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/database.js';
import { runBin } from '../support/cli.js';

const db = useTestDatabase();
const taiat = (...args: string[]) => runBin('taiat', args, { TAIAT_DATABASE_URL: db.url });
const json = async (...args: string[]) => {
  const r = await taiat(...args, '--json');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
};
const settings = async () => db.sql`SELECT name, paused, concurrency, key_concurrency, rate_limit, rate_period_seconds, key_rate_limit FROM taiat_queues ORDER BY name`;

describe('taiat queue', () => {
  it('pauses, limits, lists and resumes a queue, as text and JSON', async () => {
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, queue) VALUES ('q-1', 'agent', 'a', 'emails'), ('q-2', 'agent', 'b', 'emails')`;
    expect(await taiat('queue', 'pause', 'emails')).toMatchObject({ code: 0, stdout: 'paused queue emails\n', stderr: '' });
    const limited = await taiat('queue', 'limits', 'emails', '--concurrency', '5', '--rate', '20/1s', '--key-rate', '5/500ms');
    expect(limited.stderr).toBe('');
    expect(limited.stdout).toMatch(/^queue emails: paused since \S+; concurrency 5, rate 20\/1s, key rate 5\/500ms\n$/);
    expect(await json('queue', 'limits', 'emails', '--key-concurrency', '2', '--clear', 'rate')).toMatchObject({
      name: 'emails', paused: true, concurrency: 5, keyConcurrency: 2, rateLimit: null, keyRateLimit: { limit: 5, periodSeconds: 0.5 },
    });
    expect((await taiat('queue', 'limits', 'emails')).stdout).toMatch(/; concurrency 5, key concurrency 2, key rate 5\/500ms\n$/);

    const list = await taiat('queue', 'list');
    expect(list.stdout.split('\n')[0]).toMatch(/^queue\s+state\s+limits\s+pending\s+ready\s+running\s+held back$/);
    expect(list.stdout).toMatch(/emails\s+paused since \S+\s+concurrency 5, key concurrency 2, key rate 5\/500ms\s+2\s+2\s+0\s+paused 2/);
    const [state] = await json('queue', 'list');
    expect(state).toMatchObject({ name: 'emails', paused: true, pending: 2, ready: 2, running: 0, heldBack: { paused: 2, queueLimit: 0, rateLimit: 0, keyLimit: 0 } });

    expect(await taiat('queue', 'resume', 'emails')).toMatchObject({ code: 0, stdout: 'resumed queue emails\n' });
    expect(await json('queue', 'resume', 'emails')).toMatchObject({ name: 'emails', paused: false, pausedAt: null });
    expect(await json('queue', 'pause', 'emails')).toMatchObject({ paused: true });
  });

  it('removes a queue\'s settings, as text and JSON, and says when there were none', async () => {
    expect(await taiat('queue', 'pause', 'typo-queue', '--create')).toMatchObject({ code: 0 });
    await taiat('queue', 'key-limits', 'typo-queue', 'k', '--concurrency', '1');
    expect(await taiat('queue', 'remove', 'typo-queue')).toMatchObject({ code: 0, stderr: '', stdout: 'removed the settings of queue typo-queue\n' });
    expect((await settings()).map((r) => r.name)).not.toContain('typo-queue');
    expect(await db.sql`SELECT 1 FROM taiat_queue_keys WHERE queue = 'typo-queue'`).toHaveLength(0);
    expect(await taiat('queue', 'remove', 'typo-queue')).toMatchObject({ code: 0, stdout: 'queue typo-queue has no settings: nothing removed\n' });
    expect(await json('queue', 'remove', 'typo-queue')).toEqual({ queue: 'typo-queue', removed: false });
  });

  it('sets and clears the limits of one concurrency key', async () => {
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, queue, concurrency_key) VALUES ('k-1', 'agent', 'a', 'tenants', 't-7')`;
    const set = await taiat('queue', 'key-limits', 'tenants', 't-7', '--concurrency', '1', '--rate', '10/1m');
    expect(set).toMatchObject({ code: 0, stderr: '', stdout: 'queue tenants: active; no limits\n  key t-7: concurrency 1, rate 10/1m\n' });
    expect(await json('queue', 'key-limits', 'tenants', 't-7', '--clear', 'rate')).toMatchObject({ keys: [{ key: 't-7', concurrency: 1, rateLimit: null }] });
    expect(await json('queue', 'key-limits', 'tenants', 't-7', '--clear', 'concurrency')).toMatchObject({ keys: [] });
  });

  it('refuses bad input naming the flag, and changes nothing', async () => {
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, queue) VALUES ('b-1', 'agent', 'a', 'bad-input')`;
    await taiat('queue', 'limits', 'bad-input', '--concurrency', '3');
    const before = await settings();
    const cases: [string[], string][] = [
      [['limits', 'bad-input', '--concurrency', '0'], "concurrency: '0' is not a whole number from 1 to 1000000 (remove the limit with --clear concurrency)"],
      [['limits', 'bad-input', '--concurrency', 'many'], "concurrency: 'many' is not a whole number"],
      [['limits', 'bad-input', '--concurrency', '4', '--rate', '20 per second'], "rate: '20 per second' is not a rate: write N/PERIOD"],
      [['limits', 'bad-input', '--key-rate', '5/0ms'], "key-rate: the period of '5/0ms' must be from 1ms to 365d"],
      [['limits', 'bad-input', '--clear', 'speed'], "clear: unknown limit 'speed' (limits: concurrency, key-concurrency, rate, key-rate)"],
      [['limits', 'bad-input', '--concurrency', '4', '--clear', 'concurrency'], 'clear: concurrency is both set (--concurrency) and cleared'],
      [['key-limits', 'bad-input', 'k', '--rate', '0/1s'], "rate: the count of '0/1s' must be a whole number from 1 to 1000000"],
      [['key-limits', 'bad-input', 'k', '--clear', 'key-rate'], "clear: unknown limit 'key-rate' (limits: concurrency, rate)"],
    ];
    for (const [args, message] of cases) {
      const r = await taiat('queue', ...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`error [TAIAT_INVALID_INPUT]: ${message}`);
    }
    expect(await settings()).toEqual(before);
    expect((await taiat('queue', 'limits', 'bad-input', '--bogus', '1')).code).toBe(2);
  });

  it('refuses a queue the database does not know, listing those it knows, unless --create', async () => {
    await db.sql`TRUNCATE taiat_queues CASCADE`;
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, queue) VALUES ('u-1', 'agent', 'a', 'known-one')`;
    const before = await settings();
    // Only a command that accepts --create suggests it: a read or a resume has nothing to create.
    const cases: [string[], string][] = [
      [['pause', 'emials'], '; pass --create to configure it ahead of its first job\n'],
      [['limits', 'emials', '--concurrency', '2'], '; pass --create to configure it ahead of its first job\n'],
      [['key-limits', 'emials', 'k', '--concurrency', '1'], '; pass --create to configure it ahead of its first job\n'],
      [['resume', 'emials'], '; it is not paused, so there is nothing to resume\n'],
      [['limits', 'emials'], '\n'],
      [['key-limits', 'emials', 'k'], '\n'],
    ];
    for (const [args, advice] of cases) {
      const r = await taiat('queue', ...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/^error \[TAIAT_INVALID_INPUT\]: queue: unknown queue 'emials': it has no jobs, no settings, and no live worker serves it \(known: [^)]*known-one[^)]*\)/);
      expect(r.stderr.slice(r.stderr.indexOf(')') + 1), args.join(' ')).toBe(advice);
    }
    expect((await taiat('queue', 'resume', 'emials', '--create')).code).toBe(2);
    expect(await settings()).toEqual(before);

    expect(await json('queue', 'limits', 'later', '--concurrency', '2', '--create')).toMatchObject({ name: 'later', concurrency: 2 });
    expect(await json('queue', 'pause', 'later-too', '--create')).toMatchObject({ name: 'later-too', paused: true });
    expect((await taiat('queue', 'resume', 'later-too')).stdout).toBe('resumed queue later-too\n');
    // Known from history only: accepted.
    await db.sql`INSERT INTO taiat_job_history (id, job_id, job_type, name, status, queue) VALUES ('h-1', 'h-1', 'agent', 'h', 'completed', 'old-queue')`;
    expect((await taiat('queue', 'pause', 'old-queue')).stdout).toBe('paused queue old-queue\n');
  });

  it('lists no queues', async () => {
    await db.sql`TRUNCATE taiat_jobs, taiat_queues CASCADE`;
    expect((await taiat('queue', 'list')).stdout).toBe('no queues\n');
    expect(await json('queue', 'list')).toEqual([]);
  });
});
