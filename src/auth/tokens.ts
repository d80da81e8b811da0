import { errors, jwtVerify, SignJWT, type JWTPayload } from 'jose'
import { AppError } from '../errors.ts'
import type { KeyStore } from './key-store.ts'

export interface TokenSettings {
  issuer: string
  audience: string
  accessTtlSeconds: number
  refreshTtlSeconds: number
}

export interface TokenPair {
  access: string
  refresh: string
  refreshJti: string
  refreshExpiresAt: Date
}

export interface AccessClaims {
  sub: string
  phone_number: string
  jti: string
  exp: number
}

const CLOCK_SKEW_SECONDS = 30

/** Signs an access and a refresh token for one session. */
export async function issueTokens(
  keys: KeyStore,
  s: TokenSettings,
  t: { userId: number; phone: string; sessionId: string; now: Date; refreshJti?: string },
): Promise<TokenPair> {
  const { kid, privateKey } = await keys.signer()
  const iat = Math.floor(t.now.getTime() / 1000)
  const header = { alg: 'EdDSA', kid, typ: 'JWT' }
  const refreshJti = t.refreshJti ?? crypto.randomUUID()
  const refreshExp = iat + s.refreshTtlSeconds
  const [access, refresh] = await Promise.all([
    new SignJWT({ phone_number: t.phone, token_type: 'access' })
      .setProtectedHeader(header)
      .setIssuer(s.issuer)
      .setAudience(s.audience)
      .setSubject(String(t.userId))
      .setIssuedAt(iat)
      .setExpirationTime(iat + s.accessTtlSeconds)
      .setJti(crypto.randomUUID())
      .sign(privateKey),
    new SignJWT({ sid: t.sessionId, token_type: 'refresh' })
      .setProtectedHeader(header)
      .setIssuer(s.issuer)
      .setAudience(s.audience)
      .setSubject(String(t.userId))
      .setIssuedAt(iat)
      .setExpirationTime(refreshExp)
      .setJti(refreshJti)
      .sign(privateKey),
  ])
  return { access, refresh, refreshJti, refreshExpiresAt: new Date(refreshExp * 1000) }
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
): Promise<JWTPayload & { sub: string; jti: string }> {
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
    return payload as JWTPayload & { sub: string; jti: string }
  } catch (cause) {
    // Only a token's own fault is a 401; a database outage while loading keys stays a 5xx.
    if (cause instanceof errors.JOSEError) throw new AppError('invalid_token', {}, { cause })
    throw cause
  }
}
