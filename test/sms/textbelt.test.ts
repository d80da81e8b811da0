import { http } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { TextbeltConfig } from '../../src/config.ts'
import { createLogger } from '../../src/log.ts'
import { SmsError } from '../../src/sms/provider.ts'
import { createTextbeltProvider } from '../../src/sms/textbelt.ts'
import { fakeTextbelt, type TextbeltBehaviour } from '../msw/textbelt.ts'

const KEY = 'tb-key-4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c'
const TO = '+12015550123'
const US = { country: 'US' }
const BODY = 'Your NomiSafe code is 123456. It expires in 5 minutes.'

const config = (over: Partial<TextbeltConfig> = {}): TextbeltConfig => ({
  key: KEY,
  url: 'https://textbelt.com',
  timeoutMs: 2000,
  ...over,
})

const server = setupServer()
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

function setup(behaviour?: TextbeltBehaviour, over: Partial<TextbeltConfig> = {}, quota?: number) {
  const fake = fakeTextbelt(behaviour, { url: over.url, quota })
  server.use(fake.handler)
  const lines: string[] = []
  const sms = createTextbeltProvider(config(over), createLogger('debug', (line) => lines.push(line)))
  return { fake, sms, lines }
}

async function failure(send: Promise<unknown>): Promise<SmsError> {
  const err = await send.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(SmsError)
  return err as SmsError
}

function expectNoSecrets(err: SmsError, lines: string[]) {
  for (const text of [err.message, err.reason, String(err.cause ?? ''), ...lines]) {
    expect(text).not.toContain(KEY)
    expect(text).not.toContain(TO)
    expect(text).not.toContain(TO.slice(1))
  }
}

describe('textbelt provider', () => {
  it('does not follow a redirect: the code and the key go nowhere else', async () => {
    const elsewhere: Request[] = []
    server.use(
      http.post('https://textbelt.com/text', () => new Response(null, { status: 308, headers: { location: 'https://elsewhere.example.test/text' } })),
      http.all('https://elsewhere.example.test/*', ({ request }) => {
        elsewhere.push(request)
        return Response.json({ success: true, textId: '1' })
      }),
    )
    const sms = createTextbeltProvider(config(), createLogger('error', () => {}))
    await failure(sms.send(TO, BODY, US))
    expect(elsewhere).toEqual([])
  })

  it('sends the SMS as JSON to /text and returns the textId', async () => {
    const { fake, sms } = setup()
    const { id } = await sms.send(TO, BODY, US)

    expect(id).toBe(fake.messages[0]!.textId)
    expect(fake.requests).toHaveLength(1)
    const req = fake.requests[0]!
    expect(req.method).toBe('POST')
    expect(req.url.href).toBe('https://textbelt.com/text')
    expect(req.headers.get('content-type')).toBe('application/json')
    expect(req.body).toEqual({ phone: TO, message: BODY, key: KEY })
    expect(fake.lastBodyTo(TO)).toBe(BODY)
  })

  it.each(['https://sms.example.test/belt', 'https://sms.example.test/belt/'])('works with a self-hosted TEXTBELT_URL %s', async (url) => {
    const { fake, sms } = setup('accept', { url })
    await sms.send(TO, BODY, US)
    expect(fake.requests[0]!.url.href).toBe('https://sms.example.test/belt/text')
  })

  it('success: false with HTTP 200 is not reported as sent', async () => {
    const { sms, lines } = setup({ fail: { error: 'Message rejected by carrier', quotaRemaining: 12 } })
    const err = await failure(sms.send(TO, BODY, US))

    expect(err.kind).toBe('rejected')
    expect(err.reason).toBe('textbelt 200: Message rejected by carrier')
    expect(lines.map((l) => JSON.parse(l))).toMatchObject([{ level: 'warn', provider: 'textbelt', to: '+1201*****23' }])
    expectNoSecrets(err, lines)
  })

  it('an exhausted quota is rejected and warns the operator that the quota is used up', async () => {
    const { sms, lines } = setup('accept', {}, 1)
    await sms.send(TO, BODY, US)
    const err = await failure(sms.send(TO, BODY, US))

    expect(err.kind).toBe('rejected')
    expect(err.reason).toBe('textbelt 200: Out of quota')
    expect(lines).toHaveLength(1)
    const line = JSON.parse(lines[0]!)
    expect(line).toMatchObject({ level: 'warn', quotaRemaining: 0, to: '+1201*****23' })
    expect(line.msg).toMatch(/quota is exhausted/)
    expectNoSecrets(err, lines)
  })

  it('an invalid phone number tells the user, with no full number in the reason', async () => {
    const { sms, lines } = setup({ fail: { error: `Invalid phone number or bad request: ${TO}`, quotaRemaining: 30 } })
    const err = await failure(sms.send(TO, BODY, US))

    expect(err.kind).toBe('invalid_number')
    expect(err.reason).toContain('+1201*****23')
    expectNoSecrets(err, lines)
  })

  it('never puts the key in the reason, even if Textbelt echoes it', async () => {
    const { sms, lines } = setup({ fail: { error: `Unknown key ${KEY}`, quotaRemaining: 0 } })
    const err = await failure(sms.send(TO, BODY, US))
    expect(err.reason).toContain('[redacted]')
    expectNoSecrets(err, lines)
  })

  it.each<[string, TextbeltBehaviour]>([
    ['500 with success: false', { fail: { error: 'Internal error', status: 500 } }],
    ['429', { fail: { error: 'Too many requests', status: 429 } }],
    ['502 HTML page', { raw: { status: 502, body: '<html>Bad Gateway</html>' } }],
  ])('Textbelt answering %s is reported as unavailable, without a warning or a retry', async (_, behaviour) => {
    const { fake, sms, lines } = setup(behaviour)
    const err = await failure(sms.send(TO, BODY, US))
    expect(err.kind).toBe('unavailable')
    expect(fake.requests).toHaveLength(1)
    expect(lines).toEqual([])
  })

  it('a 2xx that is not JSON is rejected without crashing', async () => {
    const { sms } = setup({ raw: { status: 200, body: 'OK' } })
    const err = await failure(sms.send(TO, BODY, US))
    expect(err.kind).toBe('rejected')
    expect(err.reason).toBe('textbelt 200: no Textbelt error text')
  })

  it('gives up after timeoutMs when Textbelt never answers', async () => {
    const { fake, sms, lines } = setup('hang', { timeoutMs: 200 })
    const started = performance.now()
    const err = await failure(sms.send(TO, BODY, US))

    expect(performance.now() - started).toBeLessThan(1500)
    expect(fake.requests).toHaveLength(1)
    expect(err.kind).toBe('unavailable')
    expect(err.reason).toBe('textbelt unreachable: no answer within 200 ms')
    expectNoSecrets(err, lines)
  })

  it('a network failure is reported as unavailable', async () => {
    const { fake, sms, lines } = setup('network-error')
    const err = await failure(sms.send(TO, BODY, US))

    expect(fake.requests).toHaveLength(1)
    expect(err.kind).toBe('unavailable')
    expectNoSecrets(err, lines)
  })
})
