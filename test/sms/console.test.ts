import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { createConsoleProvider } from '../../src/sms/console.ts'
import { createSmsProvider } from '../../src/sms/index.ts'

const US = { country: 'US' }

describe('console provider', () => {
  it('shows the developer who the SMS is for and what it says', async () => {
    const lines: string[] = []
    const sms = createConsoleProvider((line) => lines.push(line))
    await sms.send('+12015550123', 'Your NomiSafe code is 123456', US)
    expect(lines).toEqual(['[sms] to +12015550123: Your NomiSafe code is 123456'])
  })

  it('gives every message its own id', async () => {
    const sms = createConsoleProvider(() => {})
    const a = await sms.send('+12015550123', 'one', US)
    const b = await sms.send('+12015550123', 'two', US)
    expect(a.id).toMatch(/^console-[0-9a-f-]{36}$/)
    expect(b.id).not.toBe(a.id)
  })
})

describe('createSmsProvider', () => {
  const write = () => {}
  const settings = {
    TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
    TWILIO_AUTH_TOKEN: 't',
    TWILIO_FROM_NUMBER: '+15005550006',
    TEXTBELT_KEY: 'k',
    SMS_WEBHOOK_URL: 'https://gw.example.test/sms',
    SMS_WEBHOOK_SECRET: `whsec_${btoa('0123456789abcdef01234567')}`,
  }
  it.each([
    [undefined, 'console'],
    ['console', 'console'],
    ['twilio', 'twilio'],
    ['textbelt', 'textbelt'],
    ['webhook', 'webhook'],
    [' Twilio , textbelt ', 'twilio,textbelt'],
    ['webhook,twilio,textbelt', 'webhook,twilio,textbelt'],
  ])('SMS_PROVIDER=%s picks %s', (provider, name) => {
    const config = loadConfig({ ...settings, SMS_PROVIDER: provider })
    expect(createSmsProvider(config.sms, silentLogger, write).name).toBe(name)
  })
})
