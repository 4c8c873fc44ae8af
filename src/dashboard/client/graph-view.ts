import dagre from '@dagrejs/dagre';

export interface GraphNode { id: string; name: string; state: string; distance: number; more: boolean; jobType: string; queue: string }
export interface GraphEdge { from: string; to: string; kind: 'dependency' | 'child' }
export interface Graph { nodes: GraphNode[]; edges: GraphEdge[]; truncated: boolean }

interface Placed { x: number; y: number }
interface Layout { nodes: Map<string, Placed>; edges: { edge: GraphEdge; points: Placed[] }[]; width: number; height: number }

const NODE_W = 150;
const NODE_H = 28;
/** Up to this many nodes dagre lays the graph out (well under a second); above, the layered layout below. */
export const DAGRE_MAX_NODES = 300;

function dagreLayout(g: Graph): Layout {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: 'LR', nodesep: 12, ranksep: 50, marginx: 10, marginy: 10 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const n of g.nodes) graph.setNode(n.id, { width: NODE_W, height: NODE_H });
  for (const e of g.edges) graph.setEdge(e.from, e.to);
  dagre.layout(graph);
  const nodes = new Map(g.nodes.map((n) => [n.id, { x: graph.node(n.id).x, y: graph.node(n.id).y }]));
  const edges = g.edges.map((edge) => ({ edge, points: (graph.edge(edge.from, edge.to)?.points ?? []) as Placed[] }));
  const label = graph.graph();
  return { nodes, edges, width: (label.width ?? 0) + 20, height: (label.height ?? 0) + 20 };
}

/**
 * The layout of a large graph, from its depth (a job's layer is its longest path from a job
 * without dependencies in the graph), each layer ordered by the mean position of its nodes'
 * predecessors: linear in nodes and edges, where dagre's crossing minimisation is not (34 s at
 * 2,000 nodes here). Edges are straight lines.
 */
function layeredLayout(g: Graph): Layout {
  const preds = new Map<string, string[]>(g.nodes.map((n) => [n.id, []]));
  const succs = new Map<string, string[]>(g.nodes.map((n) => [n.id, []]));
  for (const e of g.edges) {
    preds.get(e.to)?.push(e.from);
    succs.get(e.from)?.push(e.to);
  }
  const layer = new Map<string, number>();
  const indegree = new Map(g.nodes.map((n) => [n.id, preds.get(n.id)!.length]));
  const queue = g.nodes.filter((n) => indegree.get(n.id) === 0).map((n) => n.id);
  for (const id of queue) layer.set(id, 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i]!;
    for (const s of succs.get(id)!) {
      layer.set(s, Math.max(layer.get(s) ?? 0, layer.get(id)! + 1));
      indegree.set(s, indegree.get(s)! - 1);
      if (indegree.get(s) === 0) queue.push(s);
    }
  }
  for (const n of g.nodes) if (!layer.has(n.id)) layer.set(n.id, 0); // a cycle cannot be stored; guard anyway
  const layers: string[][] = [];
  for (const [id, l] of layer) (layers[l] ??= []).push(id);
  const row = new Map<string, number>();
  for (const ids of layers) {
    if (!ids) continue;
    const key = (id: string) => {
      const p = preds.get(id)!.map((x) => row.get(x) ?? 0);
      return p.length ? p.reduce((a, b) => a + b, 0) / p.length : Number.MAX_SAFE_INTEGER;
    };
    ids.sort((a, b) => key(a) - key(b));
    ids.forEach((id, i) => row.set(id, i));
  }
  const nodes = new Map<string, Placed>();
  for (const [id, l] of layer) nodes.set(id, { x: 10 + NODE_W / 2 + l * (NODE_W + 50), y: 10 + NODE_H / 2 + row.get(id)! * (NODE_H + 10) });
  const edges = g.edges.filter((e) => nodes.has(e.from) && nodes.has(e.to)).map((edge) => {
    const a = nodes.get(edge.from)!;
    const b = nodes.get(edge.to)!;
    return { edge, points: [{ x: a.x + NODE_W / 2, y: a.y }, { x: b.x - NODE_W / 2, y: b.y }] };
  });
  return { nodes, edges, width: 20 + layers.length * (NODE_W + 50), height: 20 + Math.max(...layers.map((l) => l?.length ?? 0)) * (NODE_H + 10) };
}

const SVG = 'http://www.w3.org/2000/svg';
function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Draws a graph (each node coloured by its state); a click on a node calls `open` with its id. */
export function drawGraph(g: Graph, focus: string | null, open: (id: string) => void): { el: HTMLElement; layoutMs: number } {
  const t0 = performance.now();
  const layout = g.nodes.length <= DAGRE_MAX_NODES ? dagreLayout(g) : layeredLayout(g);
  const layoutMs = performance.now() - t0;
  const box = document.createElement('div');
  box.className = 'graph';
  const root = svg('svg', { width: layout.width, height: layout.height, role: 'img', 'aria-label': `graph of ${g.nodes.length} jobs` });
  for (const { edge, points } of layout.edges) {
    if (points.length < 2) continue;
    root.appendChild(svg('polyline', { class: `edge ${edge.kind}`, points: points.map((p) => `${p.x},${p.y}`).join(' '), 'marker-end': 'url(#arrow)' }));
  }
  const defs = svg('defs', {});
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto' });
  marker.appendChild(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#9aa7ba' }));
  defs.appendChild(marker);
  root.prepend(defs);
  for (const n of g.nodes) {
    const p = layout.nodes.get(n.id)!;
    const group = svg('g', { class: `node state-${n.state}${n.id === focus ? ' focus' : ''}`, 'data-id': n.id, 'data-state': n.state, transform: `translate(${p.x - NODE_W / 2},${p.y - NODE_H / 2})` });
    const title = svg('title', {});
    title.textContent = `${n.name} (${n.state}) ${n.id}${n.more ? ' — more beyond: open it to expand' : ''}`;
    const label = svg('text', { x: 6, y: 18 });
    label.textContent = `${n.more ? '+ ' : ''}${n.name.length > 20 ? `${n.name.slice(0, 19)}…` : n.name}`;
    group.append(title, svg('rect', { width: NODE_W, height: NODE_H, rx: 4 }), label);
    group.addEventListener('click', () => open(n.id));
    root.appendChild(group);
  }
  box.appendChild(root);
  return { el: box, layoutMs };
}
