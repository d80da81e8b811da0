// Database outage under load: PostgreSQL stops (a polite `fast` shutdown, then an `immediate` one
// that is as abrupt as a crash) while sign-ins keep coming. The service answers every request in
// time with 503 problem+json, never hangs and never exits, /readyz turns 503, and when PostgreSQL is
// back it recovers by itself — same process, no restart — and sign-ins work again.
//
// This file runs its own PostgreSQL server (not the shared one of the test run), so stopping it
// disturbs no other test.
import { createServer, type Server } from 'node:http'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeTwilio, type FakeTwilioServer } from '../support/fake-twilio-server.ts'
import { startPgServer, type PgServer } from '../support/pg-server.ts'
import {
  bearer, internalErrors, isUnavailableProblem, mb, phone, report, REQUEST_TIMEOUT_MS, runWorkers, send, serviceEnv,
  signIn, sleep, spawnService, stats, stopOrKill, type Answer, type ServiceProcess,
} from './support/harness.ts'

const WORKERS = 6
const MAX_REQUESTS_PER_OUTAGE = 20_000
const LOAD_BEFORE_MS = 1_500
const OUTAGE_MS = 4_000
const LOAD_AFTER_RECOVERY_MS = 2_000
const RECOVERY_BOUND_MS = 15_000

let pg: PgServer
let twilio: FakeTwilioServer
let hooks: Server
let svc: ServiceProcess
let nextNumber = 0

beforeAll(async () => {
  pg = await startPgServer()
  const admin = postgres(pg.url, { max: 1, onnotice: () => {} })
  await admin.unsafe('create database outage')
  await admin.end()
  twilio = await startFakeTwilio()
  // The events deliverer polls the database in the background: it must live through the outage too.
  hooks = createServer((req, res) => req.resume().on('end', () => res.writeHead(204).end()))
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r))
  const hooksUrl = `http://127.0.0.1:${(hooks.address() as { port: number }).port}/events`
  svc = await spawnService(
    serviceEnv(pg.url.replace(/\/postgres$/, '/outage'), twilio.env, {
      DATABASE_POOL_SIZE: '5',
      // Background pruning every second, so maintenance runs into the outage as well.
      PRUNE_INTERVAL_SECONDS: '1',
      EVENTS_WEBHOOK_URL: hooksUrl,
      EVENTS_WEBHOOK_SECRET: `whsec_${Buffer.from('reliability-events-secret-32byte').toString('base64')}`,
    }),
  )
})

afterAll(async () => {
  // Whatever happened, the PostgreSQL server of this file is stopped and removed.
  try {
    await stopOrKill(svc)
    await twilio?.close()
    await new Promise((r) => hooks?.close(r))
  } finally {
    await pg?.stop()
  }
})

interface Sent {
  path: string
  answer: Answer
  /** performance.now() when the request went out and when its answer was in. */
  start: number
  end: number
}

describe('PostgreSQL stops under load', () => {
  it.each(['fast', 'immediate'] as const)('pg_ctl stop -m %s: 503 in time, /readyz 503, recovery without a restart', async (mode) => {
    const rssStart = svc.rss()
    expect((await send(svc.url, 'GET', '/readyz')).status).toBe(200)

    let stop = false
    const sent: Sent[] = []
    const record = (path: string, answer: Answer) => {
      const end = performance.now()
      sent.push({ path, answer, start: end - answer.ms, end })
      if (sent.length >= MAX_REQUESTS_PER_OUTAGE) stop = true
    }

    // Sign-in flows and /me, as apps do; a failed flow pauses a little so the loop never spins.
    const load = runWorkers(WORKERS, () => stop, async () => {
      const flow = await signIn(svc.url, twilio, phone(nextNumber++))
      for (const a of flow.answers) record(a === flow.answers[0] ? '/api/auth/otp/request/' : '/api/auth/otp/verify/', a)
      if (flow.ok) record('/api/auth/me/', await send(svc.url, 'GET', '/api/auth/me/', { headers: bearer(flow.session.access) }))
      else await sleep(20)
    })
    // Liveness and readiness, as a load balancer polls them.
    const probes: { at: number; healthz: Answer; readyz: Answer }[] = []
    const probing = (async () => {
      while (!stop) {
        const at = performance.now()
        const [healthz, readyz] = await Promise.all([send(svc.url, 'GET', '/healthz'), send(svc.url, 'GET', '/readyz')])
        probes.push({ at, healthz, readyz })
        await sleep(100)
      }
    })()

    try {
      await sleep(LOAD_BEFORE_MS)
      const stopAt = performance.now()
      await pg.down(mode)
      const downAt = performance.now()
      await sleep(OUTAGE_MS)
      const readyzDown = probes.find((p) => p.at >= downAt && p.readyz.status === 503)

      const upStartAt = performance.now()
      await pg.up()
      const upAt = performance.now()
      // Recovery: the first full sign-in that works after PostgreSQL takes queries again.
      let recoveredAt: number | undefined
      while (recoveredAt === undefined && performance.now() - upAt < RECOVERY_BOUND_MS) {
        const flow = await signIn(svc.url, twilio, phone(nextNumber++))
        if (flow.ok) recoveredAt = performance.now()
        else await sleep(50)
      }
      const recoveryMs = recoveredAt === undefined ? undefined : Math.round(recoveredAt - upAt)
      await sleep(LOAD_AFTER_RECOVERY_MS)
      stop = true
      await Promise.all([load, probing])

      // Sent and answered while PostgreSQL was down; sent after the first sign-in that worked again.
      const during = sent.filter((s) => s.start >= downAt && s.end <= upStartAt)
      const after = sent.filter((s) => recoveredAt !== undefined && s.start >= recoveredAt)
      const before = sent.filter((s) => s.end <= stopAt)
      const hung = sent.filter((s) => s.answer.error === 'timeout')
      const dropped = sent.filter((s) => s.answer.error === 'network')
      // Anything that is neither the endpoint's success nor a 503 problem+json is a failure.
      const success = (s: Sent) => (s.path === '/api/auth/otp/request/' ? s.answer.status === 202 : s.answer.status === 200)
      const wrong = sent.filter((s) => !success(s) && !isUnavailableProblem(s.answer))
      const byStatus = (list: Sent[]) => list.reduce<Record<string, number>>((m, s) => ((m[s.answer.status] = (m[s.answer.status] ?? 0) + 1), m), {})
      const readyzAfter = probes.at(-1)?.readyz.status
      const rssEnd = svc.rss()
      report(`database outage (pg_ctl stop -m ${mode})`, {
        requests_sent: sent.length,
        by_status: byStatus(sent),
        during_outage: { requests: during.length, by_status: byStatus(during), latency_ms: stats(during.map((s) => s.answer.ms)) },
        failures: { wrong_answers: wrong.length, hung: hung.length, connection_dropped: dropped.length },
        readyz_503_after_ms: readyzDown ? Math.round(readyzDown.at - downAt) : null,
        recovery_ms: recoveryMs,
        after_recovery: { requests: after.length, by_status: byStatus(after) },
        rss_mb: { start: mb(rssStart), end: mb(rssEnd) },
      })
      if (wrong.length) console.log('unexpected answers:', wrong.slice(0, 5).map((s) => ({ at_ms: Math.round(s.start - stopAt), path: s.path, status: s.answer.status, body: s.answer.text.slice(0, 300) })))

      expect(before.length).toBeGreaterThan(0)
      expect(before.every(success)).toBe(true)
      // Never hangs, never drops a connection, never answers anything but success or 503 problem+json.
      expect(hung).toEqual([])
      expect(dropped).toEqual([])
      expect(wrong).toEqual([])
      expect(Math.max(...sent.map((s) => s.answer.ms))).toBeLessThan(REQUEST_TIMEOUT_MS)
      // The outage was real: requests during it were answered 503.
      expect(during.length).toBeGreaterThan(0)
      expect(during.some((s) => isUnavailableProblem(s.answer))).toBe(true)
      expect(during.every((s) => s.answer.status === 503)).toBe(true)
      // Load balancers see it: /readyz 503, /healthz 200 (the process serves) during the outage.
      expect(readyzDown).toBeDefined()
      expect(probes.filter((p) => p.at >= downAt && p.at < upStartAt).every((p) => p.healthz.status === 200)).toBe(true)
      // Back by itself: sign-ins work again and nothing fails after the first success.
      expect(recoveryMs).toBeDefined()
      expect(after.length).toBeGreaterThan(0)
      expect(after.every(success)).toBe(true)
      expect(readyzAfter).toBe(200)
      // Never crashed, and no answer was an internal error.
      expect(svc.alive()).toBe(true)
      expect(internalErrors(svc.output())).toEqual([])
    } finally {
      stop = true
      await Promise.allSettled([load, probing])
    }
  }, 120_000)
})
