import { PGlite } from '@electric-sql/pglite'
import { sql } from 'kysely'
import postgres from 'postgres'
import { inject } from 'vitest'
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
  await sql`truncate table sessions, otp_codes, users, rate_counters, audit_events restart identity cascade`.execute(conn.db)
}
