import type { Argv } from 'yargs';
import { resolveSchema } from '../../config/schema-name.js';
import { openConnection } from '../../db/connection.js';
import { ValidationError } from '../../errors.js';
import { checkName, validateKeyLimits, validateQueueLimits, type KeyLimits, type QueueLimits, type RateLimit } from '../../jobs/queue-limits.js';
import { queueExists, readKnownQueues, schemaNames, type QueueSettings, type QueueState } from '../../store/index.js';
import { heldBackText, limitsText, table } from '../../status/format.js';
import { databaseOptions, jsonOption, printJson, withManager } from '../common.js';

const UNITS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 } as const;

/** `20/1s`, `100/1m`, `5/500ms`, `10/s` -> `{ limit, periodSeconds }`; anything else names the flag. */
export function parseRate(text: string, flag: string): RateLimit {
  const m = /^(\d+)\/(\d+(?:\.\d+)?)?(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new ValidationError(flag, `'${text}' is not a rate: write N/PERIOD, e.g. 20/1s, 100/1m, 5/500ms (units ms, s, m, h, d)`);
  const limit = Number(m[1]);
  const periodSeconds = Math.round(Number(m[2] ?? '1') * UNITS[m[3] as keyof typeof UNITS] * 1e6) / 1e6;
  if (!(limit >= 1 && limit <= 1_000_000)) throw new ValidationError(flag, `the count of '${text}' must be a whole number from 1 to 1000000`);
  if (!(periodSeconds >= 0.001 && periodSeconds <= 31_536_000)) throw new ValidationError(flag, `the period of '${text}' must be from 1ms to 365d`);
  return { limit, periodSeconds };
}

/** A count flag: a whole number from 1 to 1,000,000. */
export function parseCount(text: string, flag: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 1_000_000)) {
    throw new ValidationError(flag, `'${text}' is not a whole number from 1 to 1000000 (remove the limit with --clear ${flag})`);
  }
  return n;
}

/** The flag of each field of the limits, and the other way round. */
const QUEUE_FLAGS = { concurrency: 'concurrency', keyConcurrency: 'key-concurrency', rateLimit: 'rate', keyRateLimit: 'key-rate' } as const;
const KEY_FLAGS = { concurrency: 'concurrency', rateLimit: 'rate' } as const;

interface LimitArgs { concurrency?: string; keyConcurrency?: string; rate?: string; keyRate?: string; clear?: string }

/**
 * The limits a `limits` or `key-limits` command sets (a flag left out keeps its limit, `--clear`
 * removes one), checked as the library checks them, with the flag named; null when it sets none.
 */
export function limitsFromArgs<K extends 'queue' | 'key'>(args: LimitArgs, kind: K): (K extends 'queue' ? QueueLimits : KeyLimits) | null {
  const flags: Record<string, string> = kind === 'queue' ? QUEUE_FLAGS : KEY_FLAGS;
  const given: Record<string, string | undefined> = {
    concurrency: args.concurrency, keyConcurrency: args.keyConcurrency, rateLimit: args.rate, keyRateLimit: args.keyRate,
  };
  const limits: Record<string, unknown> = {};
  for (const [field, flag] of Object.entries(flags)) {
    const text = given[field];
    if (text === undefined) continue;
    limits[field] = field.startsWith('rate') || field.startsWith('keyRate') ? parseRate(String(text), flag) : parseCount(String(text), flag);
  }
  const cleared = args.clear === undefined ? [] : String(args.clear).split(',').map((s) => s.trim()).filter(Boolean);
  if (args.clear !== undefined && cleared.length === 0) throw new ValidationError('clear', `name the limits to remove: ${Object.values(flags).join(', ')}`);
  for (const flag of cleared) {
    const field = Object.keys(flags).find((f) => flags[f] === flag);
    if (!field) throw new ValidationError('clear', `unknown limit '${flag}' (limits: ${Object.values(flags).join(', ')})`);
    if (field in limits && limits[field] !== null) throw new ValidationError('clear', `${flag} is both set (--${flag}) and cleared`);
    limits[field] = null;
  }
  if (Object.keys(limits).length === 0) return null;
  try {
    return (kind === 'queue' ? validateQueueLimits(limits) : validateKeyLimits(limits)) as K extends 'queue' ? QueueLimits : KeyLimits;
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const field = error.field.split('.')[0]!;
    throw new ValidationError(flags[field] ?? error.field, error.message.slice(error.field.length + 2));
  }
}

const when = (d: Date | null) => (d ? d.toISOString() : '-');

/** A queue's settings as text: its state and limits, then one line per key with limits of its own. */
export function settingsText(name: string, q: QueueSettings | null): string {
  if (!q) return `queue ${name}: active; no limits\n`;
  const limits = limitsText(q, 0);
  let out = `queue ${q.name}: ${q.paused ? `paused since ${when(q.pausedAt)}` : 'active'}; ${limits === '-' ? 'no limits' : limits}`
    + `${q.source === 'module' ? ' (set by an agents module)' : ''}\n`;
  for (const k of q.keys) out += `  key ${k.key}: ${limitsText({ concurrency: k.concurrency, keyConcurrency: null, rateLimit: k.rateLimit, keyRateLimit: null }, 0)}\n`;
  return out;
}

function queueRows(list: QueueState[]): string {
  return table([
    ['queue', 'state', 'limits', 'pending', 'ready', 'running', 'held back'],
    ...list.map((q) => [
      q.name, q.paused ? `paused since ${when(q.pausedAt)}` : 'active', limitsText(q, q.keys.length), String(q.pending), String(q.ready),
      String(q.running), heldBackText(q.heldBack),
    ]),
  ], '');
}

/**
 * What the refusal of an unknown queue adds, by what the command would do: only a change can be
 * made with --create, so only a change suggests it (resume and a read have no such flag).
 */
const UNKNOWN_QUEUE_ADVICE = {
  change: '; pass --create to configure it ahead of its first job',
  resume: '; it is not paused, so there is nothing to resume',
  read: '',
} as const;

/** Refuses a queue the database does not know (no jobs, settings or live worker), listing those it knows. */
async function mustBeKnown(url: string, schema: string | undefined, name: string, use: keyof typeof UNKNOWN_QUEUE_ADVICE): Promise<void> {
  const conn = openConnection(url, { max: 1, applicationName: 'taiat queue' });
  try {
    const t = schemaNames(resolveSchema(schema));
    if (await queueExists(conn.sql, t, name)) return;
    const known = await readKnownQueues(conn.sql, t);
    throw new ValidationError('queue', `unknown queue '${name}': it has no jobs, no settings, and no live worker serves it `
      + `(known: ${known.length ? known.join(', ') : 'none'})${UNKNOWN_QUEUE_ADVICE[use]}`);
  } finally {
    await conn.close();
  }
}

const nameArg = { type: 'string', demandOption: true, describe: 'Queue name' } as const;
const createOption = { create: { type: 'boolean', default: false, describe: 'Accept a queue the database does not know yet (configure it ahead of its first job)' } } as const;
const countFlag = (describe: string) => ({ type: 'string', describe } as const);

/** `taiat queue list|pause|resume|remove|limits|key-limits`. */
export function queueCommands(y: Argv) {
  return y.command('queue <command>', 'List queues; pause, resume, limit them, remove their settings', (qc) => {
    qc.command('list', 'List queues with settings or live jobs: state, limits, counts, what holds ready jobs back', (c) =>
      c.options({ ...databaseOptions, ...jsonOption }).example('$0 queue list --json', 'every queue as JSON'),
      (argv) => withManager(argv, async (jobs) => {
        const list = await jobs.listQueues();
        if (argv.json) printJson(list);
        else process.stdout.write(list.length ? queueRows(list) : 'no queues\n');
      }));
    for (const act of ['pause', 'resume'] as const) {
      qc.command(`${act} <name>`, act === 'pause' ? 'Pause a queue: no worker claims its jobs until it is resumed' : 'Resume a paused queue',
        (c) => c.options({ ...databaseOptions, ...jsonOption, ...(act === 'pause' ? createOption : {}) }).positional('name', nameArg)
          .example(`$0 queue ${act} emails`, act === 'pause' ? 'running jobs finish; ready ones wait' : 'workers take its jobs again'),
        (argv) => withManager(argv, async (jobs, url) => {
          const name = String(argv.name);
          if (!(argv as { create?: boolean }).create) await mustBeKnown(url, argv.schema, name, act === 'pause' ? 'change' : 'resume');
          const q = act === 'pause' ? await jobs.pauseQueue(name) : await jobs.resumeQueue(name);
          if (argv.json) printJson(q);
          else process.stdout.write(`${act === 'pause' ? 'paused' : 'resumed'} queue ${name}\n`);
        }));
    }
    qc.command('remove <name>', "Remove a queue's settings (pause, limits, keys' limits): its jobs are claimed as any queue's", (c) =>
      c.options({ ...databaseOptions, ...jsonOption }).positional('name', nameArg)
        .example('$0 queue remove emials', "a typo's queue leaves the listings"),
      (argv) => withManager(argv, async (jobs) => {
        const name = String(argv.name);
        const removed = await jobs.removeQueue(name);
        if (argv.json) printJson({ queue: name, removed });
        else process.stdout.write(removed ? `removed the settings of queue ${name}\n` : `queue ${name} has no settings: nothing removed\n`);
      }));
    qc.command('limits <name>', "Set or remove a queue's limits; with no flag, print its settings", (c) =>
      c.options({
        ...databaseOptions, ...jsonOption, ...createOption,
        concurrency: countFlag('Most jobs of the queue running at once, across all workers'),
        'key-concurrency': countFlag('Most running jobs of one concurrency key'),
        rate: { type: 'string', describe: 'Most claims per period: N/PERIOD, e.g. 20/1s, 100/1m, 5/500ms' },
        'key-rate': { type: 'string', describe: 'Most claims of one concurrency key per period: N/PERIOD' },
        clear: { type: 'string', describe: 'Limits to remove, comma-separated: concurrency, key-concurrency, rate, key-rate' },
      }).positional('name', nameArg)
        .example('$0 queue limits emails --concurrency 5 --rate 20/1s', 'at most 5 running, 20 started a second')
        .example('$0 queue limits emails --clear rate', 'remove the rate limit'),
      async (argv) => {
        const name = String(argv.name);
        const limits = limitsFromArgs(argv as LimitArgs, 'queue');
        await withManager(argv, async (jobs, url) => {
          if (!argv.create) await mustBeKnown(url, argv.schema, name, limits ? 'change' : 'read');
          const q = limits ? await jobs.setQueueLimits(name, limits) : await jobs.getQueue(name);
          if (argv.json) printJson(q);
          else process.stdout.write(settingsText(name, q));
        });
      });
    qc.command('key-limits <queue> <key>', "Set or remove one concurrency key's limits (in place of its queue's key limits)", (c) =>
      c.options({
        ...databaseOptions, ...jsonOption, ...createOption,
        concurrency: countFlag('Most running jobs of this key'),
        rate: { type: 'string', describe: 'Most claims of this key per period: N/PERIOD, e.g. 5/1m' },
        clear: { type: 'string', describe: 'Limits to remove, comma-separated: concurrency, rate' },
      }).positional('queue', nameArg).positional('key', { type: 'string', demandOption: true, describe: 'Concurrency key' })
        .example('$0 queue key-limits emails tenant-7 --concurrency 1', 'one job of tenant-7 at a time'),
      async (argv) => {
        const [name, key] = [String(argv.queue), checkName(String(argv.key), 'key', 'a concurrency key')];
        const limits = limitsFromArgs(argv as LimitArgs, 'key');
        await withManager(argv, async (jobs, url) => {
          if (!argv.create) await mustBeKnown(url, argv.schema, name, limits ? 'change' : 'read');
          const q = limits ? await jobs.setKeyLimits(name, key, limits) : await jobs.getQueue(name);
          if (argv.json) printJson(q);
          else process.stdout.write(settingsText(name, q));
        });
      });
    return qc.demandCommand(1, 'name a queue command (see --help)');
  });
}
