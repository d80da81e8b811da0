import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig, type Env } from '../../src/config.ts'
import { createLogger } from '../../src/log.ts'
import { createSmsProvider } from '../../src/sms/index.ts'
import { SmsError } from '../../src/sms/provider.ts'
import { fakeTextbelt, type TextbeltBehaviour } from '../msw/textbelt.ts'
import { fakeTwilio, type TwilioBehaviour } from '../msw/twilio.ts'
import { fakeWebhook, type WebhookBehaviour } from '../msw/webhook.ts'

const TO = '+12015550123'
const US = { country: 'US' }
const BODY = '123456 is your NomiSafe code. It expires in 5 minutes. Never share it.'
const ENV: Env = {
  TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
  TWILIO_AUTH_TOKEN: 'tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0',
  TWILIO_FROM_NUMBER: '+15005550006',
  TEXTBELT_KEY: 'tb-key-4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c',
  SMS_WEBHOOK_URL: 'https://sms-gateway.example.test/send',
  SMS_WEBHOOK_SECRET: `whsec_${btoa('sms-gateway-shared-secret-32-bytes!!')}`,
  SMS_TIMEOUT_MS: '300',
}

const server = setupServer()
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

function setup(
  providers: string,
  fakes: { twilio?: TwilioBehaviour | TwilioBehaviour[]; textbelt?: TextbeltBehaviour; webhook?: WebhookBehaviour } = {},
) {
  const twilio = fakeTwilio(fakes.twilio)
  const textbelt = fakeTextbelt(fakes.textbelt)
  const webhook = fakeWebhook(fakes.webhook)
  server.use(twilio.handler, textbelt.handler, webhook.handler)
  const lines: Array<Record<string, any>> = []
  const config = loadConfig({ ...ENV, SMS_PROVIDER: providers })
  const sms = createSmsProvider(config.sms, createLogger('debug', (line) => lines.push(JSON.parse(line))), () => {})
  return { sms, twilio, textbelt, webhook, lines, warnings: () => lines.filter((l) => l.level === 'warn') }
}

async function failure(send: Promise<unknown>): Promise<SmsError> {
  const err = await send.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(SmsError)
  return err as SmsError
}

describe('failover (SMS_PROVIDER=twilio,textbelt)', () => {
  it('uses only the first provider while it delivers', async () => {
    const { sms, twilio, textbelt, lines } = setup('twilio,textbelt')
    const { id } = await sms.send(TO, BODY, US)
    expect(id).toBe(twilio.messages[0]!.sid)
    expect(textbelt.requests).toHaveLength(0)
    expect(lines).toEqual([])
  })

  it.each<[string, TwilioBehaviour]>([
    ['keeps answering 503 (after its one retry)', { fail: { code: 20503 } }],
    ['answers 500', { fail: { code: 20500 } }],
    ['times out', 'hang'],
    ['refuses the credentials (20003)', { fail: { code: 20003 } }],
  ])('moves on to Textbelt when Twilio %s, and logs who failed and who delivered', async (_, behaviour) => {
    const { sms, twilio, textbelt, warnings } = setup('twilio,textbelt', { twilio: behaviour })
    const { id } = await sms.send(TO, BODY, US)

    expect(id).toBe(textbelt.messages[0]!.textId)
    expect(textbelt.lastBodyTo(TO)).toBe(BODY)
    expect(twilio.messages).toHaveLength(0)
    const failed = warnings().find((l) => l.msg === 'sms provider failed; trying the next one')
    expect(failed).toMatchObject({ provider: 'twilio', next: 'textbelt', to: '+1201*****23' })
    expect(warnings().at(-1)).toMatchObject({ msg: 'sms delivered by a fallback provider', provider: 'textbelt', failed: ['twilio'] })
  })

  it.each([
    [21211, 'invalid_number'],
    [21614, 'invalid_number'],
    [21610, 'opted_out'],
    [21408, 'region_blocked'],
    [21612, 'region_blocked'],
  ] as const)('stops at Twilio error %i (%s): the number itself is refused, Textbelt is never asked', async (code, kind) => {
    const { sms, textbelt } = setup('twilio,textbelt', { twilio: { fail: { code } } })
    const err = await failure(sms.send(TO, BODY, US))
    expect(err.kind).toBe(kind)
    expect(textbelt.requests).toHaveLength(0)
  })

  it('passes on a number refusal from the next provider too', async () => {
    const { sms, textbelt } = setup('twilio,textbelt', {
      twilio: { fail: { code: 20500 } },
      textbelt: { fail: { error: 'Invalid phone number or bad request' } },
    })
    const err = await failure(sms.send(TO, BODY, US))
    expect(err.kind).toBe('invalid_number')
    expect(textbelt.requests).toHaveLength(1)
  })

  it('answers as the last provider failed when none delivers, and says so in the log', async () => {
    const unavailableLast = setup('twilio,textbelt', { twilio: { fail: { code: 20003 } }, textbelt: { fail: { error: 'down', status: 502 } } })
    const err = await failure(unavailableLast.sms.send(TO, BODY, US))
    expect(err.kind).toBe('unavailable')
    expect(err.reason).toBe('every provider failed (twilio, textbelt): textbelt 502')
    expect(unavailableLast.warnings().at(-1)).toMatchObject({ msg: 'sms provider failed; no provider left', provider: 'textbelt', failure: 'unavailable' })

    server.resetHandlers()
    const rejectedLast = setup('twilio,textbelt', { twilio: { fail: { code: 20500 } }, textbelt: { fail: { error: 'Out of quota', quotaRemaining: 0 } } })
    expect((await failure(rejectedLast.sms.send(TO, BODY, US))).kind).toBe('rejected')
  })

  it('tries providers in the order SMS_PROVIDER names them', async () => {
    const { sms, twilio, textbelt, webhook, warnings } = setup('webhook,textbelt,twilio', {
      webhook: { status: 503 },
      textbelt: { fail: { error: 'Out of quota', quotaRemaining: 0 } },
    })
    const { id } = await sms.send(TO, BODY, US)
    expect(id).toBe(twilio.messages[0]!.sid)
    expect([webhook.requests.length, textbelt.requests.length, twilio.requests.length]).toEqual([1, 1, 1])
    expect(warnings().at(-1)).toMatchObject({ provider: 'twilio', failed: ['webhook', 'textbelt'] })
  })
})
