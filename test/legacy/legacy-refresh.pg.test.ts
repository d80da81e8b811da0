import { SignJWT } from 'jose'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Connection } from '../../src/store/connect.ts'
import { post, testApp } from '../support/app.ts'
import { testDatabase } from '../support/db.ts'

// Real PostgreSQL, a pool of connections: racing exchanges of one legacy token really overlap.
const SECRET = 'django-insecure-race-test-secret-key-0123456789abcdefghijkl'
let conn: Connection
beforeAll(async () => {
  conn = await testDatabase('postgres')
})
afterAll(() => conn.close())

describe('a legacy refresh token presented by racing requests', () => {
  it('is exchanged by exactly one of them', async () => {
    await sql`insert into users (id, phone_number, created_at) values (9001, '+919812345678', now())`.execute(conn.db)
    const t = await testApp(conn, { env: { LEGACY_JWT_SECRET: SECRET } })
    const iat = Math.floor(t.clock.now().getTime() / 1000)
    const token = await new SignJWT({ token_type: 'refresh', user_id: 9001, jti: 'e2f1c3a4b5d6478899aabbccddeeff00' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt(iat)
      .setExpirationTime(iat + 86400)
      .sign(new TextEncoder().encode(SECRET))
    const answers = await Promise.all(Array.from({ length: 12 }, () => post(t.app, '/api/auth/token/refresh/', { refresh: token })))
    const statuses = answers.map((a) => a.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(1)
    expect(statuses.filter((s) => s === 401)).toHaveLength(11)
    expect(await conn.db.selectFrom('sessions').select('id').execute()).toHaveLength(1)
  })
})
