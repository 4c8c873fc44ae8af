/**
 * The parameters of each agent, by agent name: empty here, for an application to fill in by
 * declaration merging, so that jobs and agents are type-checked against each other (as
 * graphile-worker's `GraphileWorker.Tasks`). Names not declared stay untyped (`JsonObject`).
 *
 * @example
 * declare module 'taiat' {
 *   interface AgentParameters { 'send-email': { to: string; subject: string } }
 * }
 * await jobs.createJob({ jobType: 'agent', name: 'welcome', payload: { agent_name: 'send-email', parameters: { to, subject } } });
 * const sendEmail: AgentFor<'send-email'> = async ({ to, subject }) => { ... };
 */
export interface AgentParameters {}

/** What the payload of a job naming agent `N` must be, when `N` is declared in `AgentParameters`. */
export type AgentPayloadCheck<N extends string> = N extends keyof AgentParameters
  ? { payload: { agent_name: N; parameters: AgentParameters[N] } }
  : unknown;
