import { sql } from 'kysely'
import { Migrator } from 'kysely/migration'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrations } from '../../db/migrations/index.ts'
import type { Connection } from '../../src/store/connect.ts'
import { migrateToLatest } from '../../src/store/migrate.ts'
import { post, testApp } from '../support/app.ts'
import { fakeClock } from '../support/clock.ts'
import { testDatabase } from '../support/db.ts'

// Migration 0011 moves each number's own counts from rate_counters onto its code row: an upgrade
// in the middle of a window must keep what was counted.
const NOW = '2026-03-02T10:20:00Z'
const HOUR = new Date('2026-03-02T10:00:00Z')
const DAY = new Date('2026-03-02T00:00:00Z')
const A = '+12015550101' // has a code and counts
const B = '+12015550102' // has only wrong guesses counted, no code row

let conn: Connection

beforeAll(async () => {
  conn = await testDatabase(undefined, { migrate: false })
  const migrator = new Migrator({ db: conn.db, provider: { getMigrations: async () => migrations } })
  const before = await migrator.migrateTo('0010_fewer_statements')
  if (before.error) throw before.error
  await conn.db
    .insertInto('otp_codes')
    .values({ phone_number: A, code_hash: 'h', created_at: HOUR, expires_at: new Date(HOUR.getTime() + 300_000), attempts: 1, used_at: null } as never)
    .execute()
  const counters = [
    { key: `send:number:${A}:3600`, window_start: new Date(HOUR.getTime() - 3600_000), count: 9 },
    { key: `send:number:${A}:3600`, window_start: HOUR, count: 2 },
    { key: `send:number:${A}:86400`, window_start: DAY, count: 4 },
    { key: `verify-failed:number:${A}:3600`, window_start: HOUR, count: 1 },
    { key: `verify-failed:number:${B}:3600`, window_start: HOUR, count: 3 },
    { key: 'send:all:3600', window_start: HOUR, count: 7 },
  ]
  await conn.db.insertInto('rate_counters').values(counters).execute()
  await migrateToLatest(conn.db)
})

afterAll(() => conn?.close())

describe('migration 0011: the number\u2019s counts onto its code row', () => {
  it("carries each number's latest windows over, keeps its code, and leaves the shared counters alone", async () => {
    const rows = await conn.db.selectFrom('otp_codes').selectAll().orderBy('phone_number').execute()
    expect(rows).toMatchObject([
      { phone_number: A, code_hash: 'h', attempts: 1, sends_hour_start: HOUR, sends_hour: 2, sends_day_start: DAY, sends_day: 4, fails_start: HOUR, fails: 1 },
      { phone_number: B, code_hash: null, created_at: null, sends_hour: 0, sends_day: 0, fails_start: HOUR, fails: 3 },
    ])
    const left = await sql<{ key: string; count: number }>`select key, count from rate_counters`.execute(conn.db)
    expect(left.rows).toEqual([{ key: 'send:all:3600', count: 7 }])
  })

  it('goes on enforcing the carried-over counts', async () => {
    const env = { OTP_RESEND_COOLDOWN_SECONDS: '0', LIMIT_SENDS_PER_NUMBER_HOUR: '3', LIMIT_FAILED_VERIFIES_PER_NUMBER_HOUR: '4' }
    const t = await testApp(conn, { clock: fakeClock(NOW), env })
    // A had 2 sends this hour: one more, then the cap.
    expect((await post(t.app, '/api/auth/otp/request/', { phone_number: A })).status).toBe(202)
    expect((await post(t.app, '/api/auth/otp/request/', { phone_number: A })).status).toBe(429)
    // B had 3 wrong guesses this hour: its next code gets one more, then even the right one is refused.
    expect((await post(t.app, '/api/auth/otp/request/', { phone_number: B })).status).toBe(202)
    const code = t.sms.codeFor(B)
    expect((await post(t.app, '/api/auth/otp/verify/', { phone_number: B, otp: code === '000000' ? '111111' : '000000' })).status).toBe(400)
    expect((await post(t.app, '/api/auth/otp/verify/', { phone_number: B, otp: code })).status).toBe(429)
  })

  it('still answers the previous release\'s calls, for instances not yet replaced in a rolling deploy', async () => {
    const C = '+12015550103'
    const hour = new Date('2026-03-02T11:00:00Z')
    const at = (ms: number) => new Date(hour.getTime() + ms)
    // The previous signature: the number's caps in the same arrays as the shared ones, sorted by key.
    const request = (now: Date) =>
      sql<{ outcome: string; limit_key: string | null }>`select * from nomisafe_request_code(${C}, 'h', ${now}, ${at(3_600_000)}, 0,
        'request:ip:192.0.2.9:3600', ${hour}, 0,
        array['send:all:3600', ${`send:number:${C}:3600`}, ${`send:number:${C}:86400`}],
        array[${hour}, ${hour}, ${DAY}]::timestamptz[], array[1000, 2, 10], '+1***', '192.0.2.9', null, '{}')`.execute(conn.db)
    expect((await request(at(1000))).rows[0]).toMatchObject({ outcome: 'issued' })
    await sql`select nomisafe_withdraw_code(${C}, 'h', array['send:all:3600', ${`send:number:${C}:3600`}, ${`send:number:${C}:86400`}],
      array[${hour}, ${hour}, ${DAY}]::timestamptz[], array[1000, 2, 10], ${at(2000)}, '+1***', '192.0.2.9', null, '{}')`.execute(conn.db)
    expect((await request(at(3000))).rows[0]).toMatchObject({ outcome: 'issued' })
    expect((await request(at(4000))).rows[0]).toMatchObject({ outcome: 'issued' })
    // Two sent, one withdrawn: the hour cap of 2 is reached on the number's row.
    expect((await request(at(5000))).rows[0]).toMatchObject({ outcome: 'limited', limit_key: `send:number:${C}:3600` })
    const row = await conn.db.selectFrom('otp_codes').selectAll().where('phone_number', '=', C).executeTakeFirstOrThrow()
    expect(row).toMatchObject({ sends_hour_start: hour, sends_hour: 2, sends_day: 2 })
    const all = await sql<{ n: number }>`select sum(count)::int as n from rate_counters where key = 'send:all:3600' and window_start = ${hour}`.execute(conn.db)
    expect(all.rows[0]!.n).toBe(2)
  })
})
