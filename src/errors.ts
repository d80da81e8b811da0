import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { Logger } from './log.ts'

/** Every error code the API names (API.md): its usual status, title, and a sentence a person can read. */
export const CODES = {
  invalid_request: [400, 'Invalid request', 'The request body is not valid.'],
  invalid_phone_number: [400, 'Invalid phone number', 'The phone number is not a valid, dialable number.'],
  phone_number_opted_out: [400, 'Phone number opted out', 'This number has opted out of text messages from us.'],
  phone_number_not_allowed: [400, 'Phone number not allowed', 'Sign-in is not available for numbers in that country.'],
  invalid_otp: [400, 'Invalid code', 'The code is wrong, expired or already used.'],
  captcha_failed: [400, 'Human check failed', 'The human check (captcha) is missing, expired or failed. Complete it and try again.'],
  invalid_token: [401, 'Invalid token', 'The token is missing, invalid or expired.'],
  account_disabled: [403, 'Account disabled', 'This account is disabled.'],
  not_found: [404, 'Not found', 'There is nothing at this path.'],
  method_not_allowed: [405, 'Method not allowed', 'This path does not accept that method.'],
  rate_limited: [429, 'Too many requests', 'Too many requests. Try again later.'],
  too_many_attempts: [429, 'Too many attempts', 'Too many attempts. Request a new code later.'],
  sms_delivery_failed: [502, 'SMS delivery failed', 'The code could not be sent. Try again later.'],
  service_unavailable: [503, 'Service unavailable', 'The service is temporarily unavailable. Try again later.'],
  internal_error: [500, 'Internal error', 'Something went wrong on our side.'],
} as const satisfies Record<string, readonly [number, string, string]>

export type ErrorCode = keyof typeof CODES

/** The problem `type` URI of a code (RFC 9457). */
export const problemType = (code: ErrorCode) => `https://nomisafe.dev/problems/${code.replaceAll('_', '-')}`

export interface InvalidParam {
  name: string
  reason: string
}

export interface ProblemExtra {
  detail?: string
  /** Overrides the code's usual status (sms_delivery_failed: 503 when unreachable; a too-large body: 413). */
  status?: 413 | 502 | 503
  retryAfterSeconds?: number
  invalidParams?: InvalidParam[]
}

/** The one error type of the domain. `cause` is logged with the request id and never sent. */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly extra: ProblemExtra
  constructor(code: ErrorCode, extra: ProblemExtra = {}, options?: ErrorOptions) {
    super(extra.detail ?? CODES[code][2], options)
    this.name = 'AppError'
    this.code = code
    this.extra = extra
  }
  get status(): number {
    return this.extra.status ?? CODES[this.code][0]
  }
}

// Connection failures (node and postgres.js codes) and PostgreSQL's "not now" SQLSTATEs:
// admin shutdown, crash shutdown, cannot connect now, too many connections.
const UNAVAILABLE = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND',
  'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED',
  '57P01', '57P02', '57P03', '53300',
])

/** True for errors that mean "the database is out of reach right now", not a bug. */
function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && UNAVAILABLE.has(code)) return true
    if (e instanceof AggregateError && e.errors.some(isUnavailable)) return true
  }
  return false
}

function asAppError(err: unknown): AppError {
  if (err instanceof AppError) return err
  if (isUnavailable(err)) return new AppError('service_unavailable', { retryAfterSeconds: 1 }, { cause: err })
  return new AppError('internal_error', {}, { cause: err })
}

/** The only place an error becomes an HTTP answer (RFC 9457 problem+json). */
export function toProblem(err: unknown, c: Context, log: Logger): Response {
  const appErr = asAppError(err)
  const { code, extra } = appErr
  const status = appErr.status
  const requestId = c.get('requestId' as never) as string | undefined
  if (status >= 500) {
    const cause = appErr.cause
    log.error('request failed', {
      request_id: requestId,
      code,
      status,
      error: cause instanceof Error ? `${cause.name}: ${cause.message}` : cause === undefined ? undefined : String(cause),
      stack: cause instanceof Error && code === 'internal_error' ? cause.stack : undefined,
    })
  }
  const body: Record<string, unknown> = {
    type: problemType(code),
    title: CODES[code][1],
    status,
    detail: appErr.message,
    code,
  }
  if (extra.invalidParams) body.invalid_params = extra.invalidParams
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' }
  if (extra.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(extra.retryAfterSeconds)))
  if (code === 'invalid_token') headers['www-authenticate'] = 'Bearer realm="nomisafe", error="invalid_token"'
  return c.body(JSON.stringify(body), status as ContentfulStatusCode, headers)
}
