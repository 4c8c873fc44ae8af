import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/index.js';
import type { FreedPlace } from '../../src/store/index.js';
import type { HandOverRoom } from '../../src/worker/completer.js';
import { KeyHandOver } from '../../src/worker/key-hand-over.js';

const place = (key: string, queue = 'q'): FreedPlace => ({ queue, key });
const jobOf = (p: FreedPlace): Job => ({ id: `${p.key}-next`, queue: p.queue, concurrencyKey: p.key }) as Job;

/** Ports whose claims the test answers by hand; each claim takes every place it is given unless told otherwise. */
function ports(room = Infinity) {
  const claims: { places: FreedPlace[]; limit: number; answer: (jobs: Job[] | Error) => void }[] = [];
  const handed: { jobs: Job[]; room: HandOverRoom }[] = [];
  const announced: string[][] = [];
  const survived: unknown[] = [];
  let held = 0;
  let leftOver = 0;
  let failSurvive = false;
  const keys = new KeyHandOver({
    reserve: (n) => {
      const limit = Math.min(n, room - held);
      held += limit;
      return { limit, byKey: true };
    },
    claim: (places, limit) => new Promise<Job[]>((resolve, reject) => claims.push({
      places: [...places], limit, answer: (jobs) => (jobs instanceof Error ? reject(jobs) : resolve(jobs)),
    })),
    handedOver: async (jobs, r) => {
      held -= r.limit;
      handed.push({ jobs, room: r });
    },
    announce: async (queues) => void announced.push(queues),
    leftOver: () => void leftOver++,
    survive: (error) => {
      survived.push(error);
      if (failSurvive) throw new Error('a listener of worker:error threw');
    },
  });
  return {
    keys, claims, handed, announced, survived,
    get held() { return held; },
    get leftOver() { return leftOver; },
    failSurviving() { failSurvive = true; },
  };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('KeyHandOver', () => {
  it('claims the places of writes that commit while a claim is in flight together, in one claim after it', async () => {
    const p = ports();
    const first = p.keys.freed([place('a'), place('b')]);
    await settle();
    expect(p.claims).toHaveLength(1);
    const second = p.keys.freed([place('c')]);
    const third = p.keys.freed([place('d'), place('d')]);
    await settle();
    expect(p.claims).toHaveLength(1); // one claim at a time
    p.claims[0]!.answer(p.claims[0]!.places.map(jobOf));
    await first;
    await settle();
    expect(p.claims).toHaveLength(2);
    expect(p.claims[1]).toMatchObject({ places: [place('c'), place('d'), place('d')], limit: 3 });
    p.claims[1]!.answer([jobOf(place('c')), jobOf(place('d'))]);
    await Promise.all([second, third]);
    expect(p.handed.map((h) => h.jobs.length)).toEqual([2, 2]);
    // d freed two places and got one job: its queue is announced (another worker may take the
    // place), and this worker's own claim loop told to look again.
    expect(p.announced).toEqual([['q']]);
    expect(p.leftOver).toBe(1);
    expect(p.held).toBe(0);
  });

  it('claims no more than the room it is given, and announces what it leaves', async () => {
    const p = ports(1);
    const done = p.keys.freed([place('a'), place('b', 'other')]);
    await settle();
    expect(p.claims[0]!.limit).toBe(1);
    p.claims[0]!.answer([jobOf(place('a'))]);
    await done;
    expect(p.announced).toEqual([['other']]);
    expect(p.held).toBe(0);
  });

  it('survives a failed claim: the room is given back, the places announced, and later places still claimed', async () => {
    const p = ports();
    const failed = p.keys.freed([place('a')]);
    await settle();
    p.claims[0]!.answer(new Error('connection lost'));
    await failed;
    expect(p.survived).toHaveLength(1);
    expect(p.handed).toEqual([{ jobs: [], room: { limit: 1, byKey: true } }]);
    expect(p.announced).toEqual([['q']]);
    const next = p.keys.freed([place('b')]);
    await settle();
    p.claims[1]!.answer([jobOf(place('b'))]);
    await next;
    expect(p.handed[1]!.jobs).toHaveLength(1);
    expect(p.held).toBe(0);
  });

  it('goes on after a step whose port throws: later places are still claimed', async () => {
    const p = ports();
    p.failSurviving();
    const failed = p.keys.freed([place('a')]);
    await settle();
    p.claims[0]!.answer(new Error('connection lost'));
    await failed; // resolves: a tracker waiting on it is not left with a rejection
    const next = p.keys.freed([place('b')]);
    await settle();
    expect(p.claims).toHaveLength(2);
    p.claims[1]!.answer([jobOf(place('b'))]);
    await next;
    expect(p.handed.at(-1)!.jobs).toHaveLength(1);
  });

  it('claims nothing when there is no room (a stopping worker), and announces the places', async () => {
    const p = ports(0);
    await p.keys.freed([place('a')]);
    expect(p.claims).toHaveLength(0);
    expect(p.handed).toEqual([{ jobs: [], room: { limit: 0, byKey: true } }]);
    expect(p.announced).toEqual([['q']]);
  });
});
