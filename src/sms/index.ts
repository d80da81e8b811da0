import type { SmsConfig } from '../config.ts'
import type { Logger } from '../log.ts'
import { createConsoleProvider } from './console.ts'
import type { SmsProvider } from './provider.ts'
import { createTextbeltProvider } from './textbelt.ts'
import { createTwilioProvider } from './twilio.ts'

export { createConsoleProvider } from './console.ts'
export { SmsError, type SmsFailure, type SmsProvider } from './provider.ts'
export { createTextbeltProvider } from './textbelt.ts'
export { createTwilioProvider } from './twilio.ts'

/** `write` receives the console provider's lines; the other providers log through `log`. */
export function createSmsProvider(sms: SmsConfig, log: Logger, write: (line: string) => void): SmsProvider {
  switch (sms.provider) {
    case 'twilio':
      return createTwilioProvider(sms.twilio, log)
    case 'textbelt':
      return createTextbeltProvider(sms.textbelt, log)
    case 'console':
      return createConsoleProvider(write)
  }
}
