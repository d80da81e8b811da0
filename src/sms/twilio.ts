import type { TwilioConfig } from '../config.ts'
import { type Logger, maskPhone } from '../log.ts'
import { SmsError, type SmsFailure, type SmsProvider } from './provider.ts'

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

/** Twilio echoes the number back ("The 'To' number +1… is not valid"); reasons end up in logs. */
function redact(text: string, to: string, secret: string): string {
  let out = secret ? text.replaceAll(secret, '[redacted]') : text
  for (const n of new Set([to, to.replace(/^\+/, '')])) if (n.length >= 4) out = out.replaceAll(n, maskPhone(to))
  // Cut after redacting, so a cut can never leave half a secret behind.
  return out.slice(0, 300)
}

function unreachable(err: unknown, timeoutMs: number): string {
  if (err instanceof DOMException && err.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`
  return err instanceof Error ? err.message : String(err)
}

export function createTwilioProvider(cfg: TwilioConfig, log: Logger): SmsProvider {
  // A relative path keeps any prefix on apiUrl (a proxy or regional edge); a leading "/" would drop it.
  const base = cfg.apiUrl.endsWith('/') ? cfg.apiUrl : `${cfg.apiUrl}/`
  const url = new URL(`2010-04-01/Accounts/${encodeURIComponent(cfg.accountSid)}/Messages.json`, base)
  const authorization = `Basic ${btoa(`${cfg.accountSid}:${cfg.authToken}`)}`

  return {
    name: 'twilio',
    async send(to, body) {
      let res: Response
      let answer: TwilioAnswer
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { authorization, accept: 'application/json' },
          body: new URLSearchParams({ To: to, From: cfg.fromNumber, Body: body }),
          signal: AbortSignal.timeout(cfg.timeoutMs),
        })
        answer = parseAnswer(await res.text())
      } catch (err) {
        throw new SmsError('unavailable', `twilio unreachable: ${unreachable(err, cfg.timeoutMs)}`, { cause: err })
      }

      if (res.ok) {
        if (typeof answer.sid === 'string') return { id: answer.sid }
        throw new SmsError('unavailable', `twilio ${res.status} answered without a message sid`)
      }

      const code = typeof answer.code === 'number' ? answer.code : undefined
      const detail = typeof answer.message === 'string' ? answer.message : 'no Twilio error body'
      const reason = redact(`twilio ${res.status}${code ? ` code ${code}` : ''}: ${detail}`, to, cfg.authToken)
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
      throw new SmsError(kind, reason)
    },
  }
}
