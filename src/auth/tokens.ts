import { errors, jwtVerify, SignJWT, type JWTPayload } from 'jose'
import { AppError } from '../errors.ts'
import type { KeyStore } from './key-store.ts'

export interface TokenSettings {
  issuer: string
  audience: string
  accessTtlSeconds: number
  refreshTtlSeconds: number
}

const CLOCK_SKEW_SECONDS = 30
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export type VerifiedClaims = JWTPayload & { userId: number; jti: string; sid?: string; phone_number?: string }

const header = (kid: string) => ({ alg: 'EdDSA', kid, typ: 'JWT' })
const seconds = (d: Date) => Math.floor(d.getTime() / 1000)

export async function signAccessToken(keys: KeyStore, s: TokenSettings, t: { userId: number; phone: string; now: Date }): Promise<string> {
  const { kid, privateKey } = await keys.signer()
  const iat = seconds(t.now)
  return new SignJWT({ phone_number: t.phone, token_type: 'access' })
    .setProtectedHeader(header(kid))
    .setIssuer(s.issuer)
    .setAudience(s.audience)
    .setSubject(String(t.userId))
    .setIssuedAt(iat)
    .setExpirationTime(iat + s.accessTtlSeconds)
    .setJti(crypto.randomUUID())
    .sign(privateKey)
}

export async function signRefreshToken(
  keys: KeyStore,
  s: TokenSettings,
  t: { userId: number; sessionId: string; jti: string; now: Date },
): Promise<{ token: string; expiresAt: Date }> {
  const { kid, privateKey } = await keys.signer()
  const iat = seconds(t.now)
  const exp = iat + s.refreshTtlSeconds
  const token = await new SignJWT({ sid: t.sessionId, token_type: 'refresh' })
    .setProtectedHeader(header(kid))
    .setIssuer(s.issuer)
    .setAudience(s.audience)
    .setSubject(String(t.userId))
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(t.jti)
    .sign(privateKey)
  return { token, expiresAt: new Date(exp * 1000) }
}

/**
 * Verifies one of our tokens of the given kind. The algorithm is pinned to EdDSA and the key is
 * chosen only by `kid` among our live keys; nothing else in the header is trusted. Every failure
 * is one answer: 401 invalid_token.
 */
export async function verifyToken(
  keys: KeyStore,
  s: TokenSettings,
  token: string,
  kind: 'access' | 'refresh',
  now: Date,
): Promise<VerifiedClaims> {
  try {
    const { payload } = await jwtVerify(
      token,
      async (header) => {
        const key = header.kid ? await keys.publicKey(header.kid) : undefined
        if (!key) throw new errors.JWKSNoMatchingKey()
        return key
      },
      {
        algorithms: ['EdDSA'],
        issuer: s.issuer,
        audience: s.audience,
        currentDate: now,
        clockTolerance: CLOCK_SKEW_SECONDS,
        typ: 'JWT',
        requiredClaims: ['sub', 'jti', 'exp', 'iat'],
      },
    )
    if (payload.token_type !== kind || !/^[1-9]\d*$/.test(payload.sub ?? '')) throw new errors.JWTInvalid('wrong token type')
    if (kind === 'refresh' && (typeof payload.sid !== 'string' || !UUID.test(payload.sid))) throw new errors.JWTInvalid('no session')
    return { ...payload, userId: Number(payload.sub), jti: payload.jti! } as VerifiedClaims
  } catch (cause) {
    // Only a token's own fault is a 401; a database outage while loading keys stays a 5xx.
    if (cause instanceof errors.JOSEError) throw new AppError('invalid_token', {}, { cause })
    throw cause
  }
}
