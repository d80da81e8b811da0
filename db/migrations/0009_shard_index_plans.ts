import { type Kysely, sql } from 'kysely'

// A counter share's hit is an update of one row found by its whole primary key. Once the shard
// table has been analyzed while small (a quiet hour, a fresh deployment, a restore), PostgreSQL
// plans that update as a sequential scan: cheaper on paper for a page or two. But every hit leaves
// a dead row version behind, so under load the scan reads every version of every row in the table
// on each hit (pg_stat_statements: 52 µs a hit against 32 through the index, bench/RESULTS.md).
// nomisafe_take, where every share is taken, plans with sequential scans off: its statements all
// read rows by key, and the index is the right plan whatever the statistics say.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter function nomisafe_take(text, timestamptz, integer) set enable_seqscan = off`.execute(db)
}
