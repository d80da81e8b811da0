import { createApp, createMetricsApp } from './app.ts'
import { buildDeps, type Platform } from './build-deps.ts'
import { systemClock } from './clock.ts'
import { ConfigError, loadConfig, type Config, type Env } from './config.ts'
import { auditList } from './cli/audit.ts'
import { helpFor, usage } from './cli/commands.ts'
import { eventsList, eventsRetry } from './cli/events.ts'
import { keysList, keysRotate } from './cli/keys.ts'
import { usersSetDisabled } from './cli/users.ts'
import type { Deps } from './deps.ts'
import { createDeliverer } from './events/deliver.ts'
import { importDjangoCommand } from './legacy/django-import.ts'
import { startMaintenance } from './maintenance.ts'
import { pruneOld } from './store/prune.ts'
import { createLogger, type Logger } from './log.ts'
import { connectDatabase } from './store/connect.ts'
import { migrateToLatest } from './store/migrate.ts'

/** What a runtime entrypoint hands the CLI: the only runtime-specific parts. */
export interface Runtime extends Platform {
  argv: string[]
  env: Env
  /** Starts serving `fetch`; resolves once listening. */
  serve(fetch: (req: Request) => Response | Promise<Response>, port: number, host: string): Promise<Server>
  /** Calls `handler` once on SIGTERM or SIGINT. */
  onShutdownSignal(handler: () => void): void
  stdout(line: string): void
  stderr(line: string): void
}

export interface Server {
  /** Stops accepting and resolves when the requests in flight have finished (or were cut off). */
  close(): Promise<void>
}

const SHUTDOWN_GRACE_MS = 10_000

/** Runs one CLI command; resolves with the process exit code. */
export async function main(rt: Runtime): Promise<number> {
  const [command = 'serve', ...rest] = rt.argv
  if (command === 'help' || command === '--help' || command === '-h') {
    rt.stdout(helpFor(rest))
    return 0
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    rt.stdout(helpFor([command, ...rest]))
    return 0
  }
  let config: Config
  try {
    config = loadConfig(rt.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      rt.stderr(`configuration error: ${err.message}`)
      return 1
    }
    throw err
  }
  const log = createLogger(
    config.logLevel,
    (line, level) => (level === 'error' || level === 'warn' ? rt.stderr(line) : rt.stdout(line)),
    systemClock,
    config.logFormat,
  )
  try {
    switch (command) {
      case 'serve':
        return await serve(rt, config, log)
      case 'migrate':
        return await migrate(rt, config)
      case 'prune':
        return await withDeps(rt, config, async (deps) => {
          const p = await pruneOld(deps.db, deps.clock.now(), { auditRetentionDays: config.auditRetentionDays })
          rt.stdout(`deleted ${p.counters} counters, ${p.codes} codes, ${p.sessions} sessions, ${p.auditEvents} audit events`)
          return 0
        })
      case 'keys':
      case 'users':
        return await withDeps(rt, config, (deps) => admin(rt, deps, command, rest))
      case 'events':
        if (rest[0] === 'list') return await withDeps(rt, config, (deps) => eventsList(deps, rt.stdout))
        if (rest[0] === 'retry') return await withDeps(rt, config, (deps) => eventsRetry(deps, rest.slice(1), rt.stdout, rt.stderr))
        rt.stderr(`unknown command "events ${rest[0] ?? ''}"\n\n${usage()}`)
        return 2
      case 'audit':
        return await withDeps(rt, config, (deps) => auditList(deps, rest, rt.stdout, rt.stderr))
      case 'import-django':
        return await withDeps(rt, config, (deps) => importDjangoCommand(deps, rest, rt.stdout, rt.stderr))
      default:
        rt.stderr(`unknown command "${command}"\n\n${usage()}`)
        return 2
    }
  } catch (err) {
    rt.stderr(`${command} failed: ${describe(err)}`)
    return 1
  }
}

async function serve(rt: Runtime, config: Config, log: Logger): Promise<number> {
  const built = await buildDeps(config, rt, log, systemClock)
  const app = createApp(built.deps)
  const server = await rt.serve(app.fetch, config.port, config.host)
  const metricsServer = config.metricsPort ? await rt.serve(createMetricsApp(built.deps).fetch, config.metricsPort, config.host) : undefined
  const stopMaintenance = startMaintenance(built.deps)
  // The outbox is sent in the background; state lives in the database, so a restart carries on.
  const deliverer = config.events
    ? createDeliverer({
        db: built.deps.db,
        log,
        clock: systemClock,
        fetch: built.deps.fetch,
        url: config.events.webhookUrl,
        secret: config.events.webhookSecret,
        metrics: built.deps.metrics,
      })
    : undefined
  deliverer?.start()
  log.info('listening', { url: `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${config.port}` })
  await new Promise<void>((resolve) => rt.onShutdownSignal(resolve))
  log.info('shutting down')
  built.stopAccepting()
  stopMaintenance()
  await Promise.race([Promise.all([server.close(), metricsServer?.close()]), new Promise((r) => setTimeout(r, SHUTDOWN_GRACE_MS))])
  await deliverer?.stop()
  await built.close()
  log.info('stopped')
  return 0
}

/** Verbs that work on the service's state, with the same database, secrets and keys as `serve`. */
async function withDeps(rt: Runtime, config: Config, run: (deps: Deps) => Promise<number>): Promise<number> {
  // Only warnings and errors, on stderr: the verb's own output stays readable on stdout.
  const log = createLogger(config.logLevel === 'debug' ? 'debug' : 'warn', (line) => rt.stderr(line), systemClock, config.logFormat)
  const built = await buildDeps(config, rt, log, systemClock)
  try {
    return await run(built.deps)
  } finally {
    await built.close()
  }
}

function admin(rt: Runtime, deps: Deps, command: string, [verb, arg]: string[]): Promise<number> {
  const action = `${command} ${verb ?? ''}`.trim()
  switch (action) {
    case 'keys list':
      return keysList(deps, rt.stdout)
    case 'keys rotate':
      return keysRotate(deps, rt.stdout)
    case 'users disable':
    case 'users enable':
      return usersSetDisabled(deps, arg, verb === 'disable', rt.stdout, rt.stderr)
    default:
      rt.stderr(`unknown command "${action}"\n\n${usage()}`)
      return Promise.resolve(2)
  }
}

async function migrate(rt: Runtime, config: Config): Promise<number> {
  const conn = await connectDatabase(config.database, rt.openEmbedded)
  try {
    const applied = await migrateToLatest(conn.db)
    rt.stdout(applied.length === 0 ? 'database is up to date' : `applied ${applied.length} migration(s): ${applied.join(', ')}`)
    return 0
  } finally {
    await conn.close()
  }
}

/** One line, with the underlying cause (a connection refused, say), never a stack trace. */
function describe(err: unknown): string {
  const parts: string[] = []
  for (let e: unknown = err; e instanceof Error && parts.length < 3; e = e.cause) parts.push(e.message)
  return parts.join(': ') || String(err)
}
