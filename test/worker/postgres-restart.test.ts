import { it } from 'vitest';
import { WORKER_BIN } from '../support/processes.js';
import { survivesPostgresRestarts } from '../support/restart.js';

it('a worker survives Postgres restarts (fast and immediate) mid-run: nothing lost, nothing run twice at once', async () => {
  await survivesPostgresRestarts(WORKER_BIN);
}, 180_000);
