import type { Db } from './connect.ts'

export interface AuditEntry {
  at: Date
  type: string
  userId?: number
  phoneMasked?: string
  ip?: string
  requestId?: string
  detail?: Record<string, unknown>
}

export async function insertAudit(db: Db, e: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_events')
    .values({
      at: e.at,
      type: e.type,
      user_id: e.userId ?? null,
      phone_masked: e.phoneMasked ?? null,
      ip: e.ip ?? null,
      request_id: e.requestId ?? null,
      detail: JSON.stringify(e.detail ?? {}),
    })
    .execute()
}

export interface AuditFilter {
  userId?: number
  type?: string
  since?: Date
  limit: number
}

/** Newest first. */
export async function listAudit(db: Db, f: AuditFilter) {
  let q = db.selectFrom('audit_events').selectAll().orderBy('at', 'desc').orderBy('id', 'desc').limit(f.limit)
  if (f.userId !== undefined) q = q.where('user_id', '=', String(f.userId))
  if (f.type) q = q.where('type', '=', f.type)
  if (f.since) q = q.where('at', '>=', f.since)
  const rows = await q.execute()
  return rows.map((r) => ({
    at: r.at,
    type: r.type,
    userId: r.user_id === null ? undefined : Number(r.user_id),
    phoneMasked: r.phone_masked ?? undefined,
    ip: r.ip ?? undefined,
    requestId: r.request_id ?? undefined,
    detail: JSON.parse(r.detail) as Record<string, unknown>,
  }))
}

export async function pruneAudit(db: Db, before: Date): Promise<number> {
  const r = await db.deleteFrom('audit_events').where('at', '<', before).executeTakeFirst()
  return Number(r.numDeletedRows)
}
