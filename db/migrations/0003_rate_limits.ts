import type { Kysely } from 'kysely'

// Fixed-window counters shared by every instance: one row per key and window.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('rate_counters')
    .addColumn('key', 'text', (col) => col.notNull())
    .addColumn('window_start', 'timestamptz', (col) => col.notNull())
    .addColumn('count', 'integer', (col) => col.notNull())
    .addPrimaryKeyConstraint('rate_counters_pkey', ['key', 'window_start'])
    .execute()
  await db.schema.createIndex('rate_counters_window_start_idx').on('rate_counters').column('window_start').execute()
}
