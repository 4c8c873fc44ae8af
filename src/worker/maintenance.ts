import type { Logger } from 'pino';
import type { Connection } from '../db/connection.js';
import { dropExpiringBound, ensureHistoryPartitions, removeOrphanedModuleSchedules, runDueTicks, type SchemaNames } from '../store/index.js';
import { runEvery } from './timers.js';

/**
 * A periodic task of the fleet's upkeep (pruning history; schedules next). Any worker may run
 * one at any time: each must be safe to repeat and to run from several workers at once.
 */
export interface MaintenanceService {
  name: string;
  intervalSeconds: number;
  run(): Promise<unknown>;
}

/** Runs a worker's maintenance services on their intervals, each one run at a time. */
export class Maintenance {
  readonly #services: MaintenanceService[];
  readonly #onError: (error: unknown) => void;
  #timers: (() => Promise<void>)[] = [];

  constructor(services: MaintenanceService[], onError: (error: unknown) => void) {
    this.#services = services;
    this.#onError = onError;
  }

  start(): void {
    for (const service of this.#services) this.#timers.push(runEvery(service.intervalSeconds, () => service.run(), this.#onError));
  }

  /** Stops the timers. A run in flight is not awaited: a prune may take long, and each batch commits on its own. */
  stop(): void {
    for (const stop of this.#timers.splice(0)) void stop();
  }
}

/**
 * The scheduler's services: every half second, the ticks due (the database shares them out among
 * workers and makes each happen once); every minute, the module schedules no live worker declares
 * any more are removed. Without `runTicks`, only the second.
 */
export function scheduleServices(conn: Connection, t: SchemaNames, runTicks: boolean, log: Logger): MaintenanceService[] {
  const services: MaintenanceService[] = [{
    name: 'remove orphaned module schedules',
    intervalSeconds: 60,
    run: async () => {
      const removed = await removeOrphanedModuleSchedules(conn.sql, t);
      if (removed.length > 0) log.info({ schedules: removed }, 'removed schedules no live worker declares');
    },
  }];
  if (runTicks) {
    services.push({
      name: 'run schedule ticks',
      intervalSeconds: 0.5,
      run: async () => {
        const run = await runDueTicks(conn.sql, t);
        if (run.ticks > 0 && log.isLevelEnabled('debug')) log.debug({ ticks: run.ticks, jobs: run.jobs }, 'schedule ticks run');
        for (const f of run.failed) log.warn({ schedule: f.id, error: f.error }, 'a schedule tick could not create its jobs');
      },
    });
  }
  return services;
}

/**
 * Every 10 minutes, the partitions of a partitioned history for the current period and the next
 * ones (idempotent, one worker at a time under an advisory lock). On a plain history: the bound
 * CHECK a conversion that died before its swap left, once the bound is near (past it, every move
 * into history would fail). Creating a table needs the tables' owner: a worker running as a role
 * with only table privileges says so once and leaves it to `taiat history partition` (the default
 * partition keeps every insert working meanwhile).
 */
export function historyPartitionService(conn: Connection, t: SchemaNames, log: Logger): MaintenanceService {
  let warned = false;
  return {
    name: 'create history partitions',
    intervalSeconds: 600,
    run: async () => {
      try {
        const created = await ensureHistoryPartitions(conn.sql, t);
        if (created && created.length > 0) log.info({ partitions: created }, 'history partitions created');
        if (created === null && (await dropExpiringBound(conn.sql, t))) {
          log.warn('dropped the bound CHECK a failed `taiat history partition` left on history (its bound was near); run the command again to partition');
        }
      } catch (error) {
        if ((error as { code?: string }).code !== '42501') throw error;
        if (!warned) log.warn({ err: error }, 'history partitions cannot be created (nor a failed conversion\'s CHECK dropped) by this role; run `taiat history partition` as the owner');
        warned = true;
      }
    },
  };
}
