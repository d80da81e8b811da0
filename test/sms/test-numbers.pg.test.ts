import { setupServer } from 'msw/node'
import { describe, expect, it } from 'vitest'
import { buildDeps } from '../../src/build-deps.ts'
import { loadConfig, type Env } from '../../src/config.ts'
import { createSmsProvider } from '../../src/sms/index.ts'
import type { SmsProvider } from '../../src/sms/provider.ts'
import { fakeTwilio } from '../msw/twilio.ts'
import { capturingLogger, post, testApp, TEST_SECRET, type TestApp } from '../support/app.ts'
import { fakeClock } from '../support/clock.ts'
import { useTestDatabase } from '../support/db.ts'

const TEST_NUMBER = '+15005550006'
const FIXED = '271828'
const OTHER_TEST = '+4915112345678'
const PHONE = '+12015550123'
const REQUEST = '/api/auth/otp/request/'
const VERIFY = '/api/auth/otp/verify/'
const ENV: Env = { TEST_PHONE_NUMBERS: `${TEST_NUMBER}:${FIXED},${OTHER_TEST}:314159` }

const conn = useTestDatabase()

const request = (t: TestApp<SmsProvider>, phone = TEST_NUMBER) => post(t.app, REQUEST, { phone_number: phone })
const verify = (t: TestApp<SmsProvider>, otp: string, phone = TEST_NUMBER) => post(t.app, VERIFY, { phone_number: phone, otp })

describe('TEST_PHONE_NUMBERS', () => {
  it('answers a test number as any other, sends no SMS, and its fixed code signs in once', async () => {
    const t = await testApp(conn, { env: ENV })
    const test = await request(t, '+1 (500) 555-0006')
    const real = await request(t, PHONE)
    expect(test.status).toBe(202)
    expect(test.body).toEqual(real.body)
    expect(t.sms.sent.map((s) => s.to)).toEqual([PHONE])

    const signedIn = await verify(t, FIXED)
    expect(signedIn.status).toBe(200)
    expect(signedIn.body).toMatchObject({ phone_number: TEST_NUMBER, created: true })
    expect((await verify(t, FIXED)).body.code).toBe('invalid_otp')
  })

  it('never reaches the SMS provider for a test number', async () => {
    const twilio = fakeTwilio()
    const server = setupServer(twilio.handler)
    server.listen({ onUnhandledFrame: 'error' })
    try {
      const env = {
        ...ENV,
        SMS_PROVIDER: 'twilio',
        TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
        TWILIO_AUTH_TOKEN: 'tok',
        TWILIO_FROM_NUMBER: '+15005550001',
      }
      const sms = createSmsProvider(loadConfig(env).sms, capturingLogger(), () => {})
      const t = await testApp(conn, { env, sms })
      expect((await request(t)).status).toBe(202)
      expect(twilio.requests).toHaveLength(0)
      expect((await verify(t, FIXED)).status).toBe(200)
    } finally {
      server.close()
    }
  })

  it('works only after a request, and expires like any code', async () => {
    const t = await testApp(conn, { env: ENV })
    expect((await verify(t, FIXED)).body.code).toBe('invalid_otp')
    expect((await request(t)).status).toBe(202)
    t.clock.advance(301_000)
    expect((await verify(t, FIXED)).body.code).toBe('invalid_otp')
  })

  it('spends the attempt budget on wrong guesses: then even the fixed code is refused until a new request', async () => {
    const t = await testApp(conn, { env: { ...ENV, OTP_MAX_ATTEMPTS: '2' } })
    await request(t)
    expect((await verify(t, '000000')).status).toBe(400)
    expect((await verify(t, '000000')).body.code).toBe('too_many_attempts')
    expect((await verify(t, FIXED)).body.code).toBe('too_many_attempts')
    t.clock.advance(30_000)
    expect((await request(t)).status).toBe(202)
    expect((await verify(t, FIXED)).status).toBe(200)
  })

  it('keeps the resend cooldown and the per-number caps', async () => {
    const t = await testApp(conn, { env: { ...ENV, LIMIT_SENDS_PER_NUMBER_HOUR: '2' } })
    expect((await request(t)).status).toBe(202)
    const early = await request(t)
    expect(early.status).toBe(429)
    expect(early.body.code).toBe('rate_limited')
    t.clock.advance(30_000)
    expect((await request(t)).status).toBe(202)
    t.clock.advance(30_000)
    expect((await request(t)).status).toBe(429)
  })

  it('logs that no SMS went out, with the number masked and never the code', async () => {
    const t = await testApp(conn, { env: ENV })
    await request(t)
    await verify(t, FIXED)
    const sent = t.log.lines.find((l) => l.msg === 'code sent')
    expect(sent?.fields).toMatchObject({ phone: '+1500*****06', test_number: true })
    expect(t.sms.sent).toHaveLength(0)
    const logged = JSON.stringify(t.log.lines)
    expect(logged).not.toContain(FIXED)
    expect(logged).not.toContain(TEST_NUMBER)
  })

  it('warns at start-up how many test numbers are configured, without naming them or their codes', async () => {
    const start = async (env: Env) => {
      const log = capturingLogger()
      const config = loadConfig({ ...env, DATABASE_URL: conn.url!, SERVER_SECRET: TEST_SECRET })
      const platform = { openEmbedded: () => Promise.reject(new Error('not embedded')), printLine: () => {} }
      const built = await buildDeps(config, platform, log, fakeClock())
      await built.close()
      return log.lines
    }
    const warned = (await start(ENV)).filter((l) => l.level === 'warn' && /TEST_PHONE_NUMBERS/.test(l.msg))
    expect(warned).toEqual([
      { level: 'warn', msg: 'TEST_PHONE_NUMBERS is set: 2 number(s) sign in with a fixed code and get no SMS', fields: { test_numbers: 2 } },
    ])
    expect(JSON.stringify(warned)).not.toMatch(/271828|314159|5550006|12345678/)
    expect((await start({})).filter((l) => /TEST_PHONE_NUMBERS/.test(l.msg))).toEqual([])
  })
})
