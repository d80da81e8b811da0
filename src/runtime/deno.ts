// Deno entrypoint: `deno task start` or `deno run -A src/runtime/deno.ts [command]`.
// The only file that knows it runs on Deno; `deno check` types it against Deno's own library.
import { PGlite } from '@electric-sql/pglite'
import { main } from '../cli.ts'

const line = (stream: { writeSync(p: Uint8Array): number }) => {
  const encoder = new TextEncoder()
  return (text: string) => {
    const bytes = encoder.encode(`${text}\n`)
    for (let done = 0; done < bytes.length; ) done += stream.writeSync(bytes.subarray(done))
  }
}

// The socket's address of each request in flight, for clientAddress; gone with the request.
const remoteAddress = new WeakMap<Request, string>()

const code = await main({
  argv: Deno.args,
  env: Deno.env.toObject(),
  openEmbedded: (dataDir) => {
    Deno.mkdirSync(dataDir, { recursive: true })
    return new PGlite(dataDir)
  },
  printLine: line(Deno.stdout),
  stdout: line(Deno.stdout),
  stderr: line(Deno.stderr),
  clientAddress: (c) => remoteAddress.get(c.req.raw),
  serve: (fetch, port, hostname) =>
    new Promise((resolve, reject) => {
      try {
        const onListen = () => resolve({ close: () => server.shutdown() }) // shutdown() lets requests in flight answer
        const server = Deno.serve({ port, hostname, onListen }, (req, info) => {
          remoteAddress.set(req, info.remoteAddr.hostname)
          return fetch(req)
        })
      } catch (err) {
        reject(err)
      }
    }),
  onShutdownSignal: (handler) => {
    // Stay subscribed: Ctrl+C under `deno task` reaches this process twice (from the terminal and
    // forwarded by the task runner), and an unhandled second signal would end the graceful stop.
    let stopping = false
    const once = () => {
      if (!stopping) handler()
      stopping = true
    }
    Deno.addSignalListener('SIGTERM', once)
    Deno.addSignalListener('SIGINT', once)
  },
})
Deno.exit(code)
