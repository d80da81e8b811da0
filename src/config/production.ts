import type { Config } from '../config.ts'
import { ConfigError } from './fields.ts'

// Values people paste from examples and tutorials: a secret that anyone can read is no secret.
const PLACEHOLDER = /change.?me|changeme|example|secret.?key|your.?secret|password|xxxx|0123456789|abcdef/i

/** True when a secret looks chosen by a person rather than drawn at random. */
export function weakSecret(secret: string): boolean {
  return new Set(secret).size < 16 || PLACEHOLDER.test(secret)
}

/**
 * PRODUCTION=true: settings that are fine on a laptop and dangerous on the internet stop
 * start-up, each with one line naming the setting.
 */
export function checkProduction(config: Config, env: { corsOriginsSet: boolean }): void {
  if (config.sms.providers.some((p) => p.provider === 'console')) {
    throw new ConfigError('SMS_PROVIDER: console prints codes instead of sending them; it is refused when PRODUCTION=true')
  }
  if (!config.serverSecret) {
    throw new ConfigError('SERVER_SECRET: is required when PRODUCTION=true (a generated one would live in the database it protects)')
  }
  if (weakSecret(config.serverSecret)) {
    throw new ConfigError('SERVER_SECRET: looks weak (a placeholder, or too few different characters); use 32+ random characters')
  }
  if (config.otp.testNumbers.size > 0 && !config.allowTestNumbersInProduction) {
    throw new ConfigError('TEST_PHONE_NUMBERS: fixed codes are refused when PRODUCTION=true unless ALLOW_TEST_NUMBERS_IN_PRODUCTION=true')
  }
  if (!env.corsOriginsSet) {
    throw new ConfigError('CORS_ORIGINS: is required when PRODUCTION=true: list the browser origins of your apps, or * for any')
  }
  if (!config.metricsToken && !config.metricsPort) {
    throw new ConfigError('METRICS_TOKEN: is required when PRODUCTION=true, unless METRICS_PORT serves /metrics on a port of its own')
  }
}
