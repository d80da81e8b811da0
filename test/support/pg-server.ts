// Global setup for the PostgreSQL test project: uses TEST_DATABASE_URL when given, otherwise
// starts a throwaway server from the machine's PostgreSQL binaries and stops it afterwards.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string
  }
}

export function findPgBin(): string {
  const candidates: string[] = []
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim())
  } catch {}
  const root = '/usr/lib/postgresql'
  if (existsSync(root)) {
    for (const v of readdirSync(root).sort((a, b) => Number(b) - Number(a))) candidates.push(join(root, v, 'bin'))
  }
  const found = candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres')))
  if (!found) {
    throw new Error(
      'No PostgreSQL server binaries (initdb, postgres) were found. Install them (Debian: apt-get install postgresql-15) or set TEST_DATABASE_URL.',
    )
  }
  return found
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
    srv.on('error', reject)
  })
}

/** postgres refuses to run as root: as root, run its binaries as the postgres user. */
function asDbUser(bin: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [bin, args]
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p)) ?? 'runuser'
  return [runuser, ['-u', 'postgres', '--', bin, ...args]]
}

export interface PgServer {
  url: string
  /** Stops the server for good and removes its data directory. */
  stop(): Promise<void>
  /**
   * Stops the server but keeps its data directory and port (an outage): `fast` ends sessions
   * politely (57P01), `immediate` aborts like a crash and the next start runs crash recovery.
   */
  down(mode?: 'fast' | 'immediate'): Promise<void>
  /** Starts the same data directory on the same port again; resolves once it takes queries. */
  up(): Promise<void>
}

export async function startPgServer(): Promise<PgServer> {
  const bin = findPgBin()
  const dir = mkdtempSync(join(tmpdir(), 'nomisafe-pg-'))
  const data = join(dir, 'data')
  if (process.getuid?.() === 0) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), 0)
  const [initCmd, initArgs] = asDbUser(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'])
  execFileSync(initCmd, initArgs, { stdio: 'pipe' })
  const port = await freePort()
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  let child: ChildProcess | undefined

  // Spawns the server on the data directory and port, and waits until it answers a query.
  const launch = async () => {
    const [cmd, args] = asDbUser(join(bin, 'postgres'), [
      '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300',
    ])
    const proc: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    child = proc
    let stderr = ''
    proc.stderr?.on('data', (d) => (stderr += String(d)))
    const deadline = Date.now() + 30_000
    for (;;) {
      const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} })
      try {
        await sql`select 1`
        await sql.end()
        return
      } catch (err) {
        await sql.end({ timeout: 0 })
        if (proc.exitCode !== null || Date.now() > deadline) {
          proc.kill('SIGKILL')
          throw new Error(`the throwaway PostgreSQL did not start: ${stderr.slice(-2000) || String(err)}`)
        }
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }

  // runuser does not pass signals on, so ask pg_ctl to stop the server itself.
  const halt = async (mode: 'fast' | 'immediate') => {
    const proc = child
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    const [stopCmd, stopArgs] = asDbUser(join(bin, 'pg_ctl'), ['-D', data, '-m', mode, '-w', '-t', '20', 'stop'])
    try {
      execFileSync(stopCmd, stopArgs, { stdio: 'pipe' })
    } catch {
      proc.kill('SIGKILL')
    }
    // The port is free again once the process (and runuser around it) has gone.
    let timer: NodeJS.Timeout | undefined
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))])
    clearTimeout(timer)
    proc.stderr?.destroy()
  }

  await launch()
  return {
    url,
    stop: async () => {
      await halt('immediate')
      rmSync(dir, { recursive: true, force: true })
    },
    down: (mode = 'fast') => halt(mode),
    up: () => launch(),
  }
}

export default async function setup(project: TestProject) {
  const given = process.env.TEST_DATABASE_URL
  if (given) {
    project.provide('pgAdminUrl', given)
    return
  }
  const server = await startPgServer()
  project.provide('pgAdminUrl', server.url)
  return () => server.stop()
}
