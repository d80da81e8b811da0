import type { Db } from '../store/connect.ts'

/**
 * The event outbox. An event is a row written in the same transaction as the change it reports,
 * so a committed change always has its event and a rolled-back one never does. The deliverer
 * (deliver.ts) sends rows in the background and deletes each one on a 2xx answer.
 */
export type EventType = 'user.created' | 'user.deleted'

export interface UserEventData {
  /** The integer user id, as API.md gives it. */
  id: number
  phone_number: string
}

/** The first retry comes this long after a failed try; each next wait doubles, up to MAX_WAIT. */
export const FIRST_RETRY_SECONDS = 5
export const MAX_WAIT_SECONDS = 300
/** Failed tries are retried at least this long after the event; then it waits for `events retry`. */
export const RETRY_FOR_SECONDS = 3 * 24 * 3600

/** The wait after the `attempts`-th failed try: 5 s, 10 s, 20 s … capped at 5 minutes. */
export function retryWaitSeconds(attempts: number): number {
  return Math.min(MAX_WAIT_SECONDS, FIRST_RETRY_SECONDS * 2 ** Math.max(0, Math.min(attempts - 1, 16)))
}

const seconds = (d: Date, s: number) => new Date(d.getTime() + s * 1000)

/** A new event's webhook-id and when its retries stop, for an event the database writes itself. */
export function newEventRef(now: Date): { id: string; giveUpAt: Date } {
  // "msg_" + 32 hex digits: unique, and free of the "." that the signed content uses as separator.
  return { id: `msg_${crypto.randomUUID().replaceAll('-', '')}`, giveUpAt: seconds(now, RETRY_FOR_SECONDS) }
}

/** Writes an event; pass the transaction that makes the change. Returns its webhook-id. */
export async function enqueueEvent(db: Db, e: { type: EventType; data: UserEventData; now: Date }): Promise<string> {
  const { id } = newEventRef(e.now)
  const payload = JSON.stringify({ type: e.type, timestamp: e.now.toISOString(), data: e.data })
  await db
    .insertInto('events')
    .values({ id, type: e.type, payload, created_at: e.now, next_attempt_at: e.now, give_up_at: seconds(e.now, RETRY_FOR_SECONDS) })
    .execute()
  return id
}

export interface ClaimedEvent {
  id: string
  type: string
  payload: string
  /** Tries so far, this one included. */
  attempts: number
  giveUpAt: Date
}

/**
 * Takes up to `limit` due events for one deliverer until `leasedUntil`, counting the try before it
 * is made. Rows another instance holds are skipped, not waited for (FOR UPDATE SKIP LOCKED), and a
 * lease that ran out (a crashed instance) makes the row due again.
 */
export async function claimDueEvents(
  db: Db,
  c: { now: Date; leaseId: string; leasedUntil: Date; limit: number },
): Promise<ClaimedEvent[]> {
  const rows = await db
    .updateTable('events')
    .set((eb) => ({ lease_id: c.leaseId, leased_until: c.leasedUntil, attempts: eb('attempts', '+', 1), last_attempt_at: c.now }))
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('events')
        .select('id')
        .where('failed_at', 'is', null)
        .where('next_attempt_at', '<=', c.now)
        .where((w) => w.or([w('leased_until', 'is', null), w('leased_until', '<=', c.now)]))
        .orderBy('next_attempt_at')
        .limit(c.limit)
        .forUpdate()
        .skipLocked(),
    )
    .returning(['id', 'type', 'payload', 'attempts', 'give_up_at'])
    .execute()
  return rows.map((r) => ({ id: r.id, type: r.type, payload: r.payload, attempts: r.attempts, giveUpAt: r.give_up_at }))
}

/** A 2xx answer: the event has done its job. */
export async function deleteDeliveredEvent(db: Db, id: string): Promise<void> {
  await db.deleteFrom('events').where('id', '=', id).execute()
}

/**
 * Records a failed try: the next one at `nextAttemptAt`, or none (`giveUp`). Only the lease holder
 * writes, so a deliverer that outlived its lease cannot undo another's work.
 */
export async function recordFailedAttempt(
  db: Db,
  f: { id: string; leaseId: string; now: Date; error: string; nextAttemptAt: Date; giveUp: boolean },
): Promise<void> {
  await db
    .updateTable('events')
    .set({
      lease_id: null,
      leased_until: null,
      last_error: f.error.slice(0, 500),
      next_attempt_at: f.nextAttemptAt,
      failed_at: f.giveUp ? f.now : null,
    })
    .where('id', '=', f.id)
    .where('lease_id', '=', f.leaseId)
    .execute()
}

export interface PendingEvent {
  id: string
  type: string
  createdAt: Date
  attempts: number
  nextAttemptAt: Date
  lastError: string | null
  /** Set when retries stopped: the event waits for `events retry`. */
  failedAt: Date | null
}

/** Events not delivered yet, oldest first; `total` counts them all. */
export async function listPendingEvents(db: Db, limit: number): Promise<{ events: PendingEvent[]; total: number }> {
  const rows = await db
    .selectFrom('events')
    .select(['id', 'type', 'created_at', 'attempts', 'next_attempt_at', 'last_error', 'failed_at'])
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit)
    .execute()
  const { total } = await db.selectFrom('events').select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow()
  return {
    total: Number(total),
    events: rows.map((r) => ({
      id: r.id,
      type: r.type,
      createdAt: r.created_at,
      attempts: r.attempts,
      nextAttemptAt: r.next_attempt_at,
      lastError: r.last_error,
      failedAt: r.failed_at,
    })),
  }
}

/**
 * Makes events due now, with a fresh retry schedule: the given ids, or every undelivered event.
 * Returns the ids re-queued.
 */
export async function requeueEvents(db: Db, r: { ids?: string[]; now: Date }): Promise<string[]> {
  let q = db
    .updateTable('events')
    .set({ failed_at: null, next_attempt_at: r.now, give_up_at: seconds(r.now, RETRY_FOR_SECONDS), attempts: 0, lease_id: null, leased_until: null })
  if (r.ids) {
    if (r.ids.length === 0) return []
    q = q.where('id', 'in', r.ids)
  }
  const rows = await q.returning('id').execute()
  return rows.map((row) => row.id)
}
