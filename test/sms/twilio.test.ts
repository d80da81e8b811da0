import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { TwilioConfig } from '../../src/config.ts'
import { createLogger } from '../../src/log.ts'
import { SmsError } from '../../src/sms/provider.ts'
import { createTwilioProvider } from '../../src/sms/twilio.ts'
import { fakeTwilio, type TwilioBehaviour } from '../msw/twilio.ts'

const SID = 'AC0123456789abcdef0123456789abcdef'
const TOKEN = 'tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0'
const TO = '+12015550123'
const BODY = 'Your NomiSafe code is 123456. It expires in 5 minutes.'

const config = (over: Partial<TwilioConfig> = {}): TwilioConfig => ({
  accountSid: SID,
  authToken: TOKEN,
  fromNumber: '+15005550006',
  apiUrl: 'https://api.twilio.com',
  timeoutMs: 2000,
  ...over,
})

const server = setupServer()
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

function setup(behaviour?: TwilioBehaviour, over: Partial<TwilioConfig> = {}) {
  const fake = fakeTwilio(behaviour, { apiUrl: over.apiUrl })
  server.use(fake.handler)
  const lines: string[] = []
  const sms = createTwilioProvider(config(over), createLogger('debug', (line) => lines.push(line)))
  return { fake, sms, lines }
}

async function failure(send: Promise<unknown>): Promise<SmsError> {
  const err = await send.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(SmsError)
  return err as SmsError
}

function expectNoSecrets(err: SmsError, lines: string[]) {
  for (const text of [err.message, err.reason, String(err.cause ?? ''), ...lines]) {
    expect(text).not.toContain(TOKEN)
    expect(text).not.toContain(TO)
    expect(text).not.toContain(TO.slice(1))
  }
}

describe('twilio provider', () => {
  it('sends the SMS to the account Messages endpoint and returns the message sid', async () => {
    const { fake, sms } = setup()
    const { id } = await sms.send(TO, BODY)

    expect(id).toMatch(/^SM[0-9a-f]{32}$/)
    expect(fake.requests).toHaveLength(1)
    const req = fake.requests[0]!
    expect(req.method).toBe('POST')
    expect(req.url.href).toBe(`https://api.twilio.com/2010-04-01/Accounts/${SID}/Messages.json`)
    expect(req.headers.get('authorization')).toBe(`Basic ${Buffer.from(`${SID}:${TOKEN}`).toString('base64')}`)
    expect(req.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded/)
    expect(req.form).toEqual({ To: TO, From: '+15005550006', Body: BODY })
    expect(fake.lastBodyTo(TO)).toBe(BODY)
  })

  it('keeps a "+" and "&" in the text intact', async () => {
    const { fake, sms } = setup()
    await sms.send(TO, 'Code 123456 & call +1 555 if it was not you')
    expect(fake.lastBodyTo(TO)).toBe('Code 123456 & call +1 555 if it was not you')
  })

  it.each(['https://twilio.example.test', 'https://twilio.example.test/'])('works with TWILIO_API_URL %s', async (apiUrl) => {
    const { fake, sms } = setup('accept', { apiUrl })
    await sms.send(TO, BODY)
    expect(fake.requests[0]!.url.href).toBe(`https://twilio.example.test/2010-04-01/Accounts/${SID}/Messages.json`)
  })

  it('keeps a path prefix on TWILIO_API_URL (a proxy in front of Twilio)', async () => {
    const { fake, sms } = setup('accept', { apiUrl: 'https://proxy.example.test/twilio' })
    await sms.send(TO, BODY)
    expect(fake.requests[0]!.url.href).toBe(`https://proxy.example.test/twilio/2010-04-01/Accounts/${SID}/Messages.json`)
  })

  it.each([
    [21211, 'invalid_number'],
    [21614, 'invalid_number'],
    [21610, 'opted_out'],
    [21408, 'region_blocked'],
    [21612, 'region_blocked'],
  ] as const)('Twilio error %i tells the user %s, with no secret or full number in the reason', async (code, kind) => {
    const { sms, lines } = setup({ fail: { code } })
    const err = await failure(sms.send(TO, BODY))

    expect(err.kind).toBe(kind)
    expect(err.reason).toMatch(new RegExp(`^twilio 400 code ${code}: `))
    expectNoSecrets(err, lines)
  })

  it('names the masked number in the reason when Twilio echoes it', async () => {
    const { sms } = setup({ fail: { code: 21211 } })
    const err = await failure(sms.send(TO, BODY))
    expect(err.reason).toBe("twilio 400 code 21211: The 'To' number +1201*****23 is not a valid phone number.")
  })

  it('bad credentials (20003) are rejected and warn the operator without the token', async () => {
    const { sms, lines } = setup({ fail: { code: 20003 } })
    const err = await failure(sms.send(TO, BODY))

    expect(err.kind).toBe('rejected')
    expect(err.reason).toBe('twilio 401 code 20003: Authenticate')
    expect(lines).toHaveLength(1)
    const line = JSON.parse(lines[0]!)
    expect(line).toMatchObject({ level: 'warn', provider: 'twilio', to: '+1201*****23', status: 401, code: 20003 })
    expectNoSecrets(err, lines)
  })

  it('an unknown 4xx code is rejected and warns the operator', async () => {
    const { sms, lines } = setup({ fail: { code: 21606, message: "The 'From' phone number provided is not a valid message-capable Twilio phone number." } })
    const err = await failure(sms.send(TO, BODY))
    expect(err.kind).toBe('rejected')
    expect(lines.map((l) => JSON.parse(l).level)).toEqual(['warn'])
  })

  it('never puts the auth token in the reason, even if Twilio echoes it', async () => {
    const { sms, lines } = setup({ fail: { code: 20003, message: `Bad credentials ${SID}:${TOKEN}` } })
    const err = await failure(sms.send(TO, BODY))
    expect(err.reason).toContain('[redacted]')
    expectNoSecrets(err, lines)
  })

  it.each<[string, TwilioBehaviour]>([
    ['500 error JSON', { fail: { code: 20500 } }],
    ['429 Too Many Requests', { fail: { code: 20429 } }],
    ['503 HTML page', { raw: { status: 503, body: '<html><body>Service Unavailable</body></html>' } }],
  ])('Twilio answering %s is reported as unavailable, without a warning', async (_, behaviour) => {
    const { sms, lines } = setup(behaviour)
    const err = await failure(sms.send(TO, BODY))
    expect(err.kind).toBe('unavailable')
    expect(lines).toEqual([])
  })

  it('a 4xx that is not JSON is rejected without crashing', async () => {
    const { sms } = setup({ raw: { status: 403, body: '<html>Forbidden</html>' } })
    const err = await failure(sms.send(TO, BODY))
    expect(err.kind).toBe('rejected')
    expect(err.reason).toBe('twilio 403: no Twilio error body')
  })

  it('a 2xx that is not a message resource is not reported as sent', async () => {
    const { sms } = setup({ raw: { status: 200, body: '<html>captive portal</html>' } })
    const err = await failure(sms.send(TO, BODY))
    expect(err.kind).toBe('unavailable')
  })

  it('gives up after timeoutMs when Twilio never answers', async () => {
    const { fake, sms, lines } = setup('hang', { timeoutMs: 200 })
    const started = performance.now()
    const err = await failure(sms.send(TO, BODY))

    expect(performance.now() - started).toBeLessThan(1500)
    expect(fake.requests).toHaveLength(1)
    expect(err.kind).toBe('unavailable')
    expect(err.reason).toBe('twilio unreachable: no answer within 200 ms')
    expectNoSecrets(err, lines)
  })

  it('a network failure is reported as unavailable', async () => {
    const { fake, sms, lines } = setup('network-error')
    const err = await failure(sms.send(TO, BODY))

    expect(fake.requests).toHaveLength(1)
    expect(err.kind).toBe('unavailable')
    expect(err.reason).toMatch(/^twilio unreachable: /)
    expectNoSecrets(err, lines)
  })
})
