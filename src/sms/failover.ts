import { type Logger, maskPhone } from '../log.ts'
import { NUMBER_REFUSALS, SmsError, type SmsProvider } from './provider.ts'

/**
 * SMS_PROVIDER=twilio,textbelt: providers are tried in order while one fails to deliver
 * (unreachable, timed out, 5xx, bad credentials, out of quota). A refusal of the number itself
 * (invalid, opted out, region blocked) ends the send: the next provider would only pay to hear it
 * again, or, worse, text someone who said STOP.
 *
 * After a timeout the first provider may still deliver, so the user can get two texts; they carry
 * the same code, and reaching the user at all is worth that.
 */
export function createFailoverProvider(providers: readonly SmsProvider[], log: Logger): SmsProvider {
  if (providers.length === 0) throw new Error('failover needs at least one provider')
  return {
    name: providers.map((p) => p.name).join(','),
    async send(to, body, meta) {
      const failed: string[] = []
      let last: SmsError | undefined
      for (const [i, provider] of providers.entries()) {
        try {
          const sent = await provider.send(to, body, meta)
          if (failed.length > 0) log.warn('sms delivered by a fallback provider', { provider: provider.name, failed, to: maskPhone(to) })
          return sent
        } catch (err) {
          // Providers throw SmsError only; anything else is a bug there, and the next one may work.
          const error = err instanceof SmsError ? err : new SmsError('unavailable', `${provider.name} failed unexpectedly`, { cause: err })
          if (NUMBER_REFUSALS.has(error.kind)) throw error
          failed.push(provider.name)
          last = error
          const next = providers[i + 1]?.name
          log.warn(next ? 'sms provider failed; trying the next one' : 'sms provider failed; no provider left', {
            provider: provider.name,
            failure: error.kind,
            reason: error.reason,
            next,
            to: maskPhone(to),
          })
        }
      }
      // The last failure decides the answer: 503 when the last provider was out of reach, else 502.
      throw new SmsError(last!.kind, `every provider failed (${failed.join(', ')}): ${last!.reason}`, { cause: last })
    },
  }
}
