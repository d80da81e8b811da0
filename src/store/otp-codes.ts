import { sql } from 'kysely'
import type { Db } from './connect.ts'

export interface IssueCode {
  phone: string
  codeHash: string
  now: Date
  expiresAt: Date
  cooldownSeconds: number
}

export type IssueResult = { issued: true } | { issued: false; retryAfterSeconds: number }

/**
 * Stores a new code for the number, replacing the older one, unless the older one was sent inside
 * the cooldown. Check and write are one statement, so two racing requests can't both send.
 */
export async function issueCode(db: Db, c: IssueCode): Promise<IssueResult> {
  const cutoff = new Date(c.now.getTime() - c.cooldownSeconds * 1000)
  const row = await db
    .insertInto('otp_codes')
    .values({ phone_number: c.phone, code_hash: c.codeHash, created_at: c.now, expires_at: c.expiresAt, attempts: 0 })
    .onConflict((oc) =>
      oc
        .column('phone_number')
        .doUpdateSet({ code_hash: c.codeHash, created_at: c.now, expires_at: c.expiresAt, attempts: 0, used_at: null })
        .where('otp_codes.created_at', '<=', cutoff),
    )
    .returning('phone_number')
    .executeTakeFirst()
  if (row) return { issued: true }
  const last = await db.selectFrom('otp_codes').select('created_at').where('phone_number', '=', c.phone).executeTakeFirst()
  const nextAt = (last?.created_at.getTime() ?? c.now.getTime()) + c.cooldownSeconds * 1000
  return { issued: false, retryAfterSeconds: Math.max(1, Math.ceil((nextAt - c.now.getTime()) / 1000)) }
}

/** Takes back a code that was never delivered, so it neither works nor holds the number's cooldown. */
export async function withdrawCode(db: Db, phone: string, codeHash: string): Promise<void> {
  await db.deleteFrom('otp_codes').where('phone_number', '=', phone).where('code_hash', '=', codeHash).execute()
}

export type ConsumeResult =
  | { outcome: 'used' }
  | { outcome: 'wrong' }
  /** The budget is spent: this attempt spent it, or an earlier one did and the code is dead. */
  | { outcome: 'exhausted'; sentAt: Date }

/**
 * Counts the attempt and, when the code matches, marks it used, in one statement: the attempt is
 * counted before anything else can happen, and two racing verifies can never both win.
 */
export async function consumeCode(
  db: Db,
  c: { phone: string; codeHash: string; now: Date; maxAttempts: number },
): Promise<ConsumeResult> {
  const row = await db
    .updateTable('otp_codes')
    .set((eb) => ({
      attempts: eb('attempts', '+', 1),
      used_at: eb.case().when('code_hash', '=', c.codeHash).then(sql<Date>`cast(${c.now} as timestamptz)`).else(null).end(),
    }))
    .where('phone_number', '=', c.phone)
    .where('used_at', 'is', null)
    .where('expires_at', '>', c.now)
    .where('attempts', '<', c.maxAttempts)
    .returning(['used_at', 'attempts', 'created_at'])
    .executeTakeFirst()
  if (row?.used_at) return { outcome: 'used' }
  if (row) return row.attempts >= c.maxAttempts ? { outcome: 'exhausted', sentAt: row.created_at } : { outcome: 'wrong' }
  const dead = await db
    .selectFrom('otp_codes')
    .select('created_at')
    .where('phone_number', '=', c.phone)
    .where('used_at', 'is', null)
    .where('expires_at', '>', c.now)
    .where('attempts', '>=', c.maxAttempts)
    .executeTakeFirst()
  return dead ? { outcome: 'exhausted', sentAt: dead.created_at } : { outcome: 'wrong' }
}
