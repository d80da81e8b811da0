import { Hono, type Context } from 'hono'
import * as v from 'valibot'
import { endSessions, findUser, sessionsOf, setDisabled } from '../auth/admin.ts'
import type { Deps } from '../deps.ts'
import { AppError } from '../errors.ts'
import type { User } from '../store/users.ts'
import { requireBearerSecret } from './bearer-secret.ts'
import { caller } from './client-ip.ts'

export const AdminUser = v.object({
  id: v.number(),
  phone_number: v.string(),
  created_at: v.string(),
  last_login_at: v.nullable(v.string()),
  disabled_at: v.nullable(v.string()),
})

const toWire = (u: User): v.InferOutput<typeof AdminUser> => ({
  id: u.id,
  phone_number: u.phoneNumber,
  created_at: u.createdAt.toISOString(),
  last_login_at: u.lastLoginAt?.toISOString() ?? null,
  disabled_at: u.disabledAt?.toISOString() ?? null,
})

function userId(c: Context): number {
  const raw = c.req.param('id') ?? ''
  if (!/^[1-9]\d{0,15}$/.test(raw)) throw new AppError('not_found', { detail: 'No user has that id.' })
  return Number(raw)
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The admin API: only mounted when ADMIN_TOKEN is set, and only for that bearer token. */
export function adminRoutes(deps: Deps, token: string) {
  return new Hono()
    .use(requireBearerSecret(token))
    .get('/users', async (c) => {
      const phone = c.req.query('phone')
      if (!phone) {
        throw new AppError('invalid_request', {
          detail: 'Look a user up with ?phone=<number>, or by id at /admin/users/<id>.',
          invalidParams: [{ name: 'phone', reason: 'required' }],
        })
      }
      return c.json(toWire(await findUser(deps, { phone })))
    })
    .get('/users/:id', async (c) => c.json(toWire(await findUser(deps, { id: userId(c) }))))
    .post('/users/:id/disable', async (c) => c.json(toWire(await setDisabled(deps, userId(c), true, caller(c, deps)))))
    .post('/users/:id/enable', async (c) => c.json(toWire(await setDisabled(deps, userId(c), false, caller(c, deps)))))
    .get('/users/:id/sessions', async (c) => {
      const sessions = await sessionsOf(deps, userId(c))
      return c.json({
        sessions: sessions.map((s) => ({
          id: s.id,
          created_at: s.createdAt.toISOString(),
          refreshed_at: s.refreshedAt?.toISOString() ?? null,
          expires_at: s.expiresAt.toISOString(),
        })),
      })
    })
    .delete('/users/:id/sessions', async (c) => c.json({ ended: await endSessions(deps, userId(c), undefined, caller(c, deps)) }))
    .delete('/users/:id/sessions/:sid', async (c) => {
      const sid = c.req.param('sid')
      if (!UUID.test(sid)) throw new AppError('not_found', { detail: 'No session has that id.' })
      return c.json({ ended: await endSessions(deps, userId(c), sid, caller(c, deps)) })
    })
}
