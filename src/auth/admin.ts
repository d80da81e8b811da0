import type { Deps } from '../deps.ts'
import { AppError } from '../errors.ts'
import { listLiveSessions, revokeSession, revokeUserSessions } from '../store/sessions.ts'
import { findUserById, findUserByPhone, setUserDisabled, type User } from '../store/users.ts'
import { normalizePhone } from './phone.ts'
import { securityEvent, type Actor } from './security-events.ts'

/** The operator's back office: look users up, disable and enable them, see and end their sessions. */

export async function findUser(deps: Deps, q: { id?: number; phone?: string }): Promise<User> {
  let user: User | undefined
  if (q.id !== undefined) user = await findUserById(deps.db, q.id)
  else if (q.phone) {
    // Any valid number may be looked up, whatever the sign-in rules for its country.
    const rules = { ...deps.config.phone, allowedCountries: [], deniedCountries: [] }
    user = await findUserByPhone(deps.db, normalizePhone(q.phone, rules).e164)
  }
  if (!user) throw new AppError('not_found', { detail: 'No user matches.' })
  return user
}

export async function setDisabled(deps: Deps, id: number, disabled: boolean, actor: Actor): Promise<User> {
  const user = await setUserDisabled(deps.db, { id }, disabled, deps.clock.now())
  if (!user) throw new AppError('not_found', { detail: 'No user has that id.' })
  await securityEvent(deps, disabled ? 'user_disabled' : 'user_enabled', actor, { userId: id, phone: user.phoneNumber, detail: { by: 'admin api' } })
  return user
}

export async function sessionsOf(deps: Deps, id: number) {
  await findUser(deps, { id })
  return listLiveSessions(deps.db, id, deps.clock.now())
}

/** Ends one session of the user, or all of them when `sessionId` is undefined; returns how many ended. */
export async function endSessions(deps: Deps, id: number, sessionId: string | undefined, actor: Actor): Promise<number> {
  await findUser(deps, { id })
  const now = deps.clock.now()
  const ended = sessionId === undefined
    ? await revokeUserSessions(deps.db, id, 'admin', now)
    : (await revokeSession(deps.db, sessionId, id, 'admin', now)) ? 1 : 0
  await securityEvent(deps, 'sessions_ended', actor, { userId: id, detail: { by: 'admin api', session_id: sessionId, ended } })
  return ended
}
