import { get } from '../api.js';
import { h } from '../dom.js';
import { drawGraph, type Graph } from '../graph-view.js';
import type { Page } from '../page.js';

/** A whole graph: every job linked to this one, drawn once (a layout of thousands is not redone every 5 s). */
export async function graphPage(id: string): Promise<Page> {
  const t0 = performance.now();
  const graph = await get<Graph>(`graph/${encodeURIComponent(id)}`);
  const fetched = performance.now() - t0;
  const drawn = drawGraph(graph, id, (other) => { location.hash = `/job/${encodeURIComponent(other)}`; });
  const counts = new Map<string, number>();
  for (const n of graph.nodes) counts.set(n.state, (counts.get(n.state) ?? 0) + 1);
  const el = h('section', {},
    h('h1', {}, `Graph of ${graph.nodes.length} jobs, ${graph.edges.length} links`),
    h('p', { class: 'muted', id: 'graph-timing', 'data-fetch-ms': Math.round(fetched), 'data-layout-ms': Math.round(drawn.layoutMs) },
      [...counts].map(([s, n]) => `${n} ${s}`).join(' · '), ` — read in ${Math.round(fetched)} ms, laid out in ${Math.round(drawn.layoutMs)} ms`,
      graph.truncated ? ' (cut at 5,000 jobs)' : ''),
    drawn.el);
  return { el };
}
