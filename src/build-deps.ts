import type { Context } from 'hono'
import type { Clock } from './clock.ts'
import type { Config } from './config.ts'
import { type Deps, globalFetch } from './deps.ts'
import { createKeyStore } from './auth/key-store.ts'
import { deriveSecrets, randomSecret } from './auth/secrets.ts'
import type { Logger } from './log.ts'
import { createMetrics } from './metrics.ts'
import { createSmsProvider } from './sms/index.ts'
import { connectDatabase, type OpenEmbedded } from './store/connect.ts'
import { migrateToLatest } from './store/migrate.ts'
import { getOrCreateSetting } from './store/settings.ts'

/** What only the runtime adapter can provide. */
export interface Platform {
  openEmbedded: OpenEmbedded
  /** Where the console SMS provider prints codes (the developer's terminal). */
  printLine: (line: string) => void
  /** The remote address of a request's socket; runtimes that cannot tell leave it out. */
  clientAddress?: (c: Context) => string | undefined
  /** Outbound HTTP, where the runtime has a leaner client than its global `fetch` (Node). */
  fetch?: typeof fetch
}

export interface Built {
  deps: Deps
  /** Closes the database; call after the server stopped taking requests. */
  close(): Promise<void>
  /** Marks the instance as shutting down, so /readyz answers 503. */
  stopAccepting(): void
}

/** Connects, migrates and loads keys: everything slow happens here, once, before serving. */
export async function buildDeps(config: Config, platform: Platform, log: Logger, clock: Clock): Promise<Built> {
  const conn = await connectDatabase(config.database, platform.openEmbedded)
  try {
    if (config.database.migrateOnStart) {
      const applied = await migrateToLatest(conn.db)
      if (applied.length > 0) log.info('migrations applied', { migrations: applied })
    }
    let serverSecret = config.serverSecret
    if (!serverSecret) {
      // Kept in the database so every instance agrees; production deployments set SERVER_SECRET.
      serverSecret = await getOrCreateSetting(conn.db, 'server_secret', randomSecret())
      log.warn('SERVER_SECRET is not set: using a generated secret stored in the database')
    }
    const secrets = await deriveSecrets(serverSecret)
    const keys = await createKeyStore({
      db: conn.db,
      clock,
      keyEncryptionKey: secrets.keyEncryptionKey,
      maxTokenLifetimeSeconds: Math.max(config.jwt.accessTtlSeconds, config.jwt.refreshTtlSeconds),
      providedKey: config.jwt.privateKey,
    })
    let accepting = true
    const outbound = platform.fetch ?? globalFetch
    const deps: Deps = {
      config,
      db: conn.db,
      sms: createSmsProvider(config.sms, log, platform.printLine, clock, outbound),
      log,
      metrics: createMetrics(),
      clock,
      keys,
      secrets,
      accepting: () => accepting,
      clientAddress: platform.clientAddress ?? (() => undefined),
      fetch: outbound,
    }
    const testNumbers = config.otp.testNumbers.size
    if (testNumbers > 0) {
      log.warn(`TEST_PHONE_NUMBERS is set: ${testNumbers} number(s) sign in with a fixed code and get no SMS`, { test_numbers: testNumbers })
    }
    log.info('ready', { database: conn.kind, sms_provider: config.sms.providers.map((p) => p.provider).join(',') })
    return { deps, close: conn.close, stopAccepting: () => { accepting = false } }
  } catch (err) {
    await conn.close().catch(() => {})
    throw err
  }
}
