import type { HttpHandler } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig, type Env } from '../../src/config.ts'
import { createSmsProvider } from '../../src/sms/index.ts'
import type { Connection } from '../../src/store/connect.ts'
import { fakeTextbelt, type TextbeltBehaviour } from '../msw/textbelt.ts'
import { fakeTwilio, type TwilioBehaviour } from '../msw/twilio.ts'
import { fakeWebhook, type WebhookBehaviour } from '../msw/webhook.ts'
import { capturingLogger, post, testApp, TEST_SECRET } from '../support/app.ts'
import { resetData, testDatabase } from '../support/db.ts'

// One log-capture pass over every provider's failure paths and full sign-ins: whatever the
// providers answer (even when they echo the number or a secret back), neither a secret nor a full
// phone number nor a code reaches a log line or an answer.

const PHONE = '+12015550123'
const TOKEN = 'tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0'
const TEXTBELT_KEY = 'tb-key-4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c'
const WEBHOOK_BYTES = 'sms-gateway-shared-secret-32-bytes!!'
const WEBHOOK_SECRET = `whsec_${btoa(WEBHOOK_BYTES)}`
const ENV: Env = {
  TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
  TWILIO_AUTH_TOKEN: TOKEN,
  TWILIO_FROM_NUMBER: '+15005550006',
  TEXTBELT_KEY,
  SMS_WEBHOOK_URL: 'https://sms-gateway.example.test/send',
  SMS_WEBHOOK_SECRET: WEBHOOK_SECRET,
  SMS_TIMEOUT_MS: '300',
  OTP_RESEND_COOLDOWN_SECONDS: '0',
  LIMIT_REQUESTS_PER_IP_HOUR: '0',
  LIMIT_SENDS_PER_NUMBER_HOUR: '0',
  LIMIT_SENDS_PER_NUMBER_DAY: '0',
}
const SECRETS = [TOKEN, TEXTBELT_KEY, WEBHOOK_SECRET, WEBHOOK_SECRET.slice('whsec_'.length), WEBHOOK_BYTES, TEST_SECRET]
const FULL_NUMBER = [PHONE, PHONE.slice(1), PHONE.slice(2)]

// Each provider echoes what it was sent: the number, and its own credential (the only one it has).
const twilioEcho = `${PHONE} ${PHONE.slice(1)} token=${TOKEN}`
const textbeltEcho = `${PHONE} ${PHONE.slice(1)} key=${TEXTBELT_KEY}`
const webhookEcho = `${PHONE} ${PHONE.slice(1)} secret=${WEBHOOK_SECRET} ${WEBHOOK_SECRET.slice(6)}`
const twilioFailures: TwilioBehaviour[] = [
  { fail: { code: 21211 } },
  { fail: { code: 21614 } },
  { fail: { code: 21610 } },
  { fail: { code: 21408 } },
  { fail: { code: 21612 } },
  { fail: { code: 20003, message: `Authenticate ${twilioEcho}` } },
  { fail: { code: 21606, message: `Bad From for ${twilioEcho}` } },
  { fail: { code: 20429 } },
  { fail: { code: 20503 } },
  { fail: { code: 20500, message: twilioEcho } },
  { raw: { status: 502, body: twilioEcho } },
  'hang',
  'network-error',
]
const textbeltFailures: TextbeltBehaviour[] = [
  { fail: { error: `Invalid phone number ${textbeltEcho}` } },
  { fail: { error: `Out of quota for ${textbeltEcho}`, quotaRemaining: 0 } },
  { fail: { error: `Rejected ${textbeltEcho}` } },
  { fail: { error: textbeltEcho, status: 500 } },
  'hang',
  'network-error',
]
const webhookFailures: WebhookBehaviour[] = [
  { status: 400, body: { error: webhookEcho } },
  { status: 401, body: webhookEcho },
  { status: 302, headers: { location: `https://elsewhere.example.test/?${TOKEN}` } },
  { status: 429 },
  { status: 503, body: webhookEcho },
  'hang',
  'network-error',
]

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

describe('secrets and phone numbers in logs and answers', () => {
  it('never appear, on any provider failure or sign-in', async () => {
    await resetData(conn)
    const logged: unknown[] = []
    const answers: unknown[] = []
    const codes: string[] = []
    const tokens: string[] = []

    async function run(provider: string, handlers: HttpHandler[], signIn?: () => string) {
      server.resetHandlers(...handlers)
      const env = { ...ENV, SMS_PROVIDER: provider }
      const providerLog = capturingLogger()
      const sms = createSmsProvider(loadConfig({ SERVER_SECRET: TEST_SECRET, ...env }).sms, providerLog, () => {})
      const t = await testApp(conn, { env, sms })
      const res = await post(t.app, '/api/auth/otp/request/', { phone_number: PHONE })
      answers.push(res.body)
      if (signIn) {
        expect(res.status).toBe(202)
        const otp = signIn().match(/\d{6}/)![0]
        codes.push(otp)
        const wrong = await post(t.app, '/api/auth/otp/verify/', { phone_number: PHONE, otp: otp === '000000' ? '111111' : '000000' })
        const ok = await post(t.app, '/api/auth/otp/verify/', { phone_number: PHONE, otp })
        expect(ok.status).toBe(200)
        tokens.push(ok.body.access, ok.body.refresh)
        answers.push(wrong.body, ok.body.id)
      } else {
        expect(res.status).toBeGreaterThanOrEqual(400)
      }
      logged.push(...t.log.lines, ...providerLog.lines)
    }

    for (const b of twilioFailures) await run('twilio', [fakeTwilio(b).handler])
    for (const b of textbeltFailures) await run('textbelt', [fakeTextbelt(b).handler])
    for (const b of webhookFailures) await run('webhook', [fakeWebhook(b).handler])
    await run('twilio,textbelt,webhook', [
      fakeTwilio({ fail: { code: 20003, message: twilioEcho } }).handler,
      fakeTextbelt({ fail: { error: textbeltEcho } }).handler,
      fakeWebhook({ status: 500, body: webhookEcho }).handler,
    ])

    const twilio = fakeTwilio()
    await run('twilio', [twilio.handler], () => twilio.lastBodyTo(PHONE))
    const textbelt = fakeTextbelt()
    await run('textbelt', [textbelt.handler], () => textbelt.lastBodyTo(PHONE))
    const gateway = fakeWebhook()
    await run('webhook', [gateway.handler], () => gateway.lastBodyTo(PHONE))
    const fallback = fakeTextbelt()
    await run('twilio,textbelt', [fakeTwilio({ fail: { code: 20503 } }).handler, fallback.handler], () => fallback.lastBodyTo(PHONE))

    // The capture saw the failures it should have (so the assertions below are not vacuous).
    const text = JSON.stringify(logged)
    expect(text).toContain('twilio rejected the message')
    expect(text).toContain('textbelt quota is exhausted')
    expect(text).toContain('the SMS webhook rejected the message')
    expect(text).toContain('sms delivered by a fallback provider')
    expect(text).toContain('+1201*****23')

    const everything = text + JSON.stringify(answers)
    for (const secret of [...SECRETS, ...FULL_NUMBER, ...tokens]) expect(everything).not.toContain(secret)
    for (const code of codes) expect(text).not.toContain(code)
  })
})
