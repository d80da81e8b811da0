import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, type Env } from '../../src/config.ts'
import { createLogger } from '../../src/log.ts'
import { fakeClock } from '../support/clock.ts'

// A production configuration that passes: every check below removes or spoils one part of it.
const GOOD: Env = {
  PRODUCTION: 'true',
  SERVER_SECRET: 'q8Yv2LrX7nKcT4pWzH1mB6sJ9dFgA3eU0oRiNlVx',
  SMS_PROVIDER: 'textbelt',
  TEXTBELT_KEY: 'textbelt-key',
  CORS_ORIGINS: 'https://app.example.com',
  METRICS_TOKEN: 'metrics-token-0123456789',
}

function refusal(env: Env): string {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.message
    throw err
  }
  return 'accepted'
}

describe('production mode', () => {
  it('accepts a safe configuration', () => {
    expect(loadConfig(GOOD).production).toBe(true)
    expect(refusal({ ...GOOD, METRICS_TOKEN: undefined, METRICS_PORT: '9464' })).toBe('accepted')
  })

  it.each([
    ['the console SMS provider', { SMS_PROVIDER: 'console' }, /^SMS_PROVIDER: console prints codes/],
    ['no SERVER_SECRET', { SERVER_SECRET: undefined }, /^SERVER_SECRET: is required when PRODUCTION=true/],
    ['a placeholder secret', { SERVER_SECRET: 'change-me-change-me-change-me-change-me' }, /^SERVER_SECRET: looks weak/],
    ['a low-entropy secret', { SERVER_SECRET: 'aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbcccc' }, /^SERVER_SECRET: looks weak/],
    ['test numbers without opt-in', { TEST_PHONE_NUMBERS: '+12015550123:123456' }, /^TEST_PHONE_NUMBERS: fixed codes are refused/],
    ['no CORS_ORIGINS', { CORS_ORIGINS: undefined }, /^CORS_ORIGINS: is required when PRODUCTION=true/],
    ['open metrics', { METRICS_TOKEN: undefined }, /^METRICS_TOKEN: is required when PRODUCTION=true/],
  ])('refuses %s with one line naming the setting', (_name, change, message) => {
    expect(refusal({ ...GOOD, ...change })).toMatch(message)
  })

  it('allows test numbers with the explicit opt-in, and CORS_ORIGINS=* as an explicit choice', () => {
    expect(refusal({ ...GOOD, TEST_PHONE_NUMBERS: '+12015550123:123456', ALLOW_TEST_NUMBERS_IN_PRODUCTION: 'true' })).toBe('accepted')
    expect(refusal({ ...GOOD, CORS_ORIGINS: '*' })).toBe('accepted')
  })

  it('checks nothing of this outside production', () => {
    expect(refusal({ SMS_PROVIDER: 'console' })).toBe('accepted')
  })
})

describe('log formats', () => {
  it('writes JSON lines by default and readable lines with LOG_FORMAT=pretty', () => {
    const lines: string[] = []
    const clock = fakeClock('2026-01-01T08:09:10.123Z')
    createLogger('info', (l) => lines.push(l), clock).info('code sent', { phone: '+1201*****23' })
    createLogger('info', (l) => lines.push(l), clock, 'pretty').info('code sent', { phone: '+1201*****23', note: 'two words' })
    createLogger('warn', (l) => lines.push(l), clock, 'pretty').info('dropped')
    expect(JSON.parse(lines[0]!)).toEqual({ time: '2026-01-01T08:09:10.123Z', level: 'info', msg: 'code sent', phone: '+1201*****23' })
    expect(lines[1]).toBe('08:09:10.123 INFO  code sent  phone=+1201*****23 note="two words"')
    expect(lines).toHaveLength(2)
    expect(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty')
  })
})
