import { http, passthrough } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { TwilioConfig } from '../../src/config.ts'
import { createLogger } from '../../src/log.ts'
import { SmsError } from '../../src/sms/provider.ts'
import { createTwilioProvider } from '../../src/sms/twilio.ts'
import { closedPortUrl } from '../msw/closed-port.ts'
import { fakeTwilio, type TwilioBehaviour } from '../msw/twilio.ts'

const SID = 'AC0123456789abcdef0123456789abcdef'
const TOKEN = 'tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0'
const SERVICE = 'MG0123456789abcdef0123456789abcdef'
const TO = '+12015550123'
const US = { country: 'US' }
const BODY = 'Your NomiSafe code is 123456. It expires in 5 minutes.'

const config = (over: Partial<TwilioConfig> = {}): TwilioConfig => ({
  accountSid: SID,
  authToken: TOKEN,
  sender: { from: '+15005550006' },
  senders: {},
  apiUrl: 'https://api.twilio.com',
  timeoutMs: 2000,
  retryDelayMs: 20,
  ...over,
})

const server = setupServer()
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

function setup(behaviour?: TwilioBehaviour | TwilioBehaviour[], over: Partial<TwilioConfig> = {}) {
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
  it('does not follow a redirect: the code and the credentials go nowhere else', async () => {
    const elsewhere: Request[] = []
    server.use(
      http.post('https://api.twilio.com/*', () => new Response(null, { status: 307, headers: { location: 'https://elsewhere.example.test/steal' } })),
      http.all('https://elsewhere.example.test/*', ({ request }) => {
        elsewhere.push(request)
        return Response.json({ sid: 'SM0' })
      }),
    )
    const sms = createTwilioProvider(config(), createLogger('error', () => {}))
    const err = await failure(sms.send(TO, BODY, US))
    expect(err.reason).toBe('twilio 307: no Twilio error body')
    expect(elsewhere).toEqual([])
  })

  it('sends the SMS form-encoded to the account Messages endpoint and returns the message sid', async () => {
    const { fake, sms } = setup()
    const { id } = await sms.send(TO, BODY, US)

    expect(id).toMatch(/^SM[0-9a-f]{32}$/)
    expect(fake.requests).toHaveLength(1)
    const req = fake.requests[0]!
    expect(req.method).toBe('POST')
    expect(req.url.href).toBe(`https://api.twilio.com/2010-04-01/Accounts/${SID}/Messages.json`)
    expect(req.headers.get('authorization')).toBe(`Basic ${Buffer.from(`${SID}:${TOKEN}`).toString('base64')}`)
    expect(req.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded/)
    expect(req.form).toEqual({ To: TO, From: '+15005550006', Body: BODY })
    expect(req.text).toMatch(/^To=%2B12015550123&From=%2B15005550006&Body=Your\+NomiSafe\+code/)
    expect(fake.lastBodyTo(TO)).toBe(BODY)
  })

  it('keeps a "+" and "&" and a line break in the text intact', async () => {
    const { fake, sms } = setup()
    await sms.send(TO, 'Code 123456 & call +1 555 if it was not you\n@example.com #123456', US)
    expect(fake.lastBodyTo(TO)).toBe('Code 123456 & call +1 555 if it was not you\n@example.com #123456')
  })

  it.each(['https://twilio.example.test', 'https://twilio.example.test/'])('works with TWILIO_API_URL %s', async (apiUrl) => {
    const { fake, sms } = setup('accept', { apiUrl })
    await sms.send(TO, BODY, US)
    expect(fake.requests[0]!.url.href).toBe(`https://twilio.example.test/2010-04-01/Accounts/${SID}/Messages.json`)
  })

  it('keeps a path prefix on TWILIO_API_URL (a proxy in front of Twilio)', async () => {
    const { fake, sms } = setup('accept', { apiUrl: 'https://proxy.example.test/twilio' })
    await sms.send(TO, BODY, US)
    expect(fake.requests[0]!.url.href).toBe(`https://proxy.example.test/twilio/2010-04-01/Accounts/${SID}/Messages.json`)
  })

  describe('senders', () => {
    it('sends MessagingServiceSid, and no From, with TWILIO_MESSAGING_SERVICE_SID', async () => {
      const { fake, sms } = setup('accept', { sender: { messagingServiceSid: SERVICE } })
      await sms.send(TO, BODY, US)
      expect(fake.requests[0]!.form).toEqual({ To: TO, MessagingServiceSid: SERVICE, Body: BODY })
      expect(fake.messages[0]).toMatchObject({ from: undefined, messagingServiceSid: SERVICE })
    })

    it("uses the destination country's sender from TWILIO_SENDERS, and the default elsewhere", async () => {
      const { fake, sms } = setup('accept', {
        senders: { GB: { from: 'NomiSafe' }, US: { from: '+12015550100' }, DE: { messagingServiceSid: SERVICE } },
      })
      await sms.send('+447911123456', BODY, { country: 'GB' })
      await sms.send(TO, BODY, US)
      await sms.send('+4915112345678', BODY, { country: 'DE' })
      await sms.send('+33612345678', BODY, { country: 'FR' })
      expect(fake.requests.map((r) => r.form)).toEqual([
        { To: '+447911123456', From: 'NomiSafe', Body: BODY },
        { To: TO, From: '+12015550100', Body: BODY },
        { To: '+4915112345678', MessagingServiceSid: SERVICE, Body: BODY },
        { To: '+33612345678', From: '+15005550006', Body: BODY },
      ])
    })
  })

  describe('error mapping', () => {
    it.each([
      [21211, 'invalid_number'],
      [21614, 'invalid_number'],
      [21610, 'opted_out'],
      [21408, 'region_blocked'],
      [21612, 'region_blocked'],
    ] as const)('Twilio error %i tells the user %s, once, with no secret or full number in the reason', async (code, kind) => {
      const { fake, sms, lines } = setup({ fail: { code } })
      const err = await failure(sms.send(TO, BODY, US))

      expect(err.kind).toBe(kind)
      expect(err.reason).toMatch(new RegExp(`^twilio 400 code ${code}: `))
      expect(fake.requests).toHaveLength(1)
      expect(lines).toEqual([])
      expectNoSecrets(err, lines)
    })

    it('names the masked number in the reason when Twilio echoes it', async () => {
      const { sms } = setup({ fail: { code: 21211 } })
      const err = await failure(sms.send(TO, BODY, US))
      expect(err.reason).toBe("twilio 400 code 21211: The 'To' number +1201*****23 is not a valid phone number.")
    })

    it('bad credentials (20003) are rejected, not retried, and warn the operator without the token', async () => {
      const { fake, sms, lines } = setup({ fail: { code: 20003 } })
      const err = await failure(sms.send(TO, BODY, US))

      expect(err.kind).toBe('rejected')
      expect(err.reason).toBe('twilio 401 code 20003: Authenticate')
      expect(fake.requests).toHaveLength(1)
      expect(lines).toHaveLength(1)
      const line = JSON.parse(lines[0]!)
      expect(line).toMatchObject({ level: 'warn', provider: 'twilio', to: '+1201*****23', status: 401, code: 20003 })
      expect(line.msg).toMatch(/check the account and settings/)
      expectNoSecrets(err, lines)
    })

    it('an unknown 4xx code is rejected and warns the operator', async () => {
      const { sms, lines } = setup({ fail: { code: 21606, message: "The 'From' phone number provided is not a valid message-capable Twilio phone number." } })
      const err = await failure(sms.send(TO, BODY, US))
      expect(err.kind).toBe('rejected')
      expect(lines.map((l) => JSON.parse(l).level)).toEqual(['warn'])
    })

    it('never puts the auth token in the reason, even if Twilio echoes it', async () => {
      const { sms, lines } = setup({ fail: { code: 20003, message: `Bad credentials ${SID}:${TOKEN}` } })
      const err = await failure(sms.send(TO, BODY, US))
      expect(err.reason).toContain('[redacted]')
      expectNoSecrets(err, lines)
    })

    it('a 4xx that is not JSON is rejected without crashing', async () => {
      const { sms } = setup({ raw: { status: 403, body: '<html>Forbidden</html>' } })
      const err = await failure(sms.send(TO, BODY, US))
      expect(err.kind).toBe('rejected')
      expect(err.reason).toBe('twilio 403: no Twilio error body')
    })

    it('a 2xx that is not a message resource is not reported as sent, nor retried', async () => {
      const { fake, sms } = setup({ raw: { status: 200, body: '<html>captive portal</html>' } })
      const err = await failure(sms.send(TO, BODY, US))
      expect(err.kind).toBe('unavailable')
      expect(fake.requests).toHaveLength(1)
    })
  })

  describe('the one retry: only when the message surely was not accepted', () => {
    it.each<[string, TwilioBehaviour]>([
      ['503', { fail: { code: 20503 } }],
      ['429', { fail: { code: 20429 } }],
    ])('retries once after a %s and delivers', async (_, first) => {
      const { fake, sms, lines } = setup([first, 'accept'])
      const { id } = await sms.send(TO, BODY, US)

      expect(id).toBe(fake.messages[0]!.sid)
      expect(fake.requests).toHaveLength(2)
      expect(fake.requests[1]!.text).toBe(fake.requests[0]!.text)
      expect(fake.messages).toHaveLength(1)
      expect(lines.map((l) => JSON.parse(l))).toMatchObject([{ level: 'info', msg: expect.stringMatching(/retrying once/), to: '+1201*****23' }])
    })

    it.each<[string, TwilioBehaviour]>([
      ['503', { fail: { code: 20503 } }],
      ['429', { fail: { code: 20429 } }],
      ['503 HTML page', { raw: { status: 503, body: '<html><body>Service Unavailable</body></html>' } }],
    ])('answers unavailable after exactly one retry when Twilio keeps answering %s', async (_, behaviour) => {
      const { fake, sms, lines } = setup(behaviour)
      const err = await failure(sms.send(TO, BODY, US))

      expect(err.kind).toBe('unavailable')
      expect(err.reason).toMatch(/\(after a retry\)$/)
      expect(fake.requests).toHaveLength(2)
      expect(lines.map((l) => JSON.parse(l).level)).toEqual(['info'])
      expectNoSecrets(err, lines)
    })

    it('waits 250 ms by default before the retry', async () => {
      const { fake, sms } = setup([{ fail: { code: 20503 } }, 'accept'], { retryDelayMs: 250 })
      const started = performance.now()
      await sms.send(TO, BODY, US)
      expect(performance.now() - started).toBeGreaterThanOrEqual(240)
      expect(fake.requests).toHaveLength(2)
    })

    it('honours a short Retry-After (up to 1 s) before the retry', async () => {
      const { fake, sms } = setup([{ fail: { code: 20429, retryAfter: '1' } }, 'accept'])
      const started = performance.now()
      await sms.send(TO, BODY, US)
      expect(performance.now() - started).toBeGreaterThanOrEqual(950)
      expect(fake.requests).toHaveLength(2)
    })

    it('does not retry when Retry-After asks for longer than 1 s', async () => {
      const { fake, sms } = setup({ fail: { code: 20429, retryAfter: '30' } })
      const err = await failure(sms.send(TO, BODY, US))
      expect(err.kind).toBe('unavailable')
      expect(fake.requests).toHaveLength(1)
    })

    it.each<[string, TwilioBehaviour]>([
      ['500 error JSON', { fail: { code: 20500 } }],
      ['502 HTML page', { raw: { status: 502, body: '<html>Bad Gateway</html>' } }],
      ['504 HTML page', { raw: { status: 504, body: '<html>Gateway Timeout</html>' } }],
    ])('a %s may come after Twilio took the message: unavailable, no retry, no warning', async (_, behaviour) => {
      const { fake, sms, lines } = setup(behaviour)
      const err = await failure(sms.send(TO, BODY, US))
      expect(err.kind).toBe('unavailable')
      expect(fake.requests).toHaveLength(1)
      expect(lines).toEqual([])
    })

    it('gives up after timeoutMs when Twilio never answers, without a retry', async () => {
      const { fake, sms, lines } = setup('hang', { timeoutMs: 200 })
      const started = performance.now()
      const err = await failure(sms.send(TO, BODY, US))

      expect(performance.now() - started).toBeLessThan(1500)
      expect(fake.requests).toHaveLength(1)
      expect(err.kind).toBe('unavailable')
      expect(err.reason).toBe('twilio unreachable: no answer within 200 ms')
      expectNoSecrets(err, lines)
    })

    it('does not retry a timeout after Twilio took the message: the code is never texted twice', async () => {
      const { fake, sms } = setup('accept-then-hang', { timeoutMs: 200 })
      const err = await failure(sms.send(TO, BODY, US))
      expect(err.kind).toBe('unavailable')
      expect(fake.requests).toHaveLength(1)
      expect(fake.messages).toHaveLength(1)
    })

    it('does not retry a connection that broke mid-request', async () => {
      const { fake, sms, lines } = setup('network-error')
      const err = await failure(sms.send(TO, BODY, US))

      expect(fake.requests).toHaveLength(1)
      expect(err.kind).toBe('unavailable')
      expect(err.reason).toMatch(/^twilio unreachable: /)
      expectNoSecrets(err, lines)
    })

    it('retries once when the connection was refused before anything was sent', async () => {
      const apiUrl = await closedPortUrl()
      let attempts = 0
      server.use(http.post(`${apiUrl}/*`, () => (attempts++, passthrough())))
      const lines: string[] = []
      const sms = createTwilioProvider(config({ apiUrl }), createLogger('debug', (line) => lines.push(line)))
      const err = await failure(sms.send(TO, BODY, US))

      expect(attempts).toBe(2)
      expect(err.kind).toBe('unavailable')
      expect(err.reason).toMatch(/^twilio unreachable: .*ECONNREFUSED.*\(after a retry\)$/)
      expectNoSecrets(err, lines)
    })

    it('keeps the retry inside the timeout budget: one SMS_TIMEOUT_MS for both tries', async () => {
      const { fake, sms } = setup([{ fail: { code: 20503 } }, 'hang'], { timeoutMs: 300 })
      const started = performance.now()
      const err = await failure(sms.send(TO, BODY, US))

      expect(performance.now() - started).toBeLessThan(900)
      expect(fake.requests).toHaveLength(2)
      expect(err.kind).toBe('unavailable')
      expect(err.reason).toBe('twilio unreachable: no answer within 300 ms (after a retry)')
    })

    it('skips the retry when its wait would outlast the timeout budget', async () => {
      const { fake, sms } = setup([{ fail: { code: 20503 } }, 'accept'], { timeoutMs: 200, retryDelayMs: 500 })
      const started = performance.now()
      const err = await failure(sms.send(TO, BODY, US))

      expect(performance.now() - started).toBeLessThan(450)
      expect(fake.requests).toHaveLength(1)
      expect(err.reason).toBe('twilio 503 code 20503: Service Unavailable')
    })
  })
})
