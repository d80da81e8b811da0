import type { Clock } from '../clock.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import type { Db } from '../store/connect.ts'
import { claimDueEvents, deleteDeliveredEvent, MAX_WAIT_SECONDS, recordFailedAttempt, retryWaitSeconds, type ClaimedEvent } from './outbox.ts'
import { signWebhook, webhookSigningKey } from './signature.ts'

/**
 * The background sender of the outbox. Every instance may run one: rows are leased in the
 * database, so each try of an event is made by one instance, and all state (attempts, next try,
 * lease) lives in the database, so a restart carries on where the last run stopped.
 *
 * It takes the clock and the fetch function, so tests drive `deliverDue()` themselves without
 * sleeping or reaching the network.
 */
export type FetchFunction = (url: string, init: RequestInit) => Promise<Response>

export interface DelivererOptions {
  db: Db
  log: Logger
  clock: Clock
  fetch: FetchFunction
  url: string
  /** "whsec_" + base64 (Standard Webhooks). */
  secret: string
  /** Events sent at once. */
  batchSize?: number
  /** One try gives up after this long (Standard Webhooks recommends 15 to 30 s). */
  timeoutMs?: number
  /** Pause between two looks at the outbox when nothing was due. */
  pollMs?: number
  /** Counts each try by outcome: delivered, retrying, undeliverable (the events_delivery_total metric). */
  metrics?: Metrics
}

export interface DeliveryRound {
  delivered: number
  failed: number
}

export interface Deliverer {
  /** Sends every event due now, batch after batch. */
  deliverDue(): Promise<DeliveryRound>
  /** Starts the background loop (the serve command does). */
  start(): void
  /** Stops the loop; a try in flight is cut off and counted as failed, so it is retried later. */
  stop(): Promise<void>
}

const MAX_BATCHES_PER_ROUND = 50

export function createDeliverer(opts: DelivererOptions): Deliverer {
  const { db, log, clock } = opts
  const batchSize = opts.batchSize ?? 20
  const timeoutMs = opts.timeoutMs ?? 15_000
  const pollMs = opts.pollMs ?? 1000
  // Long enough for a whole batch to time out, short enough that a crashed instance's rows soon move on.
  const leaseMs = timeoutMs + 30_000
  const keyPromise = webhookSigningKey(opts.secret)
  const shutdown = new AbortController()

  async function send(event: ClaimedEvent, leaseId: string): Promise<boolean> {
    const at = clock.now()
    // The attempt's own time, as Standard Webhooks asks: receivers refuse stale timestamps.
    const timestamp = Math.floor(at.getTime() / 1000)
    let error: string
    let retryAfterSeconds = 0
    try {
      const res = await opts.fetch(opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'NomiSafe-Auth-Webhooks/1',
          'webhook-id': event.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': await signWebhook(await keyPromise, event.id, timestamp, event.payload),
        },
        body: event.payload,
        // A redirect is a failure (Standard Webhooks): the URL should be fixed, not followed.
        redirect: 'manual',
        signal: AbortSignal.any([shutdown.signal, AbortSignal.timeout(timeoutMs)]),
      })
      await res.body?.cancel().catch(() => {})
      if (res.status >= 200 && res.status < 300) {
        await deleteDeliveredEvent(db, event.id)
        log.info('event delivered', { event_id: event.id, type: event.type, attempts: event.attempts })
        opts.metrics?.inc('events_delivery_total', { outcome: 'delivered' })
        return true
      }
      error = `HTTP ${res.status}`
      retryAfterSeconds = Number(/^\s*(\d{1,6})\s*$/.exec(res.headers.get('retry-after') ?? '')?.[1] ?? 0)
    } catch (err) {
      error = describeFetchError(err, timeoutMs, shutdown.signal.aborted)
    }
    const now = clock.now()
    const giveUp = now >= event.giveUpAt
    const waitSeconds = Math.min(MAX_WAIT_SECONDS, Math.max(retryWaitSeconds(event.attempts), retryAfterSeconds))
    const nextAttemptAt = new Date(now.getTime() + waitSeconds * 1000)
    await recordFailedAttempt(db, { id: event.id, leaseId, now, error, nextAttemptAt, giveUp })
    const fields = { event_id: event.id, type: event.type, attempts: event.attempts, error }
    opts.metrics?.inc('events_delivery_total', { outcome: giveUp ? 'undeliverable' : 'retrying' })
    if (giveUp) {
      log.error('event undeliverable: retries stopped; see "events list" and "events retry"', fields)
    } else if (event.attempts === 1) {
      log.warn('event delivery failed; retrying', { ...fields, next_attempt_at: nextAttemptAt.toISOString() })
    } else {
      log.debug('event delivery failed; retrying', { ...fields, next_attempt_at: nextAttemptAt.toISOString() })
    }
    return false
  }

  async function deliverDue(): Promise<DeliveryRound> {
    const round = { delivered: 0, failed: 0 }
    for (let batch = 0; batch < MAX_BATCHES_PER_ROUND && !shutdown.signal.aborted; batch++) {
      const now = clock.now()
      const leaseId = crypto.randomUUID()
      const claimed = await claimDueEvents(db, { now, leaseId, leasedUntil: new Date(now.getTime() + leaseMs), limit: batchSize })
      const results = await Promise.all(claimed.map((e) => send(e, leaseId)))
      for (const ok of results) ok ? round.delivered++ : round.failed++
      if (claimed.length < batchSize) break
    }
    return round
  }

  let started = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let running: Promise<void> | undefined

  const tick = () => {
    timer = undefined
    running = deliverDue().then(
      () => {},
      (err: unknown) => log.warn('event delivery paused: the outbox could not be read', { error: err instanceof Error ? err.message : String(err) }),
    )
    void running.then(() => {
      running = undefined
      if (!shutdown.signal.aborted) timer = setTimeout(tick, pollMs)
    })
  }

  return {
    deliverDue,
    start() {
      if (started) return
      started = true
      timer = setTimeout(tick, 0)
    },
    async stop() {
      shutdown.abort()
      if (timer !== undefined) clearTimeout(timer)
      await running
    },
  }
}

function describeFetchError(err: unknown, timeoutMs: number, shuttingDown: boolean): string {
  if (shuttingDown) return 'cut off: the instance shut down'
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`
  const parts: string[] = []
  for (let e: unknown = err; e instanceof Error && parts.length < 3; e = e.cause) parts.push(e.message)
  return parts.join(': ') || String(err)
}
