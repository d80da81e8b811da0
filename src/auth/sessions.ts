import type { Deps } from '../deps.ts'
import { AppError } from '../errors.ts'
import { deleteUser, findUserById, type User } from '../store/users.ts'
import { findSession, revokeSession, revokeUserSessions, rotateSession } from '../store/sessions.ts'
import { requireAccess } from './bearer.ts'
import { seal, unsealText } from './seal.ts'
import { sha256 } from './secrets.ts'
import { securityEvent, type Actor } from './security-events.ts'
import { signAccessToken, signRefreshToken, verifyToken } from './tokens.ts'

export interface Refreshed {
  access: string
  refresh: string
  expiresInSeconds: number
}

const sealContext = (sessionId: string) => `session-refresh:${sessionId}`

/**
 * Rotates a refresh token: the presented one stops working. A token that was already rotated
 * away is theft or a lost race: inside the grace window it gets the session's newest refresh
 * token again (the chain never forks), after it the whole session ends.
 */
export async function refreshSession(deps: Deps, token: string, actor: Actor): Promise<Refreshed> {
  const { keys, config, clock, db, secrets, log } = deps
  const now = clock.now()
  const claims = await verifyToken(keys, config.jwt, token, 'refresh', now)
  const sessionId = claims.sid!
  const presentedJtiHash = await sha256(claims.jti)
  const jti = crypto.randomUUID()
  const refresh = await signRefreshToken(keys, config.jwt, { userId: claims.userId, sessionId, jti, now })
  const rotated = await rotateSession(db, {
    sessionId,
    presentedJtiHash,
    newJtiHash: await sha256(jti),
    newRefreshSealed: await seal(secrets.sessionKey, refresh.token, sealContext(sessionId)),
    now,
    expiresAt: refresh.expiresAt,
  })
  if (rotated) {
    const access = await signAccessToken(keys, config.jwt, { userId: rotated.userId, phone: rotated.phoneNumber, now })
    return { access, refresh: refresh.token, expiresInSeconds: config.jwt.accessTtlSeconds }
  }

  const session = await findSession(db, sessionId)
  if (!session || session.userId !== claims.userId) throw new AppError('invalid_token')
  // Disabling ends the sessions too; saying why lets the app show it instead of a sign-in loop.
  if (session.userDisabled) throw new AppError('account_disabled')
  if (session.revoked || session.expiresAt <= now) throw new AppError('invalid_token')
  const graceMs = config.session.reuseGraceSeconds * 1000
  // graceMs > 0: a racing refresh that started before the winning one has a negative age, which
  // would pass `< 0` and get the new token although REFRESH_REUSE_GRACE=0 turns the window off.
  const withinGrace =
    graceMs > 0 &&
    session.previousJtiHash === presentedJtiHash &&
    session.rotatedAt !== null &&
    now.getTime() - session.rotatedAt.getTime() < graceMs &&
    session.latestRefreshSealed !== null
  if (withinGrace) {
    const newest = await unsealText(secrets.sessionKey, session.latestRefreshSealed!, sealContext(sessionId))
    const access = await signAccessToken(keys, config.jwt, { userId: session.userId, phone: session.phoneNumber, now })
    log.info('refresh replayed inside the grace window', { session_id: sessionId, user_id: session.userId })
    return { access, refresh: newest, expiresInSeconds: config.jwt.accessTtlSeconds }
  }
  if (session.currentJtiHash !== presentedJtiHash) {
    await revokeSession(db, sessionId, session.userId, 'reuse', now)
    await securityEvent(deps, 'refresh_reuse', actor, { userId: session.userId, phone: session.phoneNumber, detail: { session_id: sessionId } })
  }
  throw new AppError('invalid_token')
}

/** Ends the session of a refresh token, or with `all` every session of the Bearer's user. */
export async function logout(deps: Deps, req: { refresh?: string; all?: boolean; authorization?: string }, actor: Actor): Promise<void> {
  const { keys, config, clock, db } = deps
  const now = clock.now()
  if (req.all === true) {
    const claims = await requireAccess(deps, req.authorization)
    const ended = await revokeUserSessions(db, claims.userId, 'logout_all', now)
    await securityEvent(deps, 'logout_all', actor, { userId: claims.userId, detail: { sessions: ended } })
    return
  }
  if (!req.refresh) {
    throw new AppError('invalid_request', {
      detail: 'Send the refresh token to end its session, or "all": true with a Bearer access token.',
      invalidParams: [{ name: 'refresh', reason: 'required unless "all" is true' }],
    })
  }
  const claims = await verifyToken(keys, config.jwt, req.refresh, 'refresh', now)
  if (await revokeSession(db, claims.sid!, claims.userId, 'logout', now)) {
    await securityEvent(deps, 'logout', actor, { userId: claims.userId, detail: { session_id: claims.sid } })
  }
}

/** The Bearer's own account; a deleted user's token is refused at once, a disabled one with 403. */
export async function currentUser(deps: Deps, authorization: string | undefined): Promise<User> {
  const claims = await requireAccess(deps, authorization)
  const user = await findUserById(deps.db, claims.userId)
  if (!user) throw new AppError('invalid_token')
  if (user.disabledAt) throw new AppError('account_disabled')
  return user
}

/**
 * Deletes the Bearer's own account (API.md: DELETE /me). Its sessions go with it, so this service
 * refuses the account's tokens at once; user.deleted tells the services that verify on their own.
 */
export async function deleteAccount(deps: Deps, authorization: string | undefined, actor: Actor): Promise<void> {
  const claims = await requireAccess(deps, authorization)
  const r = await deleteUser(deps.db, { id: claims.userId, now: deps.clock.now(), events: deps.config.events !== undefined })
  if (r.outcome === 'missing') throw new AppError('invalid_token')
  if (r.outcome === 'disabled') throw new AppError('account_disabled')
  await securityEvent(deps, 'user_deleted', actor, { userId: claims.userId, phone: r.phoneNumber })
}
