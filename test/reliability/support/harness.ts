// What the reliability tests share: the service as a real process they can kill and measure, an
// HTTP client where every request has a deadline, full sign-in flows, and figures printed to the
// CI log. Everything listens on and talks to loopback only.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import postgres from 'postgres'
import type { FakeTwilioServer } from '../../support/fake-twilio-server.ts'
import { ENTRY, freePort } from '../../support/service.ts'

/** The SERVER_SECRET of every service these tests start; no answer may ever contain it. */
export const SECRET = 'reliability-server-secret-4f7c1d9e2b8a6035'

/** The most any single request may take before the test counts it as hung. */
export const REQUEST_TIMEOUT_MS = 5_000

/** Every per-number, per-address and overall cap off: load comes from one loopback address. */
export const NO_LIMITS: Record<string, string> = {
  LIMIT_SENDS_PER_NUMBER_HOUR: '0',
  LIMIT_SENDS_PER_NUMBER_DAY: '0',
  LIMIT_FAILED_VERIFIES_PER_NUMBER_HOUR: '0',
  LIMIT_REQUESTS_PER_IP_HOUR: '0',
  LIMIT_VERIFIES_PER_IP_HOUR: '0',
  LIMIT_SENDS_PER_COUNTRY_HOUR: '0',
  LIMIT_SENDS_PER_HOUR: '0',
}

/** The environment of a service on PostgreSQL that texts through a (fake) Twilio. */
export function serviceEnv(databaseUrl: string, twilioEnv: Record<string, string>, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    SERVER_SECRET: SECRET,
    SMS_PROVIDER: 'twilio',
    ...twilioEnv,
    // Warnings and errors only: a request that failed on the server side shows up in output().
    LOG_LEVEL: 'warn',
    ...NO_LIMITS,
    ...extra,
  }
}

export interface ServiceProcess {
  url: string
  pid: number
  /** stdout and stderr so far (the last 2 MB). */
  output(): string
  alive(): boolean
  /** Resident memory of the process in bytes, from /proc. */
  rss(): number
  /** Sends `signal` and waits for the process to exit. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null>
}

const OUTPUT_CAP = 2 * 1024 * 1024

/** Starts `node src/runtime/node.ts serve` on a free loopback port; resolves once /healthz answers. */
export async function spawnService(env: Record<string, string>): Promise<ServiceProcess> {
  const port = await freePort()
  const child: ChildProcess = spawn(process.execPath, [ENTRY, 'serve'], {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const keep = (d: unknown) => {
    out += String(d)
    if (out.length > OUTPUT_CAP) out = out.slice(-OUTPUT_CAP)
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited at start-up:\n${out}`)
    const r = await send(url, 'GET', '/healthz', { timeoutMs: 500 })
    if (r.status === 200) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`service did not answer /healthz within 30 s:\n${out}`)
    }
    await sleep(50)
  }
  const alive = () => child.exitCode === null && child.signalCode === null
  return {
    url,
    pid: child.pid!,
    output: () => out,
    alive,
    rss: () => {
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
      return m ? Number(m[1]) * 1024 : NaN
    },
    kill: async (signal) => {
      if (alive()) child.kill(signal)
      return exited
    },
    stop: async () => {
      if (alive()) child.kill('SIGTERM')
      return (await exited).code
    },
  }
}

/** SIGTERM, and SIGKILL if the process has not exited within `ms`: teardown must not hang. */
export async function stopOrKill(svc: ServiceProcess | undefined, ms = 15_000): Promise<void> {
  if (!svc) return
  let timer: NodeJS.Timeout | undefined
  const stopped = await Promise.race([svc.stop().then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))])
  clearTimeout(timer)
  if (!stopped) await svc.kill('SIGKILL')
}

export interface Answer {
  /** 0 when there was no answer: see `error`. */
  status: number
  ms: number
  error?: 'timeout' | 'network'
  contentType: string
  headers: Headers
  text: string
  json: any
}

export interface SendOptions {
  body?: unknown
  headers?: Record<string, string>
  timeoutMs?: number
}

/** One request with a deadline; never throws: a timeout or a network error is an Answer too. */
export async function send(base: string, method: string, path: string, opts: SendOptions = {}): Promise<Answer> {
  const started = performance.now()
  const headers: Record<string, string> = { ...opts.headers }
  let body: string | undefined
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body)
    headers['content-type'] ??= 'application/json'
  }
  try {
    const res = await fetch(base + path, { method, headers, body, signal: AbortSignal.timeout(opts.timeoutMs ?? REQUEST_TIMEOUT_MS) })
    const text = await res.text()
    let json: unknown
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {}
    return { status: res.status, ms: performance.now() - started, contentType: res.headers.get('content-type') ?? '', headers: res.headers, text, json }
  } catch (err) {
    const timeout = err instanceof DOMException && (err.name === 'TimeoutError' || err.name === 'AbortError')
    return { status: 0, ms: performance.now() - started, error: timeout ? 'timeout' : 'network', contentType: '', headers: new Headers(), text: '', json: undefined }
  }
}

/** A 503 as API.md says it: problem+json, code service_unavailable, Retry-After. */
export function isUnavailableProblem(a: Answer): boolean {
  return a.status === 503 && a.contentType === 'application/problem+json' && a.json?.code === 'service_unavailable' && a.headers.has('retry-after')
}

/** A distinct, valid US number for each i (0 to 29 999). */
export function phone(i: number): string {
  const area = ['201', '202', '203'][Math.floor(i / 10_000)]
  if (!area) throw new Error(`phone(${i}): out of range`)
  return `+1${area}555${String(i % 10_000).padStart(4, '0')}`
}

export interface Session {
  phone: string
  otp: string
  id: number
  access: string
  refresh: string
  created: boolean
}

export type FlowResult = { ok: true; session: Session; answers: Answer[] } | { ok: false; step: string; answers: Answer[] }

/**
 * The sign-in of an app: ask for a code, read it from the fake Twilio, verify it. Every step is
 * bounded in time; the first one that does not answer as it should ends the flow.
 */
export async function signIn(base: string, twilio: FakeTwilioServer, number: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<FlowResult> {
  const answers: Answer[] = []
  const requested = await send(base, 'POST', '/api/auth/otp/request/', { body: { phone_number: number }, timeoutMs })
  answers.push(requested)
  if (requested.status !== 202) return { ok: false, step: 'request', answers }
  let otp: string
  try {
    otp = /\d{6}/.exec(await twilio.waitForBodyTo(number, timeoutMs))![0]
  } catch {
    return { ok: false, step: 'sms', answers }
  }
  const verified = await send(base, 'POST', '/api/auth/otp/verify/', { body: { phone_number: number, otp }, timeoutMs })
  answers.push(verified)
  if (verified.status !== 200) return { ok: false, step: 'verify', answers }
  const b = verified.json
  return { ok: true, session: { phone: number, otp, id: b.id, access: b.access, refresh: b.refresh, created: b.created }, answers }
}

export const bearer = (access: string) => ({ authorization: `Bearer ${access}` })

export interface Stats {
  n: number
  p50: number
  p99: number
  max: number
}

export function stats(ms: number[]): Stats {
  const sorted = [...ms].sort((a, b) => a - b)
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN)
  const round = (x: number) => Math.round(x * 10) / 10
  return { n: sorted.length, p50: round(at(50)), p99: round(at(99)), max: round(sorted.at(-1) ?? NaN) }
}

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
export const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Prints one line of figures, so CI logs show what each reliability test measured. */
export function report(test: string, figures: Record<string, unknown>): void {
  console.log(`[reliability] ${test}: ${JSON.stringify(figures)}`)
}

/** Runs `workers` loops of `step` until `done()` says so; each loop awaits its step, so it is closed-loop. */
export async function runWorkers(workers: number, done: () => boolean, step: (worker: number) => Promise<void>): Promise<void> {
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (!done()) await step(w)
    }),
  )
}

/** How many connections the service holds to its database, seen from an administrative connection. */
export async function connectionsTo(adminUrl: string, database: string): Promise<number> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} })
  try {
    const [row] = await sql`select count(*)::int as n from pg_stat_activity where datname = ${database} and pid <> pg_backend_pid()`
    return row!.n as number
  } finally {
    await sql.end({ timeout: 1 })
  }
}

/** The database name of a postgres:// URL. */
export const databaseOf = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1))

/** Lines the service logged as a failed request (5xx) with internal_error: a bug, not an outage. */
export const internalErrors = (output: string) => output.split('\n').filter((l) => l.includes('"internal_error"'))

/** The service's inspector (start it with NODE_OPTIONS=--inspect=127.0.0.1:0): its WebSocket URL, from the output. */
export function inspectorUrl(svc: ServiceProcess): string {
  const url = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(svc.output())?.[1]
  if (!url) throw new Error('the service has no inspector: start it with NODE_OPTIONS=--inspect=127.0.0.1:0')
  return url
}

export interface MemoryAfterGc {
  rss: number
  heapUsed: number
  external: number
}

/**
 * Runs a full garbage collection in the service (through its inspector, on loopback) and reads
 * process.memoryUsage(): what stays after a GC is what a leak would grow.
 */
export async function memoryAfterGc(wsUrl: string): Promise<MemoryAfterGc> {
  const ws = new WebSocket(wsUrl)
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve()
    ws.onerror = () => reject(new Error(`cannot reach the inspector at ${wsUrl}`))
  })
  let nextId = 1
  const pending = new Map<number, (result: any) => void>()
  ws.onmessage = (e) => {
    const msg = JSON.parse(String(e.data))
    pending.get(msg.id)?.(msg.result)
    pending.delete(msg.id)
  }
  const call = (method: string, params: object = {}) =>
    new Promise<any>((resolve, reject) => {
      const id = nextId++
      const timer = setTimeout(() => reject(new Error(`inspector ${method} timed out`)), 10_000)
      pending.set(id, (r) => (clearTimeout(timer), resolve(r)))
      ws.send(JSON.stringify({ id, method, params }))
    })
  try {
    await call('HeapProfiler.collectGarbage')
    await call('HeapProfiler.collectGarbage')
    const r = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })
    const m = JSON.parse(r.result.value)
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external }
  } finally {
    ws.close()
  }
}
