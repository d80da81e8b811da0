import { Hono } from 'hono'
import * as v from 'valibot'
import { currentUser, deleteAccount, logout, refreshSession } from '../auth/sessions.ts'
import type { Deps } from '../deps.ts'
import { exchangeLegacyRefresh, isLegacyRefreshToken } from '../legacy/legacy-refresh.ts'
import { field, object, readJson } from './body.ts'
import { caller } from './client-ip.ts'

export const RefreshBody = object({ refresh: field('refresh', 4096) })
export const LogoutBody = object({
  refresh: v.optional(field('refresh', 4096)),
  all: v.optional(v.boolean('all must be true or false')),
})

/** Sessions after sign-in: rotation, logout, and the signed-in user. */
export function sessionRoutes(deps: Deps) {
  return new Hono()
    .post('/token/refresh', async (c) => {
      const body = await readJson(c, RefreshBody)
      const r = isLegacyRefreshToken(deps, body.refresh)
        ? await exchangeLegacyRefresh(deps, body.refresh)
        : await refreshSession(deps, body.refresh, caller(c, deps))
      return c.json({ access: r.access, refresh: r.refresh, token_type: 'Bearer', expires_in: r.expiresInSeconds })
    })
    .post('/logout', async (c) => {
      const body = await readJson(c, LogoutBody)
      await logout(deps, { ...body, authorization: c.req.header('authorization') }, caller(c, deps))
      return c.body(null, 204)
    })
    .get('/me', async (c) => {
      const user = await currentUser(deps, c.req.header('authorization'))
      return c.json({
        id: user.id,
        phone_number: user.phoneNumber,
        created_at: user.createdAt.toISOString(),
        last_login_at: user.lastLoginAt?.toISOString() ?? null,
      })
    })
    .delete('/me', async (c) => {
      await deleteAccount(deps, c.req.header('authorization'), caller(c, deps))
      return c.body(null, 204)
    })
}
