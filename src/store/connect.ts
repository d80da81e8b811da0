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

export async function connectDatabase(opts: DatabaseOptions, openEmbedded: OpenEmbedded): Promise<Connection> {
  if (opts.url) {
    const client = postgres(opts.url, {
      max: opts.poolSize,
      connect_timeout: 10,
      idle_timeout: 60,
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
