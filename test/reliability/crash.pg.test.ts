// Crash safety: the service is SIGKILLed in the middle of a burst of sign-ins and started again on
// the same database. Every sign-in that was answered 200 is still there (its user answers /me with
// its access token, its refresh token rotates), and no code works twice: neither the ones that were
// answered 200, nor the ones whose verify was in flight when the process died.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeTwilio, type FakeTwilioServer } from '../support/fake-twilio-server.ts'
import { testDatabase } from '../support/db.ts'
import type { Connection } from '../../src/store/connect.ts'
import {
  bearer, internalErrors, mb, phone, report, runWorkers, send, serviceEnv, spawnService, type Answer, type Session,
} from './support/harness.ts'

const WORKERS = 16
const MAX_FLOWS = 600
/** SIGKILL once this many sign-ins were answered 200 (or after KILL_AFTER_MS). */
const KILL_AFTER_SIGN_INS = 40
const KILL_AFTER_MS = 5_000

let db: Connection & { url?: string }
let twilio: FakeTwilioServer
beforeAll(async () => {
  db = await testDatabase('postgres')
  twilio = await startFakeTwilio()
})
afterAll(async () => {
  await twilio?.close()
  await db?.close()
})

describe('SIGKILL during a burst of sign-ins', () => {
  it('keeps every answered sign-in, and no code works twice', async () => {
    const env = serviceEnv(db.url!, twilio.env)
    const first = await spawnService(env)
    const rssStart = first.rss()
    let rssAtKill = 0

    const signedIn: Session[] = []
    // Verifies sent with a code that got no answer: the process died under them.
    const inFlight: { phone: string; otp: string }[] = []
    const sent: Answer[] = []
    let flows = 0
    let killed = false
    const started = performance.now()
    const kill = async () => {
      if (killed) return
      killed = true
      rssAtKill = first.rss()
      await first.kill('SIGKILL')
    }

    await runWorkers(WORKERS, () => killed || flows >= MAX_FLOWS, async () => {
      const number = phone(flows++)
      const requested = await send(first.url, 'POST', '/api/auth/otp/request/', { body: { phone_number: number } })
      sent.push(requested)
      if (requested.status === 0) return
      if (requested.status !== 202) throw new Error(`code request answered ${requested.status} before the crash: ${requested.text}`)
      let otp: string
      try {
        otp = /\d{6}/.exec(await twilio.waitForBodyTo(number, 2_000))![0]
      } catch {
        return
      }
      const verified = await send(first.url, 'POST', '/api/auth/otp/verify/', { body: { phone_number: number, otp } })
      sent.push(verified)
      if (verified.status === 200) {
        const b = verified.json
        signedIn.push({ phone: number, otp, id: b.id, access: b.access, refresh: b.refresh, created: b.created })
      } else if (verified.status === 0) {
        inFlight.push({ phone: number, otp })
      } else {
        throw new Error(`verify answered ${verified.status} before the crash: ${verified.text}`)
      }
      if (signedIn.length >= KILL_AFTER_SIGN_INS || performance.now() - started > KILL_AFTER_MS) await kill()
    })
    await kill()
    expect(first.alive()).toBe(false)

    const second = await spawnService(env)
    try {
      const problems: string[] = []
      for (const s of signedIn) {
        const me = await send(second.url, 'GET', '/api/auth/me/', { headers: bearer(s.access) })
        if (me.status !== 200 || me.json.id !== s.id || me.json.phone_number !== s.phone) problems.push(`${s.phone} /me: ${me.status}`)
        const refreshed = await send(second.url, 'POST', '/api/auth/token/refresh/', { body: { refresh: s.refresh } })
        if (refreshed.status !== 200) problems.push(`${s.phone} refresh: ${refreshed.status}`)
        const again = await send(second.url, 'POST', '/api/auth/otp/verify/', { body: { phone_number: s.phone, otp: s.otp } })
        if (again.status !== 400 || again.json?.code !== 'invalid_otp') problems.push(`${s.phone} code reused: ${again.status}`)
      }
      // A verify cut off by the crash either committed (its code is spent) or did not (the code still
      // works, once): either way at most one of the two tries now may succeed, and never both.
      let recoveredInFlight = 0
      for (const f of inFlight) {
        const a = await send(second.url, 'POST', '/api/auth/otp/verify/', { body: { phone_number: f.phone, otp: f.otp } })
        const b = await send(second.url, 'POST', '/api/auth/otp/verify/', { body: { phone_number: f.phone, otp: f.otp } })
        if (a.status === 200) recoveredInFlight++
        if (![200, 400].includes(a.status) || b.status !== 400) problems.push(`${f.phone} in flight: ${a.status} then ${b.status}`)
      }
      const [users] = await Promise.all([db.db.selectFrom('users').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()])

      report('crash safety (SIGKILL during sign-ins)', {
        requests_sent: sent.length,
        failures_before_kill: 0,
        cut_off_by_kill: sent.filter((a) => a.status === 0).length,
        sign_ins_answered_200: signedIn.length,
        verifies_in_flight_at_kill: inFlight.length,
        in_flight_codes_still_unused: recoveredInFlight,
        users_in_database: Number(users.n),
        checked_after_restart: { me_refresh_reverify: signedIn.length * 3 + inFlight.length * 2, problems: problems.length },
        rss_mb: { start: mb(rssStart), at_kill: mb(rssAtKill), restarted: mb(second.rss()) },
      })
      expect(signedIn.length).toBeGreaterThan(0)
      expect(problems).toEqual([])
      expect(Number(users.n)).toBeGreaterThanOrEqual(signedIn.length)
      expect(internalErrors(second.output())).toEqual([])
    } finally {
      expect(await second.stop()).toBe(0)
    }
  }, 60_000)
})
