import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { nextTick, tickJobs, ticksBetween, ticksToRun, validateSchedule } from '../../src/jobs/schedule.js';

const job = { jobType: 'agent', name: 'report', payload: { agent_name: 'report' } };
const at = (iso: string) => new Date(iso);

describe('schedule definitions', () => {
  it('take a cron expression (5 or 6 fields) or an interval, a time zone and a job or a graph', () => {
    expect(validateSchedule('nightly', { cron: '0 3 * * *', timeZone: 'Europe/Berlin', job })).toMatchObject({
      id: 'nightly', cron: '0 3 * * *', everySeconds: null, timeZone: 'Europe/Berlin', catchUp: 'skip', catchUpLimit: 100, paused: false,
    });
    expect(validateSchedule('often', { cron: '*/10 * * * * *', job }).cron).toBe('*/10 * * * * *');
    for (const [every, seconds] of [['30s', 30], ['15m', 900], ['2h', 7200], ['1d', 86_400], [90, 90]] as const) {
      expect(validateSchedule('i', { every, job }).everySeconds).toBe(seconds);
    }
    expect(validateSchedule('graph', { every: '1h', job: [{ ...job, id: 'a' }, { ...job, id: 'b', dependencies: ['a'] }] }).template).toHaveLength(2);
  });

  it.each([
    [{ cron: 'not cron', job }, 'cron', /not a cron expression/],
    [{ cron: '0 3 * * *', every: '1h', job }, 'cron', /either cron or every, not both/],
    [{ job }, 'cron', /either cron or every/],
    [{ every: '0.5s', job }, 'every', /at least 1 second/],
    [{ every: 'often', job }, 'every', /not an interval/],
    [{ cron: '0 3 * * *', timeZone: 'Mars/Olympus', job }, 'timeZone', /not an IANA time zone/],
    [{ every: '1h', job, catchUp: 'some' }, 'catchUp', /must be one of skip, latest, all/],
    [{ every: '1h' }, 'job', /job is required/],
    [{ every: '1h', job: { ...job, payload: {} } }, 'job.payload.agent_name', /an agent job needs payload.agent_name/],
    [{ every: '1h', job: [{ ...job, id: 'a', dependencies: ['b'] }, { ...job, id: 'b', dependencies: ['a'] }] }, '', /dependency cycle: a \(report\) -> b \(report\) -> a/],
    [{ every: '1h', job, colour: 'red' }, '', /unknown field\(s\): colour/],
    [{ every: '1h', job: [job, { ...job, payload: {} }] }, 'job[1].payload.agent_name', /an agent job needs payload.agent_name/],
  ])('refuses %j, naming %s', (input, field, message) => {
    let error: unknown;
    try {
      validateSchedule('s', input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    if (error instanceof ValidationError) expect(error.field).toBe(field);
    expect((error as Error).message).toMatch(message);
  });
});

describe('ticks', () => {
  it('of an interval fall on its multiples since the epoch', () => {
    const s = { cron: null, everySeconds: 900, timeZone: 'UTC' };
    expect(ticksBetween(s, at('2026-12-07T10:07:00Z'), at('2026-12-07T11:00:00Z'), 10).map((d) => d.toISOString()))
      .toEqual(['2026-12-07T10:15:00.000Z', '2026-12-07T10:30:00.000Z', '2026-12-07T10:45:00.000Z', '2026-12-07T11:00:00.000Z']);
    expect(nextTick(s, at('2026-12-07T10:15:00Z')).toISOString()).toBe('2026-12-07T10:30:00.000Z');
  });

  it('neither skip nor double across daylight-saving changes (Europe/Berlin)', () => {
    const daily = { cron: '30 2 * * *', everySeconds: null, timeZone: 'Europe/Berlin' };
    // Spring: 02:30 does not exist on 2026-03-29; the tick still happens once that day.
    const spring = ticksBetween(daily, at('2026-03-27T12:00:00Z'), at('2026-03-31T12:00:00Z'), 10);
    expect(spring.map((d) => d.toISOString())).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z', '2026-03-31T00:30:00.000Z']);
    // Autumn: 02:30 happens twice on 2026-10-25; the tick happens once.
    const autumn = ticksBetween(daily, at('2026-10-23T12:00:00Z'), at('2026-10-27T12:00:00Z'), 10);
    expect(autumn.map((d) => d.toISOString())).toEqual(['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z', '2026-10-27T01:30:00.000Z']);
    const hourly = { cron: '0 * * * *', everySeconds: null, timeZone: 'Europe/Berlin' };
    // The autumn night has 25 hours, each with its tick, none twice.
    const night = ticksBetween(hourly, at('2026-10-24T22:00:00Z'), at('2026-10-25T23:00:00Z'), 100);
    expect(night).toHaveLength(25);
    expect(new Set(night.map((d) => d.getTime())).size).toBe(25);
  });

  it('missed while no worker ran follow the catch-up policy', () => {
    const now = at('2026-12-07T12:00:30Z');
    const due = [at('2026-12-07T09:00:00Z'), at('2026-12-07T10:00:00Z'), at('2026-12-07T11:00:00Z'), at('2026-12-07T12:00:00Z')];
    expect(ticksToRun(due, 'skip', 100, now)).toEqual([due[3]]);
    expect(ticksToRun(due.slice(0, 3), 'skip', 100, now)).toEqual([]);
    expect(ticksToRun(due.slice(0, 3), 'latest', 100, now)).toEqual([due[2]]);
    expect(ticksToRun(due, 'latest', 100, now)).toEqual([due[2], due[3]]);
    expect(ticksToRun(due, 'all', 100, now)).toEqual(due);
    expect(ticksToRun(due, 'all', 2, now)).toEqual(due.slice(1));
  });

  it('less than a minute late run whatever the policy: a pass a second late is not downtime', () => {
    // An every-second schedule whose pass came 1.6 s after its last: two ticks due, none missed.
    const now = at('2026-12-07T12:00:02.100Z');
    const due = [at('2026-12-07T12:00:01Z'), at('2026-12-07T12:00:02Z')];
    for (const policy of ['skip', 'latest', 'all'] as const) expect(ticksToRun(due, policy, 1, now)).toEqual(due);
    // The grace is a minute: a tick 59 s late runs under skip, one 61 s late does not.
    const late = [at('2026-12-07T11:59:01Z'), at('2026-12-07T11:59:03Z')];
    expect(ticksToRun(late, 'skip', 100, now)).toEqual([late[1]]);
  });

  it('make a graph\'s ids unique per tick, its dependencies following', () => {
    const tick = at('2026-12-07T03:00:00Z');
    const jobs = tickJobs('nightly', tick, [{ ...job, id: 'extract' }, { ...job, id: 'load', dependencies: ['extract', 'outside'] }]);
    expect(jobs.map((j) => [j.id, j.dependencies])).toEqual([
      ['extract@nightly@2026-12-07T03:00:00.000Z', undefined],
      ['load@nightly@2026-12-07T03:00:00.000Z', ['extract@nightly@2026-12-07T03:00:00.000Z', 'outside']],
    ]);
  });
});
