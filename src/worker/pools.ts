import type { Logger } from 'pino';
import { openConnection, type Connection } from '../db/connection.js';
import type { SchemaNames } from '../store/index.js';
import { withDeadline } from './timers.js';

/**
 * The worker's pools: claims and heartbeats have one of their own, so that a backlog of outcome
 * writes never delays a heartbeat; notifications come on `listen` when a direct URL is given
 * for them (the others go through a transaction pooler), else on `main`.
 */
export interface Pools {
  main: Connection;
  claims: Connection;
  listen: Connection | null;
}

export interface PoolOptions {
  maxConnections: number;
  /** The URL goes through a pooler in transaction mode: no prepared statements, no LISTEN on it. */
  transactionPooling: boolean;
  listenDatabaseUrl?: string | undefined;
}

// Claims commit durably: committed asynchronously, a Postgres crash could undo a claim after its
// job had run, and the rerun would reuse the attempt number.
export function openPools(url: string, o: PoolOptions, applicationName: string): Pools {
  const prepare = !o.transactionPooling;
  return {
    main: openConnection(url, { max: o.maxConnections, applicationName, prepare }),
    claims: openConnection(url, { max: 2, applicationName, prepare }),
    listen: o.listenDatabaseUrl ? openConnection(o.listenDatabaseUrl, { max: 1, applicationName, field: 'listenDatabaseUrl' }) : null,
  };
}

export async function closePools(pools: Pools): Promise<void> {
  await Promise.all([pools.main.close(), pools.claims.close(), pools.listen?.close()]);
}

/**
 * Listens for the ready and cancel channels; returns how to stop. Through a transaction pooler
 * LISTEN is accepted and delivers nothing (a later transaction runs on another server
 * connection): without a direct URL for it the worker listens to nothing, says so once, and finds
 * jobs by polling every `pollInterval` and cancellations at each heartbeat.
 */
export async function listenForNotifications(
  pools: Pools, t: SchemaNames, o: PoolOptions & { pollInterval: number }, log: Logger,
  on: { ready(queue: string): void; cancel(jobId: string): void },
): Promise<(() => Promise<void>)[]> {
  const sql = (pools.listen ?? pools.main).sql;
  if (!pools.listen && o.transactionPooling) {
    log.warn({ pollInterval: o.pollInterval }, 'transactionPooling without listenDatabaseUrl: no notifications through the pooler; new jobs are found by polling every pollInterval seconds, cancellations at each heartbeat (set listenDatabaseUrl to a direct connection for instant wake-ups)');
    return [];
  }
  const stops: (() => Promise<void>)[] = [];
  try {
    await withDeadline(Promise.all([
      sql.listen(t.readyChannel, on.ready).then((l) => stops.push(() => l.unlisten())),
      sql.listen(t.cancelChannel, on.cancel).then((l) => stops.push(() => l.unlisten())),
    ]), 10_000, 'listening for notifications');
  } catch (error) {
    await Promise.allSettled(stops.map((s) => s()));
    throw error;
  }
  return stops;
}
