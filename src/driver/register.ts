import { register } from 'node:module';

/**
 * Installs taiat's guard on postgres.js (see guard-hooks.ts) for every module loaded after it:
 * `taiat` and `taiat-worker` load it first; an application running taiat in its own process
 * starts Node with `--import taiat/register`.
 */
register('./guard-hooks.js', import.meta.url);
