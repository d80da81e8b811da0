import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, type Env } from '../../src/config.ts'
import { compileSmsTemplate, smsBody } from '../../src/sms/template.ts'

const body = (env: Env = {}, code = '123456') => smsBody(loadConfig(env).sms.template, code)

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

describe('the SMS text', () => {
  it("is today's text by default", () => {
    expect(body()).toBe('123456 is your NomiSafe code. It expires in 5 minutes. Never share it.')
  })

  it.each([
    ['60', '1 minute'],
    ['90', '2 minutes'],
    ['120', '2 minutes'],
    ['3600', '60 minutes'],
  ])('says how long the code lives: OTP_TTL_SECONDS=%s → "%s"', (ttl, expiry) => {
    expect(body({ OTP_TTL_SECONDS: ttl })).toBe(`123456 is your NomiSafe code. It expires in ${expiry}. Never share it.`)
  })

  it('fills in SMS_TEMPLATE: {code}, {app}, {minutes}, {expiry}, each as often as it appears', () => {
    const env = { APP_NAME: 'Acme', OTP_TTL_SECONDS: '600', SMS_TEMPLATE: '{app}: {code} ({minutes} min, {expiry}). Code: {code}' }
    expect(body(env, '4821')).toBe('Acme: 4821 (10 min, 10 minutes). Code: 4821')
  })

  it('reads \\n in SMS_TEMPLATE as a line break', () => {
    expect(body({ SMS_TEMPLATE: 'Your code:\\n{code}' })).toBe('Your code:\n123456')
  })

  it('keeps text that looks like a placeholder in APP_NAME as text', () => {
    expect(body({ APP_NAME: 'My{code}App' }, '999999')).toBe('999999 is your My{code}App code. It expires in 5 minutes. Never share it.')
  })

  it('leaves braces that are not a placeholder alone', () => {
    expect(body({ SMS_TEMPLATE: '{ {code} }' })).toBe('{ 123456 }')
  })

  it('ends with the WebOTP line "@domain #code" when SMS_WEBOTP_DOMAIN is set', () => {
    const text = body({ SMS_WEBOTP_DOMAIN: 'Auth.Example.com' })
    expect(text).toBe('123456 is your NomiSafe code. It expires in 5 minutes. Never share it.\n@auth.example.com #123456')
    expect(text.split('\n').at(-1)).toMatch(/^@auth\.example\.com #\d{6}$/)
  })

  it('puts the Android app hash on its own line, before the WebOTP line', () => {
    expect(body({ SMS_ANDROID_APP_HASH: 'FA+9qCX9VSu' })).toBe(
      '123456 is your NomiSafe code. It expires in 5 minutes. Never share it.\nFA+9qCX9VSu',
    )
    expect(body({ SMS_ANDROID_APP_HASH: 'FA+9qCX9VSu', SMS_WEBOTP_DOMAIN: 'example.com' }).split('\n')).toEqual([
      '123456 is your NomiSafe code. It expires in 5 minutes. Never share it.',
      'FA+9qCX9VSu',
      '@example.com #123456',
    ])
  })

  it('compiles once: a request only puts the code in', () => {
    const t = compileSmsTemplate({ template: '{code} for {app}', appName: 'Acme', ttlSeconds: 300, codeLength: 6 })
    expect(t.pieces).toEqual(['', ' for Acme'])
  })
})

describe('template settings that stop start-up', () => {
  it.each<[string, Env, string]>([
    ['a template without {code}', { SMS_TEMPLATE: 'Your {app} code is ready' }, 'SMS_TEMPLATE: must contain {code}'],
    ['an unknown placeholder', { SMS_TEMPLATE: '{code} is your {product} code' }, 'SMS_TEMPLATE: unknown placeholder {product}; use {code}, {app}, {minutes} or {expiry}'],
    ['an empty placeholder', { SMS_TEMPLATE: '{code} {}' }, 'SMS_TEMPLATE: unknown placeholder {}; use {code}, {app}, {minutes} or {expiry}'],
    ['a text over 300 characters', { SMS_TEMPLATE: `{code} ${'x'.repeat(294)}` }, 'SMS_TEMPLATE: is 301 characters once filled in; at most 300'],
    [
      'a text that the extra lines push over 300',
      { SMS_TEMPLATE: `{code} ${'x'.repeat(270)}`, SMS_WEBOTP_DOMAIN: 'example.com', SMS_ANDROID_APP_HASH: 'FA+9qCX9VSu' },
      'SMS_TEMPLATE: is 310 characters once filled in with the app-hash and WebOTP lines; at most 300',
    ],
    ['a WebOTP domain written as a URL', { SMS_WEBOTP_DOMAIN: 'https://example.com' }, 'SMS_WEBOTP_DOMAIN: must be a domain such as example.com, without https:// or a path'],
    ['a WebOTP domain with a path', { SMS_WEBOTP_DOMAIN: 'example.com/login' }, 'SMS_WEBOTP_DOMAIN: must be a domain such as example.com, without https:// or a path'],
    ['an app hash of 10 characters', { SMS_ANDROID_APP_HASH: 'FA+9qCX9VS' }, 'SMS_ANDROID_APP_HASH: must be exactly 11 characters of A-Z, a-z, 0-9, + and /'],
    ['an app hash of 12 characters', { SMS_ANDROID_APP_HASH: 'FA+9qCX9VSu1' }, 'SMS_ANDROID_APP_HASH: must be exactly 11 characters of A-Z, a-z, 0-9, + and /'],
    ['an app hash with a bad character', { SMS_ANDROID_APP_HASH: 'FA-9qCX9VSu' }, 'SMS_ANDROID_APP_HASH: must be exactly 11 characters of A-Z, a-z, 0-9, + and /'],
  ])('%s', (_, env, message) => {
    expect(configError(env)).toBe(message)
  })

  it('measures the length with a code of OTP_LENGTH digits', () => {
    const env = { SMS_TEMPLATE: `{code} ${'x'.repeat(289)}` }
    expect(() => loadConfig({ ...env, OTP_LENGTH: '10' })).not.toThrow()
    expect(configError({ ...env, OTP_LENGTH: '10', SMS_TEMPLATE: `{code} ${'x'.repeat(290)}` })).toMatch(/^SMS_TEMPLATE: is 301 /)
  })
})
