import { describe, expect, it } from 'vitest'
import { post, testApp, type TestApp } from '../support/app.ts'
import { useTestDatabase } from '../support/db.ts'

// Real PostgreSQL with a pool of connections, so these requests really run at the same time.
const conn = useTestDatabase('postgres')

const PHONE = '+12015550123'

describe('racing requests on one PostgreSQL', () => {
  it('lets exactly one of 25 concurrent verifies of one code succeed', async () => {
    const t = await testApp(conn)
    await post(t.app, '/api/auth/otp/request/', { phone_number: PHONE })
    const otp = t.sms.codeFor(PHONE)
    const answers = await Promise.all(
      Array.from({ length: 25 }, () => post(t.app, '/api/auth/otp/verify/', { phone_number: PHONE, otp })),
    )
    const statuses = answers.map((a) => a.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(1)
    // The losers are wrong-code answers, or, past the per-number failure cap, 429.
    expect(statuses.filter((s) => s !== 200).every((s) => s === 400 || s === 429)).toBe(true)
    const sessions = await conn.db.selectFrom('sessions').select('id').execute()
    expect(sessions).toHaveLength(1)
  })

  it('sends one code when 20 requests for one number arrive at once', async () => {
    const t = await testApp(conn)
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(t.app, '/api/auth/otp/request/', { phone_number: PHONE })))
    const statuses = answers.map((a) => a.status).sort()
    expect(statuses.filter((s) => s === 202)).toHaveLength(1)
    expect(statuses.filter((s) => s === 429)).toHaveLength(19)
    expect(t.sms.sent).toHaveLength(1)
  })

  // The number's caps are checked and counted on its code row, under the row's lock (migration 0011).
  it('sends exactly the hourly cap of one number when its requests race with no cooldown', async () => {
    const t = await testApp(conn, { env: { OTP_RESEND_COOLDOWN_SECONDS: '0', LIMIT_SENDS_PER_NUMBER_HOUR: '3', LIMIT_REQUESTS_PER_IP_HOUR: '0' } })
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(t.app, '/api/auth/otp/request/', { phone_number: PHONE })))
    const statuses = answers.map((a) => a.status)
    expect(statuses.filter((s) => s === 202)).toHaveLength(3)
    expect(statuses.filter((s) => s === 429)).toHaveLength(17)
    expect(t.sms.sent).toHaveLength(3)
  })

  it('judges exactly the failure budget of one number when wrong codes race, and then refuses the right one', async () => {
    const t = await testApp(conn, { env: { OTP_MAX_ATTEMPTS: '20', LIMIT_FAILED_VERIFIES_PER_NUMBER_HOUR: '4', LIMIT_VERIFIES_PER_IP_HOUR: '0' } })
    await post(t.app, '/api/auth/otp/request/', { phone_number: PHONE })
    const otp = t.sms.codeFor(PHONE)
    const wrongOtp = otp === '000000' ? '111111' : '000000'
    const answers = await Promise.all(Array.from({ length: 16 }, () => post(t.app, '/api/auth/otp/verify/', { phone_number: PHONE, otp: wrongOtp })))
    const statuses = answers.map((a) => a.status)
    expect(statuses.filter((s) => s === 400)).toHaveLength(4)
    expect(statuses.filter((s) => s === 429)).toHaveLength(12)
    expect((await post(t.app, '/api/auth/otp/verify/', { phone_number: PHONE, otp })).status).toBe(429)
  })

  async function signedIn(t: TestApp) {
    await post(t.app, '/api/auth/otp/request/', { phone_number: PHONE })
    return (await post(t.app, '/api/auth/otp/verify/', { phone_number: PHONE, otp: t.sms.codeFor(PHONE) })).body
  }

  it('gives 10 concurrent refreshes of one token one and the same new refresh token', async () => {
    const t = await testApp(conn)
    const s = await signedIn(t)
    const answers = await Promise.all(Array.from({ length: 10 }, () => post(t.app, '/api/auth/token/refresh/', { refresh: s.refresh })))
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200))
    expect(new Set(answers.map((a) => a.body.refresh)).size).toBe(1)
    expect((await post(t.app, '/api/auth/token/refresh/', { refresh: answers[0]!.body.refresh })).status).toBe(200)
  })

  it('never lets two concurrent refreshes both get a live new token without a grace window', async () => {
    const t = await testApp(conn, { env: { REFRESH_REUSE_GRACE: '0' } })
    const s = await signedIn(t)
    const answers = await Promise.all(Array.from({ length: 6 }, () => post(t.app, '/api/auth/token/refresh/', { refresh: s.refresh })))
    expect(answers.every((a) => a.status === 200 || a.status === 401)).toBe(true)
    const issued = answers.filter((a) => a.status === 200)
    expect(issued.length).toBeLessThanOrEqual(1)
    // The losers replayed a rotated-away token: the session is over, the winner's token included.
    for (const a of issued) expect((await post(t.app, '/api/auth/token/refresh/', { refresh: a.body.refresh })).status).toBe(401)
  })

  it('leaves no live token when logout and refresh of one session race', async () => {
    const t = await testApp(conn)
    const s = await signedIn(t)
    const [out, refreshed] = await Promise.all([
      post(t.app, '/api/auth/logout/', { refresh: s.refresh }),
      post(t.app, '/api/auth/token/refresh/', { refresh: s.refresh }),
    ])
    expect(out.status).toBe(204)
    expect([200, 401]).toContain(refreshed.status)
    if (refreshed.status === 200) {
      expect((await post(t.app, '/api/auth/token/refresh/', { refresh: refreshed.body.refresh })).status).toBe(401)
    }
    expect((await post(t.app, '/api/auth/token/refresh/', { refresh: s.refresh })).status).toBe(401)
  })
})
