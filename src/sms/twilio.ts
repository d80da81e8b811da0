import type { TwilioConfig, TwilioSender } from '../config.ts'
import { globalFetch } from '../deps.ts'
import { type Logger, maskPhone } from '../log.ts'
import { SmsError, type SmsFailure, type SmsProvider } from './provider.ts'
import { neverConnected, redact, unreachable } from './reason.ts'

/** The fields we read from Twilio's answers: a message resource, or its error JSON. */
interface TwilioAnswer {
  sid?: unknown
  code?: unknown
  message?: unknown
}

// Only codes that mean "this recipient", not "this account": the rest is the operator's to fix.
const FAILURE_BY_CODE: Record<number, SmsFailure> = {
  21211: 'invalid_number',
  21614: 'invalid_number',
  21610: 'opted_out',
  21408: 'region_blocked',
  21612: 'region_blocked',
}

/** The longest a Retry-After may ask for and still get our one retry; longer answers 503 at once. */
const MAX_RETRY_WAIT_MS = 1000

function failureFor(status: number, code: number | undefined): SmsFailure {
  if (status === 429 || status >= 500) return 'unavailable'
  return (code !== undefined && FAILURE_BY_CODE[code]) || 'rejected'
}

function parseAnswer(text: string): TwilioAnswer {
  try {
    const json: unknown = JSON.parse(text)
    return typeof json === 'object' && json !== null ? json : {}
  } catch {
    return {}
  }
}

function senderFields(sender: TwilioSender): Record<string, string> {
  return 'from' in sender ? { From: sender.from } : { MessagingServiceSid: sender.messagingServiceSid }
}

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date are both allowed; we read seconds). */
function retryAfterMs(res: Response): number {
  const seconds = /^\s*(\d{1,6})\s*$/.exec(res.headers.get('retry-after') ?? '')?.[1]
  return seconds === undefined ? 0 : Number(seconds) * 1000
}

/** Waits `ms`; false when the send's time budget ran out first. */
function pause(ms: number, budget: AbortSignal): Promise<boolean> {
  if (budget.aborted) return Promise.resolve(false)
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer)
      budget.removeEventListener('abort', stop)
      resolve(ok)
    }
    const stop = () => done(false)
    const timer = setTimeout(() => done(true), ms)
    budget.addEventListener('abort', stop, { once: true })
  })
}

type Attempt = { id: string } | { error: SmsError; retryAfterMs: number | undefined }

export function createTwilioProvider(cfg: TwilioConfig, log: Logger, http: typeof fetch = globalFetch): SmsProvider {
  // A relative path keeps any prefix on apiUrl (a proxy or regional edge); a leading "/" would drop it.
  const base = cfg.apiUrl.endsWith('/') ? cfg.apiUrl : `${cfg.apiUrl}/`
  const url = new URL(`2010-04-01/Accounts/${encodeURIComponent(cfg.accountSid)}/Messages.json`, base)
  const authorization = `Basic ${btoa(`${cfg.accountSid}:${cfg.authToken}`)}`

  /** One POST. `retryAfterMs` is set only when the message surely was not accepted. */
  async function attempt(to: string, form: URLSearchParams, budget: AbortSignal): Promise<Attempt> {
    let res: Response
    let answer: TwilioAnswer
    try {
      res = await http(url, {
        method: 'POST',
        headers: { authorization, accept: 'application/json' },
        body: form,
        // A redirect means a wrong TWILIO_API_URL: following it would send the code elsewhere.
        redirect: 'manual',
        signal: budget,
      })
      answer = parseAnswer(await res.text())
    } catch (err) {
      const reason = redact(`twilio unreachable: ${unreachable(err, cfg.timeoutMs)}`, to, [cfg.authToken])
      return { error: new SmsError('unavailable', reason, { cause: err }), retryAfterMs: neverConnected(err) ? 0 : undefined }
    }

    if (res.ok) {
      if (typeof answer.sid === 'string') return { id: answer.sid }
      // Twilio may well have queued it: retrying could text the code twice.
      return { error: new SmsError('unavailable', `twilio ${res.status} answered without a message sid`), retryAfterMs: undefined }
    }

    const code = typeof answer.code === 'number' ? answer.code : undefined
    const detail = typeof answer.message === 'string' ? answer.message : 'no Twilio error body'
    const reason = redact(`twilio ${res.status}${code ? ` code ${code}` : ''}: ${detail}`, to, [cfg.authToken])
    const kind = failureFor(res.status, code)
    if (kind === 'rejected') {
      log.warn('twilio rejected the message; check the account and settings', {
        provider: 'twilio',
        to: maskPhone(to),
        status: res.status,
        code,
        reason,
      })
    }
    // 429 and 503 are refusals before the message exists. A 500, 502 or 504 may come after Twilio
    // (or the proxy in front of it) took the message in, so they are not retried.
    const safe = res.status === 429 || res.status === 503
    return { error: new SmsError(kind, reason), retryAfterMs: safe ? retryAfterMs(res) : undefined }
  }

  return {
    name: 'twilio',
    async send(to, body, { country }) {
      const form = new URLSearchParams({ To: to, ...senderFields(cfg.senders[country] ?? cfg.sender), Body: body })
      // One budget for the whole send, the retry included: a request never waits longer than SMS_TIMEOUT_MS.
      const budget = AbortSignal.timeout(cfg.timeoutMs)
      const first = await attempt(to, form, budget)
      if ('id' in first) return first

      // The retry rule: at most one retry, and only when the first try surely sent nothing — a
      // 429 or 503 answer, or a connection that was never made. After a timeout or a dropped
      // connection Twilio may have accepted the message, and a retry could text the code twice.
      const waitMs = first.retryAfterMs === undefined ? undefined : Math.max(cfg.retryDelayMs, first.retryAfterMs)
      if (waitMs === undefined || waitMs > MAX_RETRY_WAIT_MS) throw first.error
      log.info('twilio could not take the message; retrying once', { provider: 'twilio', to: maskPhone(to), reason: first.error.reason, wait_ms: waitMs })
      if (!(await pause(waitMs, budget))) throw first.error

      const second = await attempt(to, form, budget)
      if ('id' in second) return second
      throw new SmsError(second.error.kind, `${second.error.reason} (after a retry)`, { cause: second.error.cause })
    },
  }
}
