/**
 * One small interface per SMS provider. A provider either resolves with the provider's message id
 * or throws SmsError; nothing else escapes, so the route maps failures in one place.
 */
export interface SmsProvider {
  readonly name: string
  send(to: string, body: string): Promise<{ id: string }>
}

/**
 * - invalid_number: the provider says the destination is not a valid (mobile) number
 * - opted_out: the recipient unsubscribed (e.g. replied STOP)
 * - region_blocked: the account may not send to that country
 * - rejected: the provider answered with an error (bad credentials, quota, bad request)
 * - unavailable: the provider could not be reached, timed out, or answered 5xx/429
 */
export type SmsFailure = 'invalid_number' | 'opted_out' | 'region_blocked' | 'rejected' | 'unavailable'

export class SmsError extends Error {
  readonly kind: SmsFailure
  /** Operator-facing reason (provider error code and message). Logged, never sent to a client. */
  readonly reason: string
  constructor(kind: SmsFailure, reason: string, options?: ErrorOptions) {
    super(`SMS ${kind}: ${reason}`, options)
    this.name = 'SmsError'
    this.kind = kind
    this.reason = reason
  }
}
