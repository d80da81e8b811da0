import * as v from 'valibot'

/**
 * A wrong setting stops start-up with one line naming the variable and what is wrong with it:
 * this is that line.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

export const int = (fallback: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.trim(),
    v.regex(/^\d+$/, 'must be a whole number'),
    v.transform(Number),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  )

export const bool = (fallback: 'true' | 'false') =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.trim(),
    v.toLowerCase(),
    v.picklist(['true', 'false', '1', '0', 'yes', 'no'], 'must be true or false'),
    v.transform((s) => s === 'true' || s === '1' || s === 'yes'),
  )

export const httpUrl = (fallback: string) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.trim(),
    v.url('must be a URL'),
    v.check((s) => /^https?:\/\//i.test(s), 'must be an http(s) URL'),
  )

export const optionalText = v.optional(v.pipe(v.string(), v.trim()))

export const countryList = v.pipe(
  v.optional(v.string(), ''),
  v.transform((s) => s.split(',').map((c) => c.trim().toUpperCase()).filter(Boolean)),
  v.check((list) => list.every((c) => /^[A-Z]{2}$/.test(c)), 'must be comma-separated ISO 3166-1 alpha-2 codes'),
)

export function isWebhookSecret(s: string): boolean {
  const b64 = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(s)?.[1]
  if (!b64 || b64.length % 4 !== 0) return false
  const bytes = atob(b64).length
  return bytes >= 24 && bytes <= 64
}

export const webhookUrl = v.optional(
  v.pipe(v.string(), v.trim(), v.url('must be a URL'), v.check((s) => /^https?:\/\//i.test(s), 'must be an http(s) URL')),
)

// Standard Webhooks: "whsec_" + base64 of 24 to 64 random bytes.
export const webhookSecret = v.optional(
  v.pipe(v.string(), v.trim(), v.check(isWebhookSecret, 'must be whsec_ followed by the base64 of 24 to 64 random bytes')),
)

/** A setting that another one makes necessary. */
export function required<T extends Record<string, unknown>>(out: T, name: keyof T & string, when: string): string {
  const value = out[name]
  if (typeof value !== 'string' || value === '') throw new ConfigError(`${name}: is required when ${when}`)
  return value
}

/** Runs a parser of one setting; its error becomes the one start-up line naming the setting. */
export function setting<T>(name: string, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    throw new ConfigError(`${name}: ${err instanceof Error ? err.message : String(err)}`)
  }
}
