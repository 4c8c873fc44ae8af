import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SchemaNotCurrentError } from '../errors.js';

/** The committed SQL shipped with the package (dist/store -> ../../migrations). */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url));

/** One committed migration, as graphile-migrate (the tool it is written with) commits it. */
export interface CommittedMigration {
  filename: string;
  /** `sha1:<hex>` of the previous migration's hash and this body, as graphile-migrate computes it. */
  hash: string;
  body: string;
}

/**
 * The committed migrations in order, each checked as graphile-migrate checks them: its `Hash`
 * header matches its body and the previous migration's hash, so an edited or reordered file is
 * refused rather than applied.
 */
export async function committedMigrations(folder = path.join(MIGRATIONS_FOLDER, 'committed')): Promise<CommittedMigration[]> {
  const files = (await readdir(folder)).filter((f) => /^\d+.*\.sql$/.test(f)).sort();
  const migrations: CommittedMigration[] = [];
  let previous: string | null = null;
  for (const filename of files) {
    const text = await readFile(path.join(folder, filename), 'utf8');
    const lines = text.split('\n');
    const headers = new Map<string, string>();
    let n = 0;
    for (; n < lines.length; n++) {
      const m = /^--! ([A-Z][a-zA-Z0-9_]*)(?::(.*))?$/.exec(lines[n]!);
      if (!m) break;
      headers.set(m[1]!, (m[2] ?? '').trim());
    }
    const body = `${lines.slice(n).join('\n').trim()}\n`;
    const stated = headers.get('Hash') ?? '';
    const statedPrevious = headers.get('Previous') ?? '-';
    const actual: string = `sha1:${createHash('sha1').update(`${`${previous ?? ''}\n${body.trim()}`.trim()}\n`).digest('hex')}`;
    if (statedPrevious !== (previous ?? '-') || stated !== actual) {
      throw new SchemaNotCurrentError([`migration ${filename} (its file was changed after it was committed)`]);
    }
    migrations.push({ filename, hash: stated, body });
    previous = stated;
  }
  return migrations;
}
