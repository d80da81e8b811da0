import type { Context } from 'hono'
import { createApp, type App } from '../../src/app.ts'
import { createKeyStore } from '../../src/auth/key-store.ts'
import { deriveSecrets } from '../../src/auth/secrets.ts'
import { loadConfig, type Config, type Env } from '../../src/config.ts'
import { type Deps, globalFetch } from '../../src/deps.ts'
import type { Logger } from '../../src/log.ts'
import { createMetrics } from '../../src/metrics.ts'
import type { SmsProvider } from '../../src/sms/provider.ts'
import type { Connection } from '../../src/store/connect.ts'
import { fakeClock, type FakeClock } from './clock.ts'
import { recordingSms, type RecordingSms } from './sms.ts'

export const TEST_SECRET = 'test-server-secret-that-is-long-enough-0123456789'

export interface LogLine {
  level: string
  msg: string
  fields: Record<string, unknown>
}

/** A logger that keeps every line, so tests can check what operators would see. */
export function capturingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = []
  const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => void lines.push({ level, msg, fields })
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

export interface TestApp<S extends SmsProvider = RecordingSms> {
  app: App
  deps: Deps
  clock: FakeClock
  sms: S
  log: ReturnType<typeof capturingLogger>
  config: Config
}

/** The real app on a real database, with a fake clock and a recording SMS provider. */
export async function testApp<S extends SmsProvider = RecordingSms>(
  conn: Connection,
  opts: { env?: Env; clock?: FakeClock; sms?: S } = {},
): Promise<TestApp<S>> {
  const config = loadConfig({ SERVER_SECRET: TEST_SECRET, LOG_LEVEL: 'silent', ...opts.env })
  const clock = opts.clock ?? fakeClock()
  const sms = (opts.sms ?? recordingSms()) as S
  const log = capturingLogger()
  const secrets = await deriveSecrets(config.serverSecret!)
  const keys = await createKeyStore({
    db: conn.db,
    clock,
    keyEncryptionKey: secrets.keyEncryptionKey,
    maxTokenLifetimeSeconds: config.jwt.refreshTtlSeconds,
    providedKey: config.jwt.privateKey,
  })
  // In-process requests have no socket: tests name the caller's address in a header of their own.
  const clientAddress = (c: Context) => c.req.header('x-test-client-ip') ?? '192.0.2.1'
  const deps: Deps = { config, db: conn.db, sms, log, metrics: createMetrics(), clock, keys, secrets, accepting: () => true, clientAddress, fetch: globalFetch }
  return { app: createApp(deps), deps, clock, sms, log, config }
}

export interface JsonResponse {
  status: number
  headers: Headers
  body: any
}

export async function call(app: App, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const init: RequestInit = { method, headers: { ...headers } }
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body)
    ;(init.headers as Record<string, string>)['content-type'] ??= 'application/json'
  }
  const res = await app.request(path, init)
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = text ? JSON.parse(text) : undefined
  } catch {}
  return { status: res.status, headers: res.headers, body: parsed }
}

export const post = (app: App, path: string, body?: unknown, headers?: Record<string, string>) => call(app, 'POST', path, body, headers)
