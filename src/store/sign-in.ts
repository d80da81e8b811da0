import { enqueueEvent } from '../events/outbox.ts'
import type { Db } from './connect.ts'
import { hitCounters, undoHits, type Exceeded, type Hit } from './counters.ts'
import { consumeCode } from './otp-codes.ts'
import { createSession } from './sessions.ts'
import { upsertUserOnSignIn } from './users.ts'

export interface SignInWithCode {
  phone: string
  codeHash: string
  maxAttempts: number
  now: Date
  session: { id: string; refreshJtiHash: string; expiresAt: Date }
  /** Failed-verify caps: counted before the code is checked, taken back when it was right. */
  failureHits: Hit[]
  /** Write user.created to the event outbox when this sign-in creates the user. */
  events?: boolean
}

export type SignInResult =
  | { outcome: 'signed_in'; userId: number; created: boolean }
  | { outcome: 'wrong' }
  | { outcome: 'exhausted'; sentAt: Date }
  | { outcome: 'disabled' }
  | { outcome: 'limited'; exceeded: Exceeded }

/**
 * Uses the code, finds or creates the user and opens the session in one transaction: a sign-in
 * that was answered is wholly there, and a failed one leaves only its counted attempt.
 */
export function signInWithCode(db: Db, s: SignInWithCode): Promise<SignInResult> {
  return db.transaction().execute(async (trx) => {
    // Counting first means a crash mid-verify, or a racing guess, still spends the budget.
    const exceeded = await hitCounters(trx, s.failureHits)
    if (exceeded) {
      await undoHits(trx, s.failureHits)
      return { outcome: 'limited', exceeded }
    }
    const used = await consumeCode(trx, { phone: s.phone, codeHash: s.codeHash, now: s.now, maxAttempts: s.maxAttempts })
    if (used.outcome !== 'used') return used
    await undoHits(trx, s.failureHits)
    const user = await upsertUserOnSignIn(trx, s.phone, s.now)
    if (user.disabled) return { outcome: 'disabled' }
    await createSession(trx, { id: s.session.id, userId: user.id, refreshJtiHash: s.session.refreshJtiHash, now: s.now, expiresAt: s.session.expiresAt })
    if (s.events && user.created) await enqueueEvent(trx, { type: 'user.created', data: { id: user.id, phone_number: s.phone }, now: s.now })
    return { outcome: 'signed_in', userId: user.id, created: user.created }
  })
}
