import { readFile } from 'node:fs/promises';
import { ValidationError } from '../../errors.js';

/** Reads `--payload` as JSON text, or `@file.json`. */
export async function jsonArgument(field: string, text: string): Promise<unknown> {
  const source = text.startsWith('@') ? await readFile(text.slice(1), 'utf8').catch((e: Error) => {
    throw new ValidationError(field, `cannot read ${text.slice(1)}: ${e.message}`);
  }) : text;
  try {
    return JSON.parse(source);
  } catch (error) {
    throw new ValidationError(field, `is not valid JSON: ${(error as Error).message}`);
  }
}
