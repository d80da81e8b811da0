import type { PGlite } from '@electric-sql/pglite'
import { CompiledQuery, Kysely, PGliteDialect, type DatabaseConnection, type Dialect, type Driver } from 'kysely'
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
 *   after 2 s, so such a request answers 503 within a few seconds instead of 10, even when it first
 *   waited for a busy connection.
 * - `idle_timeout`: idle connections are closed after 60 s, so the pool shrinks after a burst.
 * - `max_lifetime`: connections are replaced after 30 minutes (postgres.js picks 30 to 60 by
 *   default), so a pool follows a failover or a DNS change without a restart.
 */
const OUTAGE_SETTINGS = {
  backoff: () => 0,
  connect_timeout: 2,
  idle_timeout: 60,
  max_lifetime: 30 * 60,
} as const

/**
 * The longest a request waits for a connection, or for one query's answer, before it gives up and
 * answers 503. Under a sudden shutdown a connection can be handed out and never answer (seen about
 * once in 5,000 requests with `pg_ctl stop`); this bound makes even that request end in time.
 * Every statement of the service takes milliseconds, so no healthy query comes near it.
 */
const QUERY_DEADLINE_MS = 3000

class DatabaseDeadline extends Error {
  // A connection-class code, so toProblem answers 503 service_unavailable (errors.ts).
  readonly code = 'CONNECT_TIMEOUT'
  constructor(what: string, ms: number) {
    super(`the database did not ${what} within ${ms} ms`)
    this.name = 'DatabaseDeadline'
  }
}

function deadline<T>(work: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseDeadline(what, ms)), ms)
  })
  return Promise.race([work, late]).finally(() => clearTimeout(timer))
}

/** Wraps a dialect so acquiring a connection and running a query each have a deadline. */
function withDeadline(inner: Dialect, ms: number): Dialect {
  return {
    createAdapter: () => inner.createAdapter(),
    createIntrospector: (db) => inner.createIntrospector(db),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createDriver: () => {
      const driver = inner.createDriver()
      // The driver's own connection behind each wrapped one, for the calls that take it back.
      const raw = new WeakMap<DatabaseConnection, DatabaseConnection>()
      const own = (c: DatabaseConnection) => raw.get(c) ?? c
      return {
        init: () => driver.init(),
        destroy: () => driver.destroy(),
        beginTransaction: (c, settings) => driver.beginTransaction(own(c), settings),
        commitTransaction: (c) => driver.commitTransaction(own(c)),
        rollbackTransaction: (c) => driver.rollbackTransaction(own(c)),
        releaseConnection: (c) => driver.releaseConnection(own(c)),
        acquireConnection: async () => {
          const acquiring = driver.acquireConnection()
          const c = await deadline(acquiring, 'hand out a connection', ms).catch((err: unknown) => {
            // Should the connection come after all, it goes back to the pool rather than leak.
            acquiring.then((late) => driver.releaseConnection(late)).catch(() => {})
            throw err
          })
          const wrapped: DatabaseConnection = {
            executeQuery: (q) => deadline(c.executeQuery(q), 'answer a query', ms),
            streamQuery: (q, chunkSize) => c.streamQuery(q, chunkSize),
          }
          raw.set(wrapped, c)
          return wrapped
        },
      } satisfies Driver
    },
  }
}

/** One statement with its parameters, straight to the driver: for the few calls made on every request. */
export type RawQuery = <R>(text: string, params: readonly unknown[]) => Promise<R[]>

const rawQueries = new WeakMap<Db, RawQuery>()

/**
 * The driver's own query function behind `db`. Kysely builds and compiles every query and, on
 * postgres.js, reserves a connection for each one; the sign-in steps are a single prepared call
 * each, so they skip that (bench/RESULTS.md). Any other Kysely gets a path through Kysely.
 */
export function rawQuery(db: Db): RawQuery {
  return rawQueries.get(db) ?? (async <R>(text: string, params: readonly unknown[]) => (await db.executeQuery<R>(CompiledQuery.raw(text, [...params]))).rows as R[])
}

export async function connectDatabase(opts: DatabaseOptions, openEmbedded: OpenEmbedded): Promise<Connection> {
  if (opts.url) {
    const client = postgres(opts.url, {
      max: opts.poolSize,
      ...OUTAGE_SETTINGS,
      onnotice: () => {},
    })
    const db = new Kysely<Database>({ dialect: withDeadline(new PostgresJSDialect({ postgres: client }), QUERY_DEADLINE_MS) })
    rawQueries.set(db, async <R>(text: string, params: readonly unknown[]) => {
      const query = client.unsafe(text, params as never[], { prepare: true })
      try {
        return (await deadline(query, 'answer a query', QUERY_DEADLINE_MS)) as unknown as R[]
      } catch (err) {
        // A call still waiting for a connection at its deadline is dropped from the queue, so it
        // never runs after its request has answered 503. (postgres.js sets `state` once it is sent.)
        if (err instanceof DatabaseDeadline && !(query as { state?: unknown }).state) query.cancel()
        throw err
      }
    })
    return { db, kind: 'postgres', close: () => db.destroy() }
  }
  return connectEmbedded(await openEmbedded(opts.dataDir))
}

/** PGlite runs in this process; `memory://` (or no folder) keeps nothing, which tests use. */
export function connectEmbedded(pglite: PGlite): Connection {
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) })
  rawQueries.set(db, async <R>(text: string, params: readonly unknown[]) => (await pglite.query<R>(text, [...params])).rows)
  return {
    db,
    kind: 'embedded',
    close: async () => {
      await db.destroy()
      if (!pglite.closed) await pglite.close()
    },
  }
}

/**
 * One round trip, for readiness, on the connections the sign-in steps use. A pooled connection
 * that the server closed (a restart, a failover) can fail one call before the pool notices: a
 * second try gets a fresh one, so a load balancer does not take the instance out for it. A call
 * past its deadline is not tried again.
 */
export async function ping(db: Db): Promise<void> {
  const query = rawQuery(db)
  try {
    await query('select 1', [])
  } catch (err) {
    if (err instanceof DatabaseDeadline) throw err
    await query('select 1', [])
  }
}
