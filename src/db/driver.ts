import { readFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import path from 'node:path';
import type postgresType from 'postgres';
import { guardedSource } from './driver-guard.js';

const require = createRequire(import.meta.url);

interface CompilableModule {
  filename: string;
  paths: string[];
  loaded: boolean;
  _compile(source: string, filename: string): void;
}
type ModuleStatics = { _nodeModulePaths(dir: string): string[] } & (new (id: string) => CompilableModule);

/**
 * postgres.js, with taiat's guard against porsager/postgres#1208 (see driver-guard.ts) in
 * its connection module, whoever installed taiat and however it is started: its CommonJS build is
 * loaded with the guarded connection module compiled in its place first (a module cache entry,
 * in this process, at no cost to start-up). When the driver was already loaded unguarded (by the
 * application, before taiat), that copy is used as it is.
 */
function loadGuardedDriver(): typeof postgresType {
  const index = require.resolve('postgres');
  const file = path.join(path.dirname(index), 'connection.js');
  if (!require.cache[index] && !require.cache[file]) {
    const guarded = guardedSource(readFileSync(file, 'utf8'));
    if (guarded !== null) {
      const Compiled = Module as unknown as ModuleStatics;
      const mod = new Compiled(file);
      mod.filename = file;
      mod.paths = Compiled._nodeModulePaths(path.dirname(file));
      mod._compile(guarded, file);
      mod.loaded = true;
      require.cache[file] = mod as unknown as NodeJS.Module;
    }
  }
  return require('postgres') as typeof postgresType;
}

/** The postgres.js function (`postgres(url, options)`), guarded. */
export const postgres = loadGuardedDriver();
