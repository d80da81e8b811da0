import { Hono } from 'hono'
import type { Deps } from '../deps.ts'
import { ping } from '../store/connect.ts'
import { isMigrated } from '../store/migrate.ts'

/** Health for load balancers, and the public keys other services verify our tokens with. */
export function opsRoutes(deps: Deps) {
  let migrated = false
  return new Hono()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', async (c) => {
      if (!deps.accepting()) return c.json({ status: 'shutting_down' }, 503)
      try {
        // Once migrated, a build never becomes unmigrated: only reachability is checked after that.
        if (migrated) await ping(deps.db)
        else migrated = await isMigrated(deps.db)
        if (!migrated) return c.json({ status: 'not_migrated' }, 503)
        return c.json({ status: 'ready' })
      } catch {
        return c.json({ status: 'database_unreachable' }, 503)
      }
    })
    .get('/.well-known/jwks.json', async (c) => {
      c.header('cache-control', 'public, max-age=300')
      return c.json(await deps.keys.jwks())
    })
}
