import { register } from 'node:module';

/**
 * Installs taiat's guard on every postgres.js loaded after it (see guard-hooks.ts):
 * `node --import taiat/register app.js`, for an application's own use of the driver. taiat's own
 * connections are guarded without it.
 */
register('./guard-hooks.js', import.meta.url);
