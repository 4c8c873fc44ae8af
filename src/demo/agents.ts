import type { AgentRegistry } from '../worker/types.js';

const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    }, { once: true });
  });

/**
 * Example agents used by `taiat demo`; also loadable with `taiat-worker --agents
 * node_modules/taiat/dist/demo/agents.js` to try the daemon.
 */
export const agents: AgentRegistry = {
  async fetch_orders(_params, ctx) {
    await pause(150, ctx.signal);
    return { orders: [{ id: 1, customer: 'ada', total: 120 }, { id: 2, customer: 'grace', total: 80 }, { id: 3, customer: 'ada', total: 45 }] };
  },
  async fetch_customers(_params, ctx) {
    // Fails on its first attempt, to show a retry with backoff.
    if (ctx.attempt === 1) throw new Error('customer service timed out (the demo fails this once on purpose)');
    await pause(100, ctx.signal);
    return { customers: { ada: 'Ada Lovelace', grace: 'Grace Hopper' } };
  },
  async join(_params, ctx) {
    const { orders } = ctx.dependencyResults.fetch_orders as { orders: { customer: string; total: number }[] };
    const { customers } = ctx.dependencyResults.fetch_customers as { customers: Record<string, string> };
    await pause(50, ctx.signal);
    return { rows: orders.map((o) => ({ name: customers[o.customer] ?? o.customer, total: o.total })) };
  },
  async totals(_params, ctx) {
    const { rows } = ctx.dependencyResults.join as { rows: { name: string; total: number }[] };
    const byName: Record<string, number> = {};
    for (const r of rows) byName[r.name] = (byName[r.name] ?? 0) + r.total;
    return { byName };
  },
  async report(params, ctx) {
    const { byName } = ctx.dependencyResults.totals as { byName: Record<string, number> };
    const lines = Object.entries(byName).map(([name, total]) => `${name}: ${total}`);
    return { title: String(params.title ?? 'Report'), lines };
  },
};
