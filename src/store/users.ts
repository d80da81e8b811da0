import { enqueueEvent } from '../events/outbox.ts'
import type { Db } from './connect.ts'

export interface User {
  id: number
  phoneNumber: string
  createdAt: Date
  lastLoginAt: Date | null
  disabledAt: Date | null
}

export async function findUserById(db: Db, id: number): Promise<User | undefined> {
  const row = await db.selectFrom('users').selectAll().where('id', '=', String(id)).executeTakeFirst()
  return row && toUser(row)
}

export async function findUserByPhone(db: Db, phone: string): Promise<User | undefined> {
  const row = await db.selectFrom('users').selectAll().where('phone_number', '=', phone).executeTakeFirst()
  return row && toUser(row)
}

function toUser(row: { id: string; phone_number: string; created_at: Date; last_login_at: Date | null; disabled_at: Date | null }): User {
  return {
    id: Number(row.id),
    phoneNumber: row.phone_number,
    createdAt: row.created_at,
    lastLoginAt: row.last_login_at,
    disabledAt: row.disabled_at,
  }
}

/** Disables (ending every session) or enables a user, found by number or id; undefined when there is none. */
export async function setUserDisabled(db: Db, who: { phone: string } | { id: number }, disabled: boolean, now: Date): Promise<User | undefined> {
  return db.transaction().execute(async (trx) => {
    let q = trx.updateTable('users').set({ disabled_at: disabled ? now : null })
    q = 'phone' in who ? q.where('phone_number', '=', who.phone) : q.where('id', '=', String(who.id))
    const row = await q.returningAll().executeTakeFirst()
    if (!row) return undefined
    if (disabled) {
      await trx
        .updateTable('sessions')
        .set({ revoked_at: now, revoked_reason: 'disabled', latest_refresh_enc: null })
        .where('user_id', '=', row.id)
        .where('revoked_at', 'is', null)
        .execute()
    }
    return toUser(row)
  })
}

export type DeleteUserResult = { outcome: 'deleted'; phoneNumber: string } | { outcome: 'disabled' } | { outcome: 'missing' }

/**
 * Deletes an enabled user and, through the foreign key, every session of theirs, with the
 * user.deleted event in the same transaction. Only the users row and its sessions go: what is
 * keyed by the phone number (the last code, rate-limit counters) stays, so deleting is no way
 * around a limit. A disabled user is refused, so deleting is no way around a ban either.
 */
export async function deleteUser(db: Db, d: { id: number; now: Date; events: boolean }): Promise<DeleteUserResult> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .deleteFrom('users')
      .where('id', '=', String(d.id))
      .where('disabled_at', 'is', null)
      .returning('phone_number')
      .executeTakeFirst()
    if (!row) {
      const left = await trx.selectFrom('users').select('id').where('id', '=', String(d.id)).executeTakeFirst()
      return { outcome: left ? 'disabled' : 'missing' }
    }
    if (d.events) await enqueueEvent(trx, { type: 'user.deleted', data: { id: d.id, phone_number: row.phone_number }, now: d.now })
    return { outcome: 'deleted', phoneNumber: row.phone_number }
  })
}
