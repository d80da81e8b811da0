import * as v from 'valibot'
import { abuseConfig, abuseEntries, type AbuseConfig } from './config/abuse.ts'
import { bool, ConfigError, countryList, int, required, webhookSecret, webhookUrl } from './config/fields.ts'
import { opsConfig, opsEntries, type OpsConfig } from './config/ops.ts'
import { checkProduction } from './config/production.ts'
import { smsConfig, smsEntries, testNumbers, type SmsConfig } from './config/sms.ts'

export { ConfigError } from './config/fields.ts'
export type * from './config/sms.ts'

/**
 * The environment is read here, once, at start-up. Everything after this reads `deps.config`.
 * A wrong setting stops start-up with one line naming the variable and what is wrong with it.
 */
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

  EVENTS_WEBHOOK_URL: webhookUrl,
  EVENTS_WEBHOOK_SECRET: webhookSecret,
  // The original Django backend's SECRET_KEY (SimpleJWT's HS256 signing key), for the switch-over.
  LEGACY_JWT_SECRET: v.optional(v.pipe(v.string(), v.minLength(1))),

  ...smsEntries,
  CORS_ORIGINS: v.pipe(
    v.optional(v.string(), ''),
    v.transform((s) => s.split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean)),
    v.check((list) => list.every((o) => o === '*' || /^https?:\/\/[^/\s]+$/i.test(o)), 'must be comma-separated origins such as https://app.example.com'),
  ),
  TRUST_PROXY_HOPS: int('0', 0, 10),

  ...abuseEntries,
  ...opsEntries,
  LOG_LEVEL: v.optional(v.picklist(['debug', 'info', 'warn', 'error', 'silent'], 'must be debug, info, warn, error or silent'), 'info'),
})

export type Env = Record<string, string | undefined>

/** The settings, grouped; abuse protection and operations have files of their own in config/. */
export interface Config extends AbuseConfig, OpsConfig {
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
  /** Empty: any origin (no credentials). */
  corsOrigins: string[]
  trustProxyHops: number
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent'
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
  const config: Config = {
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
    corsOrigins: out.CORS_ORIGINS.includes('*') ? [] : out.CORS_ORIGINS,
    trustProxyHops: out.TRUST_PROXY_HOPS,
    logLevel: out.LOG_LEVEL,
    ...abuseConfig(out),
    ...opsConfig(out),
  }
  if (config.production) checkProduction(config, { corsOriginsSet: out.CORS_ORIGINS.length > 0 })
  return config
}
