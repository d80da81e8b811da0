import { decodeJwt } from 'jose'
import { describe, expect, it } from 'vitest'
import { call, post, testApp, type JsonResponse, type TestApp } from '../support/app.ts'
import { useTestDatabase } from '../support/db.ts'

// The original backend's apps, as they are in users' hands: each call is made, and each answer
// read, the way the mobile app (React Native) and the web app do it. None of this may change.

/** The mobile app's idea of success for the code request: 202 and nothing else. */
function mobileRequestSucceeded(res: JsonResponse): boolean {
  return res.status === 202
}

/** The mobile app's storage: strings only (AsyncStorage). */
function mobileStorage() {
  const items = new Map<string, string>()
  return { setItem: (k: string, v: string) => void items.set(k, v), getItem: (k: string) => items.get(k) ?? null }
}

const STALE_BEARER = {
  authorization:
    'Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwidXNlcl9pZCI6NDIsImV4cCI6MTYwMDAwMDAwMH0.c2lnbmF0dXJl',
}

const conn = useTestDatabase()

describe('the mobile app', () => {
  it('signs in with its status check, stores the id as a string and reads it back with parseInt', async () => {
    const t = await testApp(conn)
    const phone = '+12015550123'
    const requested = await post(t.app, '/api/auth/otp/request/', { phone_number: phone })
    expect(mobileRequestSucceeded(requested)).toBe(true)
    expect(requested.body.resend_after).toBeLessThanOrEqual(30)

    const verified = await post(t.app, '/api/auth/otp/verify/', { phone_number: phone, otp: t.sms.codeFor(phone) })
    expect(verified.status).toBe(200)
    const storage = mobileStorage()
    storage.setItem('userId', String(verified.body.id))
    storage.setItem('access', verified.body.access)
    const id = parseInt(storage.getItem('userId')!, 10)
    expect(id).toBe(verified.body.id)
    expect(Number.isSafeInteger(id) && id > 0).toBe(true)
    expect(decodeJwt(verified.body.access).sub).toBe(String(id))

    // The next user gets the next integer, never a string or a UUID.
    const second = await post(t.app, '/api/auth/otp/request/', { phone_number: '+12015550124' })
    expect(mobileRequestSucceeded(second)).toBe(true)
    const other = await post(t.app, '/api/auth/otp/verify/', { phone_number: '+12015550124', otp: t.sms.codeFor('+12015550124') })
    expect(typeof other.body.id).toBe('number')
    expect(other.body.id).toBeGreaterThan(id)
  })

  it('offers "resend" after 30 s, and the resend is accepted', async () => {
    const t = await testApp(conn)
    const phone = '+12015550123'
    expect(mobileRequestSucceeded(await post(t.app, '/api/auth/otp/request/', { phone_number: phone }))).toBe(true)
    t.clock.advance(30_000)
    expect(mobileRequestSucceeded(await post(t.app, '/api/auth/otp/request/', { phone_number: phone }))).toBe(true)
  })

  it("lets its background service use the stored access token for an hour without refreshing", async () => {
    const t = await testApp(conn)
    const phone = '+12015550123'
    await post(t.app, '/api/auth/otp/request/', { phone_number: phone })
    const s = (await post(t.app, '/api/auth/otp/verify/', { phone_number: phone, otp: t.sms.codeFor(phone) })).body
    expect(s.expires_in).toBe(3600)
    t.clock.advance(3599_000)
    expect((await call(t.app, 'GET', '/api/auth/me/', undefined, { authorization: `Bearer ${s.access}` })).status).toBe(200)
  })

  it('sends its stale Authorization header along, and sign-in and refresh ignore it', async () => {
    const t = await testApp(conn)
    const phone = '+12015550123'
    expect(mobileRequestSucceeded(await post(t.app, '/api/auth/otp/request/', { phone_number: phone }, STALE_BEARER))).toBe(true)
    const verified = await post(t.app, '/api/auth/otp/verify/', { phone_number: phone, otp: t.sms.codeFor(phone) }, STALE_BEARER)
    expect(verified.status).toBe(200)
    const refreshed = await post(t.app, '/api/auth/token/refresh/', { refresh: verified.body.refresh }, STALE_BEARER)
    expect(refreshed.status).toBe(200)
  })

  it('reads errors from "detail"', async () => {
    const t = await testApp(conn)
    const res = await post(t.app, '/api/auth/otp/verify/', { phone_number: '+12015550123', otp: '000000' })
    expect(res.status).toBe(400)
    expect(typeof res.body.detail).toBe('string')
    expect(res.body.detail.length).toBeGreaterThan(0)
  })

  it('deletes its account with the stored access token', async () => {
    const t = await testApp(conn)
    const phone = '+12015550123'
    await post(t.app, '/api/auth/otp/request/', { phone_number: phone })
    const s = (await post(t.app, '/api/auth/otp/verify/', { phone_number: phone, otp: t.sms.codeFor(phone) })).body
    expect((await call(t.app, 'DELETE', '/api/auth/me/', undefined, { authorization: `Bearer ${s.access}` })).status).toBe(204)
  })
})

describe('the web app', () => {
  const web = { origin: 'https://web.nomisafe.example' }

  async function webSignIn(t: TestApp, typed: string) {
    const requested = await post(t.app, '/api/auth/otp/request/', { phone_number: typed }, web)
    expect(requested.status).toBe(202)
    const code = t.sms.last().body.match(/\d{6}/)![0]
    return post(t.app, '/api/auth/otp/verify/', { phone_number: typed, otp: code }, web)
  }

  it('sends bare national numbers, read in DEFAULT_COUNTRY, and gets E.164 back', async () => {
    const t = await testApp(conn, { env: { DEFAULT_COUNTRY: 'IN' } })
    const res = await webSignIn(t, '9876543210')
    expect(res.status).toBe(200)
    expect(res.body.phone_number).toBe('+919876543210')
    expect(t.sms.last().to).toBe('+919876543210')
    expect(decodeJwt(res.body.access).phone_number).toBe('+919876543210')
    // The same person typing the international form is the same user.
    t.clock.advance(30_000)
    const again = await webSignIn(t, '+91 98765 43210')
    expect(again.body.id).toBe(res.body.id)
  })

  it('has bare national numbers refused without DEFAULT_COUNTRY', async () => {
    const t = await testApp(conn)
    const res = await post(t.app, '/api/auth/otp/request/', { phone_number: '9876543210' }, web)
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('invalid_phone_number')
  })

  it('refreshes from two tabs at once inside the grace window, and both tabs stay signed in', async () => {
    const t = await testApp(conn, { env: { DEFAULT_COUNTRY: 'IN' } })
    const signedIn = (await webSignIn(t, '9876543210')).body
    // Both tabs read the same refresh token from localStorage and refresh at the same moment.
    const [tabA, tabB] = await Promise.all([
      post(t.app, '/api/auth/token/refresh/', { refresh: signedIn.refresh }, web),
      post(t.app, '/api/auth/token/refresh/', { refresh: signedIn.refresh }, web),
    ])
    expect([tabA.status, tabB.status]).toEqual([200, 200])
    // The session did not fork: both got the one newest refresh token.
    expect(tabA.body.refresh).toBe(tabB.body.refresh)
    for (const tab of [tabA, tabB]) {
      expect((await call(t.app, 'GET', '/api/auth/me/', undefined, { ...web, authorization: `Bearer ${tab.body.access}` })).status).toBe(200)
    }
    // Later, either tab's next refresh works and the chain goes on.
    t.clock.advance(3600_000)
    const next = await post(t.app, '/api/auth/token/refresh/', { refresh: tabB.body.refresh }, web)
    expect(next.status).toBe(200)
    expect((await post(t.app, '/api/auth/token/refresh/', { refresh: next.body.refresh }, web)).status).toBe(200)
  })

  it('refreshes a little apart from two tabs, the second inside the grace window', async () => {
    const t = await testApp(conn, { env: { DEFAULT_COUNTRY: 'IN' } })
    const signedIn = (await webSignIn(t, '9876543210')).body
    const tabA = await post(t.app, '/api/auth/token/refresh/', { refresh: signedIn.refresh }, web)
    t.clock.advance(9_000)
    const tabB = await post(t.app, '/api/auth/token/refresh/', { refresh: signedIn.refresh }, web)
    expect(tabB.status).toBe(200)
    expect(tabB.body.refresh).toBe(tabA.body.refresh)
  })
})
