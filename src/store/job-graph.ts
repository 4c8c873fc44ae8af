import type { Sql, Tx } from '../db/connection.js';
import { stateOf, type JobState } from './explain.js';
import type { SchemaNames } from './schema-names.js';

/** A job as a graph draws it. */
export interface GraphNode {
  id: string;
  name: string;
  jobType: string;
  queue: string;
  state: JobState;
  /** Steps from the job the graph was asked for (0 for that job). */
  distance: number;
  /** Some of its neighbours are not in the graph (the bound was reached): ask again from this node. */
  more: boolean;
}

/** `from` runs before `to`: a dependency (`to` lists `from`), or a parent and the child it created. */
export interface GraphEdge {
  from: string;
  to: string;
  kind: 'dependency' | 'child';
}

export interface JobGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** The bound cut the graph short (nodes with `more` have neighbours outside it). */
  truncated: boolean;
}

interface NodeRow {
  id: string;
  name: string;
  job_type: string;
  queue: string;
  status: string;
  dependencies: string[];
  parent_id: string | null;
  pending_dependencies: number | null;
  is_future: boolean;
}

/**
 * The jobs linked to `id` by dependencies or by parent and child, in both directions, live and
 * finished: breadth first, at most `depth` steps away and `maxNodes` jobs (a whole graph: a large
 * depth). One round of three index-backed queries per step, all in one snapshot (a read-only
 * repeatable-read transaction): read step by step, a chain finishing meanwhile was drawn with its
 * last job completed beside a predecessor still running. Null when the job is unknown.
 */
export async function readJobGraph(sql: Sql, t: SchemaNames, id: string, bounds: { depth: number; maxNodes: number }): Promise<JobGraph | null> {
  return sql.begin('read only isolation level repeatable read', (tx) => walkGraph(tx, t, id, bounds)) as Promise<JobGraph | null>;
}

async function walkGraph(sql: Tx, t: SchemaNames, id: string, bounds: { depth: number; maxNodes: number }): Promise<JobGraph | null> {
  const nodes = new Map<string, NodeRow & { distance: number }>();
  const more = new Set<string>();
  let frontier = [id];
  let truncated = false;
  for (let distance = 0; frontier.length > 0; distance++) {
    const rows = await readNodes(sql, t, frontier);
    for (const r of rows) nodes.set(r.id, { ...r, distance });
    if (distance === 0 && rows.length === 0) return null;
    if (distance === bounds.depth) {
      // The last ring: its neighbours outside the graph make it expandable.
      for (const id of await neighbourIds(sql, t, rows)) if (!nodes.has(id)) truncated = true;
      rows.forEach((r) => more.add(r.id));
      break;
    }
    const next = (await neighbourIds(sql, t, rows)).filter((n) => !nodes.has(n));
    const room = bounds.maxNodes - nodes.size;
    if (next.length > room) {
      truncated = true;
      rows.forEach((r) => more.add(r.id));
    }
    frontier = next.slice(0, Math.max(0, room));
  }
  const edges: GraphEdge[] = [];
  for (const n of nodes.values()) {
    for (const d of n.dependencies) if (nodes.has(d)) edges.push({ from: d, to: n.id, kind: 'dependency' });
    if (n.parent_id && nodes.has(n.parent_id)) edges.push({ from: n.parent_id, to: n.id, kind: 'child' });
  }
  if (!truncated) more.clear();
  return {
    nodes: [...nodes.values()].map((n) => ({ id: n.id, name: n.name, jobType: n.job_type, queue: n.queue, state: stateOf(n), distance: n.distance, more: more.has(n.id) })),
    edges,
    truncated,
  };
}

async function readNodes(sql: Tx, t: SchemaNames, ids: string[]): Promise<NodeRow[]> {
  return sql<NodeRow[]>`
    SELECT v.id, v.name, v.job_type, v.queue, v.status, v.dependencies, v.parent_id, j.pending_dependencies, v.run_at > now() AS is_future
      FROM ${sql(t.allJobs)} v LEFT JOIN ${sql(t.jobs)} j ON j.id = v.id WHERE v.id = ANY(${ids}::text[])`;
}

/** Dependencies, parents, dependents and children of the given jobs (ids, maybe repeated). */
async function neighbourIds(sql: Tx, t: SchemaNames, rows: NodeRow[]): Promise<string[]> {
  const ids = rows.map((r) => r.id);
  const up = rows.flatMap((r) => (r.parent_id ? [...r.dependencies, r.parent_id] : r.dependencies));
  if (ids.length === 0) return [];
  // Each part as its partial index states it: blocked dependents, released ones, finished ones.
  const down = await sql<{ id: string }[]>`
    SELECT id FROM ${sql(t.jobs)} WHERE dependencies ?| ${ids}::text[] AND pending_dependencies > 0
    UNION SELECT id FROM ${sql(t.jobs)} WHERE dependencies ?| ${ids}::text[] AND pending_dependencies = 0 AND dependencies <> '[]'::jsonb
    UNION SELECT job_id FROM ${sql(t.history)} WHERE dependencies ?| ${ids}::text[] AND dependencies <> '[]'::jsonb
    UNION SELECT id FROM ${sql(t.jobs)} WHERE parent_id = ANY(${ids}::text[])
    UNION SELECT job_id FROM ${sql(t.history)} WHERE parent_id = ANY(${ids}::text[])`;
  return [...new Set([...up, ...down.map((d) => d.id)])];
}

/** What a job's failure or cancellation took down: the jobs cancelled because of it (history's `cause_job_id`). */
export async function readBlastRadius(sql: Sql, t: SchemaNames, id: string, limit: number): Promise<{ total: number; jobs: { id: string; name: string; status: string }[] }> {
  const [count] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ${sql(t.history)} WHERE cause_job_id = ${id}`;
  const jobs = await sql<{ id: string; name: string; status: string }[]>`
    SELECT job_id AS id, name, status FROM ${sql(t.history)} WHERE cause_job_id = ${id} ORDER BY job_id LIMIT ${limit}`;
  return { total: count!.n, jobs };
}

/**
 * What cancelling a job would cancel with it: its pending dependents, directly or transitively
 * (at most `limit` listed; the total is counted up to 100,000).
 */
export async function readCancelPreview(sql: Sql, t: SchemaNames, id: string, limit: number): Promise<{ total: number; jobs: { id: string; name: string }[] }> {
  const rows = await sql<{ id: string; name: string }[]>`
    WITH RECURSIVE down(id, name) AS (
      -- A pending job's dependents are blocked on it: the blocked jobs' index finds them.
      SELECT j.id, j.name FROM ${sql(t.jobs)} j WHERE j.dependencies ? ${id} AND j.pending_dependencies > 0 AND j.status = 'pending'
      UNION
      SELECT j.id, j.name FROM down d JOIN ${sql(t.jobs)} j ON j.dependencies ? d.id AND j.pending_dependencies > 0 WHERE j.status = 'pending'
    )
    SELECT id, name FROM down ORDER BY id LIMIT 100000`;
  return { total: rows.length, jobs: rows.slice(0, limit) };
}
