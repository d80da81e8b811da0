/**
 * One small interface per SMS provider. A provider either resolves with the provider's message id
 * or throws SmsError; nothing else escapes, so the route maps failures in one place.
 */
export interface SmsProvider {
  readonly name: string
  send(to: string, body: string, message: SmsMeta): Promise<{ id: string }>
}

/** What a provider may need to know besides the number and the text. */
export interface SmsMeta {
  /** The destination's ISO 3166-1 alpha-2 country (picks a per-country sender, tells a gateway). */
  country: string
}

/**
 * - invalid_number: the provider says the destination is not a valid (mobile) number
 * - opted_out: the recipient unsubscribed (e.g. replied STOP)
 * - region_blocked: the account may not send to that country
 * - rejected: the provider answered with an error (bad credentials, quota, bad request)
 * - unavailable: the provider could not be reached, timed out, or answered 5xx/429
 */
export type SmsFailure = 'invalid_number' | 'opted_out' | 'region_blocked' | 'rejected' | 'unavailable'

/** Failures about the number itself: another provider would refuse it too, so failover stops. */
export const NUMBER_REFUSALS: ReadonlySet<SmsFailure> = new Set(['invalid_number', 'opted_out', 'region_blocked'])

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
