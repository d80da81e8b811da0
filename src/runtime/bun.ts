// Bun entrypoint: `bun run start:bun` or `bun src/runtime/bun.ts [command]`, and the entrypoint
// of the single binary (`npm run build:binary`). The only file that knows it runs on Bun.
import { PGlite } from '@electric-sql/pglite'
import { mkdirSync } from 'node:fs'
import { main } from '../cli.ts'
import { lineBatcher } from '../log.ts'
// Bun gives each of these a path: on disk when run from source, inside the executable once
// compiled, where there is no node_modules for PGlite to find them in.
import pgliteWasmPath from '@electric-sql/pglite/pglite.wasm' with { type: 'file' }
import initdbWasmPath from '@electric-sql/pglite/initdb.wasm' with { type: 'file' }
import pgliteDataPath from '@electric-sql/pglite/pglite.data' with { type: 'file' }

const compile = async (path: string) => WebAssembly.compile(await Bun.file(path).arrayBuffer())

// The socket's address of each request in flight, for clientAddress; gone with the request.
const remoteAddress = new WeakMap<Request, string>()

// Log lines leave in batches, one write per turn of the event loop; the last ones on exit.
const out = lineBatcher((text) => process.stdout.write(text), setImmediate)
process.on('exit', out.flush)

const code = await main({
  argv: process.argv.slice(2),
  env: process.env,
  openEmbedded: async (dataDir) => {
    mkdirSync(dataDir, { recursive: true })
    const [pgliteWasmModule, initdbWasmModule] = await Promise.all([compile(pgliteWasmPath), compile(initdbWasmPath)])
    return new PGlite(dataDir, { pgliteWasmModule, initdbWasmModule, fsBundle: Bun.file(pgliteDataPath) })
  },
  printLine: (line) => process.stdout.write(`${line}\n`),
  stdout: out.line,
  stderr: (line) => process.stderr.write(`${line}\n`),
  clientAddress: (c) => remoteAddress.get(c.req.raw),
  serve: async (fetch, port, hostname) => {
    const server = Bun.serve({
      port,
      hostname,
      development: false,
      fetch: (req, srv) => {
        const address = srv.requestIP(req)?.address
        if (address) remoteAddress.set(req, address)
        return fetch(req)
      },
    })
    // stop() refuses new connections, lets requests in flight answer, and resolves when all are closed.
    return { close: () => server.stop() }
  },
  onShutdownSignal: (handler) => {
    // Stay subscribed: Ctrl+C under `bun run` reaches this process twice (from the terminal and
    // forwarded by bun run), and an unhandled second signal would end the graceful stop.
    let stopping = false
    const once = () => {
      if (!stopping) handler()
      stopping = true
    }
    process.on('SIGTERM', once).on('SIGINT', once)
  },
})
process.exit(code)
