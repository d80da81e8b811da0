import { type Clock, systemClock } from '../clock.ts'
import { globalFetch } from '../deps.ts'
import type { SmsWebhookConfig } from '../config.ts'
import { signWebhook, webhookSigningKey } from '../events/signature.ts'
import { type Logger, maskPhone } from '../log.ts'
import { SmsError, type SmsProvider } from './provider.ts'
import { redact, unreachable } from './reason.ts'

/**
 * For any other gateway: the message is POSTed as JSON `{ "to", "body", "country" }` to
 * SMS_WEBHOOK_URL, signed the Standard Webhooks way (webhook-id, webhook-timestamp,
 * webhook-signature) with SMS_WEBHOOK_SECRET, so the gateway can check it came from us.
 * 2xx: sent. 429, 5xx, timeouts, network errors: unavailable. Anything else: rejected.
 */
export function createWebhookProvider(cfg: SmsWebhookConfig, log: Logger, clock: Clock = systemClock, http: typeof fetch = globalFetch): SmsProvider {
  const url = new URL(cfg.url)
  // A gateway token in the URL (…?token=…, user:pass@) is a secret too: keep it out of reasons.
  const secrets = [cfg.secret, cfg.secret.slice('whsec_'.length), url.password, ...[...url.searchParams.values()].filter((q) => q.length >= 8)]
  let key: Promise<CryptoKey> | undefined

  return {
    name: 'webhook',
    async send(to, body, { country }) {
      // The gateway can use the id to drop a message it has already seen.
      const id = `msg_${crypto.randomUUID().replaceAll('-', '')}`
      // Standard Webhooks receivers refuse a stale timestamp, so it is the time of this try.
      const timestamp = Math.floor(clock.now().getTime() / 1000)
      const payload = JSON.stringify({ to, body, country })
      key ??= webhookSigningKey(cfg.secret)
      const signature = await signWebhook(await key, id, timestamp, payload)

      let res: Response
      let text: string
      try {
        res = await http(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            'user-agent': 'NomiSafe-Auth-SMS/1',
            'webhook-id': id,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signature,
          },
          body: payload,
          // A redirect is a misconfigured URL: following it would send the message somewhere else.
          redirect: 'manual',
          signal: AbortSignal.timeout(cfg.timeoutMs),
        })
        text = await res.text()
      } catch (err) {
        throw new SmsError('unavailable', redact(`webhook unreachable: ${unreachable(err, cfg.timeoutMs)}`, to, secrets), { cause: err })
      }

      if (res.status >= 200 && res.status < 300) return { id: gatewayId(text) ?? id }
      if (res.status === 429 || res.status >= 500) throw new SmsError('unavailable', `webhook ${res.status}`)

      const reason = redact(`webhook ${res.status}: ${text.trim().slice(0, 200) || 'no answer body'}`, to, secrets)
      log.warn('the SMS webhook rejected the message; check the gateway and SMS_WEBHOOK_URL', {
        provider: 'webhook',
        to: maskPhone(to),
        status: res.status,
        webhook_id: id,
        reason,
      })
      throw new SmsError('rejected', reason)
    },
  }
}

/** The gateway's own message id, when it answers `{ "id": … }`. */
function gatewayId(text: string): string | undefined {
  try {
    const json: unknown = JSON.parse(text)
    const id = typeof json === 'object' && json !== null ? (json as { id?: unknown }).id : undefined
    return (typeof id === 'string' && id !== '') || typeof id === 'number' ? String(id) : undefined
  } catch {
    return undefined
  }
}
