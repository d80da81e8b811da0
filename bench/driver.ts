// The load driver: N virtual users, each doing what a phone app does, one flow after another, over
// keep-alive HTTP connections (node:http Agent). A flow: request a code for a fresh valid number,
// take the SMS the service sent to the fake Twilio, read the code from its body, verify it, and
// check the 200 answer carries an EdDSA `access` JWT for that number. It counts only when all of
// that held; anything else is an error, counted by kind.
import { Agent, request } from 'node:http'
import type { FakeTwilio } from './fake-twilio.ts'
import { sleep } from './util.ts'

export interface DriverOptions {
  /** http://127.0.0.1:<port> */
  baseUrl: string
  concurrency: number
  numbers: { e164: string[]; typed: string[] }
  twilio: FakeTwilio
  /** Per HTTP request: no answer within this is an error ("timeout"). */
  requestTimeoutMs: number
  /** Waiting for the SMS after the 202. */
  smsTimeoutMs: number
  /** The driver stops by itself after this long, whatever happens (a bound on every loop). */
  maxRunMs: number
}

export interface WindowFigures {
  /** Flows that completed inside the measured window. */
  flows: number
  /** Length of the window, ms. */
  durationMs: number
  /** Latencies (ms) of requests and verifies answered inside the window. */
  requestMs: number[]
  verifyMs: number[]
  /** Errors inside the window, by kind. */
  errors: Record<string, number>
}

export interface Driver {
  /** Starts counting the measured window now. */
  startWindow(): void
  /** Ends the window now and returns its figures. */
  endWindow(): WindowFigures
  /** An access token the service issued in this run (the latest), for the token checks. */
  accessToken(): string | undefined
  /** Stops starting flows and waits (bounded) for those in flight. Resolves with every error of the run and the flows completed. */
  stop(): Promise<{ flowsCompleted: number; errors: Record<string, number>; numbersUsed: number }>
}

interface Answer {
  status: number
  raw: string
}

export function startDriver(o: DriverOptions): Driver {
  const url = new URL(o.baseUrl)
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency, maxFreeSockets: o.concurrency, timeout: o.requestTimeoutMs })
  const started = performance.now()
  let windowStart: number | undefined
  let windowEnd: number | undefined
  let stopping = false
  let next = 0
  let flowsCompleted = 0
  let windowFlows = 0
  const requestMs: number[] = []
  const verifyMs: number[] = []
  const errors: Record<string, number> = {}
  const windowErrors: Record<string, number> = {}
  let lastAccess: string | undefined

  const inWindow = (t: number) => windowStart !== undefined && t >= windowStart && (windowEnd === undefined || t < windowEnd)
  const fail = (kind: string): false => {
    errors[kind] = (errors[kind] ?? 0) + 1
    if (inWindow(performance.now())) windowErrors[kind] = (windowErrors[kind] ?? 0) + 1
    return false
  }

  const post = (path: string, body: unknown): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const data = JSON.stringify(body)
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path,
          method: 'POST',
          agent,
          timeout: o.requestTimeoutMs,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), accept: 'application/json' },
        },
        (res) => {
          let raw = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => (raw += chunk))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, raw }))
          res.on('error', reject)
        },
      )
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', reject)
      req.end(data)
    })

  /** "HTTP 429 rate_limited": the status and the problem's stable code, never its free text. */
  const describe = (a: Answer) => {
    let code = ''
    try {
      const json = JSON.parse(a.raw) as { code?: unknown }
      if (typeof json.code === 'string') code = ` ${json.code}`
    } catch {}
    return `HTTP ${a.status}${code}`
  }
  const networkError = (err: unknown) => {
    const e = err as { code?: string; message?: string }
    return e.code ?? (e.message === 'timeout' ? 'timeout' : 'network error')
  }

  async function flow(i: number): Promise<boolean> {
    const e164 = o.numbers.e164[i]!
    const t0 = performance.now()
    let asked: Answer
    try {
      asked = await post('/api/auth/otp/request/', { phone_number: o.numbers.typed[i] })
    } catch (err) {
      return fail(`request: ${networkError(err)}`)
    }
    const t1 = performance.now()
    if (asked.status !== 202) return fail(`request: ${describe(asked)}`)
    if (inWindow(t1)) requestMs.push(t1 - t0)
    let sms: string
    try {
      sms = await o.twilio.take(e164, o.smsTimeoutMs)
    } catch {
      return fail('sms: not received')
    }
    const code = /\b(\d{4,10})\b/.exec(sms)?.[1]
    if (!code) return fail('sms: no code in the body')
    const t2 = performance.now()
    let verified: Answer
    try {
      verified = await post('/api/auth/otp/verify/', { phone_number: e164, otp: code })
    } catch (err) {
      return fail(`verify: ${networkError(err)}`)
    }
    const t3 = performance.now()
    if (verified.status !== 200) return fail(`verify: ${describe(verified)}`)
    const access = accessJwtOf(verified.raw, e164)
    if (!access) return fail('verify: no access JWT in the 200')
    lastAccess = access
    if (inWindow(t3)) {
      verifyMs.push(t3 - t2)
      windowFlows++
    }
    flowsCompleted++
    return true
  }

  async function virtualUser(): Promise<void> {
    while (!stopping && performance.now() - started < o.maxRunMs) {
      if (next >= o.numbers.e164.length) {
        fail('driver: ran out of phone numbers')
        return
      }
      // A failing service fails fast: pause a little so a broken run does not spin.
      if (!(await flow(next++))) await sleep(10)
    }
  }

  const users = Array.from({ length: o.concurrency }, () => virtualUser())

  return {
    startWindow: () => {
      windowStart = performance.now()
    },
    endWindow: () => {
      windowEnd = performance.now()
      return {
        flows: windowFlows,
        durationMs: windowEnd - (windowStart ?? windowEnd),
        requestMs,
        verifyMs,
        errors: { ...windowErrors },
      }
    },
    accessToken: () => lastAccess,
    stop: async () => {
      stopping = true
      const drained = await Promise.race([Promise.all(users).then(() => true), sleep(o.requestTimeoutMs * 2 + o.smsTimeoutMs + 1000).then(() => false)])
      if (!drained) fail('driver: flows still in flight at the end')
      agent.destroy()
      return { flowsCompleted, errors: { ...errors }, numbersUsed: next }
    },
  }
}

/** The verify answer's `access`, when it is a JWT signed with EdDSA, of kind access, for this number. */
export function accessJwtOf(raw: string, phone: string): string | undefined {
  try {
    const { access } = JSON.parse(raw) as { access?: unknown }
    if (typeof access !== 'string') return undefined
    const [h, p, s] = access.split('.')
    if (!h || !p || !s || access.split('.').length !== 3) return undefined
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: unknown }
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as { token_type?: unknown; phone_number?: unknown; sub?: unknown }
    // An Ed25519 signature is 64 bytes: 86 base64url characters.
    const ok = header.alg === 'EdDSA' && payload.token_type === 'access' && payload.phone_number === phone && typeof payload.sub === 'string' && s.length === 86
    return ok ? access : undefined
  } catch {
    return undefined
  }
}
