// One sign-in scenario, written once, run against the real service process on every runtime we
// ship (Node, Deno, Bun, and the Bun-compiled binary), each on the embedded database and on
// PostgreSQL. The SMS goes to a fake Twilio on loopback, as a real one would: over HTTP.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { accessSync, constants, copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testDatabase } from '../support/db.ts'
import { startFakeTwilio, type FakeTwilioServer } from '../support/fake-twilio-server.ts'

const ROOT = join(import.meta.dirname, '../..')
const START_TIMEOUT_MS = 60_000

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** Deno is not a devDependency (its npm bin would shadow `deno` inside `deno task`): CI puts it on PATH. */
function findDeno(): string | undefined {
  if (process.env.DENO_BIN) return process.env.DENO_BIN
  return (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'deno')).find(executable)
}

const BUN = join(ROOT, 'node_modules/.bin/bun')
const DENO = findDeno()

interface Target {
  name: string
  /** The command a user of that runtime types; run in `cwd`. */
  command: () => { cmd: string; args: string[]; cwd: string }
  missing?: string
}

let work: string
let binary: string

const TARGETS: Target[] = [
  { name: 'Node', command: () => ({ cmd: process.execPath, args: ['src/runtime/node.ts'], cwd: ROOT }) },
  {
    name: 'Deno (deno task start)',
    command: () => ({ cmd: DENO!, args: ['task', 'start'], cwd: ROOT }),
    missing: DENO ? undefined : 'deno is not on PATH (set DENO_BIN, or install it: see .ci/run)',
  },
  { name: 'Bun (bun run start:bun)', command: () => ({ cmd: BUN, args: ['run', 'start:bun'], cwd: ROOT }) },
  // No arguments, run from a folder with no node_modules anywhere above it: all it has is itself.
  { name: 'the Bun-compiled binary', command: () => ({ cmd: binary, args: [], cwd: work }) },
]

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/** SIGTERM, as a service manager sends it; or Ctrl+C: SIGINT to the whole process group, as a terminal sends it. */
type StopWith = 'SIGTERM' | 'Ctrl+C'

interface Running {
  url: string
  output: () => string
  /** Asks the process to stop; resolves with its exit code. */
  stop: (how?: StopWith) => Promise<number | null>
}

async function startService(target: Target, env: Record<string, string>): Promise<Running> {
  const port = await freePort()
  const { cmd, args, cwd } = target.command()
  const child: ChildProcess = spawn(cmd, args, {
    cwd,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME ?? work,
      HOST: '127.0.0.1',
      PORT: String(port),
      NO_COLOR: '1',
      DENO_NO_UPDATE_CHECK: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process group of its own, like a job in a terminal, so Ctrl+C can reach every process in it.
    detached: true,
  })
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal)
    } catch {}
  }
  let out = ''
  child.stdout!.on('data', (d) => (out += String(d)))
  child.stderr!.on('data', (d) => (out += String(d)))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const deadline = Date.now() + START_TIMEOUT_MS
  while (!out.includes('"listening"')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      signalGroup('SIGKILL')
      throw new Error(`${target.name} did not start:\n${out}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    stop: async (how = 'SIGTERM') => {
      if (how === 'Ctrl+C') signalGroup('SIGINT')
      else child.kill('SIGTERM')
      const code = await exited
      signalGroup('SIGKILL') // nothing may outlive the test, even when the stop was not graceful
      return code
    },
  }
}

async function call(url: string, init: { method?: string; body?: unknown; token?: string } = {}) {
  const headers: Record<string, string> = {}
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  if (init.token) headers.authorization = `Bearer ${init.token}`
  const res = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  })
  const text = await res.text()
  return { status: res.status, body: (text ? JSON.parse(text) : null) as any }
}

/** What an app does: ask for a code, read the SMS, sign in, use and renew the session, sign out. */
async function signInScenario(svc: Running, twilio: FakeTwilioServer, phone: string) {
  const requested = await call(`${svc.url}/api/auth/otp/request/`, { body: { phone_number: phone } })
  expect(requested.status).toBe(202)
  const sms = await twilio.waitForBodyTo(phone)
  const code = sms.match(/\b(\d{6})\b/)?.[1]
  expect(code, `a 6-digit code in "${sms}"`).toBeDefined()

  const verified = await call(`${svc.url}/api/auth/otp/verify/`, { body: { phone_number: phone, otp: code } })
  expect(verified.status).toBe(200)
  expect(verified.body).toMatchObject({ phone_number: phone, token_type: 'Bearer', created: true })
  const { access, refresh } = verified.body as { access: string; refresh: string }

  // The published keys verify the token on their own, as another service would.
  const jwks = await call(`${svc.url}/.well-known/jwks.json`)
  expect(jwks.status).toBe(200)
  const kids = (jwks.body as JSONWebKeySet).keys.map((k) => k.kid)
  expect(kids).toContain(decodeProtectedHeader(access).kid)
  const { payload } = await jwtVerify(access, createLocalJWKSet(jwks.body))
  expect(payload).toMatchObject({ sub: String(verified.body.id), phone_number: phone, token_type: 'access' })

  const me = await call(`${svc.url}/api/auth/me/`, { token: access })
  expect(me.status).toBe(200)
  expect(me.body).toMatchObject({ id: verified.body.id, phone_number: phone })

  const renewed = await call(`${svc.url}/api/auth/token/refresh/`, { body: { refresh } })
  expect(renewed.status).toBe(200)
  expect(renewed.body.refresh).not.toBe(refresh)
  expect((await call(`${svc.url}/api/auth/me/`, { token: renewed.body.access })).status).toBe(200)

  expect((await call(`${svc.url}/api/auth/logout/`, { body: { refresh: renewed.body.refresh } })).status).toBe(204)
  const afterLogout = await call(`${svc.url}/api/auth/token/refresh/`, { body: { refresh: renewed.body.refresh } })
  expect(afterLogout.status).toBe(401)
  expect(afterLogout.body.code).toBe('invalid_token')
}

/**
 * Stops the service (SIGTERM or Ctrl+C) while a request is in flight, held at the fake Twilio: that
 * request still gets its answer; resolves with the exit code, which must be 0.
 */
async function stopWhileAnswering(svc: Running, twilio: FakeTwilioServer, phone: string, how: StopWith) {
  twilio.answerDelayMs = 1_000
  try {
    const pending = call(`${svc.url}/api/auth/otp/request/`, { body: { phone_number: phone } })
    await twilio.waitForBodyTo(phone) // the service is now waiting for Twilio's answer
    const exitCode = svc.stop(how)
    expect((await pending).status).toBe(202)
    return await exitCode
  } finally {
    twilio.answerDelayMs = 0
  }
}

let twilio: FakeTwilioServer

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'nomisafe-runtimes-'))
  twilio = await startFakeTwilio()
  // The binary is built here, with the npm script users run, so `npm test` needs nothing built
  // beforehand. It then runs from a copy in a temp folder, far from node_modules.
  const built = spawnSync('npm', ['run', 'build:binary', '--', '--outfile', join(work, 'build', 'nomisafe')], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  })
  if (built.status !== 0) throw new Error(`npm run build:binary failed:\n${built.stdout}\n${built.stderr}`)
  binary = join(work, 'nomisafe')
  copyFileSync(join(work, 'build', 'nomisafe'), binary)
  rmSync(join(work, 'build'), { recursive: true, force: true })
}, 180_000)

afterAll(async () => {
  await twilio?.close()
  if (work) rmSync(work, { recursive: true, force: true })
})

const DATABASES = [
  // A data folder that does not exist yet: the entrypoint creates it.
  {
    name: 'the embedded database',
    stopWith: 'SIGTERM' as const,
    env: async (slug: string) => ({ DATA_DIR: join(work, slug, 'data') }),
  },
  {
    name: 'PostgreSQL',
    stopWith: 'Ctrl+C' as const,
    env: async () => {
      // Empty: the service must migrate it itself.
      const conn = await testDatabase('postgres', { migrate: false })
      await conn.close()
      return { DATABASE_URL: conn.url! }
    },
  },
]

// A runtime that is missing here is skipped with the reason in its name; .ci/run fails on any skip.
describe.each(TARGETS)('$name', (target) => {
  const run = target.missing ? it.skip : it
  const because = target.missing ? ` (skipped: ${target.missing})` : ''
  run.each(DATABASES)(
    `on $name: signs in by SMS, serves /me, refreshes, logs out, and stops gracefully on $stopWith${because}`,
    async (db) => {
      const slug = `${target.name}-${db.name}`.replace(/\W+/g, '-')
      const env = await db.env(slug)
      const svc = await startService(target, { ...env, SMS_PROVIDER: 'twilio', ...twilio.env })
      try {
        await signInScenario(svc, twilio, '+12015550123')
      } catch (err) {
        await svc.stop()
        throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- service output ---\n${svc.output()}`, {
          cause: err,
        })
      }
      expect(await stopWhileAnswering(svc, twilio, '+12015550124', db.stopWith), svc.output()).toBe(0)
      expect(svc.output()).toContain('"stopped"')
    },
    120_000,
  )
})
