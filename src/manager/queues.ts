import type { Connection } from '../db/connection.js';
import { ValidationError } from '../errors.js';
import { checkName, validateKeyLimits, validateQueueLimits } from '../jobs/queue-limits.js';
import {
  queueExists, readQueueSettings, readQueueStates, removeQueueSettings, setKeyLimits, setQueueLimits, setQueuePaused,
  type QueueSettings, type QueueState, type SchemaNames,
} from '../store/index.js';

/** The queue calls of `JobManager` (pause, resume, limits), on its pool and schema (see docs/flow-control.md). */
export class QueueCalls {
  readonly #conn: Connection;
  /** Lists and gets: the replica's pool, or `conn`. What a change returns is read on `conn`. */
  readonly #reads: Connection;
  readonly #t: SchemaNames;

  constructor(conn: Connection, reads: Connection, t: SchemaNames) {
    this.#conn = conn;
    this.#reads = reads;
    this.#t = t;
  }

  async setPaused(name: unknown, paused: boolean): Promise<QueueSettings> {
    const queue = checkName(name, 'queue', 'a queue name');
    if (!paused) await this.#known(queue);
    await setQueuePaused(this.#conn.sql, this.#t, queue, paused);
    return (await this.get(queue, this.#conn))!;
  }

  async setLimits(name: unknown, limits: unknown): Promise<QueueSettings> {
    const queue = checkName(name, 'queue', 'a queue name');
    await setQueueLimits(this.#conn.sql, this.#t, queue, validateQueueLimits(limits, 'limits'), 'api');
    return (await this.get(queue, this.#conn))!;
  }

  async setKeyLimits(name: unknown, key: unknown, limits: unknown): Promise<QueueSettings> {
    const queue = checkName(name, 'queue', 'a queue name');
    const concurrencyKey = checkName(key, 'concurrencyKey', 'a concurrency key');
    await setKeyLimits(this.#conn.sql, this.#t, queue, concurrencyKey, validateKeyLimits(limits, 'limits'));
    return (await this.get(queue, this.#conn))!;
  }

  async remove(name: unknown): Promise<boolean> {
    return removeQueueSettings(this.#conn.sql, this.#t, checkName(name, 'queue', 'a queue name'));
  }

  async get(name: unknown, on = this.#reads): Promise<QueueSettings | null> {
    const [settings] = await readQueueSettings(on.sql, this.#t, [checkName(name, 'queue', 'a queue name')]);
    return settings ?? null;
  }

  async list(): Promise<QueueState[]> {
    return readQueueStates(this.#reads.sql, this.#t);
  }

  /** A queue to resume must be known: a typo would otherwise resume nothing, and say nothing. */
  async #known(queue: string): Promise<void> {
    if (!(await queueExists(this.#conn.sql, this.#t, queue))) {
      throw new ValidationError('queue', `unknown queue '${queue}': it has no jobs, no settings, and no live worker serves it`);
    }
  }
}
