import type { ColumnType } from 'kysely'

/** Timestamps are written as Date (from the injected clock) and read back as Date. */
type Timestamp = ColumnType<Date, Date, Date>
type NullableTimestamp = ColumnType<Date | null, Date | null | undefined, Date | null>

export interface UsersTable {
  /** bigint from an identity sequence: never reused. Read as a string by the driver. */
  id: ColumnType<string, string | number | undefined, never>
  phone_number: string
  created_at: Timestamp
  last_login_at: NullableTimestamp
  disabled_at: NullableTimestamp
}

/**
 * One row per number: its newest code, and the number's own counts (db/migrations/0011). A new code
 * overwrites the code, killing the older one; a withdrawn one leaves no code (nulls) and the counts.
 */
export interface OtpCodesTable {
  phone_number: string
  code_hash: string | null
  created_at: NullableTimestamp
  expires_at: NullableTimestamp
  attempts: ColumnType<number, number | undefined, number>
  used_at: NullableTimestamp
  /** Codes sent in the hour (and day) window starting at sends_hour_start (sends_day_start). */
  sends_hour_start: NullableTimestamp
  sends_hour: ColumnType<number, number | undefined, number>
  sends_day_start: NullableTimestamp
  sends_day: ColumnType<number, number | undefined, number>
  /** Wrong codes in the hour window starting at fails_start, across all the number's codes. */
  fails_start: NullableTimestamp
  fails: ColumnType<number, number | undefined, number>
}

/** One row per sign-in. The refresh token is known only by the hash of its jti. */
export interface SessionsTable {
  id: string
  user_id: ColumnType<string, string | number, never>
  refresh_jti_hash: string
  created_at: Timestamp
  refreshed_at: NullableTimestamp
  expires_at: Timestamp
  revoked_at: NullableTimestamp
  /** 'logout', 'logout_all', 'reuse', 'disabled', 'deleted' */
  revoked_reason: string | null
  /** The jti hash this session rotated away from last: a replay of it inside the grace window is a lost race, not theft. */
  previous_jti_hash: string | null
  rotated_at: NullableTimestamp
  /** The newest refresh token, AES-GCM sealed, to answer a replay inside the grace window with. */
  latest_refresh_enc: string | null
}

export interface SigningKeysTable {
  kid: string
  /** The public JWK, as JSON text. */
  public_jwk: string
  /** The private key's PKCS#8 bytes, AES-GCM encrypted with a key derived from the server secret. */
  private_key_enc: string
  created_at: Timestamp
  /** When it became the signer; null while only published ahead of use. */
  activated_at: NullableTimestamp
  /** When another key replaced it as the signer; it stays published until every token it signed expired. */
  retired_at: NullableTimestamp
}

export interface RateCountersTable {
  /** What is counted and for whom, e.g. "send:country:US:3600" (a number's own counts are on its otp_codes row). */
  key: string
  window_start: Timestamp
  count: number
}

/**
 * A cap of 10,000 or more is counted over up to 64 of these rows, one per database connection
 * (db/migrations/0007_spread_counters.ts), each with the share of the cap it was granted (0008).
 */
export interface RateCounterShardsTable {
  key: string
  window_start: Timestamp
  shard: number
  count: number
  granted: ColumnType<number, number | undefined, number>
  granted_for: ColumnType<number, number | undefined, number>
}

/** The event outbox: a row lives until the webhook receiver answered 2xx. */
export interface EventsTable {
  /** The webhook-id: the same on every try, so receivers can de-duplicate. */
  id: string
  type: string
  /** The JSON body exactly as signed and sent. */
  payload: string
  created_at: Timestamp
  attempts: ColumnType<number, number | undefined, number>
  next_attempt_at: Timestamp
  /** After this a failed try stops the retries (the event stays, listed by `events list`). */
  give_up_at: Timestamp
  last_attempt_at: NullableTimestamp
  last_error: string | null
  /** Which deliverer holds the row, until when: one instance sends it at a time. */
  lease_id: string | null
  leased_until: NullableTimestamp
  /** Retries stopped: undeliverable until `events retry`. */
  failed_at: NullableTimestamp
}

export interface AuditEventsTable {
  id: ColumnType<string, never, never>
  at: Timestamp
  /** code_sent, verify_failed, signed_in, limit_hit, refresh_reuse, logout, logout_all, user_disabled, … */
  type: string
  user_id: ColumnType<string | null, number | null | undefined, never>
  /** Never the full number: see maskPhone. */
  phone_masked: string | null
  ip: string | null
  request_id: string | null
  /** JSON text of the event's other facts. */
  detail: ColumnType<string, string | undefined, never>
}

export interface SettingsTable {
  name: string
  value: string
}

export interface Database {
  users: UsersTable
  otp_codes: OtpCodesTable
  sessions: SessionsTable
  signing_keys: SigningKeysTable
  settings: SettingsTable
  events: EventsTable
  rate_counters: RateCountersTable
  rate_counter_shards: RateCounterShardsTable
  audit_events: AuditEventsTable
}
