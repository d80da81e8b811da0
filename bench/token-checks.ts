// What an access-token check costs the database. After a round's flows, the driver calls
// GET /api/auth/me/ with an access token the service just issued, and again with the same token
// with its signature's first character changed, and reads pg_stat_statements around each batch.
// A Bearer check is the token's signature and claims alone (src/auth/bearer.ts): a forged token is
// refused with no statement at all; a valid one costs only what /me itself reads (its user row).
import { Agent, request } from 'node:http'
import { percentile, sortedCopy } from './util.ts'

export interface TokenChecks {
  calls: number
  /** GET /me with the valid token: how many answered 200, p50 ms, statements per call. */
  valid: { ok: number; p50: number; statementsPerCall: number | undefined }
  /** GET /me with the forged token: how many answered 401, p50 ms, statements per call. */
  forged: { refused: number; p50: number; statementsPerCall: number | undefined }
}

function get(agent: Agent, base: URL, token: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const req = request(
      { host: base.hostname, port: base.port, path: '/api/auth/me/', method: 'GET', agent, timeout: 10_000, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        res.resume()
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }))
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

/** `calls` GETs of /me, 8 at a time, with the token and with a forged copy; `statements()` reads the database's count. */
export async function measureTokenChecks(baseUrl: string, access: string, calls: number, statements: () => Promise<number | undefined>): Promise<TokenChecks> {
  const base = new URL(baseUrl)
  const agent = new Agent({ keepAlive: true, maxSockets: 8 })
  const [h, p, s] = access.split('.') as [string, string, string]
  const forged = `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`
  const batch = async (token: string) => {
    let next = 0
    const answers: { status: number; ms: number }[] = []
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < calls) {
          next++
          answers.push(await get(agent, base, token))
        }
      }),
    )
    return answers
  }
  try {
    const perCall = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : (b - a) / calls)
    const s0 = await statements()
    const valid = await batch(access)
    const s1 = await statements()
    const bad = await batch(forged)
    const s2 = await statements()
    const p50 = (xs: { ms: number }[]) => percentile(sortedCopy(xs.map((x) => x.ms)), 50)
    return {
      calls,
      valid: { ok: valid.filter((a) => a.status === 200).length, p50: p50(valid), statementsPerCall: perCall(s0, s1) },
      forged: { refused: bad.filter((a) => a.status === 401).length, p50: p50(bad), statementsPerCall: perCall(s1, s2) },
    }
  } finally {
    agent.destroy()
  }
}
