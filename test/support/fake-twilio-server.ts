// A real HTTP server on loopback that speaks Twilio's Messages API, for tests that run the service
// as a separate process (msw cannot reach into another process). Point the service at it with
// SMS_PROVIDER=twilio, TWILIO_API_URL=server.url and the credentials in server.env.
//
//   const twilio = await startFakeTwilio()
//   spawn(..., { env: { ...twilio.env, SMS_PROVIDER: 'twilio' } })
//   const code = (await twilio.waitForBodyTo('+12015550123')).match(/\d{6}/)![0]
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'

export interface SentMessage {
  sid: string
  accountSid: string
  to: string
  from: string
  body: string
}

export interface FakeTwilioServer {
  /** `http://127.0.0.1:<port>`: the value for TWILIO_API_URL. */
  url: string
  /** TWILIO_* settings that this server accepts. */
  env: Record<string, string>
  /** Messages accepted, oldest first. */
  messages: SentMessage[]
  /** Holds each answer this long after recording the message, to keep the sender's request in flight. */
  answerDelayMs: number
  /** Resolves with the text of the next (or already sent and not yet read) SMS to `to`. */
  waitForBodyTo(to: string, timeoutMs?: number): Promise<string>
  close(): Promise<void>
}

const hex32 = () => crypto.randomUUID().replaceAll('-', '')

export async function startFakeTwilio(): Promise<FakeTwilioServer> {
  const accountSid = `AC${hex32()}`
  const authToken = hex32()
  const fromNumber = '+15005550006'
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`
  const messages: SentMessage[] = []
  const read = new Set<SentMessage>()
  const waiters = new Set<() => void>()

  const answer = (res: ServerResponse, status: number, json: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json))
  }
  // Twilio's error shape: { code, message, more_info, status }.
  const fail = (res: ServerResponse, status: number, code: number, message: string) =>
    answer(res, status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status })

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(path)
    if (!match || req.method !== 'POST') return fail(res, 404, 20404, 'The requested resource was not found')
    if (decodeURIComponent(match[1]!) !== accountSid || req.headers.authorization !== expectedAuth) {
      return fail(res, 401, 20003, 'Authenticate')
    }
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
    const to = form.get('To'), from = form.get('From'), body = form.get('Body')
    if (!to || !from || !body) return fail(res, 400, 21604, "A 'To', 'From' and 'Body' are required.")
    const message: SentMessage = { sid: `SM${hex32()}`, accountSid, to, from, body }
    messages.push(message)
    for (const wake of waiters) wake()
    if (fake.answerDelayMs > 0) await new Promise((r) => setTimeout(r, fake.answerDelayMs))
    answer(res, 201, {
      sid: message.sid,
      account_sid: accountSid,
      to,
      from,
      body,
      status: 'queued',
      num_segments: '1',
      direction: 'outbound-api',
      api_version: '2010-04-01',
      uri: `/2010-04-01/Accounts/${accountSid}/Messages/${message.sid}.json`,
    })
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => fail(res, 500, 20500, 'Internal Server Error'))
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }

  const unreadTo = (to: string) => messages.find((m) => m.to === to && !read.has(m))

  const fake: FakeTwilioServer = {
    url: `http://127.0.0.1:${port}`,
    env: {
      TWILIO_API_URL: `http://127.0.0.1:${port}`,
      TWILIO_ACCOUNT_SID: accountSid,
      TWILIO_AUTH_TOKEN: authToken,
      TWILIO_FROM_NUMBER: fromNumber,
    },
    messages,
    answerDelayMs: 0,
    waitForBodyTo: (to, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = unreadTo(to)
          if (!m) return false
          read.add(m)
          waiters.delete(check)
          clearTimeout(timer)
          resolve(m.body)
          return true
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no SMS to ${to} within ${timeoutMs} ms`))
        }, timeoutMs)
        if (!check()) waiters.add(check)
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
  return fake
}
