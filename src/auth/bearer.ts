import type { Deps } from '../deps.ts'
import { AppError } from '../errors.ts'
import { verifyToken, type VerifiedClaims } from './tokens.ts'

/** Verifies `Authorization: Bearer <access token>` with no database call (JWTs are for that). */
export async function requireAccess(deps: Deps, authorization: string | undefined): Promise<VerifiedClaims> {
  const token = authorization?.match(/^Bearer[ \t]+([\w-]+\.[\w-]+\.[\w-]+)[ \t]*$/i)?.[1]
  if (!token) throw new AppError('invalid_token', { detail: 'An access token is required: Authorization: Bearer <token>.' })
  return verifyToken(deps.keys, deps.config.jwt, token, 'access', deps.clock.now())
}
