import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testDatabase } from '../support/db.ts'
import { signInThroughConsole, startService, type RunningService } from '../support/service.ts'

// A verifier from another ecosystem: Debian's python3-jwt (PyJWT, what Django REST framework's
// SimpleJWT uses) reads our JWKS over HTTP from the running service and checks our tokens.
// Debian's packages live in the system Python, so call it by path: `python3` may be a pyenv one.
const PYTHON = '/usr/bin/python3'
const SCRIPT = join(import.meta.dirname, 'pyjwt_verify.py')
const ISSUER = 'https://auth.nomisafe.example'
const AUDIENCE = 'nomisafe-api'

interface Outcome {
  ok: boolean
  claims?: Record<string, unknown>
  error?: string
  message?: string
}

function pyjwt(svc: RunningService, tokens: Record<string, string>, expected = { audience: AUDIENCE, issuer: ISSUER }) {
  const r = spawnSync(PYTHON, [SCRIPT, `${svc.url}/.well-known/jwks.json`, expected.audience, expected.issuer], {
    input: JSON.stringify(tokens),
    encoding: 'utf8',
    timeout: 30_000,
  })
  if (r.status !== 0) {
    throw new Error(`${PYTHON} ${SCRIPT} failed (exit ${r.status}); is python3-jwt installed (apt-get install python3-jwt)?\n${r.stderr}${r.error ?? ''}`)
  }
  return JSON.parse(r.stdout) as { pyjwt: string; results: Record<string, Outcome> }
}

let svc: RunningService
let closeDb: () => Promise<void>
beforeAll(async () => {
  const conn = await testDatabase('postgres', { migrate: false })
  closeDb = conn.close
  svc = await startService({ DATABASE_URL: conn.url!, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE })
})
afterAll(async () => {
  await svc?.stop()
  await closeDb?.()
})

describe('PyJWT with PyJWKClient, as a SimpleJWT service verifies', () => {
  it('accepts our access token with audience and issuer checked, and refuses our refresh token by its token_type', async () => {
    const s = await signInThroughConsole(svc, '+12015550123')
    const [h, p, sig] = s.access.split('.') as [string, string, string]
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: '999' })).toString('base64url')}.${sig}`
    const { pyjwt: version, results } = pyjwt(svc, { access: s.access, refresh: s.refresh, tampered })
    expect(version).toMatch(/^2\./)

    expect(results.access).toMatchObject({ ok: true, claims: { sub: String(s.id), phone_number: '+12015550123', token_type: 'access', iss: ISSUER, aud: AUDIENCE } })
    expect(results.refresh).toEqual({ ok: false, error: 'WrongTokenType', message: 'Token has wrong type' })
    expect(results.tampered).toMatchObject({ ok: false, error: 'InvalidSignatureError' })
  })

  it('refuses our access token for another audience or issuer', async () => {
    const s = await signInThroughConsole(svc, '+12015550124')
    expect(pyjwt(svc, { access: s.access }, { audience: 'another-api', issuer: ISSUER }).results.access).toMatchObject({ ok: false, error: 'InvalidAudienceError' })
    expect(pyjwt(svc, { access: s.access }, { audience: AUDIENCE, issuer: 'someone-else' }).results.access).toMatchObject({ ok: false, error: 'InvalidIssuerError' })
  })
})
