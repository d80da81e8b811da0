// Hostile requests for property-based tests (fast-check): random and adversarial bodies, headers,
// paths, methods and encodings at every endpoint, and the checks every answer must pass.
import { generateKeyPairSync } from 'node:crypto'
import { connect } from 'node:net'
import fc from 'fast-check'
import { base64url, SignJWT } from 'jose'

/** Every endpoint of API.md, plus the operator's (/metrics, /admin/…) when their tokens are set. */
export const ENDPOINTS: readonly (readonly [string, string])[] = [
  ['POST', '/api/auth/otp/request/'],
  ['POST', '/api/auth/otp/verify/'],
  ['POST', '/api/auth/token/refresh/'],
  ['POST', '/api/auth/logout/'],
  ['GET', '/api/auth/me/'],
  ['DELETE', '/api/auth/me/'],
  ['GET', '/.well-known/jwks.json'],
  ['GET', '/healthz'],
  ['GET', '/readyz'],
  ['GET', '/openapi.json'],
  ['GET', '/docs'],
  ['GET', '/metrics'],
  ['GET', '/admin/users'],
  ['GET', '/admin/users/1'],
  ['POST', '/admin/users/1/disable'],
  ['POST', '/admin/users/1/enable'],
  ['GET', '/admin/users/1/sessions'],
  ['DELETE', '/admin/users/1/sessions'],
]

/** Body fields the endpoints read. */
const FIELDS = ['phone_number', 'otp', 'captcha_token', 'refresh', 'all']

export interface HostileRequest {
  method: string
  path: string
  headers: Record<string, string>
  /** Raw bytes, so invalid UTF-8 reaches the service as sent. */
  body?: Uint8Array
}

const utf8 = (s: string) => new TextEncoder().encode(s)

/** Strings that fit in a header value: any byte 0x20–0xFF and tab, never CR, LF or NUL. */
const headerText = (maxLength = 200) =>
  fc.string({ unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constant(9)).map((c) => String.fromCharCode(c)), maxLength })

/** Strings of any code points: NUL, controls, lone surrogates, RTL marks, emoji. */
const anyText = (maxLength = 100) =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
    fc.constantFrom('\u0000', '\ud800', '\udfff', 'a\u0000b', '\u202e+1201', '\ufeff', '\u00a0', '𝟙𝟚𝟛', '<script>alert(1)</script>', "' or 1=1 --", '${7*7}', '../../etc/passwd', '%00', '\\u0000'),
  )

/** Numbers that are almost right: valid ones, with NUL, other digit scripts, too long, empty. */
const nearPhone = fc.oneof(
  fc.integer({ min: 0, max: 9_999 }).map((i) => `+1202555${String(i).padStart(4, '0')}`),
  fc.constantFrom(
    '+1202555\u00000123', '+12025550123\n', '＋１２０２５５５０１２３', '+١٢٠٢٥٥٥٠١٢٣', '+', '', ' ', '+0', '+999999999999999999', '2025550123',
    '+1 (202) 555-0123', '+1-202-555-0123-', '+1202555012３', '+44 20 7946 0958', '+1900555 0123', '\u202e3210555202+', '+1202555'.padEnd(70, '0'),
  ),
)
const nearOtp = fc.oneof(
  fc.integer({ min: 0, max: 999_999 }).map((n) => String(n).padStart(6, '0')),
  fc.constantFrom('', ' 123456', '12345\u0000', '１２３４５６', '١٢٣٤٥٦', '123456789012345678901234567890123', '-12345', '1e5', '12 34 56'),
)

/** Values of the wrong type and shape for any field. */
const hostileValue = (tokens: string[]) =>
  fc.oneof(
    { weight: 3, arbitrary: nearPhone },
    { weight: 3, arbitrary: nearOtp },
    { weight: 2, arbitrary: fc.constantFrom(...tokens) },
    { weight: 3, arbitrary: anyText() },
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    fc.constantFrom(null, true, false, 0, -1, 1e308, -0, [], {}, [null], { $ne: null }, JSON.parse('{"__proto__":{"admin":true}}')),
    fc.integer({ min: 1, max: 70_000 }).map((n) => '9'.repeat(n)),
  )

/** Bodies: random JSON, wrong types, huge, deeply nested, NUL bytes, invalid UTF-8, not JSON at all. */
export const hostileBody = (tokens: string[]): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), anyText(20)), hostileValue(tokens), { maxKeys: 5 }).map((o) => utf8(JSON.stringify(o))) },
    { weight: 2, arbitrary: fc.json({ maxDepth: 4 }).map(utf8) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => utf8(JSON.stringify(v) ?? 'null')) },
    { weight: 2, arbitrary: anyText(300).map(utf8) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 512 }) },
    // Invalid UTF-8: lone continuation bytes, overlong forms, encoded surrogates, truncated sequences.
    fc.constantFrom([0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xff, 0xfe], [0xfe, 0xff, 0x00, 0x7b]).map(
      (bad) => Buffer.concat([utf8('{"phone_number":"+1202'), new Uint8Array(bad), utf8('5550123"}')]),
    ),
    // Huge: past the 16 KiB limit, and just under it.
    fc.integer({ min: 16_000, max: 400_000 }).map((n) => utf8(`{"phone_number":"${'1'.repeat(n)}"}`)),
    // Deep nesting, as arrays and as objects.
    fc.integer({ min: 50, max: 200_000 }).map((d) => utf8('['.repeat(d) + ']'.repeat(d))),
    fc.integer({ min: 50, max: 50_000 }).map((d) => utf8('{"phone_number":'.repeat(d) + '1' + '}'.repeat(d))),
    fc.constantFrom('', ' ', 'null', '[]', '"+12025550123"', '{', '{"phone_number":"+12025550123"', '{"phone_number":"+12025550123"}}', '\ufeff{}', 'phone_number=%2B12025550123').map(utf8),
  )

const method = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS') },
  fc.constantFrom('FOO', 'PROPFIND', 'M-SEARCH', 'get', 'Post', 'X'.repeat(100)),
)

/** Paths around the real ones: extra segments, dot segments, encodings, NUL, unicode, very long. */
const pathAround = (path: string) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant(path) },
    { weight: 2, arbitrary: fc.constant(path.endsWith('/') ? path.slice(0, -1) : `${path}/`) },
    fc.webSegment().map((s) => `${path}${path.endsWith('/') ? '' : '/'}${s}`),
    fc.constantFrom('%00', '%ff', '%2e%2e/', '..', '//', '%', '%zz', '%E2%80%AE', ';jsessionid=1', '%2F', '~', '.json', '\u00e9', '%u0000').map((x) => path + x),
    fc.webPath(),
    fc.integer({ min: 1_000, max: 30_000 }).map((n) => `${path}${'a'.repeat(n)}`),
    fc.constantFrom('/', '/api', '/api/auth', '/api/auth/', '/API/AUTH/ME/', '/.well-known/', '/admin', '/admin/users/0', '/admin/users/-1', '/admin/users/99999999999999999999', '/admin/users/1e3', '/docs/assets/..%2f..%2fpackage.json', '/docs/assets/nope.js'),
  )

const query = fc.oneof(fc.constant(''), fc.webQueryParameters().map((q) => `?${q}`), fc.constantFrom('?phone=%2B12025550123', '?phone=', '?phone=%00', `?${'x='.repeat(2_000)}`, '?a[b]=1&a[c]=2'))

/** Authorization values: garbage, the wrong scheme, forged and misused tokens. */
const authorization = (tokens: string[]) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...tokens).map((t) => `Bearer ${t}`) },
    { weight: 2, arbitrary: headerText().map((t) => `Bearer ${t}`) },
    headerText(),
    fc.constantFrom('Bearer', 'Bearer ', 'bearer  a.b.c', 'Basic YWRtaW46YWRtaW4=', 'Token abc', 'Bearer a.b.c', 'Bearer ..', `Bearer ${'a'.repeat(16_000)}`, 'Bearer\ta.b.c', 'Negotiate x'),
  )

const contentType = fc.oneof(
  fc.constantFrom(
    'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16',
    'application/json; charset=latin1', '', '*/*', 'application/problem+json', 'application/xml', 'application/json; charset="utf-8"; x=',
  ),
  headerText(60),
)

/** Maybe `arb`: present one time in `oneIn`. */
const sometimes = <T>(arb: fc.Arbitrary<T>, oneIn: number) => fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb })

/** Headers: each maybe; content-length (rarely) disagrees with the body. */
const headers = (tokens: string[]) =>
  fc
    .record({
      authorization: sometimes(authorization(tokens), 2),
      'content-type': sometimes(contentType, 2),
      'content-length': sometimes(fc.oneof(fc.nat({ max: 1_000_000 }).map(String), fc.constantFrom('-1', 'abc', '99999999999999999999', '1e3', ' 5', '0x10')), 10),
      'content-encoding': sometimes(fc.constantFrom('gzip', 'br', 'deflate', 'identity', 'x-garbage', 'gzip, gzip'), 8),
      'accept-encoding': sometimes(fc.constantFrom('gzip', '*', 'identity;q=0', 'br;q=1.5'), 8),
      accept: sometimes(fc.constantFrom('text/html', '*/*', 'application/xml', 'application/json;q=0'), 6),
      origin: sometimes(fc.oneof(fc.constantFrom('null', 'https://evil.example', 'http://127.0.0.1'), headerText(40)), 6),
      'x-request-id': sometimes(headerText(200), 6),
      'x-forwarded-for': sometimes(fc.oneof(fc.constantFrom('1.2.3.4', '::1', 'garbage', '1.2.3.4, 5.6.7.8'), headerText(40)), 8),
      'if-none-match': sometimes(headerText(40), 10),
    })
    .map((h) => Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined)) as Record<string, string>)

/**
 * Tokens to misuse: `header` ones go into Authorization, `body` ones into body fields. Keep the
 * real access token out of `header` (DELETE /me would rightly delete the user) and the real
 * refresh token out of `body` (a refresh would rightly rotate it): only their misuses belong here.
 */
export interface TokenPools {
  header: string[]
  body: string[]
}

/** Any request at any endpoint, mostly near the real one, sometimes far from it. */
export const hostileRequest = (tokens: TokenPools): fc.Arbitrary<HostileRequest> =>
  fc
    .record({
      endpoint: fc.constantFrom(...ENDPOINTS),
      otherMethod: fc.option(method, { freq: 4, nil: undefined }),
      path: fc.constantFrom(...ENDPOINTS.map(([, p]) => p)).chain(pathAround),
      keepPath: fc.boolean(),
      query: fc.option(query, { freq: 4, nil: undefined }),
      body: fc.option(hostileBody(tokens.body), { freq: 5, nil: undefined }),
      headers: headers(tokens.header),
    })
    .map((r) => ({
      method: r.otherMethod ?? r.endpoint[0],
      path: (r.keepPath ? r.endpoint[1] : r.path) + (r.query ?? ''),
      headers: r.headers,
      body: r.body,
    }))

/** Hostile bodies at the endpoints that read one, with their own method and path (either slash form). */
export const hostileBodyRequest = (tokens: TokenPools): fc.Arbitrary<HostileRequest> =>
  fc
    .record({
      path: fc.constantFrom('/api/auth/otp/request', '/api/auth/otp/verify', '/api/auth/token/refresh', '/api/auth/logout'),
      slash: fc.boolean(),
      body: hostileBody(tokens.body),
      contentType: sometimes(contentType, 3),
    })
    .map((r) => ({
      method: 'POST',
      path: r.slash ? `${r.path}/` : r.path,
      headers: { 'content-type': r.contentType ?? 'application/json' },
      body: r.body,
    }))

/** Tokens no endpoint may accept: forged, tampered, or not tokens at all. */
export async function forgedTokens(real: { access: string; refresh: string }): Promise<string[]> {
  const [h, p, sig] = real.access.split('.') as [string, string, string]
  const header = JSON.parse(new TextDecoder().decode(base64url.decode(h)))
  const payload = JSON.parse(new TextDecoder().decode(base64url.decode(p)))
  const enc = (o: unknown) => base64url.encode(JSON.stringify(o))
  const { privateKey: otherKey } = generateKeyPairSync('ed25519')
  return [
    `${enc({ alg: 'none', typ: 'JWT' })}.${p}.`,
    `${enc({ alg: 'none' })}.${enc({ ...payload, sub: '1' })}.`,
    await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: header.kid }).sign(utf8('a-guessed-secret')),
    await new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', kid: header.kid, typ: 'JWT' }).sign(otherKey),
    `${h}.${enc({ ...payload, sub: String(Number(payload.sub) + 1) })}.${sig}`,
    `${h}.${enc({ ...payload, exp: 4_102_444_800 })}.${sig}`,
    `${h}.${p}.${sig.slice(0, -4)}AAAA`,
    `${h}.${p}`,
    `${h}.${p}.${sig}.${sig}`,
    `${enc({ ...header, kid: "' or 1=1 --" })}.${p}.${sig}`,
    `${enc({ ...header, kid: '../../../../etc/passwd' })}.${p}.${sig}`,
    `${enc({ ...header, jku: 'http://127.0.0.1:1/jwks.json' })}.${p}.${sig}`,
    `${enc({ alg: 'RS256', kid: header.kid })}.${p}.${sig}`,
    `${enc({ ...header, crit: ['exp'] })}.${p}.${sig}`,
    'a.b.c',
    'e30.e30.e30',
    `${'A'.repeat(5_000)}.${'B'.repeat(5_000)}.${'C'.repeat(5_000)}`,
  ]
}

export interface Answered {
  status: number
  headers: Headers
  body: string
}

/**
 * What every answer must be: below 500; an error is problem+json with its own status; never a
 * stack trace, SQL, a database name, a source path, a secret, or an HTML page (but /docs itself).
 * Returns what is wrong, or undefined.
 */
export function whatIsWrong(req: { method: string; path: string }, res: Answered, secrets: string[]): string | undefined {
  if (res.status >= 500) return `status ${res.status}`
  for (const s of secrets) if (res.body.includes(s)) return 'a secret in the body'
  for (const [name, value] of res.headers) for (const s of secrets) if (value.includes(s)) return `a secret in the ${name} header`
  const staticDoc = res.status < 300 && /^\/(docs|openapi\.json)/.test(req.path)
  if (!staticDoc) {
    if (/<(!doctype|html|body|head)\b/i.test(res.body)) return 'an HTML page'
    if (/\n\s+at .*(\(|:\d+)|node_modules|\.ts:\d+|\bError:/.test(res.body)) return 'a stack trace or source path'
    if (/\b(select|insert|update|delete)\b[\s\S]{0,100}\b(from|into|set|where|returning)\b|syntax error|relation "|violates|postgres|kysely|pglite|sqlstate/i.test(res.body)) {
      return 'SQL or database internals'
    }
  }
  if (res.status >= 400 && req.method !== 'HEAD') {
    if (res.headers.get('content-type') !== 'application/problem+json') return `content-type ${res.headers.get('content-type')} on ${res.status}`
    let problem: any
    try {
      problem = JSON.parse(res.body)
    } catch {
      return 'an error body that is not JSON'
    }
    for (const field of ['type', 'title', 'status', 'detail', 'code']) if (!(field in problem)) return `a problem without ${field}`
    if (problem.status !== res.status) return `problem status ${problem.status} on a ${res.status}`
  }
  return undefined
}

export interface RawAnswer extends Answered {
  /** The connection closed without an answer. */
  noAnswer: boolean
  timedOut: boolean
}

/** Writes `bytes` to a fresh loopback connection and reads one answer (or the close). */
export function rawRequest(port: number, bytes: Uint8Array, opts: { halfClose?: boolean; timeoutMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const socket = connect({ host: '127.0.0.1', port })
    let settled = false
    const finish = (timedOut: boolean) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ ...parseAnswer(Buffer.concat(chunks)), timedOut })
    }
    const timer = setTimeout(() => finish(true), opts.timeoutMs ?? 5_000)
    socket.on('connect', () => {
      socket.write(bytes)
      if (opts.halfClose) socket.end()
    })
    socket.on('data', (d) => {
      chunks.push(d)
      if (complete(Buffer.concat(chunks))) finish(false)
    })
    socket.on('error', () => finish(false))
    socket.on('close', () => finish(false))
  })
}

function split(raw: Buffer): { head: string; body: Buffer } | undefined {
  const end = raw.indexOf('\r\n\r\n')
  return end < 0 ? undefined : { head: raw.subarray(0, end).toString('latin1'), body: raw.subarray(end + 4) }
}

function headerMap(head: string): Headers {
  const h = new Headers()
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':')
    if (i > 0) {
      try {
        h.append(line.slice(0, i).trim(), line.slice(i + 1).trim())
      } catch {}
    }
  }
  return h
}

function complete(raw: Buffer): boolean {
  const parts = split(raw)
  if (!parts) return false
  const h = headerMap(parts.head)
  const length = h.get('content-length')
  if (length !== null) return parts.body.length >= Number(length)
  if (/chunked/i.test(h.get('transfer-encoding') ?? '')) return parts.body.includes('0\r\n\r\n')
  return /^HTTP\/1\.1 (1\d\d|204|304)/.test(parts.head)
}

function parseAnswer(raw: Buffer): Omit<RawAnswer, 'timedOut'> {
  const parts = split(raw)
  const status = parts ? Number(/^HTTP\/1\.[01] (\d{3})/.exec(parts.head)?.[1] ?? 0) : 0
  if (!parts || !status) return { status: 0, headers: new Headers(), body: raw.toString('latin1'), noAnswer: true }
  const headers = headerMap(parts.head)
  let body = parts.body
  if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
    const out: Buffer[] = []
    let rest = body
    for (;;) {
      const eol = rest.indexOf('\r\n')
      const size = eol < 0 ? 0 : parseInt(rest.subarray(0, eol).toString('latin1'), 16)
      if (!size) break
      out.push(rest.subarray(eol + 2, eol + 2 + size))
      rest = rest.subarray(eol + 2 + size + 2)
    }
    body = Buffer.concat(out)
  }
  return { status, headers, body: body.toString('utf8'), noAnswer: false }
}

/** One HostileRequest as the bytes of an HTTP/1.1 request, its content-length as given (or right). */
export function serialize(req: HostileRequest): Uint8Array {
  const body = req.body ?? new Uint8Array()
  const lines = [`${req.method} ${req.path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close']
  const given = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), v]))
  given['content-length'] ??= String(body.length)
  for (const [k, v] of Object.entries(given)) lines.push(`${k}: ${v}`)
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body])
}
