import { serve, type ServerType } from '@hono/node-server'
import { getConnInfo } from '@hono/node-server/conninfo'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app.ts'
import { connectDatabase, type Connection } from '../../src/store/connect.ts'
import { testApp } from '../support/app.ts'
import { fakeClock } from '../support/clock.ts'
import { resetData, testDatabase } from '../support/db.ts'
import { recordingSms, type RecordingSms } from '../support/sms.ts'

// Two instances, as behind a load balancer: two HTTP servers, two connection pools, one PostgreSQL.
let shared: Connection & { url?: string }
let second: Connection
const servers: ServerType[] = []

beforeAll(async () => {
  shared = await testDatabase('postgres')
  second = await connectDatabase({ url: shared.url, dataDir: '', poolSize: 5 }, () => {
    throw new Error('not embedded')
  })
})
afterAll(async () => {
  for (const s of servers) s.close()
  await second.close()
  await shared.close()
})
beforeEach(() => resetData(shared))

const PHONE = '+12015550123'

async function instance(conn: Connection, env: Record<string, string>, sms: RecordingSms) {
  const t = await testApp(conn, { env, sms, clock: fakeClock('2026-03-02T10:00:00Z') })
  const app = createApp({ ...t.deps, clientAddress: (c) => getConnInfo(c).remote.address })
  const port = await new Promise<number>((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(info.port))
    servers.push(server)
  })
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as any }
  }
  const get = async (path: string, headers: Record<string, string>) => (await fetch(`http://127.0.0.1:${port}${path}`, { headers })).status
  return { post, get, clock: t.clock }
}

async function pair(env: Record<string, string> = {}) {
  // One SMS log for both, as one phone would see the texts of either instance.
  const sms = recordingSms()
  return { a: await instance(shared, env, sms), b: await instance(second, env, sms), sms }
}

describe('two instances on one database', () => {
  it('share the resend cooldown', async () => {
    const { a, b, sms } = await pair()
    expect((await a.post('/api/auth/otp/request/', { phone_number: PHONE })).status).toBe(202)
    expect((await b.post('/api/auth/otp/request/', { phone_number: PHONE })).status).toBe(429)
    expect(sms.sent).toHaveLength(1)
  })

  it('share the per-number send cap', async () => {
    const { a, b } = await pair({ OTP_RESEND_COOLDOWN_SECONDS: '0', LIMIT_SENDS_PER_NUMBER_HOUR: '2' })
    expect((await a.post('/api/auth/otp/request/', { phone_number: PHONE })).status).toBe(202)
    expect((await b.post('/api/auth/otp/request/', { phone_number: PHONE })).status).toBe(202)
    expect((await a.post('/api/auth/otp/request/', { phone_number: PHONE })).status).toBe(429)
    expect((await b.post('/api/auth/otp/request/', { phone_number: PHONE })).status).toBe(429)
  })

  it('share the per-number failure cap when guesses alternate', async () => {
    const { a, b, sms } = await pair({ OTP_RESEND_COOLDOWN_SECONDS: '0', LIMIT_FAILED_VERIFIES_PER_NUMBER_HOUR: '4', OTP_MAX_ATTEMPTS: '10' })
    await a.post('/api/auth/otp/request/', { phone_number: PHONE })
    const wrong = sms.codeFor(PHONE) === '000000' ? '111111' : '000000'
    const statuses = []
    for (let i = 0; i < 6; i++) statuses.push((await (i % 2 ? b : a).post('/api/auth/otp/verify/', { phone_number: PHONE, otp: wrong })).status)
    expect(statuses).toEqual([400, 400, 400, 400, 429, 429])
  })

  it('let a code be used once, on either, and tokens of one work on the other', async () => {
    const { a, b, sms } = await pair()
    await a.post('/api/auth/otp/request/', { phone_number: PHONE })
    const otp = sms.codeFor(PHONE)
    const signedIn = await b.post('/api/auth/otp/verify/', { phone_number: PHONE, otp })
    expect(signedIn.status).toBe(200)
    expect((await a.post('/api/auth/otp/verify/', { phone_number: PHONE, otp })).status).toBe(400)
    expect(await a.get('/api/auth/me/', { authorization: `Bearer ${signedIn.body.access}` })).toBe(200)
    const refreshed = await a.post('/api/auth/token/refresh/', { refresh: signedIn.body.refresh })
    expect(refreshed.status).toBe(200)
    expect((await b.post('/api/auth/token/refresh/', { refresh: refreshed.body.refresh })).status).toBe(200)
  })

  it('count a client address across both, by its socket address', async () => {
    const { a, b } = await pair({ OTP_RESEND_COOLDOWN_SECONDS: '0', LIMIT_REQUESTS_PER_IP_HOUR: '3' })
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await (i % 2 ? b : a).post('/api/auth/otp/request/', { phone_number: `+1201555010${i}` })).status)
    expect(statuses).toEqual([202, 202, 202, 429])
  })
})
