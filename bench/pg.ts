// The benchmark's own throwaway PostgreSQL: like test/support/pg-server.ts (whose binary lookup it
// reuses), but with pg_stat_statements preloaded when the machine has it, and with the postmaster's
// pid known, so the benchmark can read PostgreSQL's CPU time from /proc.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { findPgBin } from '../test/support/pg-server.ts'
import { freePort, sleep } from './util.ts'

export interface BenchPg {
  /** The maintenance database's URL (`postgres`); `urlOf(name)` for another database. */
  url: string
  urlOf(database: string): string
  /** An admin connection to the `postgres` database (one connection). */
  admin: postgres.Sql
  version: string
  /** pg_stat_statements is loaded and its view exists. */
  statements: boolean
  /** The postmaster; its children are the backends and PostgreSQL's helpers. */
  postmasterPid(): number
  stop(): Promise<void>
}

/** postgres refuses to run as root: as root, run its binaries as the postgres user. */
function asDbUser(bin: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [bin, args]
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p)) ?? 'runuser'
  return [runuser, ['-u', 'postgres', '--', bin, ...args]]
}

/** The directory of the server's extension libraries (…/lib next to …/bin on Debian). */
function hasPgStatStatements(bin: string): boolean {
  const candidates = [join(bin, '..', 'lib', 'pg_stat_statements.so')]
  try {
    candidates.push(join(execFileSync(join(bin, 'pg_config'), ['--pkglibdir'], { encoding: 'utf8' }).trim(), 'pg_stat_statements.so'))
  } catch {}
  return candidates.some((p) => existsSync(p))
}

export async function startBenchPg(opts: { durable: boolean; log: (line: string) => void }): Promise<BenchPg> {
  const bin = findPgBin()
  const dir = mkdtempSync(join(tmpdir(), 'nomisafe-bench-pg-'))
  const data = join(dir, 'data')
  if (process.getuid?.() === 0) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), 0)
  const [initCmd, initArgs] = asDbUser(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'])
  execFileSync(initCmd, initArgs, { stdio: 'pipe' })
  const port = await freePort()
  const withStatements = hasPgStatStatements(bin)
  if (!withStatements) opts.log('note: pg_stat_statements is not installed with this PostgreSQL: statements per flow are not reported')
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    max_connections: '300',
    shared_buffers: '256MB',
    // The tests' settings: the benchmark measures the work, not the disk. --durable restores PostgreSQL's defaults.
    ...(opts.durable ? {} : { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' }),
    ...(withStatements ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track_utility': 'on' } : {}),
  }
  const args = ['-D', data, '-p', String(port), '-k', dir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])]
  const [cmd, cmdArgs] = asDbUser(join(bin, 'postgres'), args)
  const child: ChildProcess = spawn(cmd, cmdArgs, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d) => (stderr = (stderr + String(d)).slice(-8000)))
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const stop = async () => {
    const [stopCmd, stopArgs] = asDbUser(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', '-t', '20', 'stop'])
    try {
      execFileSync(stopCmd, stopArgs, { stdio: 'pipe' })
    } catch {
      child.kill('SIGKILL')
    }
    child.stderr?.destroy()
    rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    const probe = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} })
    try {
      await probe`select 1`
      await probe.end()
      break
    } catch (err) {
      await probe.end({ timeout: 0 })
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop()
        throw new Error(`the throwaway PostgreSQL did not start: ${stderr.slice(-2000) || String(err)}`)
      }
      await sleep(100)
    }
  }
  const admin = postgres(url, { max: 1, onnotice: () => {} })
  let statements = false
  if (withStatements) {
    try {
      await admin.unsafe('create extension if not exists pg_stat_statements')
      statements = true
    } catch (err) {
      opts.log(`note: pg_stat_statements did not load (${String(err)}): statements per flow are not reported`)
    }
  }
  const [{ server_version: version }] = (await admin`show server_version`) as unknown as [{ server_version: string }]
  return {
    url,
    urlOf: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    admin,
    version,
    statements,
    postmasterPid: () => Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]),
    stop: async () => {
      await admin.end({ timeout: 2 }).catch(() => {})
      await stop()
    },
  }
}

/** Sum of xact_commit + xact_rollback of one database, as flushed to the shared statistics. */
export async function transactionsOf(pg: BenchPg, database: string): Promise<number> {
  const rows = await pg.admin`select coalesce(sum(xact_commit + xact_rollback), 0)::bigint as n from pg_stat_database where datname = ${database}`
  return Number(rows[0]?.n ?? 0)
}

/**
 * Statements run in one database, BEGIN/COMMIT/ROLLBACK left out: pg_stat_statements does not see
 * them reliably (a prepared BEGIN run again through the extended protocol is not counted).
 */
export async function statementsOf(pg: BenchPg, database: string): Promise<number | undefined> {
  if (!pg.statements) return undefined
  const rows = await pg.admin`
    select coalesce(sum(s.calls), 0)::bigint as n
      from pg_stat_statements s join pg_database d on d.oid = s.dbid
     where d.datname = ${database}
       and s.query !~* '^\\s*(begin|start transaction|commit|rollback|end|savepoint|release)\\y'`
  return Number(rows[0]?.n ?? 0)
}

/** Waits until no backend is connected to `database` (they flush their statistics when they exit). */
export async function waitForNoBackends(pg: BenchPg, database: string, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const rows = await pg.admin`select count(*)::int as n from pg_stat_activity where datname = ${database}`
    if (rows[0]?.n === 0) return true
    await sleep(50)
  }
  return false
}

export async function createDatabase(pg: BenchPg, name: string, template?: string): Promise<void> {
  await pg.admin.unsafe(template ? `create database "${name}" template "${template}" strategy file_copy` : `create database "${name}"`)
}

export async function dropDatabase(pg: BenchPg, name: string): Promise<void> {
  await pg.admin.unsafe(`drop database if exists "${name}" with (force)`)
  if (pg.statements) {
    // Keep pg_stat_statements' table small across many rounds (its entries are per database).
    await pg.admin.unsafe(`select pg_stat_statements_reset(0, 0, 0)`).catch(() => {})
  }
}
