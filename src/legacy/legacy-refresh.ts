import { decodeProtectedHeader, errors, jwtVerify } from 'jose'
import type { ColumnType } from 'kysely'
import { sha256 } from '../auth/secrets.ts'
import type { Refreshed } from '../auth/sessions.ts'
import { signAccessToken, signRefreshToken } from '../auth/tokens.ts'
import type { Deps } from '../deps.ts'
import { AppError } from '../errors.ts'
import { createSession } from '../store/sessions.ts'

/**
 * The switch-over from the original Django backend: a refresh token its SimpleJWT issued (HS256
 * with the Django SECRET_KEY, claims token_type, user_id, jti, exp) is exchanged once for a new
 * session here, so nobody is signed out by the switch. Only POST /token/refresh comes here, only
 * with LEGACY_JWT_SECRET set; every other path verifies with EdDSA pinned and refuses HS256.
 */
type LegacyTables = {
  legacy_refresh_jtis: {
    jti: string
    user_id: ColumnType<string, string, never>
    used_at: Date
    expires_at: Date | null
  }
}

interface LegacyClaims {
  userId: number
  jti: string
  expiresAt: Date
}

/** True when the token is the legacy exchange's to judge: HS256, with a legacy secret set. */
export function isLegacyRefreshToken(deps: Deps, token: string): boolean {
  if (!deps.config.legacy.jwtSecret) return false
  try {
    return decodeProtectedHeader(token).alg === 'HS256'
  } catch {
    return false
  }
}

/** Verifies a SimpleJWT refresh token of the original backend; every failure is 401 invalid_token. */
async function verifyLegacyRefresh(secret: string, token: string, now: Date): Promise<LegacyClaims> {
  try {
    // SimpleJWT's defaults: no leeway, and neither aud nor iss unless the original set them.
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), {
      algorithms: ['HS256'],
      currentDate: now,
      requiredClaims: ['exp', 'jti'],
    })
    if (payload.token_type !== 'refresh') throw new errors.JWTInvalid('not a refresh token')
    const rawId = payload.user_id
    const userId = typeof rawId === 'number' ? rawId : typeof rawId === 'string' && /^[1-9]\d{0,17}$/.test(rawId) ? Number(rawId) : NaN
    if (!Number.isSafeInteger(userId) || userId < 1) throw new errors.JWTInvalid('no user id')
    if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 255) throw new errors.JWTInvalid('bad jti')
    return { userId, jti: payload.jti, expiresAt: new Date(payload.exp! * 1000) }
  } catch (cause) {
    if (cause instanceof errors.JOSEError) throw new AppError('invalid_token', {}, { cause })
    throw cause
  }
}

/**
 * Exchanges a legacy refresh token for a normal pair with a new session. Using up its jti and
 * opening the session are one transaction, and the jti's primary key lets only one of racing
 * exchanges win; a refused token (unknown or disabled user) is not used up.
 */
export async function exchangeLegacyRefresh(deps: Deps, token: string): Promise<Refreshed> {
  const { config, clock, db, keys, log } = deps
  const now = clock.now()
  const claims = await verifyLegacyRefresh(config.legacy.jwtSecret!, token, now)
  const sessionId = crypto.randomUUID()
  const jti = crypto.randomUUID()
  const refresh = await signRefreshToken(keys, config.jwt, { userId: claims.userId, sessionId, jti, now })
  const refreshJtiHash = await sha256(jti)

  const phone = await db.transaction().execute(async (trx) => {
    // FOR SHARE: the user cannot be deleted or disabled between this check and the new session.
    const user = await trx
      .selectFrom('users')
      .select(['phone_number', 'disabled_at'])
      .where('id', '=', String(claims.userId))
      .forShare()
      .executeTakeFirst()
    if (!user) throw new AppError('invalid_token')
    if (user.disabled_at) throw new AppError('account_disabled')
    const used = await trx
      .withTables<LegacyTables>()
      .insertInto('legacy_refresh_jtis')
      .values({ jti: claims.jti, user_id: String(claims.userId), used_at: now, expires_at: claims.expiresAt })
      .onConflict((oc) => oc.column('jti').doNothing())
      .returning('jti')
      .executeTakeFirst()
    if (!used) return undefined
    await createSession(trx, { id: sessionId, userId: claims.userId, refreshJtiHash, now, expiresAt: refresh.expiresAt })
    return user.phone_number
  })
  if (phone === undefined) {
    log.warn('legacy refresh token presented again: refused', { user_id: claims.userId })
    throw new AppError('invalid_token')
  }
  const access = await signAccessToken(keys, config.jwt, { userId: claims.userId, phone, now })
  log.info('legacy refresh token exchanged', { user_id: claims.userId, session_id: sessionId })
  return { access, refresh: refresh.token, expiresInSeconds: config.jwt.accessTtlSeconds }
}
