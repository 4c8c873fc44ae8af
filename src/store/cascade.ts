import type { Tx } from '../db/connection.js';
import { moveToHistory, type Outcome } from './move-to-history.js';

/** A job that failed for good or was cancelled, whose dependents must not run. */
export interface CascadeRoot {
  id: string;
  name: string;
  status: 'failed' | 'cancelled';
}

interface Frontier {
  id: string;
  name: string;
  root: CascadeRoot;
}

function reason(via: Frontier): string {
  const root = `dependency ${via.root.id} (${via.root.name}) ${via.root.status === 'failed' ? 'failed' : 'was cancelled'}`;
  return via.id === via.root.id ? root : `dependency ${via.id} (${via.name}) was cancelled: ${root}`;
}

/**
 * Cancels, in the caller's transaction, every pending job that depends on the roots, directly or
 * transitively, moving each to history with `cause_job_id` = the root and a message naming the
 * dependency that failed. One level per statement, so each level reads a fresh snapshot and sees
 * dependents created while the cascade ran. Returns how many jobs were cancelled.
 */
export async function cascadeFailure(tx: Tx, roots: CascadeRoot[]): Promise<number> {
  let frontier: Frontier[] = roots.map((r) => ({ id: r.id, name: r.name, root: r }));
  let total = 0;
  while (frontier.length > 0) {
    const byId = new Map(frontier.map((f) => [f.id, f]));
    const dependents = await tx<{ id: string; name: string; dependencies: string[] }[]>`
      SELECT id, name, dependencies FROM taiat_jobs
       WHERE dependencies ?| ${[...byId.keys()]}::text[] AND pending_dependencies > 0 AND status = 'pending'
       ORDER BY id FOR UPDATE`;
    if (dependents.length === 0) break;
    const next: Frontier[] = [];
    const outcomes: Outcome[] = dependents.map((d) => {
      const via = byId.get(d.dependencies.find((dep) => byId.has(dep))!)!;
      next.push({ id: d.id, name: d.name, root: via.root });
      return { id: d.id, status: 'cancelled', errorMessage: reason(via), causeJobId: via.root.id };
    });
    const moved = new Set((await moveToHistory(tx, outcomes, { pending: true })).map((m) => m.id));
    total += moved.size;
    frontier = next.filter((f) => moved.has(f.id));
  }
  return total;
}
