// Node entrypoint: `node src/runtime/node.ts [command]`. The only file that knows it runs on Node.
import { serve } from '@hono/node-server'
import { getConnInfo } from '@hono/node-server/conninfo'
import { mkdirSync } from 'node:fs'
import { main } from '../cli.ts'
import { lineBatcher } from '../log.ts'
import { nodeFetch } from './node-fetch.ts'

// Log lines leave in batches, one write per turn of the event loop; the last ones on exit.
const out = lineBatcher((text) => process.stdout.write(text), setImmediate)
process.on('exit', out.flush)

const code = await main({
  argv: process.argv.slice(2),
  env: process.env,
  openEmbedded: async (dataDir) => {
    mkdirSync(dataDir, { recursive: true })
    // Loaded only for the embedded database: a server on PostgreSQL never holds it in memory.
    const { PGlite } = await import('@electric-sql/pglite')
    return new PGlite(dataDir)
  },
  printLine: (line) => process.stdout.write(`${line}\n`),
  clientAddress: (c) => getConnInfo(c).remote.address,
  // Node's fetch honours HTTP(S)_PROXY only when told to; then the service's calls stay on it.
  fetch: process.env.NODE_USE_ENV_PROXY === '1' || process.execArgv.includes('--use-env-proxy') ? undefined : nodeFetch,
  stdout: out.line,
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
