import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { TaiatError, ValidationError } from '../errors.js';
import { validateQueueDeclaration, type QueueDeclaration } from '../jobs/queue-limits.js';
import { validateSchedule, type ScheduleDefinition } from '../jobs/schedule.js';
import type { AgentRegistry, Executor } from './types.js';

/** `TAIAT_AGENT_CONFIG`: JSON naming the modules that export `agents` and/or `executors`. */
const agentConfigSchema = z.strictObject({
  modules: z.array(z.string().min(1, 'a module path must not be empty'), { error: 'modules must be an array of module paths' }),
});

/** Parses `TAIAT_AGENT_CONFIG` (e.g. `{"modules":["./dist/agents.js"]}`); errors name the field. */
export function parseAgentConfig(text: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ValidationError('TAIAT_AGENT_CONFIG', `is not valid JSON: ${(error as Error).message}`, 'TAIAT_CONFIG_INVALID');
  }
  const parsed = agentConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ValidationError(['TAIAT_AGENT_CONFIG', ...issue.path.map(String)].join('.'), issue.message, 'TAIAT_CONFIG_INVALID');
  }
  return parsed.data.modules;
}

export interface LoadedModules {
  agents: AgentRegistry;
  executors: Executor[];
  /** Schedules declared by the modules (`export const schedules = { id: definition }`). */
  schedules: Record<string, ScheduleDefinition>;
  /** Queue limits declared by the modules (`export const queues = { name: limits }`). */
  queueLimits: Record<string, QueueDeclaration>;
}

/**
 * Imports the named modules (paths relative to the current folder, or package names) and merges
 * their `agents`, `executors`, `schedules` and `queues` exports. A module that fails to load, exports
 * none, or exports one that is not the right container stops start-up with a `TaiatError` naming
 * it; a bad schedule or queue declaration, with a `ValidationError` naming its field. Agents and
 * executors are checked by the Worker's options, so a bad one is named by field the same way
 * whether it came from a module or from code (docs/cli.md, "Agents modules").
 */
export async function loadAgentModules(specifiers: string[]): Promise<LoadedModules> {
  const agents: AgentRegistry = {};
  const executors: Executor[] = [];
  const schedules: Record<string, ScheduleDefinition> = {};
  const queueLimits: Record<string, QueueDeclaration> = {};
  for (const spec of specifiers) {
    // A path (relative to the current folder) when it looks like one or names a file; else a package.
    const isPath = spec.startsWith('.') || path.isAbsolute(spec) || existsSync(spec);
    const target = isPath ? pathToFileURL(path.resolve(spec)).href : spec;
    type Exports = { agents?: unknown; executors?: unknown; schedules?: unknown; queues?: unknown };
    let mod: Exports & { default?: Exports };
    try {
      mod = (await import(target)) as typeof mod;
    } catch (error) {
      throw new TaiatError('TAIAT_MODULE_LOAD_FAILED', `cannot load agents module ${spec}: ${(error as Error).message}`, { cause: error });
    }
    const source = mod.agents || mod.executors || mod.schedules || mod.queues ? mod : mod.default ?? {};
    if (!source.agents && !source.executors && !source.schedules && !source.queues) {
      throw new TaiatError('TAIAT_MODULE_LOAD_FAILED', `agents module ${spec} exports none of \`agents\`, \`executors\`, \`schedules\`, \`queues\``);
    }
    if (source.queues !== undefined) {
      if (typeof source.queues !== 'object' || source.queues === null || Array.isArray(source.queues)) {
        throw new TaiatError('TAIAT_MODULE_LOAD_FAILED', `agents module ${spec}: \`queues\` must be an object of limits by queue name`);
      }
      for (const [name, declaration] of Object.entries(source.queues)) {
        validateQueueDeclaration(name, declaration, `queues.${name}`);
        queueLimits[name] = declaration as QueueDeclaration;
      }
    }
    if (source.schedules !== undefined) {
      if (typeof source.schedules !== 'object' || source.schedules === null || Array.isArray(source.schedules)) {
        throw new TaiatError('TAIAT_MODULE_LOAD_FAILED', `agents module ${spec}: \`schedules\` must be an object of schedules by id`);
      }
      for (const [id, definition] of Object.entries(source.schedules)) {
        validateSchedule(id, definition, `schedules.${id}`);
        schedules[id] = definition as ScheduleDefinition;
      }
    }
    if (source.agents !== undefined) {
      if (typeof source.agents !== 'object' || source.agents === null) {
        throw new TaiatError('TAIAT_MODULE_LOAD_FAILED', `agents module ${spec}: \`agents\` must be an object of functions`);
      }
      Object.assign(agents, source.agents);
    }
    if (source.executors !== undefined) {
      if (!Array.isArray(source.executors)) {
        throw new TaiatError('TAIAT_MODULE_LOAD_FAILED', `agents module ${spec}: \`executors\` must be an array`);
      }
      executors.push(...(source.executors as Executor[]));
    }
  }
  return { agents, executors, schedules, queueLimits };
}
