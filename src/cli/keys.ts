import { rotateSigningKey } from '../auth/key-store.ts'
import { securityEvent } from '../auth/security-events.ts'
import type { Deps } from '../deps.ts'
import { listAllKeys } from '../store/signing-keys.ts'

function lifetimeSeconds(deps: Deps) {
  return Math.max(deps.config.jwt.accessTtlSeconds, deps.config.jwt.refreshTtlSeconds)
}

/** `keys list`: every stored key, which one signs, and until when a retired one stays published. */
export async function keysList(deps: Deps, out: (line: string) => void): Promise<number> {
  const now = deps.clock.now()
  const lifetimeMs = lifetimeSeconds(deps) * 1000
  out('kid                                          state      created                   published until')
  for (const k of await listAllKeys(deps.db)) {
    const until = k.retiredAt ? new Date(k.retiredAt.getTime() + lifetimeMs) : undefined
    const state = !k.activatedAt ? 'pending' : !k.retiredAt ? 'signing' : until! > now ? 'retired' : 'expired'
    out(`${k.kid.padEnd(44)} ${state.padEnd(10)} ${k.createdAt.toISOString().padEnd(25)} ${until?.toISOString() ?? '-'}`)
  }
  return 0
}

/** `keys rotate`: a new signer; the old key stays published until its tokens expired. */
export async function keysRotate(deps: Deps, out: (line: string) => void): Promise<number> {
  const { kid, dropped } = await rotateSigningKey({
    db: deps.db,
    clock: deps.clock,
    keyEncryptionKey: deps.secrets.keyEncryptionKey,
    maxTokenLifetimeSeconds: lifetimeSeconds(deps),
  })
  await securityEvent(deps, 'key_rotated', {}, { detail: { kid, dropped, by: 'cli' } })
  out(`new signing key ${kid}; running instances switch to it within a minute`)
  if (dropped.length > 0) out(`dropped expired keys: ${dropped.join(', ')}`)
  return 0
}
