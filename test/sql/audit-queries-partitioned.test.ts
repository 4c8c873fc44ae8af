// The audit queries of sql/, the audit view and the original README's queries, unchanged, on a
// history partitioned by day (issue 22): the same tests as audit-queries.test.ts, its seed spread
// over the partitions.
process.env.TAIAT_TEST_HISTORY_PARTITION = 'day';
await import('./audit-queries.test.js');
