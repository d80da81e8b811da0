import type { Deps } from '../deps.ts'
import { maskPhone } from '../log.ts'
import { insertAudit } from '../store/audit.ts'

export type SecurityEventType =
  | 'code_sent'
  | 'sms_failed'
  | 'verify_failed'
  | 'signed_in'
  | 'limit_hit'
  | 'refresh_reuse'
  | 'logout'
  | 'logout_all'
  | 'user_disabled'
  | 'user_enabled'
  | 'user_deleted'
  | 'sessions_ended'
  | 'key_rotated'

/** Who did it, as far as the service can tell. */
export interface Actor {
  ip?: string
  requestId?: string
}

export interface SecurityEvent {
  userId?: number
  /** The full E.164 number: it is masked before it is logged or stored. */
  phone?: string
  detail?: Record<string, unknown>
}

/**
 * The log line and the metric of a security event whose audit row the database wrote itself, in
 * the same statement as the change (the sign-in steps). Returns the masked number.
 */
export function noteSecurityEvent(deps: Deps, type: SecurityEventType, actor: Actor, e: SecurityEvent = {}): string | undefined {
  const phoneMasked = e.phone ? maskPhone(e.phone) : undefined
  const level = type === 'refresh_reuse' || type === 'sms_failed' ? 'warn' : 'info'
  deps.log[level](type.replaceAll('_', ' '), {
    request_id: actor.requestId,
    user_id: e.userId,
    phone: phoneMasked,
    ip: actor.ip,
    ...e.detail,
  })
  deps.metrics.inc('security_events_total', { type })
  return phoneMasked
}

/**
 * One place for what operators must be able to see afterwards: a log line, a metric and a row
 * in the audit trail. Phone numbers are masked in all three.
 */
export async function securityEvent(deps: Deps, type: SecurityEventType, actor: Actor, e: SecurityEvent = {}): Promise<void> {
  const phoneMasked = noteSecurityEvent(deps, type, actor, e)
  await insertAudit(deps.db, {
    at: deps.clock.now(),
    type,
    userId: e.userId,
    phoneMasked,
    ip: actor.ip,
    requestId: actor.requestId,
    detail: e.detail,
  })
}
