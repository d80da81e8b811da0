import { createHmac } from 'node:crypto'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { SmsWebhookConfig } from '../../src/config.ts'
import { createLogger } from '../../src/log.ts'
import { SmsError } from '../../src/sms/provider.ts'
import { createWebhookProvider } from '../../src/sms/webhook.ts'
import { fakeWebhook, type WebhookBehaviour, type WebhookRequest } from '../msw/webhook.ts'
import { fakeClock } from '../support/clock.ts'

const SECRET_BYTES = 'sms-gateway-shared-secret-32-bytes!!'
const SECRET = `whsec_${Buffer.from(SECRET_BYTES).toString('base64')}`
const URL_ = 'https://sms-gateway.example.test/send'
const TO = '+447911123456'
const GB = { country: 'GB' }
const BODY = '123456 is your NomiSafe code. It expires in 5 minutes. Never share it.'

const server = setupServer()
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

function setup(behaviour?: WebhookBehaviour | WebhookBehaviour[], over: Partial<SmsWebhookConfig> = {}) {
  const cfg: SmsWebhookConfig = { url: URL_, secret: SECRET, timeoutMs: 2000, ...over }
  const gateway = fakeWebhook(behaviour, cfg.url.split('?')[0])
  server.use(gateway.handler)
  const lines: string[] = []
  const clock = fakeClock('2026-03-01T12:00:00Z')
  const sms = createWebhookProvider(cfg, createLogger('debug', (line) => lines.push(line)), clock)
  return { gateway, sms, lines, clock }
}

/** Standard Webhooks, computed here from the spec with node:crypto, not with the code under test. */
function expectedSignature(req: WebhookRequest): string {
  const key = Buffer.from(SECRET.slice('whsec_'.length), 'base64')
  const signed = `${req.headers.get('webhook-id')}.${req.headers.get('webhook-timestamp')}.${req.raw}`
  return `v1,${createHmac('sha256', key).update(signed).digest('base64')}`
}

async function failure(send: Promise<unknown>): Promise<SmsError> {
  const err = await send.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(SmsError)
  return err as SmsError
}

function expectNoSecrets(err: SmsError, lines: string[], more: string[] = []) {
  for (const text of [err.message, err.reason, String(err.cause ?? ''), ...lines]) {
    for (const secret of [SECRET, SECRET.slice(6), SECRET_BYTES, TO, TO.slice(1), ...more]) expect(text).not.toContain(secret)
  }
}

describe('webhook provider', () => {
  it('POSTs { to, body, country } as JSON, signed the Standard Webhooks way', async () => {
    const { gateway, sms } = setup()
    await sms.send(TO, BODY, GB)

    expect(gateway.requests).toHaveLength(1)
    const req = gateway.requests[0]!
    expect(req.method).toBe('POST')
    expect(req.url.href).toBe(URL_)
    expect(req.headers.get('content-type')).toBe('application/json')
    expect(JSON.parse(req.raw)).toEqual({ to: TO, body: BODY, country: 'GB' })
    expect(req.headers.get('webhook-id')).toMatch(/^msg_[0-9a-f]{32}$/)
    expect(req.headers.get('webhook-timestamp')).toBe(String(Date.parse('2026-03-01T12:00:00Z') / 1000))
    expect(req.headers.get('webhook-signature')).toBe(expectedSignature(req))
    expect(req.headers.get('authorization')).toBeNull()
    expect(gateway.lastBodyTo(TO)).toBe(BODY)
  })

  it('signs every message with its own id and the time of sending', async () => {
    const { gateway, sms, clock } = setup()
    await sms.send(TO, BODY, GB)
    clock.advance(90_000)
    await sms.send(TO, BODY, GB)
    const [a, b] = gateway.requests
    expect(a!.headers.get('webhook-id')).not.toBe(b!.headers.get('webhook-id'))
    expect(Number(b!.headers.get('webhook-timestamp')) - Number(a!.headers.get('webhook-timestamp'))).toBe(90)
    expect(b!.headers.get('webhook-signature')).toBe(expectedSignature(b!))
  })

  it("returns the gateway's id when it answers one", async () => {
    const { sms } = setup()
    expect(await sms.send(TO, BODY, GB)).toEqual({ id: 'gw-1' })
  })

  it.each<[string, WebhookBehaviour]>([
    ['204 without a body', { status: 204 }],
    ['202 with text', { status: 202, body: 'queued' }],
    ['200 with JSON but no id', { status: 200, body: { ok: true } }],
  ])('a %s is sent, with the webhook-id as message id', async (_, behaviour) => {
    const { gateway, sms } = setup(behaviour)
    const { id } = await sms.send(TO, BODY, GB)
    expect(id).toBe(gateway.requests[0]!.headers.get('webhook-id'))
  })

  it.each<[string, WebhookBehaviour]>([
    ['400', { status: 400, body: { error: `bad number ${TO}` } }],
    ['401', { status: 401, body: 'bad signature' }],
    ['404', { status: 404 }],
    ['302 redirect', { status: 302, headers: { location: 'https://elsewhere.example.test/' } }],
  ])('a %s answer is rejected and warns the operator, without the number or secret', async (_, behaviour) => {
    const { gateway, sms, lines } = setup(behaviour)
    const err = await failure(sms.send(TO, BODY, GB))

    expect(err.kind).toBe('rejected')
    expect(gateway.requests).toHaveLength(1)
    expect(lines).toHaveLength(1)
    const line = JSON.parse(lines[0]!)
    expect(line).toMatchObject({ level: 'warn', provider: 'webhook', to: '+4479******56', webhook_id: expect.stringMatching(/^msg_/) })
    expectNoSecrets(err, lines)
  })

  it.each<[string, WebhookBehaviour]>([
    ['500', { status: 500 }],
    ['503', { status: 503, body: '<html>down</html>' }],
    ['429', { status: 429, headers: { 'retry-after': '5' } }],
    ['a network error', 'network-error'],
  ])('a %s is unavailable, without a warning or a retry', async (_, behaviour) => {
    const { gateway, sms, lines } = setup(behaviour)
    const err = await failure(sms.send(TO, BODY, GB))
    expect(err.kind).toBe('unavailable')
    expect(gateway.requests).toHaveLength(1)
    expect(lines).toEqual([])
    expectNoSecrets(err, lines)
  })

  it('gives up after timeoutMs when the gateway never answers', async () => {
    const { gateway, sms } = setup('hang', { timeoutMs: 200 })
    const started = performance.now()
    const err = await failure(sms.send(TO, BODY, GB))
    expect(performance.now() - started).toBeLessThan(1500)
    expect(err.kind).toBe('unavailable')
    expect(err.reason).toBe('webhook unreachable: no answer within 200 ms')
    expect(gateway.requests).toHaveLength(1)
  })

  it('keeps a token in SMS_WEBHOOK_URL out of reasons and logs', async () => {
    const token = 'gw-token-5a4b3c2d1e0f'
    const { sms, lines } = setup({ status: 403, body: `token ${token} not allowed` }, { url: `${URL_}?token=${token}` })
    const err = await failure(sms.send(TO, BODY, GB))
    expect(err.reason).toContain('[redacted]')
    expectNoSecrets(err, lines, [token])
  })
})
