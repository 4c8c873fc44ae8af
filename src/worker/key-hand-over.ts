import type { Sql } from '../db/connection.js';
import type { Job } from '../jobs/model.js';
import { claimLimitedJobs, notifyReady, type FreedPlace, type SchemaNames } from '../store/index.js';
import type { HandOverRoom } from './completer.js';

/** What the key hand-over needs from the claim side. */
export interface KeyHandOverPorts {
  /** Room for up to `places` jobs claimed ahead, held until `handedOver` (none once the worker stops). */
  reserve(places: number): HandOverRoom;
  /** Claims up to `limit` next jobs of the keys of `places`, each key no more than its places listed. */
  claim(places: readonly FreedPlace[], limit: number): Promise<Job[]>;
  /** Queues the claimed jobs (or none) and gives the room back. */
  handedOver(jobs: Job[], room: HandOverRoom): Promise<void>;
  /** Tells every worker of these queues that places are free (those this worker left). */
  announce(queues: string[]): Promise<void>;
  /** Places were left over: this worker's own claim loop looks again too (it may have room by then). */
  leftOver(): void;
  survive(error: unknown): void;
}

/**
 * The hand-over of queues that limit only their keys: once an outcome write has committed, the
 * places it freed are claimed for their keys' next jobs (into the local queue), in a claim of its
 * own beside the next write. Taking them in the write's transaction kept the writer waiting on
 * the claim, and every write then waited on the one before (W8's limited drain is 9-12% faster apart; docs/performance.md). The places of writes
 * that commit while a claim is in flight wait for it and go together in the next one. A place
 * freed here and taken by another worker first is no loss: a key's place is that key's, whoever
 * runs its next job; places left over (no room here, or no job of the key left) are announced.
 */
export class KeyHandOver {
  readonly #ports: KeyHandOverPorts;
  #pending: FreedPlace[] = [];
  #chain: Promise<void> = Promise.resolve();

  constructor(ports: KeyHandOverPorts) {
    this.#ports = ports;
  }

  /** Takes the places a committed write freed; resolves once they are claimed and queued (or given up). */
  freed(places: readonly FreedPlace[]): Promise<void> {
    if (places.length === 0) return this.#chain;
    this.#pending.push(...places);
    // One claim at a time; a step that finds nothing pending (an earlier one took its places) ends
    // at once. A step that throws (a port's own fault) must not stop every later one.
    this.#chain = this.#chain.then(() => this.#claimPending()).catch(() => undefined);
    return this.#chain;
  }

  async #claimPending(): Promise<void> {
    const places = this.#pending.splice(0);
    if (places.length === 0) return;
    const room = this.#ports.reserve(places.length);
    let jobs: Job[] = [];
    try {
      if (room.limit > 0) jobs = await this.#ports.claim(places, room.limit);
    } catch (error) {
      // The places stay free in the database: the claim loop's next look (a second at most) takes them.
      this.#ports.survive(error);
    } finally {
      await this.#ports.handedOver(jobs, room).catch((error: unknown) => this.#ports.survive(error));
    }
    const ofQueue = (q: string) => (item: { queue: string }) => item.queue === q;
    const left = queuesOf(places).filter((q) => places.filter(ofQueue(q)).length > jobs.filter(ofQueue(q)).length);
    if (left.length === 0) return;
    this.#ports.leftOver();
    await this.#ports.announce(left).catch((error: unknown) => this.#ports.survive(error));
  }
}

/**
 * A producer's key hand-over, its claims and announcements on the worker's main pool (`sql`): the
 * claims pool is the claim loop's and the heartbeats', and a key claim waiting there on a queue's
 * row beside the loop's would leave lease renewals no connection.
 */
export function keyHandOver(
  sql: Sql, o: { t: SchemaNames; workerId: string; leaseSeconds: number },
  side: Pick<KeyHandOverPorts, 'reserve' | 'handedOver' | 'leftOver' | 'survive'>,
): KeyHandOver {
  return new KeyHandOver({
    ...side,
    claim: (places, limit) => claimLimitedJobs(sql, o.t, o.workerId, queuesOf(places), limit, o.leaseSeconds, places),
    announce: (queues) => notifyReady(sql, o.t, queues),
  });
}

function queuesOf(places: readonly FreedPlace[]): string[] {
  return [...new Set(places.map((p) => p.queue))];
}
