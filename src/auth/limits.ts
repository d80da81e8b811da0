import type { Config } from '../config.ts'
import type { Hit } from '../store/counters.ts'

const HOUR = 3600
const DAY = 86400

/** Fixed windows aligned to the epoch, so every instance agrees on where a window starts. */
function windowStart(now: Date, seconds: number): Date {
  const ms = seconds * 1000
  return new Date(Math.floor(now.getTime() / ms) * ms)
}

function hit(key: string, now: Date, windowSeconds: number, limit: number): Hit & { windowSeconds: number } {
  return { key: `${key}:${windowSeconds}`, windowStart: windowStart(now, windowSeconds), limit, windowSeconds }
}

export type LimitedHit = ReturnType<typeof hit>

/** Seconds until the window of `h` closes. */
export function retryAfterSeconds(h: { windowStart: Date }, windowSeconds: number, now: Date): number {
  return Math.max(1, Math.ceil((h.windowStart.getTime() + windowSeconds * 1000 - now.getTime()) / 1000))
}

export function windowOf(hits: LimitedHit[], key: string): number {
  return hits.find((h) => h.key === key)?.windowSeconds ?? HOUR
}

type Limits = Config['limits']

/** Every code request from one client address counts, sent or not. */
export const ipRequestHits = (l: Limits, ip: string, now: Date) => [hit(`request:ip:${ip}`, now, HOUR, l.requestsPerIpHour)]

/** Every verify from one client address counts. */
export const ipVerifyHits = (l: Limits, ip: string, now: Date) => [hit(`verify:ip:${ip}`, now, HOUR, l.verifiesPerIpHour)]

/** What an SMS costs: counted only when a code is really sent. */
export const sendHits = (l: Limits, phone: string, country: string, now: Date) => [
  hit(`send:number:${phone}`, now, HOUR, l.sendsPerNumberHour),
  hit(`send:number:${phone}`, now, DAY, l.sendsPerNumberDay),
  hit(`send:country:${country}`, now, HOUR, l.sendsPerCountryHour),
  hit('send:all', now, HOUR, l.sendsPerHour),
]

/** Wrong codes per number, across all its codes: asking for new codes does not reset it. */
export const failedVerifyHits = (l: Limits, phone: string, now: Date) => [hit(`verify-failed:number:${phone}`, now, HOUR, l.failedVerifiesPerNumberHour)]
