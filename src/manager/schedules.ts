import type { Connection } from '../db/connection.js';
import { ScheduleNotFoundError, ValidationError } from '../errors.js';
import { validateSchedule, type ScheduleDefinition } from '../jobs/schedule.js';
import {
  readSchedules, removeSchedule, setSchedulePaused, triggerTick, upsertSchedule, type Schedule, type SchemaNames,
} from '../store/index.js';

/** The schedule calls of `JobManager`, on its pool and schema (see docs/schedules.md). */
export class ScheduleCalls {
  readonly #conn: Connection;
  /** Lists and gets: the replica's pool, or `conn`. What a change returns is read on `conn`. */
  readonly #reads: Connection;
  readonly #t: SchemaNames;

  constructor(conn: Connection, reads: Connection, t: SchemaNames) {
    this.#conn = conn;
    this.#reads = reads;
    this.#t = t;
  }

  async upsert(id: string, definition: ScheduleDefinition): Promise<Schedule> {
    await upsertSchedule(this.#conn.sql, this.#t, validateSchedule(id, definition), 'api');
    return (await this.get(id, this.#conn))!;
  }

  async list(): Promise<Schedule[]> {
    return readSchedules(this.#reads.sql, this.#t);
  }

  async get(id: string, on = this.#reads): Promise<Schedule | null> {
    const [schedule] = await readSchedules(on.sql, this.#t, [checkId(id)]);
    return schedule ?? null;
  }

  async remove(id: string): Promise<void> {
    if (!(await removeSchedule(this.#conn.sql, this.#t, checkId(id)))) throw new ScheduleNotFoundError(id);
  }

  async setPaused(id: string, paused: boolean): Promise<Schedule> {
    if (!(await setSchedulePaused(this.#conn.sql, this.#t, checkId(id), paused))) throw new ScheduleNotFoundError(id);
    return (await this.get(id, this.#conn))!;
  }

  async trigger(id: string): Promise<string[]> {
    const ids = await triggerTick(this.#conn.sql, this.#t, checkId(id));
    if (ids === null) throw new ScheduleNotFoundError(id);
    return ids;
  }
}

function checkId(id: unknown): string {
  if (typeof id !== 'string' || id === '' || id.length > 200) throw new ValidationError('id', 'a schedule id must be a non-empty string of at most 200 characters');
  return id;
}
