import { sql } from 'kysely'
import type { Db } from './connect.ts'

export interface StoredKey {
  kid: string
  publicJwk: string
  privateKeyEnc: string
  activatedAt: Date | null
  retiredAt: Date | null
}

/** Keys that may have signed a token still alive at `now`: the signer, and those retired within `lifetimeSeconds`. */
export async function listLiveKeys(db: Db, now: Date, lifetimeSeconds: number): Promise<StoredKey[]> {
  const since = new Date(now.getTime() - lifetimeSeconds * 1000)
  const rows = await db
    .selectFrom('signing_keys')
    .selectAll()
    .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', since)]))
    .orderBy('created_at', 'desc')
    .execute()
  return rows.map((r) => ({
    kid: r.kid,
    publicJwk: r.public_jwk,
    privateKeyEnc: r.private_key_enc,
    activatedAt: r.activated_at,
    retiredAt: r.retired_at,
  }))
}

/** Adds a signer unless another instance already did (a unique index allows one). */
export async function insertSignerIfNone(db: Db, key: { kid: string; publicJwk: string; privateKeyEnc: string; now: Date }) {
  await db
    .insertInto('signing_keys')
    .values({ kid: key.kid, public_jwk: key.publicJwk, private_key_enc: key.privateKeyEnc, created_at: key.now, activated_at: key.now })
    .onConflict((oc) => oc.doNothing())
    .execute()
}

/**
 * Makes `key` the signer: stores it if new, retires the current signer (which stays published
 * until its tokens expire). Serialised by an advisory lock, so instances racing to rotate agree.
 * Returns false when `key` already was the signer.
 */
export async function makeSigner(db: Db, key: { kid: string; publicJwk: string; privateKeyEnc: string; now: Date }): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext('nomisafe.signing_keys'))`.execute(trx)
    const current = await trx
      .selectFrom('signing_keys')
      .select('kid')
      .where('activated_at', 'is not', null)
      .where('retired_at', 'is', null)
      .executeTakeFirst()
    if (current?.kid === key.kid) return false
    if (current) await trx.updateTable('signing_keys').set({ retired_at: key.now }).where('kid', '=', current.kid).execute()
    await trx
      .insertInto('signing_keys')
      .values({ kid: key.kid, public_jwk: key.publicJwk, private_key_enc: key.privateKeyEnc, created_at: key.now, activated_at: key.now })
      .onConflict((oc) => oc.column('kid').doUpdateSet({ activated_at: key.now, retired_at: null }))
      .execute()
    return true
  })
}

export interface KeyRow {
  kid: string
  createdAt: Date
  activatedAt: Date | null
  retiredAt: Date | null
}

export async function listAllKeys(db: Db): Promise<KeyRow[]> {
  const rows = await db.selectFrom('signing_keys').select(['kid', 'created_at', 'activated_at', 'retired_at']).orderBy('created_at').execute()
  return rows.map((r) => ({ kid: r.kid, createdAt: r.created_at, activatedAt: r.activated_at, retiredAt: r.retired_at }))
}

/** Drops keys retired before `before`: no live token can carry their signature any more. */
export async function deleteKeysRetiredBefore(db: Db, before: Date): Promise<string[]> {
  const rows = await db.deleteFrom('signing_keys').where('retired_at', '<=', before).returning('kid').execute()
  return rows.map((r) => r.kid)
}
