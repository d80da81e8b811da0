// A loopback proxy in front of the fake Twilio that can make the provider misbehave: hang without
// answering, answer 500 or 503, reset the connection, or answer slowly. Point the service's
// TWILIO_API_URL at it (its `env`). Every message it sees while failing is kept in `undelivered`,
// so a test can try the code the provider never delivered.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { FakeTwilioServer } from '../../support/fake-twilio-server.ts'

export type TwilioFault =
  | { kind: 'none' }
  | { kind: 'hang' }
  | { kind: 'status'; status: 500 | 503 }
  | { kind: 'reset' }
  | { kind: 'slow'; delayMs: number }

export interface TwilioFront {
  env: Record<string, string>
  fault: TwilioFault
  /** Messages the provider took in but never delivered (every fault but `slow`). */
  undelivered: { to: string; body: string }[]
  /** Requests that reached the front. */
  requests: number
  close(): Promise<void>
}

export async function startTwilioFront(twilio: FakeTwilioServer): Promise<TwilioFront> {
  const readBody = async (req: IncomingMessage) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks)
  }

  const forward = async (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const upstream = await fetch(twilio.url + (req.url ?? '/'), {
      method: req.method,
      headers: { authorization: req.headers.authorization ?? '', 'content-type': req.headers['content-type'] ?? '' },
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : new Uint8Array(body),
    })
    res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' })
    res.end(Buffer.from(await upstream.arrayBuffer()))
  }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    front.requests++
    const body = await readBody(req)
    const fault = front.fault
    if (fault.kind === 'none') return forward(req, res, body)
    if (fault.kind === 'slow') {
      await new Promise((r) => setTimeout(r, fault.delayMs))
      return forward(req, res, body)
    }
    const form = new URLSearchParams(body.toString('utf8'))
    front.undelivered.push({ to: form.get('To') ?? '', body: form.get('Body') ?? '' })
    switch (fault.kind) {
      case 'hang':
        return // never answers; close() cuts the socket
      case 'reset':
        return req.socket.destroy()
      case 'status':
        res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.status === 503 ? { 'retry-after': '0' } : {}) })
        return res.end(JSON.stringify({ code: 20500, message: 'Service is unavailable', more_info: 'https://www.twilio.com/docs/errors/20500', status: fault.status }))
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy())
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  const front: TwilioFront = {
    env: { ...twilio.env, TWILIO_API_URL: `http://127.0.0.1:${port}` },
    fault: { kind: 'none' },
    undelivered: [],
    requests: 0,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
  return front
}
