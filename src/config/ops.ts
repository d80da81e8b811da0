import * as v from 'valibot'
import { bool, int } from './fields.ts'

/** Operating the service: logs, metrics, the admin API, the audit trail and production mode. */
export const opsEntries = {
  PRODUCTION: bool('false'),
  LOG_FORMAT: v.optional(v.pipe(v.string(), v.trim(), v.toLowerCase(), v.picklist(['json', 'pretty'], 'must be json or pretty')), 'json'),
  METRICS_TOKEN: v.optional(v.pipe(v.string(), v.trim(), v.minLength(16, 'must be at least 16 characters'))),
  METRICS_PORT: v.optional(int('0', 1, 65535)),
  ADMIN_TOKEN: v.optional(v.pipe(v.string(), v.trim(), v.minLength(32, 'must be at least 32 characters'))),
  AUDIT_RETENTION_DAYS: int('90', 0, 3650),
  HSTS_MAX_AGE_SECONDS: int('0', 0, 63072000),
  ALLOW_TEST_NUMBERS_IN_PRODUCTION: bool('false'),
}

type OpsParsed = v.InferOutput<v.ObjectSchema<typeof opsEntries, undefined>>

export interface OpsConfig {
  /** PRODUCTION=true: unsafe settings stop start-up (see checkProduction). */
  production: boolean
  logFormat: 'json' | 'pretty'
  /** /metrics wants `Authorization: Bearer <token>` when set. */
  metricsToken: string | undefined
  /** When set, /metrics is served on this port only, not on the API's. */
  metricsPort: number | undefined
  /** The admin API exists only when set, and only for this bearer token. */
  adminToken: string | undefined
  /** Days the audit trail keeps a row (0: forever). */
  auditRetentionDays: number
  /** Strict-Transport-Security max-age; 0 sends none (TLS ends at your proxy: set it there or here). */
  hstsMaxAgeSeconds: number
  allowTestNumbersInProduction: boolean
}

export function opsConfig(out: OpsParsed): OpsConfig {
  return {
    production: out.PRODUCTION,
    logFormat: out.LOG_FORMAT as 'json' | 'pretty',
    metricsToken: out.METRICS_TOKEN,
    metricsPort: out.METRICS_PORT,
    adminToken: out.ADMIN_TOKEN,
    auditRetentionDays: out.AUDIT_RETENTION_DAYS,
    hstsMaxAgeSeconds: out.HSTS_MAX_AGE_SECONDS,
    allowTestNumbersInProduction: out.ALLOW_TEST_NUMBERS_IN_PRODUCTION,
  }
}
