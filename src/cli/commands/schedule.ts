import type { Argv } from 'yargs';
import type { ScheduleDefinition } from '../../jobs/schedule.js';
import type { Schedule } from '../../store/index.js';
import { table } from '../../status/format.js';
import { databaseOptions, jsonOption, printJson, withManager } from '../common.js';
import { jsonArgument } from './json-argument.js';

const when = (d: Date | null) => (d ? d.toISOString() : '-');

function scheduleRows(list: Schedule[]): string {
  return table([
    ['id', 'timing', 'state', 'next tick', 'last tick', 'last outcome', 'source'],
    ...list.map((s) => [
      s.id, s.cron ? `cron ${s.cron}${s.timeZone === 'UTC' ? '' : ` ${s.timeZone}`}` : `every ${s.everySeconds}s`, s.paused ? 'paused' : 'active',
      s.paused ? '-' : when(s.nextTickAt), when(s.lastTickAt), s.lastError ? `error: ${s.lastError}` : s.lastOutcome ?? '-', s.source,
    ]),
  ], '');
}

const idArg = { type: 'string', demandOption: true, describe: 'Schedule id' } as const;

/** `taiat schedule list|add|remove|pause|resume|run`. */
export function scheduleCommands(y: Argv) {
  const one = (name: string, describe: string, example: string, act: 'remove' | 'pause' | 'resume' | 'run') =>
    (s: Argv) => s.command(`${name} <id>`, describe, (c) =>
      c.options({ ...databaseOptions, ...jsonOption }).positional('id', idArg).example(`$0 schedule ${name} nightly`, example),
      (argv) => withManager(argv, async (jobs) => {
        const id = String(argv.id);
        if (act === 'remove') {
          await jobs.removeSchedule(id);
          return argv.json ? printJson({ removed: id }) : void process.stdout.write(`removed schedule ${id}\n`);
        }
        if (act === 'run') {
          const ids = await jobs.triggerSchedule(id);
          return argv.json ? printJson(ids) : void process.stdout.write(`ran a tick of ${id}: ${ids.length} job(s) created\n`);
        }
        const s = act === 'pause' ? await jobs.pauseSchedule(id) : await jobs.resumeSchedule(id);
        if (argv.json) printJson(s);
        else process.stdout.write(`${act === 'pause' ? 'paused' : 'resumed'} schedule ${id}${s.paused ? '' : `; next tick ${when(s.nextTickAt)}`}\n`);
      }));
  return y.command('schedule <command>', 'Create, list, pause, resume, run and remove schedules', (sc) => {
    sc.command('list', 'List schedules with their next and last tick', (c) =>
      c.options({ ...databaseOptions, ...jsonOption }).example('$0 schedule list --json', 'every schedule as JSON'),
      (argv) => withManager(argv, async (jobs) => {
        const list = await jobs.listSchedules();
        if (argv.json) printJson(list);
        else process.stdout.write(list.length ? scheduleRows(list) : 'no schedules\n');
      }));
    sc.command('add <id>', 'Create or change a schedule', (c) =>
      c.options({
        ...databaseOptions, ...jsonOption,
        cron: { type: 'string', describe: 'Cron expression: 5 fields, or 6 with seconds first' },
        every: { type: 'string', describe: 'Interval instead of cron: 30s, 15m, 2h, 1d, or seconds' },
        'time-zone': { type: 'string', describe: 'IANA time zone of the cron expression (default UTC)' },
        job: { type: 'string', demandOption: true, describe: 'What a tick creates: a job (JSON object) or a graph (JSON array), or @file.json' },
        'catch-up': { choices: ['skip', 'latest', 'all'] as const, describe: 'Ticks missed while no worker ran: skip (default), latest, all' },
        'catch-up-limit': { type: 'number', describe: 'With --catch-up all: most missed ticks run (default 100)' },
        paused: { type: 'boolean', describe: 'Create it paused' },
      }).positional('id', idArg)
        .example(`$0 schedule add nightly --cron '0 3 * * *' --time-zone Europe/Berlin --job '{"jobType":"agent","name":"report","payload":{"agent_name":"report"}}'`, 'a job every night at 03:00 Berlin time'),
      (argv) => withManager(argv, async (jobs) => {
        const definition: Record<string, unknown> = {
          cron: argv.cron, every: argv.every, timeZone: argv.timeZone, job: await jsonArgument('job', argv.job),
          catchUp: argv.catchUp, catchUpLimit: argv.catchUpLimit, paused: argv.paused,
        };
        for (const k of Object.keys(definition)) if (definition[k] === undefined) delete definition[k];
        const s = await jobs.upsertSchedule(String(argv.id), definition as unknown as ScheduleDefinition);
        if (argv.json) printJson(s);
        else process.stdout.write(`schedule ${s.id}: next tick ${s.paused ? '(paused)' : when(s.nextTickAt)}\n`);
      }));
    one('remove', 'Remove a schedule (its jobs stay)', 'remove the schedule nightly', 'remove')(sc);
    one('pause', 'Pause a schedule', 'no ticks until resumed', 'pause')(sc);
    one('resume', 'Resume a schedule from its next tick', 'resume nightly', 'resume')(sc);
    one('run', 'Run one tick of a schedule now', 'run a tick of nightly now', 'run')(sc);
    return sc.demandCommand(1, 'name a schedule command (see --help)');
  });
}
