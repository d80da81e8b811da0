import * as v from 'valibot'
import { normalizePhone } from './auth/phone.ts'
import { compileSmsTemplate, DEFAULT_SMS_TEMPLATE, type SmsTemplate } from './sms/template.ts'
import { parseFromSender, parseMessagingServiceSid, parseTwilioSenders } from './sms/twilio-senders.ts'

/**
 * The environment is read here, once, at start-up. Everything after this reads `deps.config`.
 * A wrong setting stops start-up with one line naming the variable and what is wrong with it.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

const int = (fallback: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.trim(),
    v.regex(/^\d+$/, 'must be a whole number'),
    v.transform(Number),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  )

const bool = (fallback: 'true' | 'false') =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.trim(),
    v.toLowerCase(),
    v.picklist(['true', 'false', '1', '0', 'yes', 'no'], 'must be true or false'),
    v.transform((s) => s === 'true' || s === '1' || s === 'yes'),
  )

const httpUrl = (fallback: string) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.trim(),
    v.url('must be a URL'),
    v.check((s) => /^https?:\/\//i.test(s), 'must be an http(s) URL'),
  )

const optionalText = v.optional(v.pipe(v.string(), v.trim()))

const countryList = v.pipe(
  v.optional(v.string(), ''),
  v.transform((s) => s.split(',').map((c) => c.trim().toUpperCase()).filter(Boolean)),
  v.check((list) => list.every((c) => /^[A-Z]{2}$/.test(c)), 'must be comma-separated ISO 3166-1 alpha-2 codes'),
)

const SMS_PROVIDERS = ['twilio', 'textbelt', 'webhook', 'console'] as const
export type SmsProviderName = (typeof SMS_PROVIDERS)[number]

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/

const EnvSchema = v.object({
  PORT: int('8000', 1, 65535),
  HOST: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)), '0.0.0.0'),
  DATABASE_URL: v.optional(
    v.pipe(v.string(), v.trim(), v.regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')),
  ),
  DATA_DIR: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)), '.data'),
  DATABASE_POOL_SIZE: int('10', 1, 1000),
  MIGRATE_ON_START: bool('true'),
  SERVER_SECRET: v.optional(v.pipe(v.string(), v.minLength(32, 'must be at least 32 characters'))),

  APP_NAME: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(40)), 'NomiSafe'),
  DEFAULT_COUNTRY: v.optional(
    v.pipe(v.string(), v.trim(), v.toUpperCase(), v.regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code such as IN')),
  ),
  ALLOWED_COUNTRIES: countryList,
  DENIED_COUNTRIES: countryList,

  OTP_LENGTH: int('6', 4, 10),
  OTP_TTL_SECONDS: int('300', 30, 3600),
  OTP_MAX_ATTEMPTS: int('5', 1, 20),
  OTP_RESEND_COOLDOWN_SECONDS: int('30', 0, 3600),

  JWT_PRIVATE_KEY: v.optional(v.pipe(v.string(), v.trim())),
  JWT_ISSUER: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)), 'nomisafe-auth'),
  JWT_AUDIENCE: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)), 'nomisafe'),
  ACCESS_TOKEN_TTL_SECONDS: int('3600', 60, 86400),
  REFRESH_TOKEN_TTL_SECONDS: int('2592000', 300, 31536000),

  REFRESH_REUSE_GRACE: int('10', 0, 300),

  EVENTS_WEBHOOK_URL: v.optional(
    v.pipe(v.string(), v.trim(), v.url('must be a URL'), v.check((s) => /^https?:\/\//i.test(s), 'must be an http(s) URL')),
  ),
  // Standard Webhooks: "whsec_" + base64 of 24 to 64 random bytes.
  EVENTS_WEBHOOK_SECRET: v.optional(
    v.pipe(v.string(), v.trim(), v.check(isWebhookSecret, 'must be whsec_ followed by the base64 of 24 to 64 random bytes')),
  ),
  // The original Django backend's SECRET_KEY (SimpleJWT's HS256 signing key), for the switch-over.
  LEGACY_JWT_SECRET: v.optional(v.pipe(v.string(), v.minLength(1))),

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
  SMS_WEBHOOK_URL: v.optional(
    v.pipe(v.string(), v.trim(), v.url('must be a URL'), v.check((s) => /^https?:\/\//i.test(s), 'must be an http(s) URL')),
  ),
  SMS_WEBHOOK_SECRET: v.optional(
    v.pipe(v.string(), v.trim(), v.check(isWebhookSecret, 'must be whsec_ followed by the base64 of 24 to 64 random bytes')),
  ),
  SMS_TEMPLATE: v.optional(v.string(), DEFAULT_SMS_TEMPLATE),
  SMS_WEBOTP_DOMAIN: v.optional(
    v.pipe(v.string(), v.trim(), v.toLowerCase(), v.regex(HOSTNAME, 'must be a domain such as example.com, without https:// or a path')),
  ),
  SMS_ANDROID_APP_HASH: v.optional(
    v.pipe(v.string(), v.trim(), v.regex(/^[A-Za-z0-9+/]{11}$/, 'must be exactly 11 characters of A-Z, a-z, 0-9, + and /')),
  ),
  // Numbers that get a fixed code and no SMS (app-store review, end-to-end tests): +15005550006:123456,…
  TEST_PHONE_NUMBERS: optionalText,

  CORS_ORIGINS: v.pipe(
    v.optional(v.string(), ''),
    v.transform((s) => s.split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean)),
    v.check((list) => list.every((o) => o === '*' || /^https?:\/\/[^/\s]+$/i.test(o)), 'must be comma-separated origins such as https://app.example.com'),
  ),
  TRUST_PROXY_HOPS: int('0', 0, 10),

  LIMIT_SENDS_PER_NUMBER_HOUR: int('5', 0),
  LIMIT_SENDS_PER_NUMBER_DAY: int('10', 0),
  LIMIT_FAILED_VERIFIES_PER_NUMBER_HOUR: int('10', 0),
  LIMIT_REQUESTS_PER_IP_HOUR: int('30', 0),
  LIMIT_VERIFIES_PER_IP_HOUR: int('60', 0),
  LIMIT_SENDS_PER_COUNTRY_HOUR: int('500', 0),
  LIMIT_SENDS_PER_HOUR: int('1000', 0),
  PRUNE_INTERVAL_SECONDS: int('3600', 0, 604800),
  CAPTCHA_PROVIDER: v.optional(v.pipe(v.string(), v.trim(), v.toLowerCase(), v.picklist(['turnstile', 'hcaptcha'], 'must be turnstile or hcaptcha'))),
  CAPTCHA_SECRET: optionalText,
  CAPTCHA_VERIFY_URL: v.optional(v.pipe(v.string(), v.trim(), v.url('must be a URL'))),
  CAPTCHA_TIMEOUT_MS: int('5000', 100, 60000),
  LOG_LEVEL: v.optional(v.picklist(['debug', 'info', 'warn', 'error', 'silent'], 'must be debug, info, warn, error or silent'), 'info'),
})

export type Env = Record<string, string | undefined>

function isWebhookSecret(s: string): boolean {
  const b64 = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(s)?.[1]
  if (!b64 || b64.length % 4 !== 0) return false
  const bytes = atob(b64).length
  return bytes >= 24 && bytes <= 64
}

/** Who an SMS comes from: `From` (a number, short code or alphanumeric ID) or a messaging service. */
export type TwilioSender = { from: string } | { messagingServiceSid: string }

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

export interface Config {
  port: number
  host: string
  database: { url: string | undefined; dataDir: string; poolSize: number; migrateOnStart: boolean }
  /** Keys code HMACs and encrypts stored signing keys. Unset: generated once and kept in the database. */
  serverSecret: string | undefined
  appName: string
  phone: { defaultCountry: string | undefined; allowedCountries: string[]; deniedCountries: string[] }
  otp: {
    length: number
    ttlSeconds: number
    maxAttempts: number
    resendCooldownSeconds: number
    /** TEST_PHONE_NUMBERS: E.164 number → its fixed code; no SMS goes to these numbers. */
    testNumbers: ReadonlyMap<string, string>
  }
  jwt: {
    issuer: string
    audience: string
    accessTtlSeconds: number
    refreshTtlSeconds: number
    /** Ed25519 private key (PKCS#8 PEM or JWK) to sign with; unset: generated and stored. */
    privateKey: string | undefined
  }
  /** Seconds after a rotation in which the old refresh token gets the newest one back (0: off). */
  session: { reuseGraceSeconds: number }
  /** Where user.created / user.deleted go (Standard Webhooks); undefined: no events are written. */
  events: { webhookUrl: string; webhookSecret: string } | undefined
  /** The original backend's SimpleJWT signing key: its refresh tokens are exchanged once. */
  legacy: { jwtSecret: string | undefined }
  sms: SmsConfig
  /** Caps per window; 0 turns one off. */
  limits: {
    sendsPerNumberHour: number
    sendsPerNumberDay: number
    failedVerifiesPerNumberHour: number
    requestsPerIpHour: number
    verifiesPerIpHour: number
    sendsPerCountryHour: number
    sendsPerHour: number
  }
  /** How often an instance deletes old counters, codes and sessions (0: never; use the prune command). */
  pruneIntervalSeconds: number
  captcha: { provider: 'turnstile' | 'hcaptcha'; secret: string; verifyUrl: string; timeoutMs: number } | undefined
  /** Empty: any origin (no credentials). */
  corsOrigins: string[]
  trustProxyHops: number
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent'
}

type Parsed = v.InferOutput<typeof EnvSchema>

function required(out: Parsed, name: keyof Parsed, when: string): string {
  const value = out[name]
  if (typeof value !== 'string' || value === '') throw new ConfigError(`${name}: is required when ${when}`)
  return value
}

/** Runs a parser of one setting; its error becomes the one start-up line naming the setting. */
function setting<T>(name: keyof Parsed, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    throw new ConfigError(`${name}: ${err instanceof Error ? err.message : String(err)}`)
  }
}

function smsProviderConfig(out: Parsed, provider: SmsProviderName): SmsProviderConfig {
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

function smsConfig(out: Parsed): SmsConfig {
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
function testNumbers(out: Parsed): Map<string, string> {
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

const SITEVERIFY = {
  turnstile: 'https://challenges.cloudflare.com/turnstile/v0/siteverify',
  hcaptcha: 'https://api.hcaptcha.com/siteverify',
} as const

function captchaConfig(out: Parsed): Config['captcha'] {
  if (!out.CAPTCHA_PROVIDER) return undefined
  return {
    provider: out.CAPTCHA_PROVIDER,
    secret: required(out, 'CAPTCHA_SECRET', `CAPTCHA_PROVIDER=${out.CAPTCHA_PROVIDER}`),
    verifyUrl: out.CAPTCHA_VERIFY_URL ?? SITEVERIFY[out.CAPTCHA_PROVIDER],
    timeoutMs: out.CAPTCHA_TIMEOUT_MS,
  }
}

/** Parses the environment into a Config, or throws ConfigError with one line naming the variable. */
export function loadConfig(env: Env): Config {
  // Empty strings mean "unset", as in most .env tooling.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, val]) => val !== undefined && val !== ''))
  const r = v.safeParse(EnvSchema, cleaned)
  if (!r.success) {
    const issue = r.issues[0]
    throw new ConfigError(`${v.getDotPath(issue) ?? 'environment'}: ${issue.message}`)
  }
  const out = r.output
  const overlap = out.ALLOWED_COUNTRIES.filter((c) => out.DENIED_COUNTRIES.includes(c))
  if (overlap.length > 0) throw new ConfigError(`DENIED_COUNTRIES: ${overlap.join(', ')} is also in ALLOWED_COUNTRIES`)
  return {
    port: out.PORT,
    host: out.HOST,
    database: {
      url: out.DATABASE_URL,
      dataDir: out.DATA_DIR,
      poolSize: out.DATABASE_POOL_SIZE,
      migrateOnStart: out.MIGRATE_ON_START,
    },
    serverSecret: out.SERVER_SECRET,
    appName: out.APP_NAME,
    phone: {
      defaultCountry: out.DEFAULT_COUNTRY,
      allowedCountries: out.ALLOWED_COUNTRIES,
      deniedCountries: out.DENIED_COUNTRIES,
    },
    otp: {
      length: out.OTP_LENGTH,
      ttlSeconds: out.OTP_TTL_SECONDS,
      maxAttempts: out.OTP_MAX_ATTEMPTS,
      resendCooldownSeconds: out.OTP_RESEND_COOLDOWN_SECONDS,
      testNumbers: testNumbers(out),
    },
    jwt: {
      issuer: out.JWT_ISSUER,
      audience: out.JWT_AUDIENCE,
      accessTtlSeconds: out.ACCESS_TOKEN_TTL_SECONDS,
      refreshTtlSeconds: out.REFRESH_TOKEN_TTL_SECONDS,
      privateKey: out.JWT_PRIVATE_KEY,
    },
    session: { reuseGraceSeconds: out.REFRESH_REUSE_GRACE },
    events: out.EVENTS_WEBHOOK_URL
      ? { webhookUrl: out.EVENTS_WEBHOOK_URL, webhookSecret: required(out, 'EVENTS_WEBHOOK_SECRET', 'EVENTS_WEBHOOK_URL is set') }
      : undefined,
    legacy: { jwtSecret: out.LEGACY_JWT_SECRET },
    sms: smsConfig(out),
    limits: {
      sendsPerNumberHour: out.LIMIT_SENDS_PER_NUMBER_HOUR,
      sendsPerNumberDay: out.LIMIT_SENDS_PER_NUMBER_DAY,
      failedVerifiesPerNumberHour: out.LIMIT_FAILED_VERIFIES_PER_NUMBER_HOUR,
      requestsPerIpHour: out.LIMIT_REQUESTS_PER_IP_HOUR,
      verifiesPerIpHour: out.LIMIT_VERIFIES_PER_IP_HOUR,
      sendsPerCountryHour: out.LIMIT_SENDS_PER_COUNTRY_HOUR,
      sendsPerHour: out.LIMIT_SENDS_PER_HOUR,
    },
    pruneIntervalSeconds: out.PRUNE_INTERVAL_SECONDS,
    captcha: captchaConfig(out),
    corsOrigins: out.CORS_ORIGINS.includes('*') ? [] : out.CORS_ORIGINS,
    trustProxyHops: out.TRUST_PROXY_HOPS,
    logLevel: out.LOG_LEVEL,
  }
}
