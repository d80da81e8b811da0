import type { Config } from '../config.ts'
import type { Hit } from '../store/counters.ts'

const HOUR = 3600
const DAY = 86400

/** Fixed windows aligned to the epoch, so every instance agrees on where a window starts. */
function windowStart(now: Date, seconds: number): Date {
  const ms = seconds * 1000
  return new Date(Math.floor(now.getTime() / ms) * ms)
}

/** `name` is the cap as operators know it (the setting, lower-cased), for metrics and the audit trail. */
function hit(name: string, key: string, now: Date, windowSeconds: number, limit: number): Hit & { windowSeconds: number; name: string } {
  return { name, key: `${key}:${windowSeconds}`, windowStart: windowStart(now, windowSeconds), limit, windowSeconds }
}

export type LimitedHit = ReturnType<typeof hit>

/** Seconds until the window of `h` closes. */
export function retryAfterSeconds(h: { windowStart: Date }, windowSeconds: number, now: Date): number {
  return Math.max(1, Math.ceil((h.windowStart.getTime() + windowSeconds * 1000 - now.getTime()) / 1000))
}

export function hitOf(hits: LimitedHit[], key: string): LimitedHit {
  return hits.find((h) => h.key === key)!
}

type Limits = Config['limits']

/** Every code request from one client address counts, sent or not. */
export const ipRequestHits = (l: Limits, ip: string, now: Date) => [hit('requests_per_ip_hour', `request:ip:${ip}`, now, HOUR, l.requestsPerIpHour)]

/** Every verify from one client address counts. */
export const ipVerifyHits = (l: Limits, ip: string, now: Date) => [hit('verifies_per_ip_hour', `verify:ip:${ip}`, now, HOUR, l.verifiesPerIpHour)]

/** What an SMS costs the number: counted on its own row (its code's), only when a code is really sent. */
export const numberSendHits = (l: Limits, phone: string, now: Date) => ({
  hour: hit('sends_per_number_hour', `send:number:${phone}`, now, HOUR, l.sendsPerNumberHour),
  day: hit('sends_per_number_day', `send:number:${phone}`, now, DAY, l.sendsPerNumberDay),
})

/** What an SMS costs everyone: the caps numbers share, counted only when a code is really sent. */
export const sharedSendHits = (l: Limits, country: string, now: Date) => [
  hit('sends_per_country_hour', `send:country:${country}`, now, HOUR, l.sendsPerCountryHour),
  hit('sends_per_hour', 'send:all', now, HOUR, l.sendsPerHour),
]

/** Wrong codes per number, across all its codes: asking for new codes does not reset it. */
export const failedVerifyHits = (l: Limits, phone: string, now: Date) => [hit('failed_verifies_per_number_hour', `verify-failed:number:${phone}`, now, HOUR, l.failedVerifiesPerNumberHour)]
