import type { TextbeltConfig } from '../config.ts'
import { globalFetch } from '../deps.ts'
import { type Logger, maskPhone } from '../log.ts'
import { SmsError, type SmsProvider } from './provider.ts'
import { redact, unreachable } from './reason.ts'

/** Textbelt's answer to POST /text: `{ success, textId?, quotaRemaining, error? }`. */
interface TextbeltAnswer {
  success?: unknown
  textId?: unknown
  quotaRemaining?: unknown
  error?: unknown
}

function parseAnswer(text: string): TextbeltAnswer {
  try {
    const json: unknown = JSON.parse(text)
    return typeof json === 'object' && json !== null ? json : {}
  } catch {
    return {}
  }
}

export function createTextbeltProvider(cfg: TextbeltConfig, log: Logger, http: typeof fetch = globalFetch): SmsProvider {
  // A relative path keeps any prefix on the URL of a self-hosted Textbelt.
  const url = new URL('text', cfg.url.endsWith('/') ? cfg.url : `${cfg.url}/`)

  return {
    name: 'textbelt',
    async send(to, body) {
      let res: Response
      let answer: TextbeltAnswer
      try {
        res = await http(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ phone: to, message: body, key: cfg.key }),
          // A redirect means a wrong TEXTBELT_URL: following it would send the code and key elsewhere.
          redirect: 'manual',
          signal: AbortSignal.timeout(cfg.timeoutMs),
        })
        answer = parseAnswer(await res.text())
      } catch (err) {
        throw new SmsError('unavailable', redact(`textbelt unreachable: ${unreachable(err, cfg.timeoutMs)}`, to, [cfg.key]), { cause: err })
      }

      if (res.status === 429 || res.status >= 500) {
        throw new SmsError('unavailable', `textbelt ${res.status}`)
      }
      if (res.ok && answer.success === true) {
        // success is Textbelt's verdict: a missing textId must not turn a sent SMS into a resend.
        return { id: answer.textId == null ? '' : String(answer.textId) }
      }

      // Textbelt reports most failures with HTTP 200 and success: false.
      const detail = typeof answer.error === 'string' ? answer.error : 'no Textbelt error text'
      const reason = redact(`textbelt ${res.status}: ${detail}`, to, [cfg.key])
      if (/invalid.*phone|phone.*(invalid|not valid)/i.test(detail)) throw new SmsError('invalid_number', reason)

      const fields = { provider: 'textbelt', to: maskPhone(to), status: res.status, reason }
      if (answer.quotaRemaining === 0) {
        log.warn('textbelt quota is exhausted; top up the key to send more SMS', { ...fields, quotaRemaining: 0 })
      } else {
        log.warn('textbelt rejected the message; check the key and settings', fields)
      }
      throw new SmsError('rejected', reason)
    },
  }
}
