import type { Logger } from 'pino';
import type { Connection } from '../db/connection.js';
import { removeOrphanedModuleSchedules, runDueTicks, type SchemaNames } from '../store/index.js';
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
