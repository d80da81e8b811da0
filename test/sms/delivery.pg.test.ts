import type { HttpHandler } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig, type Env } from '../../src/config.ts'
import { createSmsProvider } from '../../src/sms/index.ts'
import type { Connection } from '../../src/store/connect.ts'
import { fakeTextbelt } from '../msw/textbelt.ts'
import { fakeTwilio, type TwilioBehaviour } from '../msw/twilio.ts'
import { fakeWebhook } from '../msw/webhook.ts'
import { capturingLogger, post, testApp, TEST_SECRET, type JsonResponse } from '../support/app.ts'
import { resetData, testDatabase } from '../support/db.ts'

// What the client gets from the real providers (through msw), end to end through the HTTP API.

const PHONE = '+12015550123'
const REQUEST = '/api/auth/otp/request/'
const VERIFY = '/api/auth/otp/verify/'
const TOKEN = 'tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0'
const TEXTBELT_KEY = 'tb-key-4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c'
const WEBHOOK_BYTES = 'sms-gateway-shared-secret-32-bytes!!'
const WEBHOOK_SECRET = `whsec_${btoa(WEBHOOK_BYTES)}`

const TWILIO: Env = {
  SMS_PROVIDER: 'twilio',
  TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
  TWILIO_AUTH_TOKEN: TOKEN,
  TWILIO_FROM_NUMBER: '+15005550006',
  SMS_TIMEOUT_MS: '300',
}
const TEXTBELT: Env = { SMS_PROVIDER: 'textbelt', TEXTBELT_KEY, SMS_TIMEOUT_MS: '300' }
const WEBHOOK: Env = {
  SMS_PROVIDER: 'webhook',
  SMS_WEBHOOK_URL: 'https://sms-gateway.example.test/send',
  SMS_WEBHOOK_SECRET: WEBHOOK_SECRET,
  SMS_TIMEOUT_MS: '300',
}

let conn: Connection
const server = setupServer()
beforeAll(async () => {
  conn = await testDatabase()
  server.listen({ onUnhandledFrame: 'error' })
})
afterAll(async () => {
  server.close()
  await conn.close()
})
beforeEach(() => resetData(conn))
afterEach(() => server.resetHandlers())

/** The real app with the real providers SMS_PROVIDER names; every log line (app and providers) kept. */
async function appWith(env: Env, ...handlers: HttpHandler[]) {
  server.use(...handlers)
  const providerLog = capturingLogger()
  const sms = createSmsProvider(loadConfig({ SERVER_SECRET: TEST_SECRET, ...env }).sms, providerLog, () => {})
  const t = await testApp(conn, { env, sms })
  return { ...t, lines: () => [...t.log.lines, ...providerLog.lines] }
}

function expectProblem(res: JsonResponse, status: number, code: string) {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  expect(res.body).toMatchObject({ status, code })
  // The provider, its error and its credentials never reach the client.
  expect(JSON.stringify(res.body)).not.toMatch(/twilio|textbelt|webhook|gateway|20003|21\d{3}|tok-|tb-key|whsec/i)
}

const request = (app: { app: Parameters<typeof post>[0] }, phone = PHONE) => post(app.app, REQUEST, { phone_number: phone })

describe('Twilio, as the client sees it', () => {
  it.each<[string, number, string, number, TwilioBehaviour]>([
    ['21211 invalid number', 400, 'invalid_phone_number', 1, { fail: { code: 21211 } }],
    ['21614 not a mobile number', 400, 'invalid_phone_number', 1, { fail: { code: 21614 } }],
    ['21610 unsubscribed', 400, 'phone_number_opted_out', 1, { fail: { code: 21610 } }],
    ['21408 region not enabled', 400, 'phone_number_not_allowed', 1, { fail: { code: 21408 } }],
    ['21612 not reachable', 400, 'phone_number_not_allowed', 1, { fail: { code: 21612 } }],
    ['20003 bad credentials', 502, 'sms_delivery_failed', 1, { fail: { code: 20003 } }],
    ['21606 bad sender', 502, 'sms_delivery_failed', 1, { fail: { code: 21606 } }],
    ['503, twice', 503, 'sms_delivery_failed', 2, { fail: { code: 20503 } }],
    ['429, twice', 503, 'sms_delivery_failed', 2, { fail: { code: 20429 } }],
    ['500', 503, 'sms_delivery_failed', 1, { fail: { code: 20500 } }],
    ['no answer (timeout)', 503, 'sms_delivery_failed', 1, 'hang'],
  ])('Twilio %s → %i %s after %i request(s)', async (_, status, code, requests, behaviour) => {
    const twilio = fakeTwilio(behaviour)
    const t = await appWith(TWILIO, twilio.handler)
    expectProblem(await request(t), status, code)
    expect(twilio.requests).toHaveLength(requests)
  })

  it('a 503 followed by success is a 202, and the code texted on the retry signs in', async () => {
    const twilio = fakeTwilio([{ fail: { code: 20503 } }, 'accept'])
    const t = await appWith(TWILIO, twilio.handler)
    expect((await request(t)).status).toBe(202)
    expect(twilio.requests).toHaveLength(2)
    const otp = twilio.lastBodyTo(PHONE).match(/\d{6}/)![0]
    expect((await post(t.app, VERIFY, { phone_number: PHONE, otp })).status).toBe(200)
  })

  it("sends from the destination country's sender, and the template with its extra lines", async () => {
    const twilio = fakeTwilio()
    const t = await appWith(
      {
        ...TWILIO,
        TWILIO_SENDERS: 'GB:NomiSafe,DE:MG0123456789abcdef0123456789abcdef',
        SMS_TEMPLATE: '{app}: {code} (valid {expiry})',
        SMS_ANDROID_APP_HASH: 'FA+9qCX9VSu',
        SMS_WEBOTP_DOMAIN: 'auth.example.com',
        APP_NAME: 'Acme',
      },
      twilio.handler,
    )
    expect((await request(t, '+44 7400 123456')).status).toBe(202)
    expect((await request(t, '+49 151 12345678')).status).toBe(202)
    expect((await request(t, PHONE)).status).toBe(202)
    expect(twilio.requests.map((r) => r.form.From ?? r.form.MessagingServiceSid)).toEqual([
      'NomiSafe',
      'MG0123456789abcdef0123456789abcdef',
      '+15005550006',
    ])
    const text = twilio.lastBodyTo(PHONE)
    const otp = text.match(/\d{6}/)![0]
    expect(text).toBe(`Acme: ${otp} (valid 5 minutes)\nFA+9qCX9VSu\n@auth.example.com #${otp}`)
    expect((await post(t.app, VERIFY, { phone_number: PHONE, otp })).status).toBe(200)
  })
})

describe('Textbelt, as the client sees it', () => {
  it.each([
    ['success: false with HTTP 200', 502, 'sms_delivery_failed', { fail: { error: 'Message rejected' } }],
    ['an exhausted quota', 502, 'sms_delivery_failed', { fail: { error: 'Out of quota', quotaRemaining: 0 } }],
    ['an invalid number', 400, 'invalid_phone_number', { fail: { error: 'Invalid phone number or bad request' } }],
    ['a 500', 503, 'sms_delivery_failed', { fail: { error: 'Internal error', status: 500 } }],
    ['no answer (timeout)', 503, 'sms_delivery_failed', 'hang'],
  ] as const)('Textbelt answering %s → %i %s', async (_, status, code, behaviour) => {
    const textbelt = fakeTextbelt(behaviour)
    const t = await appWith(TEXTBELT, textbelt.handler)
    expectProblem(await request(t), status, code)
    expect(textbelt.requests).toHaveLength(1)
  })

  it('sends to a self-hosted TEXTBELT_URL, and the code signs in', async () => {
    const textbelt = fakeTextbelt('accept', { url: 'https://sms.example.test/belt' })
    const t = await appWith({ ...TEXTBELT, TEXTBELT_URL: 'https://sms.example.test/belt' }, textbelt.handler)
    expect((await request(t)).status).toBe(202)
    const otp = textbelt.lastBodyTo(PHONE).match(/\d{6}/)![0]
    expect((await post(t.app, VERIFY, { phone_number: PHONE, otp })).status).toBe(200)
  })
})

describe('the webhook gateway, as the client sees it', () => {
  it.each([
    ['400', 502, { status: 400 }],
    ['401', 502, { status: 401 }],
    ['429', 503, { status: 429 }],
    ['503', 503, { status: 503 }],
    ['no answer (timeout)', 503, 'hang'],
  ] as const)('a %s → %i sms_delivery_failed', async (_, status, behaviour) => {
    const gateway = fakeWebhook(behaviour)
    const t = await appWith(WEBHOOK, gateway.handler)
    expectProblem(await request(t), status, 'sms_delivery_failed')
  })

  it('delivers { to, body, country }, and the code signs in', async () => {
    const gateway = fakeWebhook()
    const t = await appWith(WEBHOOK, gateway.handler)
    expect((await request(t, '+44 7400 123456')).status).toBe(202)
    expect(gateway.requests[0]!.json).toMatchObject({ to: '+447400123456', country: 'GB' })
    const otp = gateway.lastBodyTo('+447400123456').match(/\d{6}/)![0]
    expect((await post(t.app, VERIFY, { phone_number: '+447400123456', otp })).status).toBe(200)
  })
})

describe('failover, as the client sees it', () => {
  const BOTH = { ...TWILIO, ...TEXTBELT, SMS_PROVIDER: 'twilio,textbelt' }

  it('Twilio down: Textbelt texts the code, and it signs in', async () => {
    const twilio = fakeTwilio({ fail: { code: 20503 } })
    const textbelt = fakeTextbelt()
    const t = await appWith(BOTH, twilio.handler, textbelt.handler)
    expect((await request(t)).status).toBe(202)
    const otp = textbelt.lastBodyTo(PHONE).match(/\d{6}/)![0]
    expect((await post(t.app, VERIFY, { phone_number: PHONE, otp })).status).toBe(200)
  })

  it('Twilio says the number opted out: 400, and Textbelt is not asked', async () => {
    const twilio = fakeTwilio({ fail: { code: 21610 } })
    const textbelt = fakeTextbelt()
    const t = await appWith(BOTH, twilio.handler, textbelt.handler)
    expectProblem(await request(t), 400, 'phone_number_opted_out')
    expect(textbelt.requests).toHaveLength(0)
  })

  it('both fail: the last one decides between 502 and 503', async () => {
    const t = await appWith(BOTH, fakeTwilio({ fail: { code: 20003 } }).handler, fakeTextbelt('hang').handler)
    expectProblem(await request(t), 503, 'sms_delivery_failed')
  })
})
