import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { call, post, testApp, type TestApp } from '../support/app.ts'
import { useTestDatabase } from '../support/db.ts'

const PHONE = '+12015550123'
const ME = '/api/auth/me/'
const EVENTS_ENV = { EVENTS_WEBHOOK_URL: 'https://business.example.test/hooks', EVENTS_WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 3).toString('base64')}` }

const conn = useTestDatabase()

async function signIn(t: TestApp, phone = PHONE) {
  expect((await post(t.app, '/api/auth/otp/request/', { phone_number: phone })).status).toBe(202)
  const res = await post(t.app, '/api/auth/otp/verify/', { phone_number: phone, otp: t.sms.codeFor(phone) })
  expect(res.status).toBe(200)
  return res.body as { id: number; access: string; refresh: string; created: boolean }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const deleteMe = (t: TestApp, access: string, path = ME) => call(t.app, 'DELETE', path, undefined, bearer(access))

/** Every row of every table keyed by phone number, so a test can see they outlive the user. */
async function phoneKeyedRows() {
  const codes = await conn.db.selectFrom('otp_codes').selectAll().execute()
  const counters = await sql<{ n: string }>`select count(*)::text as n from rate_counters`.execute(conn.db)
  return { codes, counters: counters.rows[0]!.n }
}

describe('DELETE /api/auth/me/', () => {
  it('answers 204, deletes the user and its sessions, and refuses its tokens at once', async () => {
    const t = await testApp(conn)
    const s = await signIn(t)
    const other = await signIn(t, '+12015550124')
    const res = await deleteMe(t, s.access)
    expect(res.status).toBe(204)
    expect(res.body).toBeUndefined()

    expect(await conn.db.selectFrom('users').select('id').where('id', '=', String(s.id)).execute()).toEqual([])
    expect(await conn.db.selectFrom('sessions').select('id').where('user_id', '=', String(s.id)).execute()).toEqual([])
    for (const answer of [
      await call(t.app, 'GET', ME, undefined, bearer(s.access)),
      await post(t.app, '/api/auth/token/refresh/', { refresh: s.refresh }),
      await deleteMe(t, s.access),
    ]) {
      expect(answer.status).toBe(401)
      expect(answer.body.code).toBe('invalid_token')
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer/)
    }
    // Nobody else is touched.
    expect((await call(t.app, 'GET', ME, undefined, bearer(other.access))).status).toBe(200)
    expect((await post(t.app, '/api/auth/token/refresh/', { refresh: other.refresh })).status).toBe(200)
  })

  it('is served without the trailing slash too', async () => {
    const t = await testApp(conn)
    const s = await signIn(t)
    expect((await deleteMe(t, s.access, '/api/auth/me')).status).toBe(204)
  })

  it("keeps the number's rate-limit history, so deleting is no way around a limit", async () => {
    const t = await testApp(conn)
    const s = await signIn(t)
    const before = await phoneKeyedRows()
    expect(before.codes).toHaveLength(1)
    expect((await deleteMe(t, s.access)).status).toBe(204)
    expect(await phoneKeyedRows()).toEqual(before)
    // The code just sent still holds the resend cooldown.
    const again = await post(t.app, '/api/auth/otp/request/', { phone_number: PHONE })
    expect(again.status).toBe(429)
    expect(again.headers.get('retry-after')).toBe('30')
  })

  it('lets a later sign-in with the number make a new user with a new id', async () => {
    const t = await testApp(conn)
    const s = await signIn(t)
    expect((await deleteMe(t, s.access)).status).toBe(204)
    t.clock.advance(30_000)
    const again = await signIn(t)
    expect(again.created).toBe(true)
    expect(again.id).toBeGreaterThan(s.id)
    // The old account's token still names the old id, which is gone for good.
    expect((await call(t.app, 'GET', ME, undefined, bearer(s.access))).status).toBe(401)
    expect((await call(t.app, 'GET', ME, undefined, bearer(again.access))).body.id).toBe(again.id)
  })

  it('emits user.deleted in the same transaction', async () => {
    const t = await testApp(conn, { env: EVENTS_ENV })
    const s = await signIn(t)
    t.clock.advance(60_000)
    expect((await deleteMe(t, s.access)).status).toBe(204)
    const events = await conn.db.selectFrom('events').select(['type', 'payload']).orderBy('created_at').execute()
    expect(events.map((e) => e.type)).toEqual(['user.created', 'user.deleted'])
    expect(JSON.parse(events[1]!.payload)).toEqual({
      type: 'user.deleted',
      timestamp: '2026-01-01T00:01:00.000Z',
      data: { id: s.id, phone_number: PHONE },
    })
  })

  it('refuses a disabled user with 403 and keeps the account (deleting is no way around a ban)', async () => {
    const t = await testApp(conn, { env: EVENTS_ENV })
    const s = await signIn(t)
    await sql`update users set disabled_at = now()`.execute(conn.db)
    const res = await deleteMe(t, s.access)
    expect(res.status).toBe(403)
    expect(res.body.code).toBe('account_disabled')
    expect(await conn.db.selectFrom('users').select('id').execute()).toHaveLength(1)
    expect((await conn.db.selectFrom('events').select('type').execute()).map((e) => e.type)).toEqual(['user.created'])
  })

  it('refuses no token and a refresh token with 401, deleting nothing', async () => {
    const t = await testApp(conn)
    const s = await signIn(t)
    expect((await call(t.app, 'DELETE', ME)).status).toBe(401)
    expect((await deleteMe(t, s.refresh)).status).toBe(401)
    expect(await conn.db.selectFrom('users').select('id').execute()).toHaveLength(1)
  })
})
