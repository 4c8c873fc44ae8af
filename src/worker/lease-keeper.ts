import type { Logger } from 'pino';
import type { Connection, Sql } from '../db/connection.js';
import { recordHeartbeat, renewLeases, rescueExpiredJobs, type SchemaNames, type WorkerRegistration } from '../store/index.js';
import type { JobAbortReason } from './types.js';
import { runEvery } from './timers.js';

export interface LeaseKeeperOptions {
  t: SchemaNames;
  leaseSeconds: number;
  heartbeatInterval: number;
  backoff: { base: number; max: number; jitter: number };
}

/** What the lease keeper needs from the rest of the worker. */
export interface LeaseKeeperPorts {
  /** Jobs this worker holds: running or in its local queue. */
  heldIds(): string[];
  /** Whether a job is still running or queued here. */
  holds(jobId: string): boolean;
  /** Jobs whose outcome is decided but not written yet: still running in the database. */
  writingIds(): string[];
  abort(jobId: string, reason: JobAbortReason): void;
  recovered(jobId: string, outcome: 'retried' | 'failed'): void;
  /** A heartbeat went through: the database answers. */
  reachable(): void;
  /** Jobs went back to pending, ready now or once their retry falls due in `retryInSeconds` (Infinity: none). */
  mayHaveMadeReady(retryInSeconds: number): void;
  survive(error: unknown): void;
}

/**
 * Keeps this worker's claims alive and takes back those of lost workers: every
 * `heartbeatInterval` it records the worker's heartbeat and renews the leases of the jobs it
 * holds (aborting those it lost, or whose cancellation was requested); every `leaseSeconds / 2`
 * it rescues jobs whose lease expired.
 */
export class LeaseKeeper {
  readonly #claimSql: Sql;
  readonly #conn: Connection;
  readonly #registration: WorkerRegistration;
  readonly #opts: LeaseKeeperOptions;
  readonly #log: Logger;
  readonly #ports: LeaseKeeperPorts;
  #timers: (() => Promise<void>)[] = [];

  /** Heartbeats go through the claims' pool, so a backlog of outcome writes never delays one. */
  constructor(claimSql: Sql, conn: Connection, registration: WorkerRegistration, options: LeaseKeeperOptions, log: Logger, ports: LeaseKeeperPorts) {
    this.#claimSql = claimSql;
    this.#conn = conn;
    this.#registration = registration;
    this.#opts = options;
    this.#log = log;
    this.#ports = ports;
  }

  start(): void {
    this.#timers.push(runEvery(this.#opts.heartbeatInterval, () => this.heartbeat(), this.#ports.survive));
    this.#timers.push(runEvery(this.#opts.leaseSeconds / 2, () => this.rescue(), this.#ports.survive));
  }

  /** Stops the timers; resolves once a heartbeat or rescue in flight has settled. */
  async stop(): Promise<void> {
    await Promise.all(this.#timers.splice(0).map((stop) => stop()));
  }

  /** Records the heartbeat and renews the leases of the jobs held here. */
  async heartbeat(): Promise<void> {
    await recordHeartbeat(this.#claimSql, this.#opts.t, this.#registration);
    this.#ports.reachable();
    // Finished jobs whose outcome is not written yet are still running in the database: renew
    // them too, or a slow write lets their lease expire and another worker runs them again.
    const writing = this.#ports.writingIds();
    const held = [...this.#ports.heldIds(), ...writing];
    if (held.length === 0) return;
    const renewed = await renewLeases(this.#claimSql, this.#opts.t, this.#registration.id, held, this.#opts.leaseSeconds);
    const decided = new Set(writing);
    for (const id of held) {
      if (decided.has(id)) continue; // its outcome is decided; the guarded write settles it
      if (!this.#ports.holds(id)) continue; // finished while renewing
      if (!renewed.has(id)) this.#ports.abort(id, 'lease-lost');
      else if (renewed.get(id)) this.#ports.abort(id, 'cancelled');
    }
  }

  /** Takes back the jobs of lost workers (expired leases). */
  async rescue(): Promise<void> {
    const rescued = await rescueExpiredJobs(this.#conn, this.#opts.t, this.#opts.backoff);
    for (const id of rescued.retried) this.#ports.recovered(id, 'retried');
    for (const id of rescued.failed) this.#ports.recovered(id, 'failed');
    if (rescued.retried.length + rescued.failed.length > 0) {
      this.#log.warn({ retried: rescued.retried, failed: rescued.failed }, 'took back jobs of a lost worker');
      this.#ports.mayHaveMadeReady(rescued.firstRetryInSeconds);
    }
  }
}
