import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto'
import { base64url, decodeJwt, decodeProtectedHeader, SignJWT } from 'jose'
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { rotateSigningKey } from '../../src/auth/key-store.ts'
import { call, post, testApp, type TestApp } from '../support/app.ts'
import { useTestDatabase } from '../support/db.ts'

const PHONE = '+12015550123'
const REFRESH = '/api/auth/token/refresh/'
const LOGOUT = '/api/auth/logout/'
const ME = '/api/auth/me/'

const conn = useTestDatabase()

async function signIn(t: TestApp, phone = PHONE) {
  await post(t.app, '/api/auth/otp/request/', { phone_number: phone })
  const res = await post(t.app, '/api/auth/otp/verify/', { phone_number: phone, otp: t.sms.codeFor(phone) })
  expect(res.status).toBe(200)
  return res.body as { id: number; access: string; refresh: string }
}

const me = (t: TestApp, access: string) => call(t.app, 'GET', ME, undefined, { authorization: `Bearer ${access}` })
const refresh = (t: TestApp, token: string) => post(t.app, REFRESH, { refresh: token })

function expectInvalidToken(res: { status: number; headers: Headers; body: any }) {
  expect(res.status).toBe(401)
  expect(res.body.code).toBe('invalid_token')
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/)
}

describe('POST /api/auth/token/refresh/', () => {
  it('answers a new pair and the presented token stops working', async () => {
    const t = await testApp(conn, { env: { REFRESH_REUSE_GRACE: '0' } })
    const first = await signIn(t)
    t.clock.advance(60_000)
    const res = await refresh(t, first.refresh)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ access: expect.any(String), refresh: expect.any(String), token_type: 'Bearer', expires_in: 3600 })
    expect(res.body.refresh).not.toBe(first.refresh)
    expect(decodeJwt(res.body.refresh).sid).toBe(decodeJwt(first.refresh).sid)
    expect(decodeJwt(res.body.access)).toMatchObject({ sub: String(first.id), phone_number: PHONE, token_type: 'access' })
    expect((await me(t, res.body.access)).status).toBe(200)
    // The next link of the chain works too.
    expect((await refresh(t, res.body.refresh)).status).toBe(200)
  })

  it('is served without the trailing slash too', async () => {
    const t = await testApp(conn)
    const first = await signIn(t)
    expect((await post(t.app, '/api/auth/token/refresh', { refresh: first.refresh })).status).toBe(200)
  })

  it('ends the whole session when a rotated-away token is replayed after the grace window', async () => {
    const t = await testApp(conn)
    const first = await signIn(t)
    const second = (await refresh(t, first.refresh)).body
    t.clock.advance(11_000)
    expectInvalidToken(await refresh(t, first.refresh))
    // Every token descended from that sign-in is dead now, the newest included.
    expectInvalidToken(await refresh(t, second.refresh))
    const row = await conn.db.selectFrom('sessions').select('revoked_reason').executeTakeFirstOrThrow()
    expect(row.revoked_reason).toBe('reuse')
  })

  it('answers a replay inside the grace window with the newest refresh token, so the chain never forks', async () => {
    const t = await testApp(conn)
    const first = await signIn(t)
    const winner = (await refresh(t, first.refresh)).body
    t.clock.advance(9_000)
    const replay = await refresh(t, first.refresh)
    expect(replay.status).toBe(200)
    expect(replay.body.refresh).toBe(winner.refresh)
    expect(decodeJwt(replay.body.access).sub).toBe(String(first.id))
    t.clock.advance(60_000)
    const next = await refresh(t, winner.refresh)
    expect(next.status).toBe(200)
    expect((await me(t, next.body.access)).status).toBe(200)
  })

  it('treats an older token than the previous one as theft even inside the grace window', async () => {
    const t = await testApp(conn)
    const first = await signIn(t)
    const second = (await refresh(t, first.refresh)).body
    const third = (await refresh(t, second.refresh)).body
    expectInvalidToken(await refresh(t, first.refresh))
    expectInvalidToken(await refresh(t, third.refresh))
  })

  it('with REFRESH_REUSE_GRACE=0 any replay ends the session', async () => {
    const t = await testApp(conn, { env: { REFRESH_REUSE_GRACE: '0' } })
    const first = await signIn(t)
    const second = (await refresh(t, first.refresh)).body
    expectInvalidToken(await refresh(t, first.refresh))
    expectInvalidToken(await refresh(t, second.refresh))
  })

  it('refuses an access token, garbage, and a missing field', async () => {
    const t = await testApp(conn)
    const first = await signIn(t)
    expectInvalidToken(await refresh(t, first.access))
    expectInvalidToken(await refresh(t, 'not-a-jwt'))
    const missing = await post(t.app, REFRESH, {})
    expect(missing.status).toBe(400)
    expect(missing.body.code).toBe('invalid_request')
  })

  it('refuses an expired refresh token', async () => {
    const t = await testApp(conn, { env: { REFRESH_TOKEN_TTL_SECONDS: '600' } })
    const first = await signIn(t)
    t.clock.advance(601_000 + 30_000)
    expectInvalidToken(await refresh(t, first.refresh))
  })

  it('refuses a disabled user with 403 account_disabled', async () => {
    const t = await testApp(conn)
    const first = await signIn(t)
    await sql`update users set disabled_at = now()`.execute(conn.db)
    const res = await refresh(t, first.refresh)
    expect(res.status).toBe(403)
    expect(res.body.code).toBe('account_disabled')
  })
})

describe('POST /api/auth/logout/', () => {
  it('answers 204 and ends that session only', async () => {
    const t = await testApp(conn, { env: { OTP_RESEND_COOLDOWN_SECONDS: '0' } })
    const phone1 = await signIn(t)
    const phone2 = await signIn(t)
    const res = await post(t.app, LOGOUT, { refresh: phone1.refresh })
    expect(res.status).toBe(204)
    expect(res.body).toBeUndefined()
    expectInvalidToken(await refresh(t, phone1.refresh))
    expect((await refresh(t, phone2.refresh)).status).toBe(200)
    expect((await post(t.app, '/api/auth/logout', { refresh: phone1.refresh })).status).toBe(204)
  })

  it('with all: true and a Bearer access token ends every session of the user', async () => {
    const t = await testApp(conn, { env: { OTP_RESEND_COOLDOWN_SECONDS: '0' } })
    const a = await signIn(t)
    const b = await signIn(t)
    const other = await signIn(t, '+12015550124')
    const res = await post(t.app, LOGOUT, { all: true }, { authorization: `Bearer ${a.access}` })
    expect(res.status).toBe(204)
    expectInvalidToken(await refresh(t, a.refresh))
    expectInvalidToken(await refresh(t, b.refresh))
    expect((await refresh(t, other.refresh)).status).toBe(200)
  })

  it('with all: true refuses a missing or refresh-type Bearer token with 401', async () => {
    const t = await testApp(conn)
    const a = await signIn(t)
    expectInvalidToken(await post(t.app, LOGOUT, { all: true }))
    expectInvalidToken(await post(t.app, LOGOUT, { all: true }, { authorization: `Bearer ${a.refresh}` }))
    expect((await refresh(t, a.refresh)).status).toBe(200)
  })

  it('answers 400 invalid_request for a body with neither refresh nor all', async () => {
    const t = await testApp(conn)
    const res = await post(t.app, LOGOUT, {})
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('invalid_request')
    expect(res.body.invalid_params[0].name).toBe('refresh')
  })
})

describe('GET /api/auth/me/', () => {
  it('answers the signed-in user', async () => {
    const t = await testApp(conn)
    const s = await signIn(t)
    const res = await me(t, s.access)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      id: s.id,
      phone_number: PHONE,
      created_at: '2026-01-01T00:00:00.000Z',
      last_login_at: '2026-01-01T00:00:00.000Z',
    })
    expect((await call(t.app, 'GET', '/api/auth/me', undefined, { authorization: `bearer ${s.access}` })).status).toBe(200)
  })

  it('refuses no token, a malformed one, an expired one and a refresh token, with WWW-Authenticate', async () => {
    const t = await testApp(conn)
    const s = await signIn(t)
    expectInvalidToken(await call(t.app, 'GET', ME))
    expectInvalidToken(await call(t.app, 'GET', ME, undefined, { authorization: s.access }))
    expectInvalidToken(await call(t.app, 'GET', ME, undefined, { authorization: 'Basic dXNlcjpwdw==' }))
    expectInvalidToken(await me(t, s.refresh))
    t.clock.advance(3600_000 + 31_000)
    expectInvalidToken(await me(t, s.access))
  })

  it('refuses a disabled user with 403 and a deleted one with 401', async () => {
    const t = await testApp(conn)
    const s = await signIn(t)
    await sql`update users set disabled_at = now()`.execute(conn.db)
    expect((await me(t, s.access)).status).toBe(403)
    await sql`delete from users`.execute(conn.db)
    expectInvalidToken(await me(t, s.access))
  })
})

describe('tokens under attack', () => {
  async function forge(t: TestApp, s: { access: string }) {
    const claims = decodeJwt(s.access)
    const kid = decodeProtectedHeader(s.access).kid!
    const [h, p, sig] = s.access.split('.') as [string, string, string]
    const jwks = (await call(t.app, 'GET', '/.well-known/jwks.json')).body
    const publicX = jwks.keys.find((k: { kid: string }) => k.kid === kid).x
    const enc = (o: object) => base64url.encode(JSON.stringify(o))
    const flipped = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11)
    const other = generateKeyPairSync('ed25519').privateKey
    const signWith = (payload: object, key = other, headerKid = 'unknown-kid') =>
      new SignJWT(payload as never).setProtectedHeader({ alg: 'EdDSA', kid: headerKid, typ: 'JWT' }).sign(key)
    return {
      'alg none': `${enc({ alg: 'none', typ: 'JWT', kid })}.${p}.`,
      'HS256 signed with the public key': await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', kid, typ: 'JWT' })
        .sign(new TextEncoder().encode(publicX)),
      'a flipped signature byte': `${h}.${p}.${flipped}`,
      'an unknown kid': await signWith(claims),
      'a foreign key under our kid': await signWith(claims, other, kid),
      'a wrong issuer': await signWith({ ...claims, iss: 'evil' }, other, kid),
      'a tampered payload': `${h}.${enc({ ...claims, sub: '999' })}.${sig}`,
    }
  }

  it('refuses every forged or altered access token with 401 invalid_token', async () => {
    const t = await testApp(conn)
    const s = await signIn(t)
    for (const [name, token] of Object.entries(await forge(t, s))) {
      const res = await me(t, token)
      expect(res.status, name).toBe(401)
      expect(res.body.code, name).toBe('invalid_token')
    }
    expect((await me(t, s.access)).status).toBe(200)
  })

  it('refuses tokens for another issuer or audience', async () => {
    const t = await testApp(conn)
    const s = await signIn(t)
    const strictIss = await testApp(conn, { env: { JWT_ISSUER: 'someone-else' }, clock: t.clock })
    expectInvalidToken(await me(strictIss, s.access))
    const strictAud = await testApp(conn, { env: { JWT_AUDIENCE: 'another-app' }, clock: t.clock })
    expectInvalidToken(await me(strictAud, s.access))
  })

  it('verifies with an independent Ed25519 implementation (node:crypto) from the JWKS', async () => {
    const t = await testApp(conn)
    const s = await signIn(t)
    const jwks = (await call(t.app, 'GET', '/.well-known/jwks.json')).body
    const [h, p, sig] = s.access.split('.') as [string, string, string]
    const jwk = jwks.keys.find((k: { kid: string }) => k.kid === decodeProtectedHeader(s.access).kid)
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' })
    expect(verify(null, Buffer.from(`${h}.${p}`), key, Buffer.from(sig, 'base64url'))).toBe(true)
    expect(verify(null, Buffer.from(`${h}.${p}x`), key, Buffer.from(sig, 'base64url'))).toBe(false)
  })
})

describe('signing key rotation', () => {
  it('signs new tokens with the new kid while tokens of the old key keep working until they expire', async () => {
    const t = await testApp(conn, { env: { OTP_RESEND_COOLDOWN_SECONDS: '0' } })
    const before = await signIn(t)
    const oldKid = decodeProtectedHeader(before.access).kid
    const lifetime = t.config.jwt.refreshTtlSeconds
    const { kid: newKid } = await rotateSigningKey({
      db: conn.db,
      clock: t.clock,
      keyEncryptionKey: t.deps.secrets.keyEncryptionKey,
      maxTokenLifetimeSeconds: lifetime,
    })
    // Another instance (this one after its cache reload) signs with the new key.
    t.clock.advance(61_000)
    const after = await signIn(t)
    expect(decodeProtectedHeader(after.access).kid).toBe(newKid)
    expect(newKid).not.toBe(oldKid)
    const kids = (await call(t.app, 'GET', '/.well-known/jwks.json')).body.keys.map((k: { kid: string }) => k.kid)
    expect(kids).toEqual(expect.arrayContaining([oldKid, newKid]))
    expect((await me(t, before.access)).status).toBe(200)
    const rotated = await refresh(t, before.refresh)
    expect(rotated.status).toBe(200)
    expect(decodeProtectedHeader(rotated.body.refresh).kid).toBe(newKid)

    // Once every token the old key signed has expired, it is no longer published, and a later rotation drops it.
    t.clock.advance(lifetime * 1000 + 1000)
    const later = (await call(t.app, 'GET', '/.well-known/jwks.json')).body.keys.map((k: { kid: string }) => k.kid)
    expect(later).toEqual([newKid])
    const { dropped } = await rotateSigningKey({
      db: conn.db,
      clock: t.clock,
      keyEncryptionKey: t.deps.secrets.keyEncryptionKey,
      maxTokenLifetimeSeconds: lifetime,
    })
    expect(dropped).toContain(oldKid)
  })
})
