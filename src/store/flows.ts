import { type Db, rawQuery } from './connect.ts'
import { countedInKeyOrder, type Exceeded, type Hit } from './counters.ts'

/** Who asked, as the audit trail records it (the number already masked). */
export interface AuditActor {
  phoneMasked: string
  ip: string | undefined
  requestId: string | undefined
}

export interface RequestCodeInDb {
  phone: string
  codeHash: string
  now: Date
  expiresAt: Date
  cooldownSeconds: number
  /** The client address's request counter; counted whatever the outcome. */
  ipHit: Hit | undefined
  /** The number's own send caps, counted on its code row: only when the code is issued. */
  numberHits: NumberHits
  /** The send caps numbers share: counted only when the code is issued. */
  sendHits: Hit[]
  actor: AuditActor
  auditDetail: Record<string, unknown>
}

export interface NumberHits {
  hour: Hit
  day: Hit
}

export type RequestCodeResult =
  | { outcome: 'issued' }
  | { outcome: 'cooldown'; lastSentAt: Date }
  | { outcome: 'limited'; exceeded: Exceeded }

/** The keys, window starts and limits of the counted hits, as three array parameters. */
const arrays = (hits: Hit[]) => {
  const c = countedInKeyOrder(hits)
  return [c.map((h) => h.key), c.map((h) => h.windowStart.toISOString()), c.map((h) => h.limit)]
}

/** The number's caps as their key, window start and limit, hour then day. */
const numberParams = (n: NumberHits) => [n.hour.key, n.hour.windowStart, n.hour.limit, n.day.key, n.day.windowStart, n.day.limit]

// Each step is one prepared call (RawQuery), made on every sign-in.
const REQUEST_CODE =
  'select * from nomisafe_request_code($1, $2, $3, $4, $5, $6, $7, $8, $9::text[], $10::timestamptz[], $11::integer[], $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)'
const WITHDRAW_CODE = 'select nomisafe_withdraw_code($1, $2, $3::text[], $4::timestamptz[], $5::integer[], $6, $7, $8, $9, $10, $11, $12)'
const SIGN_IN = 'select * from nomisafe_sign_in($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)'

/**
 * The code request in one round trip (db/migrations/0006_flow_functions.ts): address counter,
 * cooldown, send caps, the code and its audit row.
 */
export async function requestCodeInDb(db: Db, r: RequestCodeInDb): Promise<RequestCodeResult> {
  const ip = r.ipHit && r.ipHit.limit > 0 ? r.ipHit : undefined
  const rows = await rawQuery(db)<{ outcome: string; limit_key: string | null; limit_window: Date | null; last_sent_at: Date | null }>(REQUEST_CODE, [
    r.phone, r.codeHash, r.now, r.expiresAt, r.cooldownSeconds,
    ip?.key ?? null, ip?.windowStart ?? null, ip?.limit ?? 0,
    ...arrays(r.sendHits),
    ...numberParams(r.numberHits),
    r.actor.phoneMasked, r.actor.ip ?? null, r.actor.requestId ?? null, JSON.stringify(r.auditDetail),
  ])
  const row = rows[0]!
  if (row.outcome === 'cooldown') return { outcome: 'cooldown', lastSentAt: new Date(row.last_sent_at!) }
  if (row.outcome === 'limited') return { outcome: 'limited', exceeded: { key: row.limit_key!, windowStart: new Date(row.limit_window!) } }
  return { outcome: 'issued' }
}

/** Takes back a code the SMS provider did not deliver, with its send counts, in one round trip. */
export async function withdrawCodeInDb(
  db: Db,
  w: { phone: string; codeHash: string; numberHits: NumberHits; sendHits: Hit[]; now: Date; actor: AuditActor; auditDetail: Record<string, unknown> },
): Promise<void> {
  await rawQuery(db)(WITHDRAW_CODE, [
    w.phone, w.codeHash, ...arrays(w.sendHits),
    w.numberHits.hour.windowStart, w.numberHits.day.windowStart,
    w.now, w.actor.phoneMasked, w.actor.ip ?? null, w.actor.requestId ?? null, JSON.stringify(w.auditDetail),
  ])
}

export interface SignInInDb {
  phone: string
  codeHash: string
  now: Date
  maxAttempts: number
  ipHit: Hit | undefined
  failHit: Hit
  session: { id: string; refreshJtiHash: string; expiresAt: Date }
  /** Set when events are on: the user.created event's id and when its retries stop. */
  event: { id: string; giveUpAt: Date } | undefined
  actor: AuditActor
}

export type SignInResult =
  | { outcome: 'signed_in'; userId: number; created: boolean }
  | { outcome: 'wrong' }
  | { outcome: 'exhausted'; sentAt: Date }
  | { outcome: 'disabled'; userId: number }
  | { outcome: 'limited'; exceeded: Exceeded }

/**
 * The verify in one round trip and one transaction: counters, the code, the user, the session,
 * the user.created event and the audit row. An answered sign-in is wholly there; a failed one
 * leaves only its counted attempt.
 */
export async function signInInDb(db: Db, s: SignInInDb): Promise<SignInResult> {
  const ip = s.ipHit && s.ipHit.limit > 0 ? s.ipHit : undefined
  const rows = await rawQuery(db)<{
    outcome: string
    user_id: string | number | null
    created: boolean | null
    sent_at: Date | null
    limit_key: string | null
    limit_window: Date | null
  }>(SIGN_IN, [
    s.phone, s.codeHash, s.now, s.maxAttempts,
    ip?.key ?? null, ip?.windowStart ?? null, ip?.limit ?? 0,
    s.failHit.key, s.failHit.windowStart, s.failHit.limit,
    s.session.id, s.session.refreshJtiHash, s.session.expiresAt,
    s.event?.id ?? null, s.event?.giveUpAt ?? null,
    s.actor.phoneMasked, s.actor.ip ?? null, s.actor.requestId ?? null,
  ])
  const row = rows[0]!
  switch (row.outcome) {
    case 'signed_in':
      return { outcome: 'signed_in', userId: Number(row.user_id), created: row.created === true }
    case 'disabled':
      return { outcome: 'disabled', userId: Number(row.user_id) }
    case 'exhausted':
      return { outcome: 'exhausted', sentAt: new Date(row.sent_at!) }
    case 'limited':
      return { outcome: 'limited', exceeded: { key: row.limit_key!, windowStart: new Date(row.limit_window!) } }
    default:
      return { outcome: 'wrong' }
  }
}
