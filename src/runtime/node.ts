// Node entrypoint: `node src/runtime/node.ts [command]`. The only file that knows it runs on Node.
import { PGlite } from '@electric-sql/pglite'
import { serve } from '@hono/node-server'
import { getConnInfo } from '@hono/node-server/conninfo'
import { mkdirSync } from 'node:fs'
import { main } from '../cli.ts'

const code = await main({
  argv: process.argv.slice(2),
  env: process.env,
  openEmbedded: (dataDir) => {
    mkdirSync(dataDir, { recursive: true })
    return new PGlite(dataDir)
  },
  printLine: (line) => process.stdout.write(`${line}\n`),
  clientAddress: (c) => getConnInfo(c).remote.address,
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
  serve: (fetch, port, hostname) =>
    new Promise((resolve, reject) => {
      const server = serve({ fetch, port, hostname }, () =>
        resolve({
          close: () =>
            new Promise((done) => {
              server.close(() => done())
              if ('closeIdleConnections' in server) server.closeIdleConnections()
            }),
        }),
      )
      server.once('error', reject)
    }),
  onShutdownSignal: (handler) => {
    process.once('SIGTERM', handler)
    process.once('SIGINT', handler)
  },
})
process.exit(code)
