import type { Kysely } from 'kysely'

// Refresh rotation with reuse detection: the session remembers the jti it rotated away from
// (answered again within the grace window) and, sealed, the newest refresh token to answer with.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('sessions')
    .addColumn('previous_jti_hash', 'text')
    .addColumn('rotated_at', 'timestamptz')
    .addColumn('latest_refresh_enc', 'text')
    .addColumn('revoked_reason', 'text')
    .execute()
}
