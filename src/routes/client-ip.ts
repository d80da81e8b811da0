import type { Context } from 'hono'
import type { Deps } from '../deps.ts'

/**
 * The client's address: the socket's, unless the operator trusts N proxies in front of the
 * service. Then it is the N-th X-Forwarded-For entry from the right, the one the outermost
 * trusted proxy saw; anything further left was written by the client and is not believed.
 */
export function clientIp(c: Context, deps: Deps): string {
  const hops = deps.config.trustProxyHops
  if (hops > 0) {
    const chain = (c.req.header('x-forwarded-for') ?? '').split(',').map((s) => s.trim()).filter(Boolean)
    const seen = chain[Math.max(0, chain.length - hops)]
    if (seen) return seen
  }
  return deps.clientAddress(c) ?? 'unknown'
}

/** Who is calling, for limits and the audit trail. */
export function caller(c: Context, deps: Deps): { ip: string; requestId: string | undefined } {
  return { ip: clientIp(c, deps), requestId: c.get('requestId' as never) as string | undefined }
}
