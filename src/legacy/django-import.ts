import { type Kysely, sql } from 'kysely'
import { normalizePhone, type PhoneRules } from '../auth/phone.ts'
import type { Deps } from '../deps.ts'
import { AppError } from '../errors.ts'
import { connectDatabase } from '../store/connect.ts'
import type { Database } from '../store/schema.ts'

/**
 * `import-django --from <postgres URL> [--dry-run] [--batch-size N]`: copies the original Django
 * backend's users (its `accounts_user` table) into ours, each id kept, so the business API's rows
 * and the apps' stored ids stay right.
 *
 * The source is read in id order, a batch at a time, into a temporary table of our database (so
 * memory stays bounded whatever the size); the checks that need every row — two numbers that
 * normalise to one E.164, ids or numbers our database already holds otherwise — are SQL over that
 * table. Nothing is merged: such rows, and numbers that do not parse, are listed and left. The
 * whole import is one transaction: it lands completely or not at all, and a dry run is rolled back.
 */
export interface ImportOptions {
  dryRun: boolean
  batchSize: number
  out: (line: string) => void
}

export interface LeftRow {
  id: string
  phone: string | null
  reason: 'unparseable' | 'duplicate' | 'conflict'
  /** The E.164 form, when it parsed. */
  e164: string | null
}

export interface ImportSummary {
  read: number
  imported: number
  /** Of the imported: inactive in the original, disabled here. */
  disabled: number
  /** Already here with the same id and number (an earlier run): left as they are. */
  alreadyPresent: number
  left: LeftRow[]
  /** The next id our sequence hands out, when the import moved it. */
  sequenceNext: number | undefined
  /** Refresh tokens the original had blacklisted (logged out, rotated away), recorded as used here. */
  blacklistedTokens: number
  dryRun: boolean
}

type Source = Kysely<any>

interface SourceRow {
  id: string
  phone_number: string | null
  is_active: boolean | null
  last_login: Date | null
  date_joined: Date | null
}

type ImportTables = {
  django_import: {
    id: string
    raw_phone: string | null
    e164: string | null
    is_active: boolean
    last_login: Date | null
    date_joined: Date | null
    status: string | null
  }
  legacy_refresh_jtis: { jti: string; user_id: string; used_at: Date; expires_at: Date | null }
}

type ImportDb = Kysely<Database & ImportTables>

class DryRunRollback extends Error {
  readonly summary: ImportSummary
  constructor(summary: ImportSummary) {
    super('dry run')
    this.summary = summary
  }
}

/** Imports from an open connection to the original's database (tests hand one in). */
export async function importDjangoUsers(deps: Pick<Deps, 'db' | 'config' | 'clock' | 'log'>, source: Source, opts: ImportOptions): Promise<ImportSummary> {
  const { out } = opts
  const now = deps.clock.now()
  // Operators import every user the original had: only the number's format is checked here,
  // not the sign-in rules (allowed countries), which apply when the user next signs in.
  const rules: PhoneRules = { defaultCountry: deps.config.phone.defaultCountry, allowedCountries: [], deniedCountries: [] }
  const columns = await sourceColumns(source)
  for (const required of ['id', 'phone_number', 'is_active', 'last_login']) {
    if (!columns.has(required)) throw new Error(`the source database has no accounts_user.${required} column`)
  }
  const joined = columns.has('date_joined') ? sql`date_joined` : sql`null::timestamptz`

  try {
    return await deps.db.transaction().execute(async (plain) => {
      const trx = plain.withTables<ImportTables>()
      await sql`create temporary table django_import (
        id bigint primary key, raw_phone text, e164 text, is_active boolean not null,
        last_login timestamptz, date_joined timestamptz, status text
      ) on commit drop`.execute(trx)

      // 1. Read the source a batch at a time, normalising each number.
      let last = '0'
      let read = 0
      for (;;) {
        const { rows } = await sql<SourceRow>`
          select id::text as id, phone_number, is_active, last_login, ${joined} as date_joined
          from accounts_user where id > ${last}::bigint order by accounts_user.id limit ${opts.batchSize}`.execute(source)
        if (rows.length === 0) break
        await trx
          .insertInto('django_import')
          .values(rows.map((r) => ({
            id: r.id,
            raw_phone: r.phone_number,
            e164: toE164(r.phone_number, rules),
            is_active: r.is_active !== false,
            last_login: r.last_login,
            date_joined: r.date_joined,
            status: null,
          })))
          .execute()
        read += rows.length
        last = rows.at(-1)!.id
        out(`read ${read} users (up to id ${last})`)
        if (rows.length < opts.batchSize) break
      }

      // 2. Sort every row out in SQL: what is left for the operator, what is here already, what is new.
      await sql`update django_import set status = 'unparseable' where e164 is null`.execute(trx)
      await sql`update django_import set status = 'duplicate' where status is null and e164 in (
        select e164 from django_import where e164 is not null group by e164 having count(*) > 1)`.execute(trx)
      await sql`update django_import d set status = 'present' from users u
        where d.status is null and u.id = d.id and u.phone_number = d.e164`.execute(trx)
      await sql`update django_import d set status = 'conflict' where d.status is null and (
        exists (select 1 from users u where u.id = d.id) or exists (select 1 from users u where u.phone_number = d.e164))`.execute(trx)
      await sql`update django_import set status = 'new' where status is null`.execute(trx)

      const counts = await sql<{ status: string; n: string; inactive: string }>`
        select status, count(*)::text as n, count(*) filter (where not is_active)::text as inactive
        from django_import group by status`.execute(trx)
      const count = (status: string) => Number(counts.rows.find((r) => r.status === status)?.n ?? 0)
      const left = (
        await sql<LeftRow>`select d.id::text as id, d.raw_phone as phone, d.status as reason, d.e164 from django_import d
          where d.status in ('unparseable', 'duplicate', 'conflict') order by d.e164 nulls first, d.id`.execute(trx)
      ).rows

      const summary: ImportSummary = {
        read,
        imported: count('new'),
        disabled: Number(counts.rows.find((r) => r.status === 'new')?.inactive ?? 0),
        alreadyPresent: count('present'),
        left,
        sequenceNext: undefined,
        blacklistedTokens: 0,
        dryRun: opts.dryRun,
      }
      summary.blacklistedTokens = await copyBlacklist(source, trx, now, opts)
      if (opts.dryRun) throw new DryRunRollback(summary)

      // 3. Insert the new users a batch at a time, ids kept.
      let done = 0
      let after = '0'
      for (;;) {
        const inserted = await sql<{ id: string }>`
          insert into users (id, phone_number, created_at, last_login_at, disabled_at)
          select id, e164, coalesce(date_joined, ${now}::timestamptz), last_login,
                 case when is_active then null else ${now}::timestamptz end
          from django_import where status = 'new' and id > ${after}::bigint order by id limit ${opts.batchSize}
          returning id::text as id`.execute(trx)
        if (inserted.rows.length === 0) break
        done += inserted.rows.length
        after = inserted.rows.reduce((max, r) => (BigInt(r.id) > BigInt(max) ? r.id : max), after)
        out(`imported ${done} of ${summary.imported} users`)
      }

      // 4. Our next user gets an id past every imported one.
      summary.sequenceNext = await moveSequencePastLargestId(trx)
      return summary
    })
  } catch (err) {
    if (err instanceof DryRunRollback) return err.summary
    throw err
  }
}

function toE164(raw: string | null, rules: PhoneRules): string | null {
  if (!raw) return null
  try {
    return normalizePhone(raw, rules).e164
  } catch (err) {
    if (err instanceof AppError) return null
    throw err
  }
}

async function sourceColumns(source: Source): Promise<Set<string>> {
  const { rows } = await sql<{ column_name: string }>`
    select column_name from information_schema.columns
    where table_schema = current_schema() and table_name = 'accounts_user'`.execute(source)
  if (rows.length === 0) throw new Error('the source database has no accounts_user table')
  return new Set(rows.map((r) => r.column_name))
}

async function sourceHasTable(source: Source, table: string): Promise<boolean> {
  const { rows } = await sql<{ found: boolean }>`select to_regclass(${table}) is not null as found`.execute(source)
  return rows[0]?.found === true
}

/**
 * SimpleJWT's blacklist app (when the original used it) names refresh tokens that must never work
 * again: logged out, or rotated away. Recording their jtis as used keeps them dead here too.
 */
async function copyBlacklist(source: Source, trx: ImportDb, now: Date, opts: ImportOptions): Promise<number> {
  if (!(await sourceHasTable(source, 'token_blacklist_blacklistedtoken'))) return 0
  if (!(await sourceHasTable(source, 'token_blacklist_outstandingtoken'))) return 0
  let copied = 0
  let last = '0'
  for (;;) {
    const { rows } = await sql<{ id: string; jti: string; user_id: string | null; expires_at: Date }>`
      select o.id::text as id, o.jti, o.user_id::text as user_id, o.expires_at
      from token_blacklist_outstandingtoken o join token_blacklist_blacklistedtoken b on b.token_id = o.id
      where o.id > ${last}::bigint and o.expires_at > ${now}::timestamptz order by o.id limit ${opts.batchSize}`.execute(source)
    if (rows.length === 0) break
    last = rows.at(-1)!.id
    const inserted = await trx
      .insertInto('legacy_refresh_jtis')
      .values(rows.map((r) => ({ jti: r.jti, user_id: r.user_id ?? '0', used_at: now, expires_at: r.expires_at })))
      .onConflict((oc) => oc.column('jti').doNothing())
      .returning('jti')
      .execute()
    copied += inserted.length
    if (rows.length < opts.batchSize) break
  }
  return copied
}

/** Moves the identity sequence so the next id is past the largest; never backwards, and only when needed. */
async function moveSequencePastLargestId(trx: Kysely<any>): Promise<number | undefined> {
  const { rows } = await sql<{ seq: string; last_value: string | null; max_id: string | null }>`
    select pg_get_serial_sequence('users', 'id') as seq, s.last_value::text as last_value,
           (select max(id) from users)::text as max_id
    from pg_sequences s
    where format('%I.%I', s.schemaname, s.sequencename) = pg_get_serial_sequence('users', 'id')`.execute(trx)
  const row = rows[0]
  if (!row || row.max_id === null) return undefined
  const next = row.last_value === null ? 1n : BigInt(row.last_value) + 1n
  const max = BigInt(row.max_id)
  if (max < next) return undefined
  await sql`select setval(${row.seq}::regclass, ${row.max_id}::bigint)`.execute(trx)
  return Number(max + 1n)
}

/** Prints what was left for the operator and the one-line summary. */
export function printSummary(s: ImportSummary, out: (line: string) => void): void {
  if (s.left.length > 0) {
    out(`left for you to resolve (${s.left.length} row(s), not imported):`)
    for (const r of s.left) {
      const shown = JSON.stringify(r.phone)
      if (r.reason === 'unparseable') out(`  unparseable  id ${r.id}  ${shown}`)
      else if (r.reason === 'duplicate') out(`  duplicate    id ${r.id}  ${shown} is ${r.e164}, as is another user's number`)
      else out(`  conflict     id ${r.id}  ${shown} (${r.e164}): this database already has that id or that number for another user`)
    }
  }
  const parts = [
    `${s.dryRun ? 'would import' : 'imported'} ${s.imported} user(s) (${s.disabled} inactive, ${s.dryRun ? 'to be ' : ''}disabled)`,
    `${s.alreadyPresent} already present`,
    `${s.left.filter((r) => r.reason === 'unparseable').length} unparseable`,
    `${s.left.filter((r) => r.reason === 'duplicate').length} duplicate`,
    `${s.left.filter((r) => r.reason === 'conflict').length} conflicting`,
  ]
  if (s.blacklistedTokens > 0) parts.push(`${s.blacklistedTokens} blacklisted refresh token(s) ${s.dryRun ? 'to be ' : ''}recorded as used`)
  out(`${s.dryRun ? 'dry run: ' : ''}read ${s.read}; ${parts.join(', ')}`)
  if (s.sequenceNext !== undefined) out(`new users get ids from ${s.sequenceNext} on`)
  if (s.dryRun) out('dry run: nothing was written')
}

const USAGE = 'usage: import-django --from <postgres URL of the Django database> [--dry-run] [--batch-size N]'

/** The CLI verb: parses its arguments, connects to the source, imports, prints. */
export async function importDjangoCommand(deps: Deps, args: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  let from: string | undefined
  let dryRun = false
  let batchSize = 5000
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--dry-run') dryRun = true
    else if (arg === '--from') from = args[++i]
    else if (arg.startsWith('--from=')) from = arg.slice('--from='.length)
    else if (arg === '--batch-size' || arg.startsWith('--batch-size=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : args[++i]
      batchSize = Number(value)
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 5000) {
        err('--batch-size must be a whole number from 1 to 5000')
        return 2
      }
    } else {
      err(`unknown argument "${arg}"\n${USAGE}`)
      return 2
    }
  }
  if (!from || !/^postgres(ql)?:\/\//.test(from)) {
    err(USAGE)
    return 2
  }
  const source = await connectDatabase({ url: from, dataDir: '', poolSize: 2 }, () => {
    throw new Error('the source must be a PostgreSQL URL')
  })
  try {
    const summary = await importDjangoUsers(deps, source.db, { dryRun, batchSize, out })
    printSummary(summary, out)
    deps.log.info('django import finished', { dry_run: dryRun, read: summary.read, imported: summary.imported, left: summary.left.length })
    return 0
  } finally {
    await source.close()
  }
}
