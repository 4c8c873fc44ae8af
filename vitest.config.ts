import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Files run in parallel against one server, each in a database of its own.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // CI reads the totals from a JSON report (see .ci/run).
    reporters: process.env.TAIAT_VITEST_JSON ? ['default', 'json'] : ['default'],
    outputFile: process.env.TAIAT_VITEST_JSON ? { json: process.env.TAIAT_VITEST_JSON } : {},
  },
});
