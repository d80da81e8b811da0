import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { sql } from 'kysely'
import { setupServer } from 'msw/node'
import { describe, expect, it } from 'vitest'
import { SmsError, type SmsProvider } from '../../src/sms/provider.ts'
import { fakeTwilio } from '../msw/twilio.ts'
import { call, post, testApp, type TestApp } from '../support/app.ts'
import { useTestDatabase } from '../support/db.ts'

const PHONE = '+12015550123'
const REQUEST = '/api/auth/otp/request/'
const VERIFY = '/api/auth/otp/verify/'

const conn = useTestDatabase()

async function signIn(t: TestApp, phone = PHONE) {
  expect((await post(t.app, REQUEST, { phone_number: phone })).status).toBe(202)
  return post(t.app, VERIFY, { phone_number: phone, otp: t.sms.codeFor(phone) })
}

function expectProblem(res: { status: number; headers: Headers; body: any }, status: number, code: string) {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  expect(res.body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String), detail: expect.any(String) })
}

describe('POST /api/auth/otp/request/', () => {
  it('answers 202 with expiry and resend delay, and texts a 6-digit code to the E.164 number', async () => {
    const t = await testApp(conn)
    const res = await post(t.app, REQUEST, { phone_number: '+1 (201) 555-0123' })
    expect(res.status).toBe(202)
    expect(res.body).toEqual({ detail: expect.any(String), expires_in: 300, resend_after: 30 })
    expect(t.sms.sent).toHaveLength(1)
    expect(t.sms.last().to).toBe(PHONE)
    expect(t.sms.last().body).toMatch(/\b\d{6}\b/)
    expect(t.sms.last().body).toContain('NomiSafe')
  })

  it('serves the path with and without the trailing slash', async () => {
    const t = await testApp(conn, { env: { OTP_RESEND_COOLDOWN_SECONDS: '0' } })
    expect((await post(t.app, '/api/auth/otp/request', { phone_number: PHONE })).status).toBe(202)
    expect((await post(t.app, '/api/auth/otp/request/', { phone_number: PHONE })).status).toBe(202)
  })

  it.each(['+1 201 555 0123', '+1-201-555-0123', '+1.201.555.0123', '+1 (201) 555-0123', ' +12015550123 '])(
    'normalises %j to E.164',
    async (typed) => {
      const t = await testApp(conn)
      expect((await post(t.app, REQUEST, { phone_number: typed })).status).toBe(202)
      expect(t.sms.last().to).toBe(PHONE)
    },
  )

  it('reads a bare national number in DEFAULT_COUNTRY', async () => {
    const t = await testApp(conn, { env: { DEFAULT_COUNTRY: 'IN' } })
    expect((await post(t.app, REQUEST, { phone_number: '98765 43210' })).status).toBe(202)
    expect(t.sms.last().to).toBe('+919876543210')
  })

  it('refuses a bare national number when no default country is set', async () => {
    const t = await testApp(conn)
    expectProblem(await post(t.app, REQUEST, { phone_number: '(201) 555-0123' }), 400, 'invalid_phone_number')
    expect(t.sms.sent).toHaveLength(0)
  })

  it.each(['+1 555', '+999 1234 5678', 'call me maybe', '+1 201 555 0123 ext 5', '++12015550123', '+0000000000'])(
    'refuses %j with 400 invalid_phone_number and sends nothing',
    async (typed) => {
      const t = await testApp(conn)
      expectProblem(await post(t.app, REQUEST, { phone_number: typed }), 400, 'invalid_phone_number')
      expect(t.sms.sent).toHaveLength(0)
    },
  )

  it('refuses countries outside ALLOWED_COUNTRIES and inside DENIED_COUNTRIES', async () => {
    const allowUs = await testApp(conn, { env: { ALLOWED_COUNTRIES: 'US,CA' } })
    expectProblem(await post(allowUs.app, REQUEST, { phone_number: '+919876543210' }), 400, 'phone_number_not_allowed')
    expect((await post(allowUs.app, REQUEST, { phone_number: PHONE })).status).toBe(202)
    const denyIn = await testApp(conn, { env: { DENIED_COUNTRIES: 'in' } })
    expectProblem(await post(denyIn.app, REQUEST, { phone_number: '+919876543210' }), 400, 'phone_number_not_allowed')
    expect(allowUs.sms.sent.map((s) => s.to)).toEqual([PHONE])
    expect(denyIn.sms.sent).toHaveLength(0)
  })

  it('answers the same for a number with a user and one without', async () => {
    const t = await testApp(conn)
    expect((await signIn(t, PHONE)).status).toBe(200)
    t.clock.advance(60_000)
    const known = await post(t.app, REQUEST, { phone_number: PHONE })
    const unknown = await post(t.app, REQUEST, { phone_number: '+12015550188' })
    expect(known.status).toBe(202)
    expect(unknown.status).toBe(202)
    expect(known.body).toEqual(unknown.body)
  })

  it('answers 429 rate_limited with Retry-After inside the resend cooldown, and sends again after it', async () => {
    const t = await testApp(conn)
    expect((await post(t.app, REQUEST, { phone_number: PHONE })).status).toBe(202)
    t.clock.advance(12_000)
    const early = await post(t.app, REQUEST, { phone_number: PHONE })
    expectProblem(early, 429, 'rate_limited')
    expect(early.headers.get('retry-after')).toBe('18')
    expect(t.sms.sent).toHaveLength(1)
    t.clock.advance(18_000)
    expect((await post(t.app, REQUEST, { phone_number: PHONE })).status).toBe(202)
    expect(t.sms.sent).toHaveLength(2)
  })

  it('kills the earlier code when a new one is sent', async () => {
    const t = await testApp(conn)
    await post(t.app, REQUEST, { phone_number: PHONE })
    const first = t.sms.codeFor(PHONE)
    t.clock.advance(30_000)
    await post(t.app, REQUEST, { phone_number: PHONE })
    const second = t.sms.codeFor(PHONE)
    if (first !== second) expectProblem(await post(t.app, VERIFY, { phone_number: PHONE, otp: first }), 400, 'invalid_otp')
    expect((await post(t.app, VERIFY, { phone_number: PHONE, otp: second })).status).toBe(200)
  })

  it('ignores a stale or broken Authorization header', async () => {
    const t = await testApp(conn)
    const res = await post(t.app, REQUEST, { phone_number: PHONE }, { authorization: 'Bearer not.a.token' })
    expect(res.status).toBe(202)
  })

  describe('when the SMS provider fails', () => {
    /** Records what it was asked to send, then fails the way a real provider would. */
    function failingSms(kind: ConstructorParameters<typeof SmsError>[0]) {
      const bodies: string[] = []
      const sms: SmsProvider & { bodies: string[] } = {
        name: 'failing',
        bodies,
        async send(_to, body) {
          bodies.push(body)
          throw new SmsError(kind, 'twilio 401 code 20003: Authenticate (token tok-secret)')
        },
      }
      return sms
    }

    it.each([
      ['rejected', 502, 'sms_delivery_failed'],
      ['unavailable', 503, 'sms_delivery_failed'],
      ['invalid_number', 400, 'invalid_phone_number'],
      ['opted_out', 400, 'phone_number_opted_out'],
      ['region_blocked', 400, 'phone_number_not_allowed'],
    ] as const)('maps %s to %i %s without leaking the provider error', async (kind, status, code) => {
      const t = await testApp(conn, { sms: failingSms(kind) })
      const res = await post(t.app, REQUEST, { phone_number: PHONE })
      expectProblem(res, status, code)
      expect(JSON.stringify(res.body)).not.toMatch(/20003|tok-secret|twilio/i)
    })

    it('leaves no working code and no cooldown behind', async () => {
      const sms = failingSms('unavailable')
      const t = await testApp(conn, { sms })
      expect((await post(t.app, REQUEST, { phone_number: PHONE })).status).toBe(503)
      const undelivered = sms.bodies[0]!.match(/\d{6}/)![0]
      expectProblem(await post(t.app, VERIFY, { phone_number: PHONE, otp: undelivered }), 400, 'invalid_otp')
      const again = await testApp(conn, { clock: t.clock })
      expect((await post(again.app, REQUEST, { phone_number: PHONE })).status).toBe(202)
    })
  })

  describe('bad bodies', () => {
    it.each([
      ['not JSON', 'phone_number=+12015550123'],
      ['a JSON array', '[]'],
      ['JSON null', 'null'],
      ['an empty body', ''],
    ])('answers 400 invalid_request for %s', async (_name, raw) => {
      const t = await testApp(conn)
      expectProblem(await post(t.app, REQUEST, raw), 400, 'invalid_request')
      expect(t.sms.sent).toHaveLength(0)
    })

    it('names a missing or mistyped field', async () => {
      const t = await testApp(conn)
      const missing = await post(t.app, REQUEST, { phone: PHONE })
      expectProblem(missing, 400, 'invalid_request')
      expect(missing.body.invalid_params).toEqual([{ name: 'phone_number', reason: expect.any(String) }])
      const mistyped = await post(t.app, VERIFY, { phone_number: PHONE, otp: 123456 })
      expectProblem(mistyped, 400, 'invalid_request')
      expect(mistyped.body.invalid_params.map((p: { name: string }) => p.name)).toEqual(['otp'])
    })

    it('answers 400 invalid_request for a body that is not UTF-8, and reads the next one as before', async () => {
      const t = await testApp(conn)
      const broken = await t.app.request(REQUEST, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: new Uint8Array([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x7d]),
      })
      expect(broken.status).toBe(400)
      expect((await broken.json()).detail).toMatch(/UTF-8/)
      expect((await post(t.app, REQUEST, { phone_number: PHONE, note: 'café ☕' })).status).toBe(202)
      expect(t.sms.sent).toHaveLength(1)
    })

    it('answers 413 invalid_request for a body over 16 KiB', async () => {
      const t = await testApp(conn)
      const res = await post(t.app, REQUEST, { phone_number: PHONE, padding: 'x'.repeat(20_000) })
      expectProblem(res, 413, 'invalid_request')
      expect(t.sms.sent).toHaveLength(0)
    })

    it('answers unknown paths with 404 problem+json', async () => {
      const t = await testApp(conn)
      expectProblem(await call(t.app, 'GET', '/api/auth/nothing-here/'), 404, 'not_found')
    })
  })

  it('sends through Twilio in its documented form when SMS_PROVIDER=twilio', async () => {
    const twilio = fakeTwilio('accept', { apiUrl: 'https://twilio.test' })
    const server = setupServer(twilio.handler)
    server.listen({ onUnhandledFrame: 'error' })
    try {
      const { createSmsProvider } = await import('../../src/sms/index.ts')
      const { loadConfig } = await import('../../src/config.ts')
      const { silentLogger } = await import('../../src/log.ts')
      const env = {
        SMS_PROVIDER: 'twilio',
        TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
        TWILIO_AUTH_TOKEN: 'secret-token',
        TWILIO_FROM_NUMBER: '+15005550006',
        TWILIO_API_URL: 'https://twilio.test',
      }
      const sms = createSmsProvider(loadConfig(env).sms, silentLogger, () => {})
      const t = await testApp(conn, { env, sms })
      expect((await post(t.app, REQUEST, { phone_number: '201.555.0123', country: 'ignored' })).status).toBe(400)
      expect((await post(t.app, REQUEST, { phone_number: '+1 201-555-0123' })).status).toBe(202)
      expect(twilio.requests).toHaveLength(1)
      expect(twilio.requests[0]!.form.To).toBe(PHONE)
      const code = twilio.lastBodyTo(PHONE).match(/\d{6}/)![0]
      expect((await post(t.app, VERIFY, { phone_number: PHONE, otp: code })).status).toBe(200)
    } finally {
      server.close()
    }
  })
})

describe('POST /api/auth/otp/verify/', () => {
  it('answers 200 with the user id, E.164 number and a Bearer token pair', async () => {
    const t = await testApp(conn)
    const res = await signIn(t)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      id: expect.any(Number),
      phone_number: PHONE,
      access: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      refresh: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      token_type: 'Bearer',
      expires_in: 3600,
      created: true,
    })
    expect(Number.isInteger(res.body.id) && res.body.id > 0).toBe(true)
    expect(Number.parseInt(String(res.body.id), 10)).toBe(res.body.id)
  })

  it('signs tokens with EdDSA under a kid published in the JWKS, with the documented claims', async () => {
    const t = await testApp(conn)
    const { body } = await signIn(t)
    const jwks = await call(t.app, 'GET', '/.well-known/jwks.json')
    expect(jwks.status).toBe(200)
    const header = decodeProtectedHeader(body.access)
    expect(header).toEqual({ alg: 'EdDSA', kid: expect.any(String), typ: 'JWT' })
    expect(jwks.body.keys).toContainEqual({ kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid: header.kid, alg: 'EdDSA', use: 'sig' })
    const keySet = createLocalJWKSet(jwks.body)
    const opts = { issuer: 'nomisafe-auth', audience: 'nomisafe', currentDate: t.clock.now() }
    const access = (await jwtVerify(body.access, keySet, opts)).payload
    expect(access).toEqual({
      iss: 'nomisafe-auth',
      aud: 'nomisafe',
      sub: String(body.id),
      phone_number: PHONE,
      iat: t.clock.now().getTime() / 1000,
      exp: t.clock.now().getTime() / 1000 + 3600,
      jti: expect.any(String),
      token_type: 'access',
    })
    const refresh = (await jwtVerify(body.refresh, keySet, opts)).payload
    expect(refresh).toEqual({
      iss: 'nomisafe-auth',
      aud: 'nomisafe',
      sub: String(body.id),
      iat: expect.any(Number),
      exp: t.clock.now().getTime() / 1000 + 30 * 86400,
      jti: expect.any(String),
      sid: expect.any(String),
      token_type: 'refresh',
    })
  })

  it('keeps the same user id on the next sign-in, with created false', async () => {
    const t = await testApp(conn)
    const first = await signIn(t)
    t.clock.advance(31_000)
    const second = await signIn(t)
    expect(second.status).toBe(200)
    expect(second.body.id).toBe(first.body.id)
    expect(second.body.created).toBe(false)
  })

  it('accepts the number in any form the request accepts', async () => {
    const t = await testApp(conn, { env: { DEFAULT_COUNTRY: 'US' } })
    await post(t.app, REQUEST, { phone_number: '(201) 555-0123' })
    const res = await post(t.app, VERIFY, { phone_number: '201.555.0123', otp: t.sms.codeFor(PHONE) })
    expect(res.status).toBe(200)
    expect(res.body.phone_number).toBe(PHONE)
  })

  it('serves the path with and without the trailing slash', async () => {
    const t = await testApp(conn)
    await post(t.app, REQUEST, { phone_number: PHONE })
    const res = await post(t.app, '/api/auth/otp/verify', { phone_number: PHONE, otp: t.sms.codeFor(PHONE) })
    expect(res.status).toBe(200)
  })

  it('ignores a stale Authorization header', async () => {
    const t = await testApp(conn)
    await post(t.app, REQUEST, { phone_number: PHONE })
    const res = await post(t.app, VERIFY, { phone_number: PHONE, otp: t.sms.codeFor(PHONE) }, { authorization: 'Bearer eyJ.stale.token' })
    expect(res.status).toBe(200)
  })

  it('never accepts a code twice', async () => {
    const t = await testApp(conn)
    await post(t.app, REQUEST, { phone_number: PHONE })
    const code = t.sms.codeFor(PHONE)
    expect((await post(t.app, VERIFY, { phone_number: PHONE, otp: code })).status).toBe(200)
    expectProblem(await post(t.app, VERIFY, { phone_number: PHONE, otp: code }), 400, 'invalid_otp')
  })

  it('gives one answer for a wrong, an expired, a used and a never-sent code', async () => {
    const t = await testApp(conn)
    await post(t.app, REQUEST, { phone_number: PHONE })
    const code = t.sms.codeFor(PHONE)
    const wrongCode = code === '000000' ? '000001' : '000000'
    const wrong = await post(t.app, VERIFY, { phone_number: PHONE, otp: wrongCode })
    const neverSent = await post(t.app, VERIFY, { phone_number: '+12015550177', otp: code })
    const malformed = await post(t.app, VERIFY, { phone_number: PHONE, otp: '12ab56' })
    t.clock.advance(301_000)
    const expired = await post(t.app, VERIFY, { phone_number: PHONE, otp: code })
    for (const res of [wrong, neverSent, malformed, expired]) {
      expectProblem(res, 400, 'invalid_otp')
      expect(res.body).toEqual(wrong.body)
    }
  })

  it('accepts the right code on the last attempt of its budget', async () => {
    const t = await testApp(conn)
    await post(t.app, REQUEST, { phone_number: PHONE })
    const code = t.sms.codeFor(PHONE)
    const wrongCode = code === '999999' ? '999998' : '999999'
    for (let i = 0; i < 4; i++) expect((await post(t.app, VERIFY, { phone_number: PHONE, otp: wrongCode })).status).toBe(400)
    expect((await post(t.app, VERIFY, { phone_number: PHONE, otp: code })).status).toBe(200)
  })

  it('kills the code with 429 too_many_attempts when the attempt budget is spent', async () => {
    const t = await testApp(conn)
    await post(t.app, REQUEST, { phone_number: PHONE })
    const code = t.sms.codeFor(PHONE)
    const wrongCode = code === '999999' ? '999998' : '999999'
    for (let i = 0; i < 4; i++) expectProblem(await post(t.app, VERIFY, { phone_number: PHONE, otp: wrongCode }), 400, 'invalid_otp')
    t.clock.advance(5_000)
    const spent = await post(t.app, VERIFY, { phone_number: PHONE, otp: wrongCode })
    expectProblem(spent, 429, 'too_many_attempts')
    expect(spent.headers.get('retry-after')).toBe('25')
    const dead = await post(t.app, VERIFY, { phone_number: PHONE, otp: code })
    expectProblem(dead, 429, 'too_many_attempts')
    expect(Number(dead.headers.get('retry-after'))).toBeGreaterThan(0)
    t.clock.advance(25_000)
    await post(t.app, REQUEST, { phone_number: PHONE })
    expect((await post(t.app, VERIFY, { phone_number: PHONE, otp: t.sms.codeFor(PHONE) })).status).toBe(200)
  })

  it('answers 403 account_disabled for a disabled user', async () => {
    const t = await testApp(conn)
    expect((await signIn(t)).status).toBe(200)
    await sql`update users set disabled_at = now() where phone_number = ${PHONE}`.execute(conn.db)
    t.clock.advance(31_000)
    expectProblem(await signIn(t), 403, 'account_disabled')
  })

  it('honours OTP_LENGTH, OTP_TTL_SECONDS and ACCESS_TOKEN_TTL_SECONDS', async () => {
    const t = await testApp(conn, { env: { OTP_LENGTH: '8', OTP_TTL_SECONDS: '120', ACCESS_TOKEN_TTL_SECONDS: '900' } })
    const req = await post(t.app, REQUEST, { phone_number: PHONE })
    expect(req.body.expires_in).toBe(120)
    const code = t.sms.codeFor(PHONE)
    expect(code).toMatch(/^\d{8}$/)
    expect(t.sms.last().body).toContain('2 minutes')
    const res = await post(t.app, VERIFY, { phone_number: PHONE, otp: code })
    expect(res.body.expires_in).toBe(900)
  })
})
