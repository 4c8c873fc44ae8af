/**
 * The workload's scenarios: each plan is one job graph drawn from the seeded workload stream
 * (weights in SCENARIOS), with the cancel requests to send once it exists.
 */
import type { NewJob } from '../dist/index.js';
import { wallMs } from './clock.js';
import { KEYED_QUEUE, QUEUE, workRng } from './config.js';
import { recent, run } from './state.js';

interface WorkParams { sleepMs: number; failFirst?: number | 'always'; hangAttempts?: number[] | 'always' }
export interface Plan { scenario: string; jobs: NewJob[]; roles: Map<string, string>; cancels: { id: string; role: string; afterMs: number }[] }

let scenarioNo = 0;

const SCENARIOS = {
  independent: 3,
  chain: 2,
  fanout: 2,
  fanin: 2,
  diamond: 1,
  delegate: 2,
  'always-fail': 1,
  timeout: 1,
  'cancel-pending': 1.5,
  'cancel-running': 1.5,
  scheduled: 1,
  'late-dependent': 1,
  keyed: 2,
} as const;
type Scenario = keyof typeof SCENARIOS;

export function buildPlan(endAt: number): Plan {
  const rng = workRng;
  const scenario = rng.weighted<Scenario>(SCENARIOS);
  const n = ++scenarioNo;
  const plan: Plan = { scenario, jobs: [], roles: new Map(), cancels: [] };
  let k = 0;
  const retries = () => ({ maxRetries: rng.int(0, 3), retryDelaySeconds: Math.round(rng.float(0.1, 0.5) * 100) / 100 });
  const sleepMs = () => (rng.chance(0.15) ? rng.int(800, 3_000) : rng.int(5, 400));
  /** A `work` job; flaky (fails its first attempts, within its retries) with probability 0.2. */
  const work = (role: string, deps: string[] = [], params: Partial<WorkParams> = {}, extra: Partial<NewJob> = {}): string => {
    const id = `${run.tag}-${n}.${k++}`;
    const r = retries();
    const p: WorkParams = { sleepMs: sleepMs(), ...params };
    if (p.failFirst === undefined && r.maxRetries > 0 && rng.chance(0.2)) p.failFirst = rng.int(1, r.maxRetries);
    plan.jobs.push({
      id, jobType: 'agent', name: `${scenario}/${role}`, queue: QUEUE, dependencies: deps,
      priority: rng.pick(['low', 'normal', 'normal', 'high'] as const),
      payload: { agent_name: 'work', parameters: { ...p } }, ...r, ...extra,
    });
    plan.roles.set(id, role);
    return id;
  };
  const dependents = (of: string, max: number): void => {
    let prev = of;
    const count = rng.int(0, max);
    for (let i = 0; i < count; i++) prev = work(`dependent-${i}`, [rng.chance(0.5) ? prev : of]);
  };
  const latestStart = endAt - 1_500;

  switch (scenario) {
    case 'independent':
      for (let i = rng.int(1, 4); i > 0; i--) work('independent');
      break;
    case 'keyed': {
      // Jobs of a few keys shared by every plan, under the keyed queue's KEY_LIMIT: some alone,
      // some a short chain of one key (a place handed over, then a dependent released).
      const key = { queue: KEYED_QUEUE, concurrencyKey: `k${rng.int(0, 3)}` };
      if (rng.chance(0.5)) for (let i = rng.int(2, 5); i > 0; i--) work('keyed', [], {}, key);
      else work('keyed-1', [work('keyed-0', [], {}, key)], {}, key);
      break;
    }
    case 'chain': {
      let prev = work('chain-0');
      for (let i = 1, len = rng.int(2, 5); i < len; i++) prev = work(`chain-${i}`, [prev]);
      break;
    }
    case 'fanout': {
      const root = work('root');
      for (let i = rng.int(2, 6); i > 0; i--) work('leaf', [root]);
      break;
    }
    case 'fanin': {
      const parts = Array.from({ length: rng.int(2, 6) }, () => work('part'));
      work('join', parts);
      break;
    }
    case 'diamond': {
      const root = work('root');
      const mid = Array.from({ length: rng.int(2, 4) }, () => work('middle', [root]));
      work('join', mid);
      break;
    }
    case 'delegate': {
      const id = `${run.tag}-${n}.${k++}`;
      const children = Array.from({ length: rng.int(2, 4) }, () => {
        const r = retries();
        const failFirst: number | 'always' = rng.chance(0.1) ? 'always' : r.maxRetries > 0 && rng.chance(0.2) ? rng.int(1, r.maxRetries) : 0;
        return { sleepMs: sleepMs(), failFirst, ...r };
      });
      plan.jobs.push({
        id, jobType: 'agent', name: 'delegate/parent', queue: QUEUE, ...retries(),
        payload: { agent_name: 'delegate', parameters: { sleepMs: rng.int(5, 300), children } },
      });
      plan.roles.set(id, 'delegate');
      if (rng.chance(0.5)) dependents(id, 2);
      break;
    }
    case 'always-fail': {
      const id = work('always-fail', [], { failFirst: 'always' }, { maxRetries: rng.int(0, 2) });
      dependents(id, 3);
      break;
    }
    case 'timeout': {
      const always = rng.chance(0.4);
      const id = work(always ? 'timeout-always' : 'timeout-once', [], { sleepMs: rng.int(5, 100), hangAttempts: always ? 'always' : [1] }, {
        timeoutSeconds: Math.round(rng.float(0.3, 1.0) * 100) / 100, maxRetries: rng.int(1, 2),
      });
      if (rng.chance(0.5)) dependents(id, 2);
      break;
    }
    case 'cancel-pending': {
      const afterMs = rng.int(200, 1_500);
      let target: string;
      if (rng.chance(0.5)) {
        const runAt = Math.min(wallMs() + rng.int(2_500, 4_000), latestStart); // server clock
        target = work('cancel-pending-scheduled', [], {}, { runAt: new Date(runAt) });
      } else {
        const blocker = work('blocker', [], { sleepMs: rng.int(2_000, 3_000), failFirst: 0 });
        target = work('cancel-pending-blocked', [blocker]);
      }
      dependents(target, 2);
      plan.cancels.push({ id: target, role: 'pending', afterMs });
      break;
    }
    case 'cancel-running': {
      const target = work('cancel-running', [], { sleepMs: rng.int(3_000, 6_000), failFirst: 0 });
      dependents(target, 2);
      plan.cancels.push({ id: target, role: 'running', afterMs: rng.int(500, 2_000) });
      break;
    }
    case 'scheduled':
      for (let i = rng.int(1, 3); i > 0; i--) {
        const runAt = Math.min(wallMs() + rng.int(500, 5_000), latestStart);
        work('scheduled', [], {}, { runAt: new Date(runAt) });
      }
      break;
    case 'late-dependent': {
      const pool = recent.slice(-300);
      if (pool.length === 0) {
        work('independent');
        break;
      }
      const deps = [...new Set(Array.from({ length: rng.int(1, 2) }, () => rng.pick(pool)))];
      const id = work('late-dependent', deps);
      dependents(id, 1);
      break;
    }
  }
  return plan;
}

