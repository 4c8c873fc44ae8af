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
