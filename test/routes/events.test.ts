import { createHmac, timingSafeEqual } from 'node:crypto'
import { http, HttpResponse } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { eventsList, eventsRetry } from '../../src/cli/events.ts'
import { createDeliverer } from '../../src/events/deliver.ts'
import { call, post, testApp, type TestApp } from '../support/app.ts'
import { useTestDatabase } from '../support/db.ts'

// The outbox end to end: sign-ins and deletions write events; deliverers (two of them, one after
// the other, as across a restart) send them to a receiver that fails, then recovers.
const HOOK_URL = 'https://business.example.test/hooks/nomisafe'
const SECRET_BYTES = Buffer.from('0123456789abcdef0123456789abcdef')
const SECRET = `whsec_${SECRET_BYTES.toString('base64')}`
const EVENTS_ENV = { EVENTS_WEBHOOK_URL: HOOK_URL, EVENTS_WEBHOOK_SECRET: SECRET }
const PHONE = '+12015550123'

interface Received {
  headers: Headers
  body: string
}

/** A receiver that answers from a script: a status (with Retry-After), or 'network' for a connection that fails. */
function receiver() {
  const received: Received[] = []
  const script: Array<number | 'network' | { status: number; retryAfter: string }> = []
  const handler = http.post(HOOK_URL, async ({ request }) => {
    received.push({ headers: request.headers, body: await request.text() })
    const next = script.shift() ?? 204
    if (next === 'network') return HttpResponse.error()
    if (typeof next === 'object') return new HttpResponse(null, { status: next.status, headers: { 'retry-after': next.retryAfter } })
    return new HttpResponse(null, { status: next })
  })
  return { received, script, handler }
}

/** Verifies a delivery the way a receiver would, with node:crypto rather than our signing code. */
function verifySignature(r: Received): boolean {
  const id = r.headers.get('webhook-id')!
  const ts = r.headers.get('webhook-timestamp')!
  const expected = createHmac('sha256', SECRET_BYTES).update(`${id}.${ts}.${r.body}`).digest()
  return (r.headers.get('webhook-signature') ?? '').split(' ').some((sig) => {
    const [version, b64] = sig.split(',')
    const given = Buffer.from(b64 ?? '', 'base64')
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected)
  })
}

const server = setupServer()
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

const conn = useTestDatabase()

async function signIn(t: TestApp, phone = PHONE) {
  await post(t.app, '/api/auth/otp/request/', { phone_number: phone })
  const res = await post(t.app, '/api/auth/otp/verify/', { phone_number: phone, otp: t.sms.codeFor(phone) })
  expect(res.status).toBe(200)
  return res.body as { id: number; access: string; refresh: string }
}

const rows = () => conn.db.selectFrom('events').selectAll().orderBy('created_at').execute()
const deliverer = (t: TestApp) =>
  createDeliverer({ db: conn.db, log: t.log, clock: t.clock, fetch: (url, init) => fetch(url, init), url: HOOK_URL, secret: SECRET, metrics: t.deps.metrics })

describe('the event outbox', () => {
  it('writes user.created with the sign-in that created the user, and only then', async () => {
    const t = await testApp(conn, { env: { ...EVENTS_ENV, OTP_RESEND_COOLDOWN_SECONDS: '0' } })
    const first = await signIn(t)
    await signIn(t)
    const events = await rows()
    expect(events).toHaveLength(1)
    expect(events[0]!.id).toMatch(/^msg_[0-9a-f]{32}$/)
    expect(JSON.parse(events[0]!.payload)).toEqual({
      type: 'user.created',
      timestamp: '2026-01-01T00:00:00.000Z',
      data: { id: first.id, phone_number: PHONE },
    })
  })

  it('counts delivery tries by outcome in /metrics', async () => {
    const hook = receiver()
    hook.script.push(500)
    server.use(hook.handler)
    const t = await testApp(conn, { env: EVENTS_ENV })
    await signIn(t)
    const d = deliverer(t)
    await d.deliverDue()
    t.clock.advance(5_000)
    await d.deliverDue()
    const text = (await call(t.app, 'GET', '/metrics')).body as string
    expect(text).toContain('events_delivery_total{outcome="retrying"} 1')
    expect(text).toContain('events_delivery_total{outcome="delivered"} 1')
  })

  it('writes nothing without EVENTS_WEBHOOK_URL', async () => {
    const t = await testApp(conn)
    const s = await signIn(t)
    expect((await call(t.app, 'DELETE', '/api/auth/me/', undefined, { authorization: `Bearer ${s.access}` })).status).toBe(204)
    expect(await rows()).toEqual([])
  })

  it('never holds up a sign-in: the receiver is only called by the deliverer', async () => {
    const hook = receiver()
    server.use(hook.handler)
    const t = await testApp(conn, { env: EVENTS_ENV })
    await signIn(t)
    expect(hook.received).toEqual([])
  })

  it('keeps an event through failures and a restart, with one webhook-id, until a 2xx answer', async () => {
    const hook = receiver()
    hook.script.push(500, 'network', 503)
    server.use(hook.handler)
    const t = await testApp(conn, { env: EVENTS_ENV })
    const user = await signIn(t)

    const first = deliverer(t)
    expect(await first.deliverDue()).toEqual({ delivered: 0, failed: 1 })
    expect(t.log.lines.find((l) => l.msg === 'event delivery failed; retrying')).toMatchObject({ level: 'warn', fields: { error: 'HTTP 500' } })
    // Not due again before its first retry, 5 s later.
    t.clock.advance(4_999)
    expect(await first.deliverDue()).toEqual({ delivered: 0, failed: 0 })
    t.clock.advance(1)
    expect(await first.deliverDue()).toEqual({ delivered: 0, failed: 1 })
    const [afterTwo] = await rows()
    expect(afterTwo!.attempts).toBe(2)
    expect(afterTwo!.next_attempt_at.getTime() - t.clock.now().getTime()).toBe(10_000)

    // A restart: a new deliverer over the same database carries on from the state stored there.
    const second = deliverer(t)
    t.clock.advance(10_000)
    expect(await second.deliverDue()).toEqual({ delivered: 0, failed: 1 })
    t.clock.advance(20_000)
    expect(await second.deliverDue()).toEqual({ delivered: 1, failed: 0 })
    expect(await rows()).toEqual([])
    t.clock.advance(3600_000)
    expect(await second.deliverDue()).toEqual({ delivered: 0, failed: 0 })

    expect(hook.received).toHaveLength(4)
    const ids = new Set(hook.received.map((r) => r.headers.get('webhook-id')))
    expect(ids.size).toBe(1)
    expect(new Set(hook.received.map((r) => r.body)).size).toBe(1)
    const start = Date.parse('2026-01-01T00:00:00Z') / 1000
    expect(hook.received.map((r) => Number(r.headers.get('webhook-timestamp')) - start)).toEqual([0, 5, 15, 35])
    for (const r of hook.received) {
      expect(verifySignature(r)).toBe(true)
      expect(r.headers.get('content-type')).toBe('application/json')
    }
    expect(JSON.parse(hook.received[0]!.body)).toEqual({
      type: 'user.created',
      timestamp: '2026-01-01T00:00:00.000Z',
      data: { id: user.id, phone_number: PHONE },
    })
    // A forged or altered delivery does not verify.
    expect(verifySignature({ headers: hook.received[0]!.headers, body: hook.received[0]!.body.replace(PHONE, '+12015550199') })).toBe(false)
  })

  it('doubles the wait up to 5 minutes, stops after 3 days, and is listed and retried by the CLI verbs', async () => {
    const t = await testApp(conn, { env: EVENTS_ENV })
    await signIn(t)
    const attempts: number[] = []
    let up = false
    const d = createDeliverer({
      db: conn.db,
      log: t.log,
      clock: t.clock,
      fetch: async () => {
        attempts.push(t.clock.now().getTime())
        return new Response(null, { status: up ? 200 : 502 })
      },
      url: HOOK_URL,
      secret: SECRET,
    })
    const nextAttempt = async () => (await rows())[0]!.next_attempt_at.getTime()
    for (let i = 0; i < 9; i++) {
      expect((await d.deliverDue()).failed).toBe(1)
      t.clock.set(new Date(await nextAttempt()).toISOString())
    }
    const gaps = attempts.slice(1).map((at, i) => (at - attempts[i]!) / 1000)
    expect(gaps).toEqual([5, 10, 20, 40, 80, 160, 300, 300])

    // Still retried just before 3 days have passed; the first failure after that stops the retries.
    t.clock.set('2026-01-03T23:59:59Z')
    expect((await d.deliverDue()).failed).toBe(1)
    expect((await rows())[0]!.failed_at).toBeNull()
    t.clock.set('2026-01-04T00:05:00Z')
    expect((await d.deliverDue()).failed).toBe(1)
    expect((await rows())[0]!.failed_at).not.toBeNull()
    expect(t.log.lines.find((l) => l.level === 'error')?.msg).toMatch(/^event undeliverable/)
    t.clock.advance(3600_000)
    expect(await d.deliverDue()).toEqual({ delivered: 0, failed: 0 })

    const out: string[] = []
    expect(await eventsList(t.deps, (l) => out.push(l))).toBe(0)
    expect(out.join('\n')).toMatch(/msg_\w+ +user\.created .* undeliverable since .*; last error: HTTP 502/)
    expect(out.at(-1)).toBe('1 undelivered event(s), 1 of those shown undeliverable')

    up = true
    const retried: string[] = []
    expect(await eventsRetry(t.deps, [], (l) => retried.push(l), () => {})).toBe(0)
    expect(retried).toEqual(['re-queued 1 event(s); a running service sends them within seconds'])
    expect(await d.deliverDue()).toEqual({ delivered: 1, failed: 0 })
    const after: string[] = []
    await eventsList(t.deps, (l) => after.push(l))
    expect(after).toEqual(['no undelivered events'])
    const errors: string[] = []
    expect(await eventsRetry(t.deps, ['msg_nope'], () => {}, (l) => errors.push(l))).toBe(1)
    expect(errors).toEqual(['no undelivered event msg_nope'])
  })

  it('honours a Retry-After of the receiver, within the 5-minute cap', async () => {
    const hook = receiver()
    hook.script.push({ status: 503, retryAfter: '2' }, { status: 503, retryAfter: '120' }, { status: 429, retryAfter: '3600' })
    server.use(hook.handler)
    const t = await testApp(conn, { env: EVENTS_ENV })
    await signIn(t)
    const d = deliverer(t)
    const waits: number[] = []
    for (let i = 0; i < 3; i++) {
      await d.deliverDue()
      const next = (await rows())[0]!.next_attempt_at.getTime()
      waits.push((next - t.clock.now().getTime()) / 1000)
      t.clock.set(new Date(next).toISOString())
    }
    // Less than the schedule's wait changes nothing; more is honoured up to 5 minutes.
    expect(waits).toEqual([5, 120, 300])
  })
})
