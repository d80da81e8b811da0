import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testDatabase } from '../support/db.ts'
import { ENTRY, postJson, signInThroughConsole, startService } from '../support/service.ts'

// The service as a user runs it: a real process, configured only by its environment.
const PHONE = '+12015550123'
let dataDir: string
let databaseUrl: string
let closeDb: () => Promise<void>

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'nomisafe-data-'))
  // Empty: the service must migrate it itself.
  const conn = await testDatabase('postgres', { migrate: false })
  databaseUrl = conn.url!
  closeDb = conn.close
})
afterAll(async () => {
  await closeDb()
  rmSync(dataDir, { recursive: true, force: true })
})

describe.each([
  ['the embedded database in a data folder', () => ({ DATA_DIR: join(dataDir, 'nested', 'db') })],
  ['PostgreSQL from DATABASE_URL', () => ({ DATABASE_URL: databaseUrl })],
])('the Node service on %s', (_name, env) => {
  it('migrates itself, prints codes to the console, signs in, and keeps users and keys across a restart', async () => {
    const first = await startService(env())
    const signedIn = await signInThroughConsole(first, PHONE)
    expect(signedIn.created).toBe(true)
    const jwks1 = await (await fetch(`${first.url}/.well-known/jwks.json`)).json()
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200)
    expect(await first.stop()).toBe(0)
    expect(first.output()).toContain('"stopped"')

    const second = await startService(env())
    const again = await signInThroughConsole(second, '+12015550124')
    expect(again.id).toBe(signedIn.id + 1)
    expect(await (await fetch(`${second.url}/.well-known/jwks.json`)).json()).toEqual(jwks1)
    expect(await second.stop()).toBe(0)
  })
})

describe('the command line', () => {
  it('stops at start-up with one line naming a missing setting', () => {
    const r = spawnSync(process.execPath, [ENTRY], { env: { PATH: process.env.PATH, SMS_PROVIDER: 'twilio' }, encoding: 'utf8' })
    expect(r.status).toBe(1)
    expect(r.stderr.trim()).toBe('configuration error: TWILIO_ACCOUNT_SID: is required when SMS_PROVIDER=twilio')
  })

  it('names a malformed setting and what is wrong with it', () => {
    const r = spawnSync(process.execPath, [ENTRY], { env: { PATH: process.env.PATH, PORT: 'eighty' }, encoding: 'utf8' })
    expect(r.status).toBe(1)
    expect(r.stderr.trim()).toBe('configuration error: PORT: must be a whole number')
  })

  it('migrate applies pending migrations once, then reports the database up to date', async () => {
    const conn = await testDatabase('postgres', { migrate: false })
    await conn.close()
    const env = { PATH: process.env.PATH, DATABASE_URL: conn.url! }
    const first = spawnSync(process.execPath, [ENTRY, 'migrate'], { env, encoding: 'utf8' })
    expect(first.stdout).toMatch(/^applied \d+ migration\(s\): 0001_initial/)
    expect(first.status).toBe(0)
    const second = spawnSync(process.execPath, [ENTRY, 'migrate'], { env, encoding: 'utf8' })
    expect(second.stdout.trim()).toBe('database is up to date')
  })

  it('fails with a one-line reason when the database is unreachable', () => {
    const r = spawnSync(process.execPath, [ENTRY, 'migrate'], {
      env: { PATH: process.env.PATH, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
      encoding: 'utf8',
    })
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/^migrate failed: .*ECONNREFUSED/)
  })

  it('keys list / keys rotate and users disable / enable work on the shared database', async () => {
    const conn = await testDatabase('postgres', { migrate: false })
    await conn.close()
    const env = { PATH: process.env.PATH, DATABASE_URL: conn.url!, SERVER_SECRET: 'a-server-secret-for-the-cli-test-0123456789' }
    const run = (...args: string[]) => spawnSync(process.execPath, [ENTRY, ...args], { env, encoding: 'utf8' })

    const listed = run('keys', 'list')
    expect(listed.status).toBe(0)
    const signing = listed.stdout.split('\n').filter((l) => /\bsigning\b/.test(l))
    expect(signing).toHaveLength(1)
    const oldKid = signing[0]!.split(/\s+/)[0]

    const rotated = run('keys', 'rotate')
    expect(rotated.status).toBe(0)
    const newKid = rotated.stdout.match(/new signing key (\S+);/)![1]
    const after = run('keys', 'list').stdout
    expect(after).toMatch(new RegExp(`${newKid}\\s+signing`))
    expect(after).toMatch(new RegExp(`${oldKid}\\s+retired`))

    const svc = await startService({ DATABASE_URL: conn.url!, SERVER_SECRET: env.SERVER_SECRET })
    const s = await signInThroughConsole(svc, PHONE)
    expect(decodeProtectedHeader(s.access).kid).toBe(newKid)
    const disabled = run('users', 'disable', '+1 201 555 0123')
    expect(disabled.stdout.trim()).toBe(`user ${s.id} (${PHONE}) disabled; every session ended`)
    const refreshed = await postJson(`${svc.url}/api/auth/token/refresh/`, { refresh: s.refresh })
    expect(refreshed.status).toBe(403)
    const me = await fetch(`${svc.url}/api/auth/me/`, { headers: { authorization: `Bearer ${s.access}` } })
    expect(me.status).toBe(403)
    expect(run('users', 'enable', PHONE).status).toBe(0)
    expect((await fetch(`${svc.url}/api/auth/me/`, { headers: { authorization: `Bearer ${s.access}` } })).status).toBe(200)
    expect(run('users', 'disable', '+12015550199').stderr.trim()).toBe('no user has the number +12015550199')
    expect(run('users', 'disable').status).toBe(2)
    const pruned = run('prune')
    expect(pruned.status).toBe(0)
    expect(pruned.stdout.trim()).toMatch(/^deleted \d+ counters, \d+ codes, \d+ sessions, \d+ audit events$/)
    const audit = run('audit', '--type', 'user_disabled')
    expect(audit.stdout).toMatch(new RegExp(`user_disabled\\s+user=${s.id}\\s+phone=\\+1201\\*+23`))
    expect(run('keys', '--help').stdout).toContain('Usage: nomisafe keys rotate')
    await svc.stop()
  })

  it('serves /metrics on METRICS_PORT only, in Prometheus text', async () => {
    const { freePort } = await import('../support/service.ts')
    const metricsPort = await freePort()
    const svc = await startService({ DATA_DIR: join(dataDir, 'metrics'), METRICS_PORT: String(metricsPort) })
    try {
      await signInThroughConsole(svc, PHONE)
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
      expect(metrics.status).toBe(200)
      expect(await metrics.text()).toContain('otp_verify_total{outcome="signed_in"} 1')
      expect((await fetch(`${svc.url}/metrics`)).status).toBe(404)
    } finally {
      await svc.stop()
    }
  })
})
