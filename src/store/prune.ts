import { sql } from 'kysely'
import type { Db } from './connect.ts'
import { pruneAudit } from './audit.ts'
import { pruneCounters } from './counters.ts'

export interface Pruned {
  counters: number
  codes: number
  sessions: number
  auditEvents: number
}

const DAY_MS = 86_400_000

/**
 * Deletes what no rule reads any more: counters whose longest window (a day) is long over, numbers'
 * rows whose code expired and whose counts' windows ended a day ago (far past any cooldown),
 * sessions that ended or expired a day ago, and audit rows older than the retention.
 */
export async function pruneOld(db: Db, now: Date, opts: { auditRetentionDays: number }): Promise<Pruned> {
  const dayAgo = new Date(now.getTime() - DAY_MS)
  const counters = await pruneCounters(db, new Date(now.getTime() - 2 * DAY_MS))
  // A number's row goes when its code expired and its counts' windows ended a day ago.
  const codes = await db
    .deleteFrom('otp_codes')
    .where(
      sql<Date>`coalesce(greatest(expires_at, sends_day_start + interval '1 day', fails_start + interval '1 hour'), '-infinity')`,
      '<',
      dayAgo,
    )
    .executeTakeFirst()
  const sessions = await db
    .deleteFrom('sessions')
    .where((eb) => eb.or([eb('revoked_at', '<', dayAgo), eb('expires_at', '<', dayAgo)]))
    .executeTakeFirst()
  const auditEvents = opts.auditRetentionDays > 0 ? await pruneAudit(db, new Date(now.getTime() - opts.auditRetentionDays * DAY_MS)) : 0
  return { counters, codes: Number(codes.numDeletedRows), sessions: Number(sessions.numDeletedRows), auditEvents }
}
