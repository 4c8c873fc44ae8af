/**
 * The advisory locks taiat takes, named once: a key is a bigint shared by every process on the
 * database, so each purpose has its own and no two modules may pick the same number.
 */
const KEYS = {
  /** One pruner of history at a time across all workers. */
  prune: '7211390',
  /** `taiat init` from several processes at once: they queue instead of failing. */
  migrate: (0x7a1a7_1n).toString(),
} as const;

export function advisoryLockKey(purpose: keyof typeof KEYS): string {
  return KEYS[purpose];
}
