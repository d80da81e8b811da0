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

/** The hits that count (a limit of 0 is off), sorted by key: the order every caller locks their rows in. */
export const countedInKeyOrder = (hits: Hit[]): Hit[] =>
  hits.filter((h) => h.limit > 0).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))

/**
 * Counts one hit on every key, in key order (so transactions hitting overlapping keys never
 * deadlock), and returns the first key now over its limit. A cap of 10,000 or more is counted
 * over several rows, each against its share of the cap (db/migrations/0007, 0008).
 */
export async function hitCounters(db: Db, hits: Hit[]): Promise<Exceeded | undefined> {
  for (const hit of countedInKeyOrder(hits)) {
    const { rows } = await sql<{ over: boolean }>`select nomisafe_hit(${hit.key}, ${hit.windowStart}, ${hit.limit}) as over`.execute(db)
    if (rows[0]!.over) return { key: hit.key, windowStart: hit.windowStart }
  }
  return undefined
}

/** Deletes counters whose window started before `before`. */
export async function pruneCounters(db: Db, before: Date): Promise<number> {
  const r = await db.deleteFrom('rate_counters').where('window_start', '<', before).executeTakeFirst()
  const spread = await db.deleteFrom('rate_counter_shards').where('window_start', '<', before).executeTakeFirst()
  return Number(r.numDeletedRows) + Number(spread.numDeletedRows)
}
