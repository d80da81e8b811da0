// Twilio's Messages API on loopback, built for load: each accepted SMS is handed to whoever waits
// for that number (a Map lookup, nothing kept once read). test/support/fake-twilio-server.ts keeps
// every message and scans them for each wait, which is right for tests and quadratic under load.
//
//   POST /2010-04-01/Accounts/{AccountSid}/Messages.json   To, From (or MessagingServiceSid), Body
//   → 201 {"sid": "SM…", …}
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { randomBytes } from 'node:crypto'

export interface FakeTwilio {
  url: string
  /** TWILIO_* settings the server accepts. */
  env: Record<string, string>
  /** Resolves with the body of the SMS sent to `to` (already sent or the next one), or rejects after `timeoutMs`. */
  take(to: string, timeoutMs: number): Promise<string>
  /** Messages accepted so far, and messages refused (bad path, credentials or form). */
  stats(): { accepted: number; refused: number; unread: number }
  /** Forgets unread messages and fails pending waits (between rounds). */
  reset(): void
  close(): Promise<void>
}

/** Unread messages kept at most; beyond it the oldest is dropped (its flow then fails: no SMS). */
const MAX_UNREAD = 100_000

export async function startFakeTwilio(): Promise<FakeTwilio> {
  const accountSid = `AC${randomBytes(16).toString('hex')}`
  const authToken = randomBytes(16).toString('hex')
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`
  const path = `/2010-04-01/Accounts/${accountSid}/Messages.json`
  const unread = new Map<string, string>()
  const waiting = new Map<string, { resolve: (body: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>()
  let accepted = 0
  let refused = 0
  let sid = 0

  const fail = (res: ServerResponse, status: number, code: number, message: string) => {
    refused++
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ code, message, status }))
  }

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    if (req.method !== 'POST' || req.url !== path) return fail(res, 404, 20404, 'The requested resource was not found')
    if (req.headers.authorization !== expectedAuth) return fail(res, 401, 20003, 'Authenticate')
    const form = new URLSearchParams(raw)
    const to = form.get('To')
    const body = form.get('Body')
    if (!to || !body || !(form.get('From') || form.get('MessagingServiceSid'))) return fail(res, 400, 21604, "A 'To', 'From' and 'Body' are required.")
    accepted++
    const messageSid = `SM${(++sid).toString(16).padStart(32, '0')}`
    const waiter = waiting.get(to)
    if (waiter) {
      waiting.delete(to)
      clearTimeout(waiter.timer)
      waiter.resolve(body)
    } else {
      unread.set(to, body)
      if (unread.size > MAX_UNREAD) unread.delete(unread.keys().next().value!)
    }
    res.writeHead(201, { 'content-type': 'application/json' }).end(
      JSON.stringify({ sid: messageSid, account_sid: accountSid, to, body, status: 'queued', num_segments: '1', api_version: '2010-04-01' }),
    )
  }

  const server = createServer((req, res) => {
    let raw = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => {
      raw += chunk
      if (raw.length > 64 * 1024) req.destroy()
    })
    req.on('end', () => handle(req, res, raw))
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  const url = `http://127.0.0.1:${port}`

  return {
    url,
    env: { TWILIO_API_URL: url, TWILIO_ACCOUNT_SID: accountSid, TWILIO_AUTH_TOKEN: authToken, TWILIO_FROM_NUMBER: '+15005550006' },
    take: (to, timeoutMs) => {
      const body = unread.get(to)
      if (body !== undefined) {
        unread.delete(to)
        return Promise.resolve(body)
      }
      return new Promise((resolve, reject) => {
        waiting.get(to)?.reject(new Error('replaced'))
        const timer = setTimeout(() => {
          waiting.delete(to)
          reject(new Error(`no SMS to ${to} within ${timeoutMs} ms`))
        }, timeoutMs)
        waiting.set(to, { resolve, reject, timer })
      })
    },
    stats: () => ({ accepted, refused, unread: unread.size }),
    reset: () => {
      unread.clear()
      for (const w of waiting.values()) {
        clearTimeout(w.timer)
        w.reject(new Error('reset'))
      }
      waiting.clear()
      accepted = 0
      refused = 0
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
