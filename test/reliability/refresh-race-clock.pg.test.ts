// The race test over HTTP (races-http.pg.test.ts) once saw two 200s for one refresh token with
// REFRESH_REUSE_GRACE=0: a refresh that started a moment before the winning one (its clock reading
// earlier than the rotation's) had a negative age since the rotation, and `age < 0` let it into
// the grace window that 0 turns off. Here the same order of clock readings, without timing luck.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Connection } from '../../src/store/connect.ts'
import { post, testApp } from '../support/app.ts'
import { testDatabase } from '../support/db.ts'

const PHONE = '+12015550123'

let conn: Connection
beforeAll(async () => {
  conn = await testDatabase('postgres')
})
afterAll(() => conn.close())

describe('a refresh whose clock reading is earlier than the rotation it lost to', () => {
  it('is a replay when the grace window is off: 401, and the session ends', async () => {
    const t = await testApp(conn, { env: { REFRESH_REUSE_GRACE: '0' } })
    await post(t.app, '/api/auth/otp/request/', { phone_number: PHONE })
    const s = (await post(t.app, '/api/auth/otp/verify/', { phone_number: PHONE, otp: t.sms.codeFor(PHONE) })).body
    t.clock.advance(60_000)
    const winner = await post(t.app, '/api/auth/token/refresh/', { refresh: s.refresh })
    expect(winner.status).toBe(200)
    // The loser read the clock 5 ms before the winner did, and reached the database after it.
    t.clock.advance(-5)
    const loser = await post(t.app, '/api/auth/token/refresh/', { refresh: s.refresh })
    expect(loser.status).toBe(401)
    expect((await post(t.app, '/api/auth/token/refresh/', { refresh: winner.body.refresh })).status).toBe(401)
  })

  it('still gets the newest token inside a grace window', async () => {
    const t = await testApp(conn, { env: { REFRESH_REUSE_GRACE: '10' } })
    await post(t.app, '/api/auth/otp/request/', { phone_number: '+12015550124' })
    const s = (await post(t.app, '/api/auth/otp/verify/', { phone_number: '+12015550124', otp: t.sms.codeFor('+12015550124') })).body
    t.clock.advance(60_000)
    const winner = await post(t.app, '/api/auth/token/refresh/', { refresh: s.refresh })
    t.clock.advance(-5)
    const loser = await post(t.app, '/api/auth/token/refresh/', { refresh: s.refresh })
    expect(loser.status).toBe(200)
    expect(loser.body.refresh).toBe(winner.body.refresh)
  })
})
