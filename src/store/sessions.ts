import type { Db } from './connect.ts'

export interface NewSession {
  id: string
  userId: number
  refreshJtiHash: string
  now: Date
  expiresAt: Date
}

export async function createSession(db: Db, s: NewSession): Promise<void> {
  await db
    .insertInto('sessions')
    .values({ id: s.id, user_id: s.userId, refresh_jti_hash: s.refreshJtiHash, created_at: s.now, expires_at: s.expiresAt })
    .execute()
}

export interface Rotate {
  sessionId: string
  presentedJtiHash: string
  newJtiHash: string
  newRefreshSealed: string
  now: Date
  expiresAt: Date
}

export interface SessionUser {
  userId: number
  phoneNumber: string
}

/**
 * Swaps the session's refresh jti for a new one when the presented one is the current one, the
 * session is live and its user enabled: one statement, so of two racing refreshes one wins.
 */
export async function rotateSession(db: Db, r: Rotate): Promise<SessionUser | undefined> {
  const row = await db
    .updateTable('sessions')
    .from('users')
    .set((eb) => ({
      previous_jti_hash: eb.ref('sessions.refresh_jti_hash'),
      refresh_jti_hash: r.newJtiHash,
      latest_refresh_enc: r.newRefreshSealed,
      rotated_at: r.now,
      refreshed_at: r.now,
      expires_at: r.expiresAt,
    }))
    .whereRef('users.id', '=', 'sessions.user_id')
    .where('users.disabled_at', 'is', null)
    .where('sessions.id', '=', r.sessionId)
    .where('sessions.refresh_jti_hash', '=', r.presentedJtiHash)
    .where('sessions.revoked_at', 'is', null)
    .where('sessions.expires_at', '>', r.now)
    .returning(['users.id', 'users.phone_number'])
    .executeTakeFirst()
  return row && { userId: Number(row.id), phoneNumber: row.phone_number }
}

export interface SessionState {
  userId: number
  phoneNumber: string
  userDisabled: boolean
  revoked: boolean
  expiresAt: Date
  currentJtiHash: string
  previousJtiHash: string | null
  rotatedAt: Date | null
  latestRefreshSealed: string | null
}

/** The session and its user, to explain a refresh that did not rotate. */
export async function findSession(db: Db, sessionId: string): Promise<SessionState | undefined> {
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select([
      'users.id as user_id',
      'users.phone_number',
      'users.disabled_at',
      'sessions.revoked_at',
      'sessions.expires_at',
      'sessions.refresh_jti_hash',
      'sessions.previous_jti_hash',
      'sessions.rotated_at',
      'sessions.latest_refresh_enc',
    ])
    .where('sessions.id', '=', sessionId)
    .executeTakeFirst()
  return (
    row && {
      userId: Number(row.user_id),
      phoneNumber: row.phone_number,
      userDisabled: row.disabled_at !== null,
      revoked: row.revoked_at !== null,
      expiresAt: row.expires_at,
      currentJtiHash: row.refresh_jti_hash,
      previousJtiHash: row.previous_jti_hash,
      rotatedAt: row.rotated_at,
      latestRefreshSealed: row.latest_refresh_enc,
    }
  )
}

/** Ends one session of a user; true when it was live. */
export async function revokeSession(db: Db, sessionId: string, userId: number, reason: string, now: Date): Promise<boolean> {
  const r = await db
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason, latest_refresh_enc: null })
    .where('id', '=', sessionId)
    .where('user_id', '=', String(userId))
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  return r.numUpdatedRows > 0n
}

/** Ends every live session of a user; returns how many. */
export async function revokeUserSessions(db: Db, userId: number, reason: string, now: Date): Promise<number> {
  const r = await db
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason, latest_refresh_enc: null })
    .where('user_id', '=', String(userId))
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  return Number(r.numUpdatedRows)
}

export interface SessionSummary {
  id: string
  createdAt: Date
  refreshedAt: Date | null
  expiresAt: Date
}

export async function listLiveSessions(db: Db, userId: number, now: Date): Promise<SessionSummary[]> {
  const rows = await db
    .selectFrom('sessions')
    .select(['id', 'created_at', 'refreshed_at', 'expires_at'])
    .where('user_id', '=', String(userId))
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('created_at', 'desc')
    .execute()
  return rows.map((r) => ({ id: r.id, createdAt: r.created_at, refreshedAt: r.refreshed_at, expiresAt: r.expires_at }))
}
