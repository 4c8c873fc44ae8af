/** The ceiling: pgbench's claim-and-move of 1 or 50 rows per transaction (lib/ceiling.ts). */
import { runCeiling, type CeilingResult } from '../lib/ceiling.js';
import { check } from '../checks.js';
import { CEILING_CLIENTS, SIZES, TIMEOUTS } from '../config.js';
import { withDatabase } from '../setup.js';

export async function ceiling(jobsPerTx: 1 | 50, run: number): Promise<CeilingResult | null> {
  return withDatabase(`bench_ceiling_${jobsPerTx}_r${run}`, 'ceiling', async (db) => {
    const result = await runCeiling({
      url: db.url,
      jobsPerTx,
      clients: CEILING_CLIENTS,
      txPerClient: jobsPerTx === 1 ? SIZES.ceilingTx1 : SIZES.ceilingTx50,
      timeoutMs: TIMEOUTS.pgbench,
    });
    check(`ceiling ${jobsPerTx}/tx`, 'pgbench', run, result.ok ? [] : [result.detail], result.detail);
    return result;
  });
}
