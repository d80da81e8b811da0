import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, type Env } from '../../src/config.ts'

const SID = 'AC0123456789abcdef0123456789abcdef'
const SERVICE = 'MG0123456789abcdef0123456789abcdef'
const TWILIO: Env = { SMS_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: 'token', TWILIO_FROM_NUMBER: '+15005550006' }
const WEBHOOK_SECRET = `whsec_${btoa('sms-gateway-shared-secret-32-bytes!!')}`

function configError(env: Env): string {
  try {
    loadConfig(env)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    const message = (err as Error).message
    expect(message).not.toContain('\n')
    return message
  }
  throw new Error('loadConfig accepted the settings')
}

const twilioOf = (env: Env) => {
  const p = loadConfig(env).sms.providers[0]!
  if (p.provider !== 'twilio') throw new Error('not twilio')
  return p.twilio
}

describe('SMS_PROVIDER', () => {
  it('lists providers in failover order', () => {
    const env = { ...TWILIO, SMS_PROVIDER: 'twilio, TEXTBELT', TEXTBELT_KEY: 'k' }
    expect(loadConfig(env).sms.providers.map((p) => p.provider)).toEqual(['twilio', 'textbelt'])
  })

  it.each<[string, string]>([
    ['sendgrid', 'SMS_PROVIDER: must be twilio, textbelt, webhook or console, or a comma-separated failover list such as twilio,textbelt'],
    [' , ', 'SMS_PROVIDER: must be twilio, textbelt, webhook or console, or a comma-separated failover list such as twilio,textbelt'],
    ['twilio,twilio', 'SMS_PROVIDER: names a provider twice'],
    ['twilio,console', 'SMS_PROVIDER: console prints codes instead of sending them: it cannot be in a failover list'],
  ])('refuses SMS_PROVIDER=%j', (value, message) => {
    expect(configError({ ...TWILIO, SMS_PROVIDER: value })).toBe(message)
  })

  it("requires every listed provider's settings", () => {
    expect(configError({ ...TWILIO, SMS_PROVIDER: 'twilio,textbelt' })).toBe('TEXTBELT_KEY: is required when SMS_PROVIDER=twilio,textbelt')
    expect(configError({ SMS_PROVIDER: 'textbelt,twilio', TEXTBELT_KEY: 'k' })).toBe('TWILIO_ACCOUNT_SID: is required when SMS_PROVIDER=textbelt,twilio')
  })
})

describe('Twilio senders', () => {
  it('takes TWILIO_MESSAGING_SERVICE_SID instead of TWILIO_FROM_NUMBER', () => {
    expect(twilioOf({ ...TWILIO, TWILIO_FROM_NUMBER: undefined, TWILIO_MESSAGING_SERVICE_SID: SERVICE }).sender).toEqual({ messagingServiceSid: SERVICE })
  })

  it.each(['+15005550006', '88000', 'NomiSafe', 'Nomi Safe 1'])('takes TWILIO_FROM_NUMBER=%j', (from) => {
    expect(twilioOf({ ...TWILIO, TWILIO_FROM_NUMBER: from }).sender).toEqual({ from })
  })

  it('reads TWILIO_SENDERS into a sender per country', () => {
    const senders = twilioOf({ ...TWILIO, TWILIO_SENDERS: ` gb:NomiSafe , US:+12015550100,DE:${SERVICE}, FR:38000` }).senders
    expect(senders).toEqual({
      GB: { from: 'NomiSafe' },
      US: { from: '+12015550100' },
      DE: { messagingServiceSid: SERVICE },
      FR: { from: '38000' },
    })
  })

  it.each<[string, Env, string]>([
    ['neither sender', { TWILIO_FROM_NUMBER: undefined }, 'TWILIO_FROM_NUMBER: is required when SMS_PROVIDER=twilio, unless TWILIO_MESSAGING_SERVICE_SID is set'],
    ['both senders', { TWILIO_MESSAGING_SERVICE_SID: SERVICE }, 'TWILIO_MESSAGING_SERVICE_SID: set it or TWILIO_FROM_NUMBER, not both'],
    ['a malformed service SID', { TWILIO_FROM_NUMBER: undefined, TWILIO_MESSAGING_SERVICE_SID: 'MG123' }, 'TWILIO_MESSAGING_SERVICE_SID: must be MG followed by 32 hexadecimal characters'],
    ['a service SID as the from number', { TWILIO_FROM_NUMBER: SERVICE }, 'TWILIO_FROM_NUMBER: is a messaging service SID; set TWILIO_MESSAGING_SERVICE_SID instead'],
    ['an alphanumeric sender over 11 characters', { TWILIO_FROM_NUMBER: 'NomiSafeAuth' }, 'TWILIO_FROM_NUMBER: must be an E.164 number (+12015550100), a short code, an alphanumeric sender ID (up to 11 letters, digits or spaces)'],
    ['a number with dashes', { TWILIO_FROM_NUMBER: '+1-500-555-0006' }, 'TWILIO_FROM_NUMBER: must be an E.164 number (+12015550100), a short code, an alphanumeric sender ID (up to 11 letters, digits or spaces)'],
    ['a sender entry without a country', { TWILIO_SENDERS: 'NomiSafe' }, 'TWILIO_SENDERS: "NomiSafe" must be COUNTRY:SENDER, with an ISO 3166-1 alpha-2 country such as GB:NomiSafe'],
    ['a three-letter country', { TWILIO_SENDERS: 'GBR:NomiSafe' }, 'TWILIO_SENDERS: "GBR:NomiSafe" must be COUNTRY:SENDER, with an ISO 3166-1 alpha-2 country such as GB:NomiSafe'],
    ['an empty sender', { TWILIO_SENDERS: 'GB:' }, 'TWILIO_SENDERS: "GB:" must be COUNTRY:SENDER, with an ISO 3166-1 alpha-2 country such as GB:NomiSafe'],
    ['a country twice', { TWILIO_SENDERS: 'GB:NomiSafe,gb:Other' }, 'TWILIO_SENDERS: names GB twice'],
    ['a bad sender', { TWILIO_SENDERS: 'US:+1 201 555 0100' }, 'TWILIO_SENDERS: the sender for US must be an E.164 number (+12015550100), a short code, an alphanumeric sender ID (up to 11 letters, digits or spaces) or a messaging service SID (MG + 32 hex)'],
  ])('stops at start-up on %s', (_, over, message) => {
    expect(configError({ ...TWILIO, ...over })).toBe(message)
  })

  it('keeps the Twilio settings to itself when Twilio is not used', () => {
    expect(() => loadConfig({ SMS_PROVIDER: 'console', TWILIO_SENDERS: 'nonsense' })).not.toThrow()
  })
})

describe('webhook settings', () => {
  const WEBHOOK: Env = { SMS_PROVIDER: 'webhook', SMS_WEBHOOK_URL: 'https://gw.example.test/sms', SMS_WEBHOOK_SECRET: WEBHOOK_SECRET }

  it('reads SMS_WEBHOOK_URL and SMS_WEBHOOK_SECRET, timed by SMS_TIMEOUT_MS', () => {
    expect(loadConfig({ ...WEBHOOK, SMS_TIMEOUT_MS: '4000' }).sms.providers).toEqual([
      { provider: 'webhook', webhook: { url: 'https://gw.example.test/sms', secret: WEBHOOK_SECRET, timeoutMs: 4000 } },
    ])
  })

  it.each<[string, Env, string]>([
    ['no URL', { SMS_WEBHOOK_URL: undefined }, 'SMS_WEBHOOK_URL: is required when SMS_PROVIDER=webhook'],
    ['no secret', { SMS_WEBHOOK_SECRET: undefined }, 'SMS_WEBHOOK_SECRET: is required when SMS_PROVIDER=webhook'],
    ['a URL that is not http(s)', { SMS_WEBHOOK_URL: 'ftp://gw.example.test/sms' }, 'SMS_WEBHOOK_URL: must be an http(s) URL'],
    ['a secret without whsec_', { SMS_WEBHOOK_SECRET: 'correct horse battery staple' }, 'SMS_WEBHOOK_SECRET: must be whsec_ followed by the base64 of 24 to 64 random bytes'],
    ['a short secret', { SMS_WEBHOOK_SECRET: `whsec_${btoa('short')}` }, 'SMS_WEBHOOK_SECRET: must be whsec_ followed by the base64 of 24 to 64 random bytes'],
  ])('stops at start-up on %s, naming the variable but not the secret', (_, over, message) => {
    const error = configError({ ...WEBHOOK, ...over })
    expect(error).toBe(message)
    expect(error).not.toContain(WEBHOOK_SECRET.slice(6))
  })
})

describe('TEST_PHONE_NUMBERS', () => {
  it('maps each number, in E.164, to its fixed code', () => {
    const numbers = loadConfig({ TEST_PHONE_NUMBERS: '+15005550006:271828, +4915112345678:314159' }).otp.testNumbers
    expect([...numbers]).toEqual([
      ['+15005550006', '271828'],
      ['+4915112345678', '314159'],
    ])
  })

  it('is empty when unset', () => {
    expect(loadConfig({}).otp.testNumbers.size).toBe(0)
  })

  it.each<[string, Env, string]>([
    ['a number without a code', { TEST_PHONE_NUMBERS: '+15005550006' }, 'TEST_PHONE_NUMBERS: the code of entry 1 must be 6 digits (OTP_LENGTH)'],
    ['a code of the wrong length', { TEST_PHONE_NUMBERS: '+15005550006:271828,+4915112345678:1234' }, 'TEST_PHONE_NUMBERS: the code of entry 2 must be 6 digits (OTP_LENGTH)'],
    ['a code of the default length with OTP_LENGTH=8', { TEST_PHONE_NUMBERS: '+15005550006:271828', OTP_LENGTH: '8' }, 'TEST_PHONE_NUMBERS: the code of entry 1 must be 8 digits (OTP_LENGTH)'],
    ['a code with letters', { TEST_PHONE_NUMBERS: '+15005550006:12345a' }, 'TEST_PHONE_NUMBERS: the code of entry 1 must be 6 digits (OTP_LENGTH)'],
    ['a national number', { TEST_PHONE_NUMBERS: '2015550123:271828' }, 'TEST_PHONE_NUMBERS: entry 1 must be NUMBER:CODE with an E.164 number, such as +15005550006:123456'],
    ['a number with spaces', { TEST_PHONE_NUMBERS: '+1 500 555 0006:271828' }, 'TEST_PHONE_NUMBERS: entry 1 must be NUMBER:CODE with an E.164 number, such as +15005550006:123456'],
    ['an extra colon', { TEST_PHONE_NUMBERS: '+15005550006:271828:1' }, 'TEST_PHONE_NUMBERS: entry 1 must be NUMBER:CODE with an E.164 number, such as +15005550006:123456'],
    ['a number that is not dialable', { TEST_PHONE_NUMBERS: '+447700900123:314159' }, 'TEST_PHONE_NUMBERS: entry 1 is not a number sign-in accepts (a valid number in an allowed country)'],
    ['a number of a denied country', { TEST_PHONE_NUMBERS: '+15005550006:271828', DENIED_COUNTRIES: 'US' }, 'TEST_PHONE_NUMBERS: entry 1 is not a number sign-in accepts (a valid number in an allowed country)'],
    ['a number twice', { TEST_PHONE_NUMBERS: '+15005550006:271828,+15005550006:314159' }, 'TEST_PHONE_NUMBERS: entry 2 repeats an earlier number'],
  ])('stops at start-up on %s, without echoing a code', (_, env, message) => {
    const error = configError(env)
    expect(error).toBe(message)
    expect(error).not.toMatch(/271828|314159/)
  })
})
