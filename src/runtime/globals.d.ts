// For Node's tsc only: the slices of Deno's and Bun's globals that the files beside this one use
// (deno.ts, deno-compile-check.ts, bun.ts), so `npm run typecheck` covers them without pulling
// either runtime's full library into the whole program. deno.json excludes this file: `deno task
// check` types the Deno files against Deno's real library instead.

declare namespace Deno {
  const args: string[]
  const env: { toObject(): Record<string, string>; get(key: string): string | undefined }
  const stdout: { writeSync(p: Uint8Array): number }
  const stderr: { writeSync(p: Uint8Array): number }
  function mkdirSync(path: string, options?: { recursive?: boolean }): void
  function exit(code?: number): never
  function addSignalListener(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void
  function removeSignalListener(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void
  interface HttpServer {
    /** Stops accepting; resolves once the requests in flight have answered. */
    shutdown(): Promise<void>
    readonly finished: Promise<void>
  }
  interface ServeHandlerInfo {
    remoteAddr: { transport: 'tcp' | 'udp'; hostname: string; port: number }
  }
  function serve(
    options: { port: number; hostname: string; onListen?: (addr: { hostname: string; port: number }) => void },
    handler: (req: Request, info: ServeHandlerInfo) => Response | Promise<Response>,
  ): HttpServer
}

declare namespace Bun {
  interface Server {
    /** Stops accepting; resolves once every connection has closed (in-flight requests answer first). */
    stop(closeActiveConnections?: boolean): Promise<void>
    requestIP(req: Request): { address: string; family: string; port: number } | null
  }
  function serve(options: {
    fetch: (req: Request, server: Server) => Response | Promise<Response>
    port: number
    hostname: string
    development?: boolean
  }): Server
  function file(path: string): Blob
}

// Bun's `import path from '…' with { type: 'file' }`: the module is the file's path.
declare module '*.wasm' {
  const path: string
  export default path
}
declare module '*.data' {
  const path: string
  export default path
}
