import type { Db } from './connect.ts'
import { consumeCode } from './otp-codes.ts'
import { createSession } from './sessions.ts'
import { upsertUserOnSignIn } from './users.ts'

export interface SignInWithCode {
  phone: string
  codeHash: string
  maxAttempts: number
  now: Date
  session: { id: string; refreshJtiHash: string; expiresAt: Date }
}

export type SignInResult =
  | { outcome: 'signed_in'; userId: number; created: boolean }
  | { outcome: 'wrong' }
  | { outcome: 'exhausted'; sentAt: Date }
  | { outcome: 'disabled' }

/**
 * Uses the code, finds or creates the user and opens the session in one transaction: a sign-in
 * that was answered is wholly there, and a failed one leaves only its counted attempt.
 */
export function signInWithCode(db: Db, s: SignInWithCode): Promise<SignInResult> {
  return db.transaction().execute(async (trx) => {
    const used = await consumeCode(trx, { phone: s.phone, codeHash: s.codeHash, now: s.now, maxAttempts: s.maxAttempts })
    if (used.outcome !== 'used') return used
    const user = await upsertUserOnSignIn(trx, s.phone, s.now)
    if (user.disabled) return { outcome: 'disabled' }
    await createSession(trx, { id: s.session.id, userId: user.id, refreshJtiHash: s.session.refreshJtiHash, now: s.now, expiresAt: s.session.expiresAt })
    return { outcome: 'signed_in', userId: user.id, created: user.created }
  })
}
