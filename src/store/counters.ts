import { sql } from 'kysely'
import type { Db } from './connect.ts'

export interface Hit {
  key: string
  windowStart: Date
  /** The most this key may count in its window; 0 means unlimited (the hit is not even stored). */
  limit: number
}

export interface Exceeded {
  key: string
  windowStart: Date
}

/**
 * Counts one hit on every key in one statement and returns the first key now over its limit.
 * Keys are written in a fixed order, so transactions hitting overlapping keys never deadlock.
 */
export async function hitCounters(db: Db, hits: Hit[]): Promise<Exceeded | undefined> {
  const counted = hits.filter((h) => h.limit > 0).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  if (counted.length === 0) return undefined
  const rows = await db
    .insertInto('rate_counters')
    .values(counted.map((h) => ({ key: h.key, window_start: h.windowStart, count: 1 })))
    .onConflict((oc) => oc.columns(['key', 'window_start']).doUpdateSet({ count: sql`rate_counters.count + 1` }))
    .returning(['key', 'count'])
    .execute()
  for (const row of rows) {
    const hit = counted.find((h) => h.key === row.key)!
    if (row.count > hit.limit) return { key: hit.key, windowStart: hit.windowStart }
  }
  return undefined
}

/** Deletes counters whose window started before `before`. */
export async function pruneCounters(db: Db, before: Date): Promise<number> {
  const r = await db.deleteFrom('rate_counters').where('window_start', '<', before).executeTakeFirst()
  return Number(r.numDeletedRows)
}
