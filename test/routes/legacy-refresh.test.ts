import { decodeJwt, SignJWT } from 'jose'
import { sql } from 'kysely'
import { beforeEach, describe, expect, it } from 'vitest'
import { call, post, testApp, type TestApp } from '../support/app.ts'
import { useTestDatabase } from '../support/db.ts'

// Refresh tokens of the original Django backend, minted here the way its SimpleJWT mints them:
// HS256 with the Django SECRET_KEY, claims token_type, exp, iat, jti, user_id.
const DJANGO_SECRET_KEY = 'django-insecure-7#k2v!x9@q$w3e4r5t6y7u8i9o0p-=+a1s2d3f4g5h6j7k8'
const USER_ID = 4242
const PHONE = '+919876543210'
const REFRESH = '/api/auth/token/refresh/'

const conn = useTestDatabase()
beforeEach(async () => {
  // An imported user of the original, with its id kept.
  await sql`insert into users (id, phone_number, created_at) values (${USER_ID}, ${PHONE}, now())`.execute(conn.db)
})

const app = (env: Record<string, string> = {}) => testApp(conn, { env: { LEGACY_JWT_SECRET: DJANGO_SECRET_KEY, ...env } })

interface Mint {
  secret?: string
  tokenType?: string
  userId?: number | string
  jti?: string
  lifetimeSeconds?: number
}

/** A SimpleJWT token as the original issued it, dated by the test's clock. */
function simpleJwt(t: TestApp, m: Mint = {}) {
  const iat = Math.floor(t.clock.now().getTime() / 1000) - 3600
  return new SignJWT({
    token_type: m.tokenType ?? 'refresh',
    user_id: m.userId ?? USER_ID,
    jti: m.jti ?? crypto.randomUUID().replaceAll('-', ''),
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(iat + (m.lifetimeSeconds ?? 86400))
    .sign(new TextEncoder().encode(m.secret ?? DJANGO_SECRET_KEY))
}

function expectInvalidToken(res: { status: number; body: any; headers: Headers }) {
  expect(res.status).toBe(401)
  expect(res.body.code).toBe('invalid_token')
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
}

describe('POST /api/auth/token/refresh/ with a refresh token of the original backend', () => {
  it('answers a normal new pair with a new session, for the same user id', async () => {
    const t = await app()
    const res = await post(t.app, REFRESH, { refresh: await simpleJwt(t) })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ access: expect.any(String), refresh: expect.any(String), token_type: 'Bearer', expires_in: 3600 })
    expect(decodeJwt(res.body.access)).toMatchObject({ sub: String(USER_ID), phone_number: PHONE, token_type: 'access' })
    const me = await call(t.app, 'GET', '/api/auth/me/', undefined, { authorization: `Bearer ${res.body.access}` })
    expect(me.body.id).toBe(USER_ID)
    expect((await conn.db.selectFrom('sessions').select('user_id').execute()).map((r) => Number(r.user_id))).toEqual([USER_ID])
    // From here on it is one of our sessions: it rotates as usual.
    const next = await post(t.app, REFRESH, { refresh: res.body.refresh })
    expect(next.status).toBe(200)
    expect(decodeJwt(next.body.refresh).sid).toBe(decodeJwt(res.body.refresh).sid)
  })

  it('takes user_id as a string too', async () => {
    const t = await app()
    expect((await post(t.app, REFRESH, { refresh: await simpleJwt(t, { userId: String(USER_ID) }) })).status).toBe(200)
  })

  it('exchanges each jti once', async () => {
    const t = await app()
    const token = await simpleJwt(t)
    const first = await post(t.app, REFRESH, { refresh: token })
    expect(first.status).toBe(200)
    expectInvalidToken(await post(t.app, REFRESH, { refresh: token }))
    // Another token of the same user, with its own jti, still works; the first session lives on.
    expect((await post(t.app, REFRESH, { refresh: await simpleJwt(t) })).status).toBe(200)
    expect((await post(t.app, REFRESH, { refresh: first.body.refresh })).status).toBe(200)
  })

  it('refuses an expired token', async () => {
    const t = await app()
    expectInvalidToken(await post(t.app, REFRESH, { refresh: await simpleJwt(t, { lifetimeSeconds: 3599 }) }))
  })

  it('refuses a token signed with another key', async () => {
    const t = await app()
    expectInvalidToken(await post(t.app, REFRESH, { refresh: await simpleJwt(t, { secret: `${DJANGO_SECRET_KEY}x` }) }))
  })

  it('refuses an access token of the original', async () => {
    const t = await app()
    expectInvalidToken(await post(t.app, REFRESH, { refresh: await simpleJwt(t, { tokenType: 'access' }) }))
  })

  it('refuses a user that does not exist here, without using the token up', async () => {
    const t = await app()
    const token = await simpleJwt(t, { userId: 777 })
    expectInvalidToken(await post(t.app, REFRESH, { refresh: token }))
    // Imported later (the import and the switch in the wrong order): the token still works once.
    await sql`insert into users (id, phone_number, created_at) values (777, '+919876500000', now())`.execute(conn.db)
    expect((await post(t.app, REFRESH, { refresh: token })).status).toBe(200)
  })

  it('refuses a disabled user with 403 account_disabled', async () => {
    const t = await app()
    await sql`update users set disabled_at = now()`.execute(conn.db)
    const res = await post(t.app, REFRESH, { refresh: await simpleJwt(t) })
    expect(res.status).toBe(403)
    expect(res.body.code).toBe('account_disabled')
  })

  it('refuses every legacy token without LEGACY_JWT_SECRET', async () => {
    const t = await testApp(conn)
    expectInvalidToken(await post(t.app, REFRESH, { refresh: await simpleJwt(t) }))
  })
})

describe('nothing else accepts HS256', () => {
  it('refuses legacy tokens as Bearer on /me, DELETE /me and logout, and at logout as a refresh token', async () => {
    const t = await app()
    const legacyRefresh = await simpleJwt(t)
    const legacyAccess = await simpleJwt(t, { tokenType: 'access' })
    for (const token of [legacyRefresh, legacyAccess]) {
      expectInvalidToken(await call(t.app, 'GET', '/api/auth/me/', undefined, { authorization: `Bearer ${token}` }))
      expectInvalidToken(await call(t.app, 'DELETE', '/api/auth/me/', undefined, { authorization: `Bearer ${token}` }))
      expectInvalidToken(await post(t.app, '/api/auth/logout/', { all: true }, { authorization: `Bearer ${token}` }))
    }
    expectInvalidToken(await post(t.app, '/api/auth/logout/', { refresh: legacyRefresh }))
    expect(await conn.db.selectFrom('users').select('id').execute()).toHaveLength(1)
    // None of those used the refresh token up.
    expect((await post(t.app, REFRESH, { refresh: legacyRefresh })).status).toBe(200)
  })

  it('refuses an HS256 token signed with the legacy secret that claims to be one of ours', async () => {
    const t = await app()
    const now = Math.floor(t.clock.now().getTime() / 1000)
    const forged = await new SignJWT({ token_type: 'access', phone_number: PHONE })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(t.config.jwt.issuer)
      .setAudience(t.config.jwt.audience)
      .setSubject(String(USER_ID))
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .setJti(crypto.randomUUID())
      .sign(new TextEncoder().encode(DJANGO_SECRET_KEY))
    expectInvalidToken(await call(t.app, 'GET', '/api/auth/me/', undefined, { authorization: `Bearer ${forged}` }))
  })
})
