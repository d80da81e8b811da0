import { createServer } from 'node:net'

/**
 * `http://127.0.0.1:<port>` where nothing listens: a request there is refused before anything is
 * sent, which msw cannot fake (its network errors come after the request was made). Pair with a
 * handler that answers `passthrough()`.
 */
export async function closedPortUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}`
}
