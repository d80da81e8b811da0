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
