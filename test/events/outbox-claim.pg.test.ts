import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDeliverer } from '../../src/events/deliver.ts'
import { claimDueEvents, enqueueEvent } from '../../src/events/outbox.ts'
import { silentLogger } from '../../src/log.ts'
import type { Connection } from '../../src/store/connect.ts'
import { fakeClock } from '../support/clock.ts'
import { testDatabase } from '../support/db.ts'

// Several instances on one PostgreSQL: each event is sent by one of them at a time.
const SECRET = `whsec_${Buffer.alloc(32, 1).toString('base64')}`
let conn: Connection
beforeAll(async () => {
  conn = await testDatabase('postgres')
})
afterAll(() => conn.close())

async function enqueue(n: number, now: Date) {
  for (let i = 0; i < n; i++) await enqueueEvent(conn.db, { type: 'user.created', data: { id: i + 1, phone_number: `+1201555${String(i).padStart(4, '0')}` }, now })
}

describe('outbox deliverers on several instances', () => {
  it('send each event once when three deliverers run at the same time', async () => {
    const clock = fakeClock()
    await enqueue(90, clock.now())
    const seen: string[] = []
    const fetch = async (_url: string, init: RequestInit) => {
      seen.push(new Headers(init.headers).get('webhook-id')!)
      await new Promise((r) => setImmediate(r))
      return new Response(null, { status: 204 })
    }
    const instances = Array.from({ length: 3 }, () =>
      createDeliverer({ db: conn.db, log: silentLogger, clock, fetch, url: 'https://hooks.example.test/', secret: SECRET, batchSize: 7 }),
    )
    const rounds = await Promise.all(instances.map((d) => d.deliverDue()))
    expect(rounds.reduce((n, r) => n + r.delivered, 0)).toBe(90)
    expect(seen).toHaveLength(90)
    expect(new Set(seen).size).toBe(90)
    expect(await conn.db.selectFrom('events').select('id').execute()).toEqual([])
  })

  it('leave an event held by a crashed instance alone until its lease runs out', async () => {
    const clock = fakeClock()
    await enqueue(2, clock.now())
    const leased = await claimDueEvents(conn.db, { now: clock.now(), leaseId: 'crashed', leasedUntil: new Date(clock.now().getTime() + 45_000), limit: 10 })
    expect(leased).toHaveLength(2)
    const sent: string[] = []
    const d = createDeliverer({
      db: conn.db,
      log: silentLogger,
      clock,
      fetch: async (_url, init) => {
        sent.push(new Headers(init.headers).get('webhook-id')!)
        return new Response(null, { status: 200 })
      },
      url: 'https://hooks.example.test/',
      secret: SECRET,
    })
    expect(await d.deliverDue()).toEqual({ delivered: 0, failed: 0 })
    clock.advance(45_000)
    expect(await d.deliverDue()).toEqual({ delivered: 2, failed: 0 })
    expect(sent.sort()).toEqual(leased.map((e) => e.id).sort())
  })

  it('start() sends in the background and stop() ends the loop', async () => {
    const clock = fakeClock()
    await enqueue(1, clock.now())
    let resolveSent!: (id: string) => void
    const sent = new Promise<string>((r) => (resolveSent = r))
    const d = createDeliverer({
      db: conn.db,
      log: silentLogger,
      clock,
      fetch: async (_url, init) => {
        resolveSent(new Headers(init.headers).get('webhook-id')!)
        return new Response(null, { status: 200 })
      },
      url: 'https://hooks.example.test/',
      secret: SECRET,
      pollMs: 10,
    })
    d.start()
    expect(await sent).toMatch(/^msg_/)
    await d.stop()
  })
})
