import { defineConfig } from 'vitest/config'

// Tests that touch the database run twice: on a real PostgreSQL server and on embedded PGlite.
// Files named *.pg.test.ts need a real server (concurrency, several connections) and run there only.
const dbTests = ['test/routes/**/*.test.ts', 'test/store/**/*.test.ts', 'test/auth/**/*.db.test.ts']

export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...dbTests, 'test/**/*.pg.test.ts', 'test/e2e/**'],
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
    ],
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
})
