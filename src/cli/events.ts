import type { Deps } from '../deps.ts'
import { listPendingEvents, requeueEvents } from '../events/outbox.ts'

const LIST_LIMIT = 200

/** `events list`: every event not delivered yet, oldest first, and why the last try failed. */
export async function eventsList(deps: Deps, out: (line: string) => void): Promise<number> {
  const { events, total } = await listPendingEvents(deps.db, LIST_LIMIT)
  if (total === 0) {
    out('no undelivered events')
    return 0
  }
  out('id                                    type          created                   tries  state')
  for (const e of events) {
    const state = e.failedAt
      ? `undeliverable since ${e.failedAt.toISOString()} (run "events retry")`
      : e.attempts === 0
        ? 'waiting for its first try'
        : `retrying at ${e.nextAttemptAt.toISOString()}`
    const error = e.lastError ? `; last error: ${e.lastError}` : ''
    out(`${e.id.padEnd(37)} ${e.type.padEnd(13)} ${e.createdAt.toISOString().padEnd(25)} ${String(e.attempts).padStart(5)}  ${state}${error}`)
  }
  if (total > events.length) out(`… and ${total - events.length} more`)
  const undeliverable = events.filter((e) => e.failedAt).length
  out(`${total} undelivered event(s)${undeliverable ? `, ${undeliverable} of those shown undeliverable` : ''}`)
  return 0
}

/** `events retry [ID...]`: the given events, or every undelivered one, are due now with a fresh schedule. */
export async function eventsRetry(deps: Deps, ids: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const requeued = await requeueEvents(deps.db, { ids: ids.length > 0 ? ids : undefined, now: deps.clock.now() })
  const unknown = ids.filter((id) => !requeued.includes(id))
  for (const id of unknown) err(`no undelivered event ${id}`)
  deps.log.info('events re-queued', { events: requeued.length })
  out(`re-queued ${requeued.length} event(s); a running service sends them within seconds`)
  return unknown.length > 0 ? 1 : 0
}
