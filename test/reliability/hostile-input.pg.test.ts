// Hostile input: property-based tests (fast-check) throw random and adversarial bodies, headers,
// paths, methods and encodings at every endpoint, in process (volume) and over real HTTP to the
// service process (raw sockets, so content-length mismatches, invalid UTF-8 and broken framing
// reach it as sent). Every answer is below 500, an error is problem+json, nothing leaks a stack
// trace, SQL, a secret or an HTML page, and invalid input changes nothing in the database.
import fc from 'fast-check'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Connection } from '../../src/store/connect.ts'
import { post, testApp, TEST_SECRET, type TestApp } from '../support/app.ts'
import { testDatabase } from '../support/db.ts'
import { startFakeTwilio, type FakeTwilioServer } from '../support/fake-twilio-server.ts'
import { internalErrors, NO_LIMITS, report, SECRET, send, serviceEnv, signIn, sleep, spawnService, type ServiceProcess } from './support/harness.ts'
import { forgedTokens, hostileBodyRequest, hostileRequest, rawRequest, serialize, whatIsWrong, type HostileRequest, type TokenPools } from './support/hostile.ts'

const ADMIN_TOKEN = 'reliability-admin-token-7d3f0a9c1e5b2468acef'
const METRICS_TOKEN = 'reliability-metrics-token-1b9e'
/** Runs per property in process; FUZZ_RUNS sets it (e.g. FUZZ_RUNS=50000 for a long hunt). Over HTTP, a third. */
const RUNS_IN_PROCESS = Number(process.env.FUZZ_RUNS ?? 2_000)
const RUNS_HTTP = Math.max(50, Math.round(RUNS_IN_PROCESS / 3))
const PROPERTIES = [
  ['any request at any endpoint', hostileRequest],
  ['hostile bodies at the endpoints that read one', hostileBodyRequest],
] as const
// Numbers the fuzzer never generates (it uses +1202555…): a signed-in user and a live code.
const SEED_PHONE = '+12015550100'
const LIVE_CODE_PHONE = '+12015550101'

interface Snapshot {
  users: string
  sessions: string
  codes: string
  users_hash: string
  sessions_hash: string
}

/** Row counts of users, sessions and otp_codes, and a digest of every user and session row. */
async function snapshot(conn: Connection): Promise<Snapshot> {
  const r = await sql<Snapshot>`select
      (select count(*) from users)::text as users,
      (select count(*) from sessions)::text as sessions,
      (select count(*) from otp_codes)::text as codes,
      (select md5(coalesce(string_agg(u::text, '|' order by u.id), '')) from users u) as users_hash,
      (select md5(coalesce(string_agg(s::text, '|' order by s.id), '')) from sessions s) as sessions_hash`.execute(conn.db)
  return r.rows[0]!
}

/** A success that may change state: a code sent. Every other answer must leave the rows as they were. */
const mayChange = (req: HostileRequest, status: number) => status === 202 && req.path.replace(/\?.*$/, '').replace(/\/$/, '') === '/api/auth/otp/request'

const describeRequest = (req: HostileRequest) =>
  `${req.method.slice(0, 20)} ${req.path.slice(0, 120)} headers=${JSON.stringify(req.headers).slice(0, 300)} body=${req.body ? Buffer.from(req.body.subarray(0, 120)).toString('latin1') : '-'}${req.body && req.body.length > 120 ? `…(${req.body.length} bytes)` : ''}`

class Tally {
  sent = 0
  byStatus: Record<string, number> = {}
  add(status: number) {
    this.sent++
    this.byStatus[status] = (this.byStatus[status] ?? 0) + 1
  }
}

describe('hostile input, in process', () => {
  let conn: Connection
  let t: TestApp
  let tokens: TokenPools
  let seeded: { access: string; refresh: string }
  const secrets = [TEST_SECRET, ADMIN_TOKEN, METRICS_TOKEN]

  beforeAll(async () => {
    conn = await testDatabase('postgres')
    t = await testApp(conn, { env: { ...NO_LIMITS, ADMIN_TOKEN, METRICS_TOKEN } })
    await post(t.app, '/api/auth/otp/request/', { phone_number: SEED_PHONE })
    seeded = (await post(t.app, '/api/auth/otp/verify/', { phone_number: SEED_PHONE, otp: t.sms.codeFor(SEED_PHONE) })).body
    await post(t.app, '/api/auth/otp/request/', { phone_number: LIVE_CODE_PHONE })
    const forged = await forgedTokens(seeded)
    tokens = { header: [...forged, seeded.refresh], body: [...forged, seeded.access] }
  })
  afterAll(() => conn.close())

  it.each(PROPERTIES)('%s: 4xx problem+json or the success, nothing leaked, nothing changed', async (name, requests) => {
    const tally = new Tally()
    await fc.assert(
      fc.asyncProperty(requests(tokens), async (req) => {
        const before = await snapshot(conn)
        let request: Request
        try {
          const bodyless = ['GET', 'HEAD'].includes(req.method.toUpperCase())
          request = new Request(`http://localhost${req.path}`, { method: req.method, headers: req.headers, body: bodyless || !req.body ? undefined : new Uint8Array(req.body) })
        } catch {
          return // not expressible as a fetch Request (the HTTP run below sends such bytes raw)
        }
        const res = await t.app.request(request)
        const body = await res.text()
        tally.add(res.status)
        const wrong = whatIsWrong(req, { status: res.status, headers: res.headers, body }, secrets)
        if (wrong) throw new Error(`${wrong}: ${describeRequest(req)} -> ${res.status} ${body.slice(0, 300)}`)
        const after = await snapshot(conn)
        if (!mayChange(req, res.status) && JSON.stringify(after) !== JSON.stringify(before)) {
          throw new Error(`the database changed: ${describeRequest(req)} -> ${res.status}: ${JSON.stringify(before)} ${JSON.stringify(after)}`)
        }
      }),
      { numRuns: RUNS_IN_PROCESS },
    )
    // The seeded session is untouched: its refresh token still rotates.
    const refreshed = await post(t.app, '/api/auth/token/refresh/', { refresh: seeded.refresh })
    report(`hostile input in process (${name})`, { requests_sent: tally.sent, by_status: tally.byStatus, failures: 0, seeded_session_alive: refreshed.status === 200 })
    expect(refreshed.status).toBe(200)
  }, 300_000)
})

describe('hostile input over HTTP to the service process', () => {
  let conn: Connection & { url?: string }
  let twilio: FakeTwilioServer
  let svc: ServiceProcess
  let port: number
  let seeded: { access: string; refresh: string }
  let tokens: TokenPools
  let secrets: string[]

  beforeAll(async () => {
    conn = await testDatabase('postgres')
    twilio = await startFakeTwilio()
    svc = await spawnService(serviceEnv(conn.url!, twilio.env, { ADMIN_TOKEN, METRICS_TOKEN }))
    port = Number(new URL(svc.url).port)
    const flow = await signIn(svc.url, twilio, SEED_PHONE)
    if (!flow.ok) throw new Error(`seeding failed at ${flow.step}`)
    seeded = flow.session
    const forged = await forgedTokens(seeded)
    tokens = { header: [...forged, seeded.refresh], body: [...forged, seeded.access] }
    secrets = [SECRET, ADMIN_TOKEN, METRICS_TOKEN, twilio.env.TWILIO_AUTH_TOKEN!]
  })
  afterAll(async () => {
    await svc?.stop()
    await twilio?.close()
    await conn?.close()
  })

  /**
   * Node's HTTP server refuses broken framing (a bad content-length, a NUL in a header, a space in
   * the path, an unknown Expect) before the app sees the request: a 4xx with an empty body, or a
   * closed connection. Those are not the app's answers, so they cannot be problem+json; they must still
   * never be a 5xx, never hang.
   */
  const refusedByParser = (a: { status: number; body: string; noAnswer: boolean; headers: Headers }) =>
    a.noAnswer || (a.status >= 400 && a.status < 500 && a.body === '' && !a.headers.has('content-type'))

  it.each(PROPERTIES)('%s, on raw sockets: answered in time, never 5xx, nothing leaked, nothing changed', async (name, requests) => {
    const tally = new Tally()
    let parserRefusals = 0
    await fc.assert(
      fc.asyncProperty(requests(tokens), async (req) => {
        const before = await snapshot(conn)
        // A content-length beyond the body would have the server wait for the rest: send the end of
        // the stream instead (the server may then drop the answer, but must not hang or fail).
        const declared = req.headers['content-length']
        const short = declared !== undefined && declared.trim() !== String(req.body?.length ?? 0)
        const a = await rawRequest(port, serialize(req), { halfClose: short })
        tally.add(a.status)
        if (a.timedOut) throw new Error(`no answer within 5 s: ${describeRequest(req)}`)
        // Without an answer the request may still be running: let it finish before looking at the rows.
        if (a.noAnswer) await sleep(100)
        if (refusedByParser(a)) parserRefusals++
        else {
          const wrong = whatIsWrong(req, a, secrets)
          if (wrong) throw new Error(`${wrong}: ${describeRequest(req)} -> ${a.status} ${a.body.slice(0, 300)}`)
        }
        const after = await snapshot(conn)
        if (!mayChange(req, a.status) && JSON.stringify(after) !== JSON.stringify(before)) {
          throw new Error(`the database changed: ${describeRequest(req)} -> ${a.status}: ${JSON.stringify(before)} ${JSON.stringify(after)}`)
        }
      }),
      { numRuns: RUNS_HTTP },
    )
    report(`hostile input over HTTP (${name})`, { requests_sent: tally.sent, by_status: tally.byStatus, refused_by_nodes_http_server: parserRefusals, failures: 0 })
    expect(svc.alive()).toBe(true)
  }, 300_000)

  it('survives broken HTTP framing and encodings', async () => {
    const json = '{"phone_number":"+12025550123"}'
    const head = (method: string, path: string, extra: string[]) => [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...extra].join('\r\n') + '\r\n\r\n'
    const bytes = (...parts: (string | number[] | Buffer)[]) =>
      Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p as number[]))))
    const { gzipSync } = await import('node:zlib')
    const cases: [string, Buffer][] = [
      ['content-length longer than the body', bytes(head('POST', '/api/auth/otp/request/', ['Content-Type: application/json', 'Content-Length: 500']), json)],
      ['content-length shorter than the body', bytes(head('POST', '/api/auth/otp/request/', ['Content-Type: application/json', 'Content-Length: 5']), json)],
      ['content-length not a number', bytes(head('POST', '/api/auth/otp/request/', ['Content-Length: abc']), json)],
      ['two different content-lengths', bytes(head('POST', '/api/auth/otp/request/', ['Content-Length: 3', `Content-Length: ${json.length}`]), json)],
      ['chunked and content-length', bytes(head('POST', '/api/auth/otp/request/', ['Transfer-Encoding: chunked', 'Content-Length: 4']), `${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`)],
      ['a malformed chunk size', bytes(head('POST', '/api/auth/otp/request/', ['Transfer-Encoding: chunked']), 'zz\r\nabc\r\n0\r\n\r\n')],
      ['a chunk longer than it says', bytes(head('POST', '/api/auth/otp/verify/', ['Transfer-Encoding: chunked']), `2\r\n${json}\r\n0\r\n\r\n`)],
      ['chunks past the body limit', bytes(head('POST', '/api/auth/otp/request/', ['Transfer-Encoding: chunked']), ...Array.from({ length: 20 }, () => `400\r\n${'a'.repeat(1024)}\r\n`), '0\r\n\r\n')],
      ['an unknown transfer-encoding', bytes(head('POST', '/api/auth/otp/request/', ['Transfer-Encoding: gzip, chunked']), '0\r\n\r\n')],
      ['a gzip body', bytes(head('POST', '/api/auth/otp/request/', ['Content-Encoding: gzip', `Content-Length: ${gzipSync(json).length}`]), gzipSync(json))],
      ['invalid UTF-8 in the body', bytes(head('POST', '/api/auth/otp/request/', ['Content-Length: 6']), [0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x7d])],
      ['NUL bytes in the body', bytes(head('POST', '/api/auth/otp/verify/', ['Content-Length: 40']), '{"phone_number":"+1\u0000","otp":"\u0000\u0000"}'.padEnd(40, ' '))],
      ['a NUL in a header', bytes(head('GET', '/api/auth/me/', ['Authorization: Bearer a\u0000b']))],
      ['a header of 64 KiB', bytes(head('GET', '/api/auth/me/', [`Authorization: Bearer ${'a'.repeat(65_536)}`]))],
      ['a path of 64 KiB', bytes(head('GET', `/${'a'.repeat(65_536)}`, []))],
      ['raw UTF-8 in the path', bytes(head('GET', '/api/auth/me/\u00c3\u00a9', []))],
      ['invalid UTF-8 in the path', bytes('GET /api/auth/me/', [0xff, 0xc0], ' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')],
      ['percent-encoded garbage in the path', bytes(head('GET', '/api/auth/%ff%00%zz/..%2f..%2f', []))],
      ['an absolute URL as the target', bytes(head('GET', 'http://evil.example/api/auth/me/', []))],
      ['an asterisk as the target', bytes(head('OPTIONS', '*', []))],
      ['CONNECT', bytes(head('CONNECT', '127.0.0.1:1', []))],
      ['TRACE', bytes(head('TRACE', '/api/auth/me/', [`Authorization: Bearer ${seeded.access}`]))],
      ['a request line of garbage', bytes('GARBAGE\r\n\r\n')],
      ['HTTP/0.9', bytes('GET /healthz\r\n\r\n')],
      ['HTTP/2 preface on HTTP/1.1', bytes('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
      ['HTTP/1.0 without Host', bytes('POST /api/auth/otp/request/ HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}')],
      ['Expect: 100-continue', bytes(head('POST', '/api/auth/otp/request/', ['Expect: 100-continue', `Content-Length: ${json.length}`]), json)],
      ['an unknown Expect', bytes(head('POST', '/api/auth/otp/request/', ['Expect: teapot', `Content-Length: ${json.length}`]), json)],
      ['a header without a colon', bytes(head('GET', '/healthz', ['NoColonHere']))],
      ['an obsolete folded header', bytes('GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\nConnection: close\r\n\r\n')],
      ['LF line ends only', bytes('GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n')],
    ]
    const results: Record<string, string> = {}
    const before = await snapshot(conn)
    for (const [name, raw] of cases) {
      const a = await rawRequest(port, raw, { halfClose: name === 'content-length longer than the body' })
      results[name] = a.timedOut ? 'timeout' : a.noAnswer ? 'closed' : String(a.status)
      expect(a.timedOut, name).toBe(false)
      if (!refusedByParser(a)) expect(whatIsWrong({ method: 'POST', path: '/api' }, a, secrets), `${name}: ${a.status} ${a.body.slice(0, 200)}`).toBeUndefined()
      else expect(a.status, name).toBeLessThan(500)
    }
    report('hostile HTTP framing', { requests_sent: cases.length, answers: results })
    // Nothing changed but codes sent (the gzip and the 100-continue requests are valid sends).
    const after = await snapshot(conn)
    expect({ ...after, codes: '-' }).toEqual({ ...before, codes: '-' })
    // The process is up, answers, and the seeded session was not touched.
    expect(svc.alive()).toBe(true)
    expect((await send(svc.url, 'GET', '/healthz')).status).toBe(200)
    const refreshed = await send(svc.url, 'POST', '/api/auth/token/refresh/', { body: { refresh: seeded.refresh } })
    expect(refreshed.status, refreshed.text).toBe(200)
    expect(internalErrors(svc.output())).toEqual([])
  }, 120_000)
})
