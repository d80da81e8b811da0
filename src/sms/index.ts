import { type Clock, systemClock } from '../clock.ts'
import type { SmsConfig, SmsProviderConfig } from '../config.ts'
import { globalFetch } from '../deps.ts'
import type { Logger } from '../log.ts'
import { createConsoleProvider } from './console.ts'
import { createFailoverProvider } from './failover.ts'
import type { SmsProvider } from './provider.ts'
import { createTextbeltProvider } from './textbelt.ts'
import { createTwilioProvider } from './twilio.ts'
import { createWebhookProvider } from './webhook.ts'

export { createConsoleProvider } from './console.ts'
export { createFailoverProvider } from './failover.ts'
export { SmsError, type SmsFailure, type SmsMeta, type SmsProvider } from './provider.ts'
export { compileSmsTemplate, smsBody, type SmsTemplate } from './template.ts'
export { createTextbeltProvider } from './textbelt.ts'
export { createTwilioProvider } from './twilio.ts'
export { createWebhookProvider } from './webhook.ts'

/**
 * The provider SMS_PROVIDER names; with several (`twilio,textbelt`), one that fails over in that
 * order. `write` receives the console provider's lines; the other providers log through `log` and
 * call out through `http`.
 */
export function createSmsProvider(
  sms: SmsConfig,
  log: Logger,
  write: (line: string) => void,
  clock: Clock = systemClock,
  http: typeof fetch = globalFetch,
): SmsProvider {
  const providers = sms.providers.map((p) => createOne(p, log, write, clock, http))
  return providers.length === 1 ? providers[0]! : createFailoverProvider(providers, log)
}

function createOne(p: SmsProviderConfig, log: Logger, write: (line: string) => void, clock: Clock, http: typeof fetch): SmsProvider {
  switch (p.provider) {
    case 'twilio':
      return createTwilioProvider(p.twilio, log, http)
    case 'textbelt':
      return createTextbeltProvider(p.textbelt, log, http)
    case 'webhook':
      return createWebhookProvider(p.webhook, log, clock, http)
    case 'console':
      return createConsoleProvider(write)
  }
}
