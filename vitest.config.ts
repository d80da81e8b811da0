import { defineConfig } from 'vitest/config'

// Tests that touch the database run twice: on a real PostgreSQL server and on embedded PGlite.
// Files named *.pg.test.ts need a real server (concurrency, several connections) and run there only.
// Files named *.long.test.ts take minutes (outages, soak): they form the `long` project, which only
// `npm run test:long` (vitest run --project long) runs; a plain `vitest run` leaves it out.
const longTests = ['test/**/*.long.test.ts']
const dbTests = ['test/routes/**/*.test.ts', 'test/store/**/*.test.ts', 'test/auth/**/*.db.test.ts']

export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...dbTests, 'test/**/*.pg.test.ts', 'test/e2e/**', ...longTests],
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: [...dbTests, 'test/**/*.pg.test.ts'],
          env: { TEST_DB: 'postgres' },
          globalSetup: ['test/support/pg-server.ts'],
        },
      },
      {
        extends: true,
        test: { name: 'pglite', include: dbTests, exclude: ['test/**/*.pg.test.ts'], env: { TEST_DB: 'pglite' } },
      },
      {
        extends: true,
        test: {
          name: 'long',
          include: longTests,
          env: { TEST_DB: 'postgres' },
          globalSetup: ['test/support/pg-server.ts'],
          // One file at a time: they measure latency and memory, and some stop their own PostgreSQL.
          fileParallelism: false,
          testTimeout: 300_000,
        },
      },
    ],
    // Without --project, every project but `long` runs; a --project on the command line replaces this
    // default. (vitest reads `project` from the config as it does from the command line, but its
    // config type only names it for the CLI, hence the spread.)
    ...({ project: ['!long'] } as object),
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
})
