import type { z } from 'zod';
import { ValidationError } from '../errors.js';

/** Parses `input` with `schema`, or throws a `ValidationError` naming the field (under `where`). */
export function parseOptions<T extends z.ZodType>(schema: T, input: unknown, where: string): z.output<T> {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  // An unknown option is named itself (zod names the object holding it, and says "Unrecognized key").
  const unknown = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
  const field = [where, ...issue.path.map(String), unknown].filter(Boolean).join('.');
  throw new ValidationError(field, unknown !== undefined ? `unknown option '${unknown}'` : issue.message);
}
