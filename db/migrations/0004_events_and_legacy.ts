import { type Kysely, sql } from 'kysely'

// The event outbox (user.created, user.deleted), and the switch-over from the original backend.
export async function up(db: Kysely<unknown>): Promise<void> {
  // One row per event, written in the same transaction as its change and deleted on a 2xx answer.
  // No foreign key to users: a user.deleted event outlives its user.
  await db.schema
    .createTable('events')
    .addColumn('id', 'text', (col) => col.primaryKey()) // the webhook-id, the same on every try
    .addColumn('type', 'text', (col) => col.notNull())
    .addColumn('payload', 'text', (col) => col.notNull()) // the exact body signed and sent on every try
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (col) => col.notNull())
    .addColumn('give_up_at', 'timestamptz', (col) => col.notNull())
    .addColumn('last_attempt_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('lease_id', 'text')
    .addColumn('leased_until', 'timestamptz')
    .addColumn('failed_at', 'timestamptz') // retries stopped: undeliverable until `events retry`
    .execute()
  await sql`create index events_due_idx on events (next_attempt_at) where failed_at is null`.execute(db)

  // SimpleJWT refresh tokens of the original backend already exchanged: the primary key lets each
  // jti win once, whatever races. No foreign key: it must hold whatever happens to the user.
  await db.schema
    .createTable('legacy_refresh_jtis')
    .addColumn('jti', 'text', (col) => col.primaryKey())
    .addColumn('user_id', 'bigint', (col) => col.notNull())
    .addColumn('used_at', 'timestamptz', (col) => col.notNull())
    .addColumn('expires_at', 'timestamptz')
    .execute()
}
