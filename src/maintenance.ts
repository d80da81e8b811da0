import type { Deps } from './deps.ts'
import { pruneOld } from './store/prune.ts'

/**
 * Prunes old rows every `pruneIntervalSeconds` while the service runs. Every instance may do it:
 * the deletes are idempotent. Returns a function that stops the timer.
 */
export function startMaintenance(deps: Deps): () => void {
  const { config, db, clock, log } = deps
  if (config.pruneIntervalSeconds === 0) return () => {}
  let running = false
  const timer = setInterval(async () => {
    if (running) return
    running = true
    try {
      const pruned = await pruneOld(db, clock.now(), { auditRetentionDays: config.auditRetentionDays })
      log.info('pruned old rows', { ...pruned })
    } catch (err) {
      log.warn('pruning failed; will try again', { error: err instanceof Error ? err.message : String(err) })
    } finally {
      running = false
    }
  }, config.pruneIntervalSeconds * 1000)
  return () => clearInterval(timer)
}
