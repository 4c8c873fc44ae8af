/** An agent job with a chosen id, named after it, run by the agent `agent`. */
export const agentJob = (id: string, agent: string, dependencies: string[] = [], extra: Record<string, unknown> = {}) => ({
  id, jobType: 'agent', name: id, payload: { agent_name: agent }, dependencies, ...extra,
});
