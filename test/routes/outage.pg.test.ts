import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app.ts'
import { connectDatabase, type Connection } from '../../src/store/connect.ts'
import { call, post, testApp } from '../support/app.ts'
import { testDatabase } from '../support/db.ts'

let conn: Connection
let dead: Connection
beforeAll(async () => {
  conn = await testDatabase('postgres')
  // Nothing listens on port 1: every query fails to connect.
  dead = await connectDatabase({ url: 'postgres://nobody@127.0.0.1:1/none', dataDir: '', poolSize: 1 }, () => {
    throw new Error('not embedded')
  })
})
afterAll(async () => {
  await conn.close()
  await dead.close()
})

describe('with the database out of reach', () => {
  it('answers 503 service_unavailable problem+json, without internals, and /readyz turns 503', async () => {
    const t = await testApp(conn)
    const app = createApp({ ...t.deps, db: dead.db })
    const res = await post(app, '/api/auth/otp/request/', { phone_number: '+12015550123' })
    expect(res.status).toBe(503)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(res.headers.get('retry-after')).toBe('1')
    expect(res.body.code).toBe('service_unavailable')
    expect(JSON.stringify(res.body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|postgres|select|insert/i)
    expect((await call(app, 'GET', '/readyz')).status).toBe(503)
    expect((await call(app, 'GET', '/healthz')).status).toBe(200)
  })
})
