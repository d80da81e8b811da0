import type { SmsProvider } from './provider.ts'

/** For development: the SMS is written where the developer is looking instead of being sent. */
export function createConsoleProvider(write: (line: string) => void): SmsProvider {
  return {
    name: 'console',
    async send(to, body) {
      write(`[sms] to ${to}: ${body}`)
      return { id: `console-${crypto.randomUUID()}` }
    },
  }
}
