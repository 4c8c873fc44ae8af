import type { Sql } from '../db/connection.js';
import { readControlledQueues, type SchemaNames } from '../store/index.js';
import type { HandOverRoom } from './completer.js';

/**
 * The worker's queues that have flow control, as last read: at most a second old while claiming.
 * Limits hold whatever it says (each claim checks them itself); it decides only how soon a queue
 * newly limited is claimed again (a newly resumed one is announced by a notification).
 */
export interface FlowControl {
  queues: string[];
  /** Some of them have a rate limit: a short claim asks when the window opens again. */
  rated: boolean;
  /** Every one limits only its keys' running jobs: they may be claimed ahead, like others. */
  ahead: boolean;
}

/**
 * The worker's view of flow control: which of its queues have it, and how many of its free slots
 * claims of them in flight have reserved. Jobs of a queue with a running or rate limit are
 * claimed for free slots only (one claimed ahead would hold a place of the whole fleet's while
 * it waits here), and two claims may be in flight at once (the claim loop's, and the one an
 * outcome write makes for the places its jobs free): each takes the slots the other has not.
 */
export class FlowView {
  #flow: FlowControl = { queues: [], rated: false, ahead: true };
  #readAt = 0;
  #reserved = 0;
  /** What hand-overs by key in flight may claim ahead (room kept from the claim loop's). */
  #heldAhead = 0;
  #known = false;
  readonly #read: () => Promise<FlowControl>;
  readonly #changed: () => void;

  /** `changed`: called when the set of limited queues changed (a claim should look again). */
  constructor(reads: Sql, t: SchemaNames, queues: string[], changed: () => void) {
    this.#read = () => readControlledQueues(reads, t, queues);
    this.#changed = changed;
  }

  get current(): FlowControl {
    return this.#flow;
  }

  /** Whether a reading has come back: before it, a limited queue is claimed by no one. */
  get known(): boolean {
    return this.#known;
  }

  /**
   * Reads the flow control again if a second passed, beside the claim, for the claims after it;
   * resolves when that reading is in (at once when none is due).
   */
  refresh(): Promise<void> {
    if (Date.now() - this.#readAt < 1000) return Promise.resolve();
    this.#readAt = Date.now();
    return this.#read().then((flow) => {
      const changed = flow.queues.join() !== this.#flow.queues.join();
      this.#flow = flow;
      this.#known = true;
      if (changed) this.#changed();
    }, () => undefined); // the claim beside it meets the same error and reports it
  }

  /**
   * Reserves, of `free` slots, those no other claim in flight holds (at most `most`), for a claim
   * of the limited queues; 0 when there are none or their jobs may be claimed ahead (no
   * reservation needed).
   */
  reserve(free: number, most = Infinity): number {
    if (this.#flow.queues.length === 0 || this.#flow.ahead) return 0;
    const n = Math.max(0, Math.min(most, free - this.#reserved));
    this.#reserved += n;
    return n;
  }

  /** Gives back what `reserve` gave, once its claim has answered (or failed). */
  unreserve(n: number): void {
    this.#reserved -= n;
  }

  /** Room in the local queue that hand-overs by key in flight may fill. */
  get heldAhead(): number {
    return this.#heldAhead;
  }

  /**
   * Most outcomes one write should take: when places pass on by key, half of those the worker can
   * hold (`holdable`: its local queue and slots), so it runs what one write handed over while the
   * next is made (a write of every place at once leaves it idle meanwhile, and the writer idle
   * while it runs them).
   */
  handOverBatch(holdable: number): number {
    return this.#flow.queues.length > 0 && this.#flow.ahead ? Math.max(1, Math.ceil(holdable / 2)) : Infinity;
  }

  /**
   * What an outcome write freeing `most` places may claim in its transaction: of `free` slots,
   * those no claim in flight holds; nothing when the queues limit only their keys (`byKey`: their
   * places pass on after the write commits, through the key hand-over). Held until `handedOver`.
   */
  reserveHandOver(free: number, most: number): HandOverRoom {
    if (this.#flow.queues.length > 0 && this.#flow.ahead) return { limit: 0, byKey: true };
    return { limit: this.reserve(free, most), byKey: false };
  }

  /**
   * Room for the next jobs of keys whose places a write freed (`places` of them), when the queues
   * limit only their keys: claimed ahead into the local queue's room (`localQueueSize` and the free
   * slots, less what other hand-overs hold). Held until `handedOver`.
   */
  reserveAhead(free: number, localQueueSize: number, places: number): HandOverRoom {
    const limit = Math.max(0, Math.min(places, localQueueSize + free - this.#heldAhead));
    this.#heldAhead += limit;
    return { limit, byKey: true };
  }

  handedOver(room: HandOverRoom): void {
    if (room.byKey) this.#heldAhead -= room.limit;
    else this.unreserve(room.limit);
  }
}
