// Races through real server processes over HTTP: two instances of the service on one PostgreSQL,
// requests split between them and sent at once. The in-process versions of these races are in
// test/routes/races.pg.test.ts and test/routes/instances.pg.test.ts; here the requests cross real
// sockets, two connection pools and two processes. Exactly one winner each, never a 5xx.
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Connection } from '../../src/store/connect.ts'
import { startFakeTwilio, type FakeTwilioServer } from '../support/fake-twilio-server.ts'
import { testDatabase } from '../support/db.ts'
import { internalErrors, phone, report, send, serviceEnv, signIn, spawnService, type Answer, type ServiceProcess, type Session } from './support/harness.ts'

const RACERS = 20

let db: Connection & { url?: string }
let twilio: FakeTwilioServer
let a: ServiceProcess
let b: ServiceProcess
/** A third instance without a refresh grace window and without a resend cooldown. */
let strict: ServiceProcess
let nextNumber = 0

beforeAll(async () => {
  db = await testDatabase('postgres')
  twilio = await startFakeTwilio()
  const env = serviceEnv(db.url!, twilio.env)
  ;[a, b, strict] = await Promise.all([spawnService(env), spawnService(env), spawnService({ ...env, REFRESH_REUSE_GRACE: '0', OTP_RESEND_COOLDOWN_SECONDS: '0' })])
})
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), strict?.stop()])
  await twilio?.close()
  await db?.close()
})

/** The same request RACERS times at once, alternating between the given instances. */
function race(instances: ServiceProcess[], method: string, path: string, body: unknown): Promise<Answer[]> {
  return Promise.all(Array.from({ length: RACERS }, (_, i) => send(instances[i % instances.length]!.url, method, path, { body })))
}

const statuses = (answers: Answer[]) => answers.map((x) => x.status)
const count = (answers: Answer[], status: number) => answers.filter((x) => x.status === status).length

async function session(): Promise<Session> {
  const flow = await signIn(a.url, twilio, phone(nextNumber++))
  if (!flow.ok) throw new Error(`sign-in failed at ${flow.step}`)
  return flow.session
}

function noServerErrors(answers: Answer[]) {
  expect(answers.filter((x) => x.status === 0 || x.status >= 500).map((x) => `${x.status} ${x.text.slice(0, 200)}`)).toEqual([])
}

describe('racing requests through two service processes', () => {
  it('concurrent verifies of one code: one 200, one session', async () => {
    const s = await session()
    // A second sign-in of an existing user (the instance without a cooldown sends the code).
    expect((await send(strict.url, 'POST', '/api/auth/otp/request/', { body: { phone_number: s.phone } })).status).toBe(202)
    const otp = /\d{6}/.exec(await twilio.waitForBodyTo(s.phone))![0]
    const answers = await race([a, b], 'POST', '/api/auth/otp/verify/', { phone_number: s.phone, otp })
    report('race: verifies of one code', { requests_sent: answers.length, statuses: statuses(answers).sort().join(',') })
    noServerErrors(answers)
    expect(count(answers, 200)).toBe(1)
    expect(answers.every((x) => x.status === 200 || x.json?.code === 'invalid_otp' || x.json?.code === 'too_many_attempts')).toBe(true)
    const sessions = await sql<{ n: string }>`select count(*) as n from sessions where user_id = ${s.id}`.execute(db.db)
    expect(Number(sessions.rows[0]!.n)).toBe(2) // the first sign-in's and the winner's
  })

  it('concurrent first sign-ins of one number: one code sent, one user created once', async () => {
    const number = phone(nextNumber++)
    const requests = await race([a, b], 'POST', '/api/auth/otp/request/', { phone_number: number })
    noServerErrors(requests)
    expect(count(requests, 202)).toBe(1)
    expect(count(requests, 429)).toBe(RACERS - 1)
    const otp = /\d{6}/.exec(await twilio.waitForBodyTo(number))![0]
    const verifies = await race([a, b], 'POST', '/api/auth/otp/verify/', { phone_number: number, otp })
    report('race: first sign-ins of one number', {
      requests_sent: requests.length + verifies.length,
      code_requests: statuses(requests).sort().join(','),
      verifies: statuses(verifies).sort().join(','),
    })
    noServerErrors(verifies)
    const winners = verifies.filter((x) => x.status === 200)
    expect(winners).toHaveLength(1)
    expect(winners[0]!.json.created).toBe(true)
    const users = await sql<{ n: string }>`select count(*) as n from users where phone_number = ${number}`.execute(db.db)
    expect(Number(users.rows[0]!.n)).toBe(1)
    // The next sign-in finds the same user.
    const next = await signIn(strict.url, twilio, number)
    expect(next.ok && next.session.id === winners[0]!.json.id && !next.session.created).toBe(true)
  })

  it('concurrent refreshes of one token, with the grace window: one rotation, every caller gets its token', async () => {
    const s = await session()
    const answers = await race([a, b], 'POST', '/api/auth/token/refresh/', { refresh: s.refresh })
    const tokens = new Set(answers.filter((x) => x.status === 200).map((x) => x.json.refresh))
    report('race: refreshes of one token (REFRESH_REUSE_GRACE=10)', { requests_sent: answers.length, statuses: statuses(answers).sort().join(','), distinct_new_tokens: tokens.size })
    noServerErrors(answers)
    expect(count(answers, 200)).toBe(RACERS)
    expect(tokens.size).toBe(1)
    expect((await send(b.url, 'POST', '/api/auth/token/refresh/', { body: { refresh: [...tokens][0] } })).status).toBe(200)
  })

  it('concurrent refreshes of one token, without a grace window: one winner, and the replay ends the session', async () => {
    const s = await session()
    const answers = await race([strict], 'POST', '/api/auth/token/refresh/', { refresh: s.refresh })
    report('race: refreshes of one token (REFRESH_REUSE_GRACE=0)', { requests_sent: answers.length, statuses: statuses(answers).sort().join(',') })
    noServerErrors(answers)
    const winners = answers.filter((x) => x.status === 200)
    expect(winners).toHaveLength(1)
    expect(count(answers, 401)).toBe(RACERS - 1)
    // The losers replayed a rotated-away token: the session is over, the winner's token with it.
    expect((await send(strict.url, 'POST', '/api/auth/token/refresh/', { body: { refresh: winners[0]!.json.refresh } })).status).toBe(401)
  })

  it('concurrent logouts and refreshes of one session: the logout wins, no token stays alive', async () => {
    const s = await session()
    const answers = await Promise.all(
      Array.from({ length: RACERS }, (_, i) =>
        send([a, b][i % 2]!.url, 'POST', i % 4 < 2 ? '/api/auth/logout/' : '/api/auth/token/refresh/', { body: { refresh: s.refresh } }),
      ),
    )
    const logouts = answers.filter((_, i) => i % 4 < 2)
    const refreshes = answers.filter((_, i) => i % 4 >= 2)
    report('race: logouts and refreshes of one session', {
      requests_sent: answers.length,
      logouts: statuses(logouts).sort().join(','),
      refreshes: statuses(refreshes).sort().join(','),
    })
    noServerErrors(answers)
    expect(logouts.every((x) => x.status === 204)).toBe(true)
    expect(refreshes.every((x) => x.status === 200 || x.status === 401)).toBe(true)
    for (const token of [s.refresh, ...refreshes.filter((x) => x.status === 200).map((x) => x.json.refresh as string)]) {
      expect((await send(a.url, 'POST', '/api/auth/token/refresh/', { body: { refresh: token } })).status).toBe(401)
    }
  })

  it('left nothing in the logs that looks like a bug', () => {
    expect([...internalErrors(a.output()), ...internalErrors(b.output()), ...internalErrors(strict.output())]).toEqual([])
  })
})
