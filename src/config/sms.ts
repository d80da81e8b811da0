import * as v from 'valibot'
import { normalizePhone } from '../auth/phone.ts'
import { compileSmsTemplate, DEFAULT_SMS_TEMPLATE, type SmsTemplate } from '../sms/template.ts'
import { parseFromSender, parseMessagingServiceSid, parseTwilioSenders, type TwilioSender } from '../sms/twilio-senders.ts'
import { ConfigError, httpUrl, int, optionalText, required, setting, webhookSecret, webhookUrl } from './fields.ts'

const SMS_PROVIDERS = ['twilio', 'textbelt', 'webhook', 'console'] as const
export type SmsProviderName = (typeof SMS_PROVIDERS)[number]

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/

/** The SMS settings' part of the environment schema. */
export const smsEntries = {
  // One provider, or several in failover order (twilio,textbelt).
  SMS_PROVIDER: v.pipe(
    v.optional(v.string(), 'console'),
    v.transform((s) => s.split(',').map((p) => p.trim().toLowerCase()).filter(Boolean)),
    v.check(
      (list) => list.length > 0 && list.every((p) => (SMS_PROVIDERS as readonly string[]).includes(p)),
      'must be twilio, textbelt, webhook or console, or a comma-separated failover list such as twilio,textbelt',
    ),
    v.check((list) => new Set(list).size === list.length, 'names a provider twice'),
    v.check((list) => list.length === 1 || !list.includes('console'), 'console prints codes instead of sending them: it cannot be in a failover list'),
    v.transform((list) => list as SmsProviderName[]),
  ),
  SMS_TIMEOUT_MS: int('10000', 100, 120000),
  TWILIO_ACCOUNT_SID: optionalText,
  TWILIO_AUTH_TOKEN: optionalText,
  TWILIO_FROM_NUMBER: optionalText,
  TWILIO_MESSAGING_SERVICE_SID: optionalText,
  TWILIO_SENDERS: optionalText,
  TWILIO_API_URL: httpUrl('https://api.twilio.com'),
  TEXTBELT_KEY: optionalText,
  TEXTBELT_URL: httpUrl('https://textbelt.com'),
  SMS_WEBHOOK_URL: webhookUrl,
  SMS_WEBHOOK_SECRET: webhookSecret,
  SMS_TEMPLATE: v.optional(v.string(), DEFAULT_SMS_TEMPLATE),
  SMS_WEBOTP_DOMAIN: v.optional(
    v.pipe(v.string(), v.trim(), v.toLowerCase(), v.regex(HOSTNAME, 'must be a domain such as example.com, without https:// or a path')),
  ),
  SMS_ANDROID_APP_HASH: v.optional(
    v.pipe(v.string(), v.trim(), v.regex(/^[A-Za-z0-9+/]{11}$/, 'must be exactly 11 characters of A-Z, a-z, 0-9, + and /')),
  ),
  // Numbers that get a fixed code and no SMS (app-store review, end-to-end tests): +15005550006:123456,…
  TEST_PHONE_NUMBERS: optionalText,

}

const SmsSchema = v.object(smsEntries)
/** What SMS parsing reads: its own settings and the few core ones the message depends on. */
type SmsParsed = v.InferOutput<typeof SmsSchema> & {
  APP_NAME: string
  OTP_TTL_SECONDS: number
  OTP_LENGTH: number
  ALLOWED_COUNTRIES: string[]
  DENIED_COUNTRIES: string[]
}

export type { TwilioSender } from '../sms/twilio-senders.ts'

export interface TwilioConfig {
  accountSid: string
  authToken: string
  /** TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID: the sender for countries without their own. */
  sender: TwilioSender
  /** TWILIO_SENDERS: a sender per destination country (ISO 3166-1 alpha-2). */
  senders: Readonly<Record<string, TwilioSender>>
  apiUrl: string
  /** The whole send, its one retry included. */
  timeoutMs: number
  /** The pause before the one retry (see src/sms/twilio.ts for when a retry is safe). */
  retryDelayMs: number
}

export interface TextbeltConfig {
  key: string
  url: string
  timeoutMs: number
}

export interface SmsWebhookConfig {
  url: string
  /** "whsec_" + base64 (Standard Webhooks). */
  secret: string
  timeoutMs: number
}

export type SmsProviderConfig =
  | { provider: 'console' }
  | { provider: 'twilio'; twilio: TwilioConfig }
  | { provider: 'textbelt'; textbelt: TextbeltConfig }
  | { provider: 'webhook'; webhook: SmsWebhookConfig }

export interface SmsConfig {
  /** In failover order; most deployments name one. */
  providers: SmsProviderConfig[]
  /** SMS_TEMPLATE with APP_NAME, the lifetime, and the app-hash and WebOTP lines filled in. */
  template: SmsTemplate
}

function smsProviderConfig(out: SmsParsed, provider: SmsProviderName): SmsProviderConfig {
  const timeoutMs = out.SMS_TIMEOUT_MS
  const when = `SMS_PROVIDER=${out.SMS_PROVIDER.join(',')}`
  switch (provider) {
    case 'twilio': {
      const accountSid = required(out, 'TWILIO_ACCOUNT_SID', when)
      if (!/^AC[0-9a-fA-F]{32}$/.test(accountSid)) {
        throw new ConfigError('TWILIO_ACCOUNT_SID: must be AC followed by 32 hexadecimal characters')
      }
      const authToken = required(out, 'TWILIO_AUTH_TOKEN', when)
      const from = out.TWILIO_FROM_NUMBER
      const service = out.TWILIO_MESSAGING_SERVICE_SID
      if (from && service) throw new ConfigError('TWILIO_MESSAGING_SERVICE_SID: set it or TWILIO_FROM_NUMBER, not both')
      if (!from && !service) {
        throw new ConfigError(`TWILIO_FROM_NUMBER: is required when ${when}, unless TWILIO_MESSAGING_SERVICE_SID is set`)
      }
      const sender = from
        ? setting('TWILIO_FROM_NUMBER', () => parseFromSender(from))
        : setting('TWILIO_MESSAGING_SERVICE_SID', () => parseMessagingServiceSid(service!))
      const senders = setting('TWILIO_SENDERS', () => parseTwilioSenders(out.TWILIO_SENDERS ?? ''))
      return {
        provider: 'twilio',
        twilio: { accountSid, authToken, sender, senders, apiUrl: out.TWILIO_API_URL, timeoutMs, retryDelayMs: 250 },
      }
    }
    case 'textbelt':
      return {
        provider: 'textbelt',
        textbelt: { key: required(out, 'TEXTBELT_KEY', when), url: out.TEXTBELT_URL, timeoutMs },
      }
    case 'webhook':
      return {
        provider: 'webhook',
        webhook: { url: required(out, 'SMS_WEBHOOK_URL', when), secret: required(out, 'SMS_WEBHOOK_SECRET', when), timeoutMs },
      }
    case 'console':
      return { provider: 'console' }
  }
}

export function smsConfig(out: SmsParsed): SmsConfig {
  const template = setting('SMS_TEMPLATE', () =>
    compileSmsTemplate({
      template: out.SMS_TEMPLATE,
      appName: out.APP_NAME,
      ttlSeconds: out.OTP_TTL_SECONDS,
      codeLength: out.OTP_LENGTH,
      webOtpDomain: out.SMS_WEBOTP_DOMAIN,
      androidAppHash: out.SMS_ANDROID_APP_HASH,
    }),
  )
  return { providers: out.SMS_PROVIDER.map((p) => smsProviderConfig(out, p)), template }
}

/**
 * TEST_PHONE_NUMBERS=+15005550006:123456,…: each number must be one the request endpoint accepts,
 * else its code could never be used. Errors name the entry by position: a code is a credential.
 */
export function testNumbers(out: SmsParsed): Map<string, string> {
  const numbers = new Map<string, string>()
  const rules = { defaultCountry: undefined, allowedCountries: out.ALLOWED_COUNTRIES, deniedCountries: out.DENIED_COUNTRIES }
  const entries = (out.TEST_PHONE_NUMBERS ?? '').split(',').map((e) => e.trim()).filter(Boolean)
  for (const [i, entry] of entries.entries()) {
    const at = `entry ${i + 1}`
    const [number = '', code = '', ...rest] = entry.split(':').map((part) => part.trim())
    if (!/^\+\d+$/.test(number) || rest.length > 0) {
      throw new ConfigError(`TEST_PHONE_NUMBERS: ${at} must be NUMBER:CODE with an E.164 number, such as +15005550006:123456`)
    }
    if (!new RegExp(`^\\d{${out.OTP_LENGTH}}$`).test(code)) {
      throw new ConfigError(`TEST_PHONE_NUMBERS: the code of ${at} must be ${out.OTP_LENGTH} digits (OTP_LENGTH)`)
    }
    let e164: string
    try {
      e164 = normalizePhone(number, rules).e164
    } catch {
      throw new ConfigError(`TEST_PHONE_NUMBERS: ${at} is not a number sign-in accepts (a valid number in an allowed country)`)
    }
    if (numbers.has(e164)) throw new ConfigError(`TEST_PHONE_NUMBERS: ${at} repeats an earlier number`)
    numbers.set(e164, code)
  }
  return numbers
}

