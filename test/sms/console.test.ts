import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../src/log.ts'
import { createConsoleProvider } from '../../src/sms/console.ts'
import { createSmsProvider } from '../../src/sms/index.ts'

describe('console provider', () => {
  it('shows the developer who the SMS is for and what it says', async () => {
    const lines: string[] = []
    const sms = createConsoleProvider((line) => lines.push(line))
    await sms.send('+12015550123', 'Your NomiSafe code is 123456')
    expect(lines).toEqual(['[sms] to +12015550123: Your NomiSafe code is 123456'])
  })

  it('gives every message its own id', async () => {
    const sms = createConsoleProvider(() => {})
    const a = await sms.send('+12015550123', 'one')
    const b = await sms.send('+12015550123', 'two')
    expect(a.id).toMatch(/^console-[0-9a-f-]{36}$/)
    expect(b.id).not.toBe(a.id)
  })
})

describe('createSmsProvider', () => {
  const write = () => {}
  it.each([
    [{ provider: 'console' } as const, 'console'],
    [{ provider: 'twilio', twilio: { accountSid: 'AC0', authToken: 't', fromNumber: '+15005550006', apiUrl: 'https://api.twilio.com', timeoutMs: 1000 } } as const, 'twilio'],
    [{ provider: 'textbelt', textbelt: { key: 'k', url: 'https://textbelt.com', timeoutMs: 1000 } } as const, 'textbelt'],
  ])('SMS_PROVIDER=%s picks that provider', (sms, name) => {
    expect(createSmsProvider(sms, silentLogger, write).name).toBe(name)
  })
})
