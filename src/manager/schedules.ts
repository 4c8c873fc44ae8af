import type { Connection } from '../db/connection.js';
import { ScheduleNotFoundError, ValidationError } from '../errors.js';
import { validateSchedule, type ScheduleDefinition } from '../jobs/schedule.js';
import {
  readSchedules, removeSchedule, setSchedulePaused, triggerTick, upsertSchedule, type Schedule, type SchemaNames,
} from '../store/index.js';

/** The schedule calls of `JobManager`, on its pool and schema (see docs/schedules.md). */
export class ScheduleCalls {
  readonly #conn: Connection;
  readonly #t: SchemaNames;

  constructor(conn: Connection, t: SchemaNames) {
    this.#conn = conn;
    this.#t = t;
  }

  async upsert(id: string, definition: ScheduleDefinition): Promise<Schedule> {
    await upsertSchedule(this.#conn.sql, this.#t, validateSchedule(id, definition), 'api');
    return (await this.get(id))!;
  }

  async list(): Promise<Schedule[]> {
    return readSchedules(this.#conn.sql, this.#t);
  }

  async get(id: string): Promise<Schedule | null> {
    const [schedule] = await readSchedules(this.#conn.sql, this.#t, [checkId(id)]);
    return schedule ?? null;
  }

  async remove(id: string): Promise<void> {
    if (!(await removeSchedule(this.#conn.sql, this.#t, checkId(id)))) throw new ScheduleNotFoundError(id);
  }

  async setPaused(id: string, paused: boolean): Promise<Schedule> {
    if (!(await setSchedulePaused(this.#conn.sql, this.#t, checkId(id), paused))) throw new ScheduleNotFoundError(id);
    return (await this.get(id))!;
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
