import * as v from 'valibot'

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

  SMS_PROVIDER: v.optional(
    v.pipe(v.string(), v.trim(), v.toLowerCase(), v.picklist(['twilio', 'textbelt', 'console'], 'must be twilio, textbelt or console')),
    'console',
  ),
  SMS_TIMEOUT_MS: int('10000', 100, 120000),
  TWILIO_ACCOUNT_SID: optionalText,
  TWILIO_AUTH_TOKEN: optionalText,
  TWILIO_FROM_NUMBER: optionalText,
  TWILIO_API_URL: httpUrl('https://api.twilio.com'),
  TEXTBELT_KEY: optionalText,
  TEXTBELT_URL: httpUrl('https://textbelt.com'),

  CORS_ORIGINS: v.pipe(
    v.optional(v.string(), ''),
    v.transform((s) => s.split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean)),
    v.check((list) => list.every((o) => o === '*' || /^https?:\/\/[^/\s]+$/i.test(o)), 'must be comma-separated origins such as https://app.example.com'),
  ),
  TRUST_PROXY_HOPS: int('0', 0, 10),
  LOG_LEVEL: v.optional(v.picklist(['debug', 'info', 'warn', 'error', 'silent'], 'must be debug, info, warn, error or silent'), 'info'),
})

export type Env = Record<string, string | undefined>

export interface TwilioConfig {
  accountSid: string
  authToken: string
  fromNumber: string
  apiUrl: string
  timeoutMs: number
}

export interface TextbeltConfig {
  key: string
  url: string
  timeoutMs: number
}

export type SmsConfig =
  | { provider: 'console' }
  | { provider: 'twilio'; twilio: TwilioConfig }
  | { provider: 'textbelt'; textbelt: TextbeltConfig }

export interface Config {
  port: number
  host: string
  database: { url: string | undefined; dataDir: string; poolSize: number; migrateOnStart: boolean }
  /** Keys code HMACs and encrypts stored signing keys. Unset: generated once and kept in the database. */
  serverSecret: string | undefined
  appName: string
  phone: { defaultCountry: string | undefined; allowedCountries: string[]; deniedCountries: string[] }
  otp: { length: number; ttlSeconds: number; maxAttempts: number; resendCooldownSeconds: number }
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
  sms: SmsConfig
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

function smsConfig(out: Parsed): SmsConfig {
  const timeoutMs = out.SMS_TIMEOUT_MS
  switch (out.SMS_PROVIDER) {
    case 'twilio': {
      const when = 'SMS_PROVIDER=twilio'
      const accountSid = required(out, 'TWILIO_ACCOUNT_SID', when)
      if (!/^AC[0-9a-fA-F]{32}$/.test(accountSid)) {
        throw new ConfigError('TWILIO_ACCOUNT_SID: must be AC followed by 32 hexadecimal characters')
      }
      return {
        provider: 'twilio',
        twilio: {
          accountSid,
          authToken: required(out, 'TWILIO_AUTH_TOKEN', when),
          fromNumber: required(out, 'TWILIO_FROM_NUMBER', when),
          apiUrl: out.TWILIO_API_URL,
          timeoutMs,
        },
      }
    }
    case 'textbelt':
      return {
        provider: 'textbelt',
        textbelt: { key: required(out, 'TEXTBELT_KEY', 'SMS_PROVIDER=textbelt'), url: out.TEXTBELT_URL, timeoutMs },
      }
    default:
      return { provider: 'console' }
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
    },
    jwt: {
      issuer: out.JWT_ISSUER,
      audience: out.JWT_AUDIENCE,
      accessTtlSeconds: out.ACCESS_TOKEN_TTL_SECONDS,
      refreshTtlSeconds: out.REFRESH_TOKEN_TTL_SECONDS,
      privateKey: out.JWT_PRIVATE_KEY,
    },
    session: { reuseGraceSeconds: out.REFRESH_REUSE_GRACE },
    sms: smsConfig(out),
    corsOrigins: out.CORS_ORIGINS.includes('*') ? [] : out.CORS_ORIGINS,
    trustProxyHops: out.TRUST_PROXY_HOPS,
    logLevel: out.LOG_LEVEL,
  }
}
