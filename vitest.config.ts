import { configDefaults, defineConfig } from 'vitest/config';

const UNIT_TESTS = 'test/**/*.unit.test.ts';

export default defineConfig({
  test: {
    projects: [
      {
        // Pure modules, no Postgres: `npm run test:unit` runs only these, in seconds.
        test: {
          name: 'unit',
          include: [UNIT_TESTS],
          // A group of its own, first: vitest runs projects with different maxWorkers only in
          // separate groups, and a broken pure module then shows in seconds.
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'db',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, UNIT_TESTS],
          globalSetup: ['test/support/global-setup.ts'],
          // Files run in parallel against one server, each in a database of its own.
          fileParallelism: true,
          maxWorkers: 2,
          testTimeout: 30_000,
          hookTimeout: 60_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
    // CI reads the totals of both projects from a JSON report (see .ci/run).
    reporters: process.env.TAIAT_VITEST_JSON ? ['default', 'json'] : ['default'],
    outputFile: process.env.TAIAT_VITEST_JSON ? { json: process.env.TAIAT_VITEST_JSON } : {},
  },
});
