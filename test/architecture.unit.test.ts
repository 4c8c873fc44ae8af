import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// The rules of docs/architecture.md, checked on the source: which folder may import which, where
// SQL may be written, no import cycles, no file past ~300 lines.

const SRC = path.resolve(import.meta.dirname, '../src');

/** Folder (relative to src, '.' for the root files) -> folders its modules may import. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  '.': ['config', 'jobs', 'db', 'store', 'manager', 'worker', 'status', 'dashboard'],
  config: ['.'],
  driver: ['db'],
  jobs: ['.'],
  db: ['.', 'config', 'jobs'],
  store: ['.', 'config', 'jobs', 'db'],
  manager: ['.', 'config', 'jobs', 'db', 'store', 'tracing'],
  worker: ['.', 'config', 'jobs', 'db', 'store', 'tracing'],
  tracing: ['.', 'jobs'],
  status: ['.', 'config', 'db', 'jobs', 'store'],
  demo: ['worker'],
  dashboard: ['.', 'config', 'jobs', 'db', 'store', 'manager', 'status'],
  // The page, bundled for the browser: nothing of the server's.
  'dashboard/client': ['dashboard/client/pages'],
  'dashboard/client/pages': ['dashboard/client'],
  cli: ['.', 'config', 'jobs', 'db', 'store', 'manager', 'worker', 'status', 'demo', 'cli/commands', 'dashboard'],
  'cli/commands': ['.', 'cli', 'config', 'db', 'jobs', 'store', 'status', 'dashboard'],
};

/** Where statements may be written: the store, and the embedded server's own administration. */
const SQL_ALLOWED = (file: string) => file.startsWith('store/') || file === 'db/embedded.ts';
const SQL_PATTERN = /\b(sql|tx|reserved|admin)(<[^>]*>)?`|\.unsafe\(|\.selectFrom\(|\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\s/;

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return e.name.endsWith('.ts') ? [path.relative(SRC, full)] : [];
  });
}

const files = sourceFiles();
const text = new Map(files.map((f) => [f, readFileSync(path.join(SRC, f), 'utf8')]));

/** The modules of src a file imports at run time (type-only imports are left out). */
function imports(file: string): string[] {
  const found: string[] = [];
  for (const m of text.get(file)!.matchAll(/^import (?!type )[^;]*?from '(\.[^']+)';/gms)) {
    found.push(path.normalize(path.join(path.dirname(file), m[1]!)).replace(/\.js$/, '.ts'));
  }
  return found;
}

const folderOf = (file: string) => path.dirname(file);

describe('architecture', () => {
  it('finds the source', () => {
    expect(files.length).toBeGreaterThan(40);
    expect(files).toContain('store/index.ts');
  });

  it('each folder imports only the folders below it', () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = folderOf(file);
      for (const target of [...text.get(file)!.matchAll(/from '(\.[^']+)'/g)].map((m) => path.normalize(path.join(from, m[1]!)))) {
        const to = folderOf(target);
        if (to !== from && !(MAY_IMPORT[from] ?? []).includes(to)) wrong.push(`${file} -> ${target}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('writes SQL only in src/store', () => {
    const outside = files.filter((f) => !SQL_ALLOWED(f) && SQL_PATTERN.test(text.get(f)!.replace(/^\s*(\/\/|\*).*$/gm, '')));
    expect(outside).toEqual([]);
  });

  it('lists every store module in store/index.ts', () => {
    const index = text.get('store/index.ts')!;
    const modules = files.filter((f) => f.startsWith('store/') && f !== 'store/index.ts').map((f) => path.basename(f, '.ts'));
    const reexported = new Set([...index.matchAll(/from '\.\/([^']+)\.js'/g)].map((m) => m[1]!));
    // Modules used only inside the store (fragments, rows, notifications, the pieces of a create) need not be.
    const internal = ['fragments', 'job-row', 'migration-files', 'notify', 'insert-unique-jobs', 'insert-jobs', 'copy-jobs', 'move-to-history', 'return-to-pending', 'wait-for', 'cascade', 'dependencies'];
    expect(modules.filter((m) => !reexported.has(m) && !internal.includes(m))).toEqual([]);
    for (const m of internal) expect(modules).toContain(m);
  });

  it('has no import cycles', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, trail: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...trail.slice(trail.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'visiting');
      for (const next of imports(file)) if (text.has(next)) visit(next, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it('loads @opentelemetry/api only when tracing is asked for', () => {
    // Static imports of it are type-only (erased); the one run-time import is loadTracing's import().
    const loading = files.filter((f) => /(^import (?!type )[^;]*from '@opentelemetry\/|require\('@opentelemetry\/)/m.test(text.get(f)!));
    expect(loading).toEqual([]);
    const dynamic = files.filter((f) => /import\('@opentelemetry\/api'\)/.test(text.get(f)!.replace(/typeof import\('@opentelemetry\/api'\)/g, '')));
    expect(dynamic).toEqual(['tracing/tracing.ts']);
  });

  it('keeps every file under ~300 lines', () => {
    const long = files.filter((f) => text.get(f)!.split('\n').length > 310);
    expect(long).toEqual([]);
  });
});
