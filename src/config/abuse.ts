import * as v from 'valibot'
import { int, optionalText, required } from './fields.ts'

/** Limits, the optional human check, and pruning: the abuse-protection settings. */
export const abuseEntries = {
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
}

type AbuseParsed = v.InferOutput<v.ObjectSchema<typeof abuseEntries, undefined>>

export interface AbuseConfig {
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
}

const SITEVERIFY = {
  turnstile: 'https://challenges.cloudflare.com/turnstile/v0/siteverify',
  hcaptcha: 'https://api.hcaptcha.com/siteverify',
} as const

export function abuseConfig(out: AbuseParsed): AbuseConfig {
  return {
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
    captcha: out.CAPTCHA_PROVIDER
      ? {
          provider: out.CAPTCHA_PROVIDER,
          secret: required(out, 'CAPTCHA_SECRET', `CAPTCHA_PROVIDER=${out.CAPTCHA_PROVIDER}`),
          verifyUrl: out.CAPTCHA_VERIFY_URL ?? SITEVERIFY[out.CAPTCHA_PROVIDER],
          timeoutMs: out.CAPTCHA_TIMEOUT_MS,
        }
      : undefined,
  }
}
