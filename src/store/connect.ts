import type { PGlite } from '@electric-sql/pglite'
import { Kysely, PGliteDialect, sql } from 'kysely'
import { PostgresJSDialect } from 'kysely-postgres-js'
import postgres from 'postgres'
import type { Database } from './schema.ts'

export type Db = Kysely<Database>

export interface DatabaseOptions {
  /** A PostgreSQL URL; unset means the embedded database (PGlite) in `dataDir`. */
  url: string | undefined
  dataDir: string
  poolSize: number
}

export interface Connection {
  db: Db
  kind: 'postgres' | 'embedded'
  close(): Promise<void>
}

/** Opens the embedded database in a folder; the runtime adapter knows how to reach files. */
export type OpenEmbedded = (dataDir: string) => PGlite | Promise<PGlite>

/**
 * How the PostgreSQL pool behaves when the database goes away, so that every request still gets an
 * answer in time (503 while PostgreSQL is down) and the service recovers by itself when it is back
 * (test/reliability/db-outage.long.test.ts shows both):
 *
 * - `backoff`: after a failed connection attempt postgres.js waits before the next one, and every
 *   query queued for a connection waits with it. Its default wait grows to 20 s (3^tries / 100 s),
 *   so during an outage requests hung for up to 20 s, and once PostgreSQL was back the service took
 *   as long to notice. Any wait at all makes the queue grow under load (requests arrive faster than
 *   one attempt per connection per wait), so there is none: each queued query makes one attempt,
 *   which a stopped server refuses at once, and its request answers 503. Attempts come only from
 *   requests (at most one per pooled connection at a time), never from a loop.
 * - `connect_timeout`: a connection attempt that gets no answer (a host that drops packets) fails
 *   after 4 s, so such a request answers 503 within about 5 s instead of 10.
 * - `idle_timeout`: idle connections are closed after 60 s, so the pool shrinks after a burst.
 * - `max_lifetime`: connections are replaced after 30 minutes (postgres.js picks 30 to 60 by
 *   default), so a pool follows a failover or a DNS change without a restart.
 */
const OUTAGE_SETTINGS = {
  backoff: () => 0,
  connect_timeout: 4,
  idle_timeout: 60,
  max_lifetime: 30 * 60,
} as const

export async function connectDatabase(opts: DatabaseOptions, openEmbedded: OpenEmbedded): Promise<Connection> {
  if (opts.url) {
    const client = postgres(opts.url, {
      max: opts.poolSize,
      ...OUTAGE_SETTINGS,
      onnotice: () => {},
    })
    const db = new Kysely<Database>({ dialect: new PostgresJSDialect({ postgres: client }) })
    return { db, kind: 'postgres', close: () => db.destroy() }
  }
  return connectEmbedded(await openEmbedded(opts.dataDir))
}

/** PGlite runs in this process; `memory://` (or no folder) keeps nothing, which tests use. */
export function connectEmbedded(pglite: PGlite): Connection {
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) })
  return {
    db,
    kind: 'embedded',
    close: async () => {
      await db.destroy()
      if (!pglite.closed) await pglite.close()
    },
  }
}

/** One round trip, for readiness. */
export async function ping(db: Db): Promise<void> {
  await sql`select 1`.execute(db)
}
