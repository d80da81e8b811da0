import { spawnSync } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testDatabase } from '../support/db.ts'
import { ENTRY, signInThroughConsole, startService } from '../support/service.ts'

// The serve command sends the outbox in the background, and the state survives a restart: a real
// receiver on loopback is down while the first process runs and back up for the second.
const SECRET_BYTES = Buffer.from('an-events-secret-of-32-bytes-xyz')
const SECRET = `whsec_${SECRET_BYTES.toString('base64')}`

interface Delivery {
  headers: IncomingHttpHeaders
  body: string
  answered: number
}

function startReceiver() {
  const deliveries: Delivery[] = []
  let status = 503
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered: status })
      res.writeHead(status).end()
    })
  })
  return new Promise<{ url: string; deliveries: Delivery[]; setStatus: (s: number) => void; close: () => Promise<void> }>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      resolve({
        url: `http://127.0.0.1:${port}/hooks`,
        deliveries,
        setStatus: (s) => (status = s),
        close: () => new Promise((done) => server.close(() => done())),
      })
    })
  })
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

let databaseUrl: string
let closeDb: () => Promise<void>
beforeAll(async () => {
  const conn = await testDatabase('postgres', { migrate: false })
  databaseUrl = conn.url!
  closeDb = conn.close
})
afterAll(() => closeDb())

describe('events from the running service', () => {
  it('are retried in the background, kept across a restart, and delivered signed once the receiver is back', async () => {
    const receiver = await startReceiver()
    const env = { DATABASE_URL: databaseUrl, EVENTS_WEBHOOK_URL: receiver.url, EVENTS_WEBHOOK_SECRET: SECRET }
    try {
      const first = await startService(env)
      const user = await signInThroughConsole(first, '+12015550123')
      await waitFor('the first try', () => receiver.deliveries.length >= 1)
      expect(await first.stop()).toBe(0)
      expect(first.output()).toContain('"event delivery failed; retrying"')

      const pending = spawnSync(process.execPath, [ENTRY, 'events', 'list'], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' })
      expect(pending.stdout).toMatch(/msg_\w+ +user\.created .*retrying at .*; last error: HTTP 503/)

      receiver.setStatus(204)
      const second = await startService(env)
      await waitFor('the delivery', () => receiver.deliveries.some((d) => d.answered === 204))
      await waitFor('the delivery to be recorded', () => second.output().includes('"event delivered"'))
      expect(await second.stop()).toBe(0)

      const ids = new Set(receiver.deliveries.map((d) => d.headers['webhook-id']))
      expect(ids.size).toBe(1)
      for (const d of receiver.deliveries) {
        const expected = createHmac('sha256', SECRET_BYTES).update(`${d.headers['webhook-id']}.${d.headers['webhook-timestamp']}.${d.body}`).digest('base64')
        expect(d.headers['webhook-signature']).toBe(`v1,${expected}`)
      }
      expect(JSON.parse(receiver.deliveries.at(-1)!.body)).toMatchObject({ type: 'user.created', data: { id: user.id, phone_number: '+12015550123' } })
      const after = spawnSync(process.execPath, [ENTRY, 'events', 'list'], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' })
      expect(after.stdout.trim()).toBe('no undelivered events')
    } finally {
      await receiver.close()
    }
  })
})
