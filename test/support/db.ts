import { PGlite } from '@electric-sql/pglite'
import { sql } from 'kysely'
import postgres from 'postgres'
import { afterAll, beforeAll, beforeEach, inject } from 'vitest'
import { connectDatabase, connectEmbedded, type Connection } from '../../src/store/connect.ts'
import { migrateToLatest } from '../../src/store/migrate.ts'

/** Which database this test project runs on: a real PostgreSQL server, or embedded PGlite. */
export type DbKind = 'postgres' | 'pglite'

export function dbKind(): DbKind {
  const kind = process.env.TEST_DB
  if (kind !== 'postgres' && kind !== 'pglite') throw new Error('TEST_DB must be postgres or pglite (set by vitest.config.ts)')
  return kind
}

/** A fresh, migrated database of its own for one test file, so files can run in parallel. */
export async function testDatabase(kind: DbKind = dbKind(), opts: { migrate?: boolean } = {}): Promise<Connection & { url?: string }> {
  let conn: Connection & { url?: string }
  if (kind === 'pglite') {
    conn = connectEmbedded(new PGlite())
  } else {
    const adminUrl = inject('pgAdminUrl')
    const name = `t_${crypto.randomUUID().replaceAll('-', '')}`
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
    await admin.unsafe(`create database ${name}`)
    await admin.end()
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    const inner = await connectDatabase({ url: url.toString(), dataDir: '', poolSize: 20 }, () => {
      throw new Error('not embedded')
    })
    conn = { ...inner, url: url.toString() }
  }
  if (opts.migrate !== false) await migrateToLatest(conn.db)
  return conn
}

/** Empties what tests write between tests; keys and settings stay, as they would across restarts. */
export async function resetData(conn: Connection): Promise<void> {
  await sql`truncate table sessions, otp_codes, users, rate_counters, rate_counter_shards, audit_events, events, legacy_refresh_jtis restart identity cascade`.execute(conn.db)
}

/**
 * A database of its own for the calling test file, emptied before each test. The returned
 * connection is read lazily, so it can be handed to helpers before beforeAll has run.
 */
export function useTestDatabase(kind?: DbKind): Connection & { url?: string } {
  let real: (Connection & { url?: string }) | undefined
  const get = () => {
    if (!real) throw new Error('the test database is not open yet (use it inside a test or hook)')
    return real
  }
  beforeAll(async () => {
    real = await testDatabase(kind)
  })
  afterAll(() => real?.close())
  beforeEach(() => resetData(get()))
  return {
    get db() {
      return get().db
    },
    get kind() {
      return get().kind
    },
    get url() {
      return get().url
    },
    close: () => get().close(),
  }
}
