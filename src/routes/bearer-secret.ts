import type { MiddlewareHandler } from 'hono'
import { AppError } from '../errors.ts'

const encoder = new TextEncoder()

/**
 * Lets a request through only with `Authorization: Bearer <secret>`. Both sides are hashed before
 * comparing, and the digests are compared in full, so timing says nothing about the secret.
 */
export function requireBearerSecret(secret: string): MiddlewareHandler {
  const expected = crypto.subtle.digest('SHA-256', encoder.encode(secret))
  return async (c, next) => {
    const given = c.req.header('authorization')?.match(/^Bearer[ \t]+(\S+)[ \t]*$/i)?.[1] ?? ''
    const [a, b] = await Promise.all([expected, crypto.subtle.digest('SHA-256', encoder.encode(given))])
    const x = new Uint8Array(a)
    const y = new Uint8Array(b)
    let diff = 0
    for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!
    if (diff !== 0 || given === '') throw new AppError('invalid_token')
    await next()
  }
}
