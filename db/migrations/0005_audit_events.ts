import { type Kysely, sql } from 'kysely'

// The audit trail: one row per security event, kept AUDIT_RETENTION_DAYS.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('at', 'timestamptz', (col) => col.notNull())
    .addColumn('type', 'text', (col) => col.notNull())
    .addColumn('user_id', 'bigint')
    .addColumn('phone_masked', 'text')
    .addColumn('ip', 'text')
    .addColumn('request_id', 'text')
    .addColumn('detail', 'text', (col) => col.notNull().defaultTo(sql`'{}'`))
    .execute()
  await db.schema.createIndex('audit_events_at_idx').on('audit_events').column('at').execute()
  await db.schema.createIndex('audit_events_user_id_idx').on('audit_events').columns(['user_id', 'at']).execute()
}
