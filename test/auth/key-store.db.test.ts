import { generateKeyPairSync } from 'node:crypto'
import { decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Connection } from '../../src/store/connect.ts'
import { call, post, testApp, type TestApp } from '../support/app.ts'
import { testDatabase } from '../support/db.ts'

let conn: Connection
beforeAll(async () => {
  conn = await testDatabase()
})
afterAll(() => conn.close())

async function signInKid(t: TestApp, phone: string) {
  await post(t.app, '/api/auth/otp/request/', { phone_number: phone })
  const res = await post(t.app, '/api/auth/otp/verify/', { phone_number: phone, otp: t.sms.codeFor(phone) })
  expect(res.status).toBe(200)
  return decodeProtectedHeader(res.body.access).kid
}

describe('signing keys', () => {
  it('signs with a key given in JWT_PRIVATE_KEY (PEM or JWK) and keeps the earlier key published', async () => {
    const generated = await testApp(conn)
    const firstKid = await signInKid(generated, '+12015550101')

    const { privateKey } = generateKeyPairSync('ed25519')
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
    const fromPem = await testApp(conn, { env: { JWT_PRIVATE_KEY: pem.replaceAll('\n', '\\n') } })
    const pemKid = await signInKid(fromPem, '+12015550102')
    expect(pemKid).not.toBe(firstKid)

    const jwk = JSON.stringify(generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }))
    const fromJwk = await testApp(conn, { env: { JWT_PRIVATE_KEY: jwk } })
    const jwkKid = await signInKid(fromJwk, '+12015550103')

    const published = (await call(fromJwk.app, 'GET', '/.well-known/jwks.json')).body.keys.map((k: { kid: string }) => k.kid)
    expect(published).toEqual(expect.arrayContaining([firstKid, pemKid, jwkKid]))
    for (const key of (await call(fromJwk.app, 'GET', '/.well-known/jwks.json')).body.keys) expect(key).not.toHaveProperty('d')
  })

  it('stores private keys encrypted, never in the clear', async () => {
    await testApp(conn)
    const rows = await conn.db.selectFrom('signing_keys').select(['private_key_enc', 'public_jwk']).execute()
    expect(rows.length).toBeGreaterThan(0)
    for (const r of rows) {
      expect(r.private_key_enc).toMatch(/^v1\./)
      expect(r.private_key_enc).not.toMatch(/MC4CAQAwBQYDK2Vw/) // the PKCS#8 Ed25519 prefix in base64
      expect(JSON.parse(r.public_jwk)).not.toHaveProperty('d')
    }
  })

  it('refuses a start with stored keys and a different SERVER_SECRET, naming the cause', async () => {
    const otherSecret = { SERVER_SECRET: 'another-secret-of-at-least-32-characters!!' }
    await expect(testApp(conn, { env: otherSecret })).rejects.toThrow(/SERVER_SECRET differs/)
  })

  it('refuses a JWT_PRIVATE_KEY that is not an Ed25519 private key', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
    await expect(testApp(conn, { env: { JWT_PRIVATE_KEY: rsa } })).rejects.toThrow('JWT_PRIVATE_KEY: must be an Ed25519 private key')
  })
})
