// The Node entrypoint's outbound client (src/runtime/node-fetch.ts) must be indistinguishable from
// Node's fetch for the calls the service makes: the same request on the wire, the same answer,
// the same errors (the providers tell a timeout, a refused connection and a reset apart by them).
// Each case runs against a real HTTP server on loopback, through both.
import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/log.ts'
import { nodeFetch } from '../../src/runtime/node-fetch.ts'
import { neverConnected, isTimeout, unreachable } from '../../src/sms/reason.ts'
import { loadConfig } from '../../src/config.ts'
import { createSmsProvider } from '../../src/sms/index.ts'
import { TEST_SECRET } from '../support/app.ts'
import { startFakeTwilio, type FakeTwilioServer } from '../support/fake-twilio-server.ts'
import { closedPortUrl } from '../msw/closed-port.ts'

interface Seen {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

let seen: Seen[] = []
let base = ''
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  let body = ''
  req.setEncoding('utf8')
  req.on('data', (chunk: string) => (body += chunk))
  req.on('end', () => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, body })
    const path = new URL(req.url!, 'http://x').pathname
    if (path === '/json') {
      res.writeHead(201, { 'content-type': 'application/json', 'x-request-id': 'abc' }).end('{"sid":"SM1","é":"ü"}')
    } else if (path === '/busy') {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"code":20429,"message":"Too Many Requests"}')
    } else if (path === '/moved') {
      res.writeHead(302, { location: '/json' }).end()
    } else if (path === '/empty') {
      res.writeHead(204).end()
    } else if (path === '/hang') {
      // Never answers: only the caller's signal ends the request.
    } else if (path === '/stall-body') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"sid":')
    } else if (path === '/reset') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
      res.write('{"sid":')
      setTimeout(() => res.socket?.destroy(), 20)
    }
  })
})

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

/** Runs `call` through Node's fetch and through nodeFetch; returns what each saw and got. */
async function both<T>(call: (f: typeof fetch) => Promise<T>): Promise<{ fetch: { out: T; seen: Seen[] }; node: { out: T; seen: Seen[] } }> {
  seen = []
  const a = await call(fetch)
  const seenA = seen
  seen = []
  const b = await call(nodeFetch)
  return { fetch: { out: a, seen: seenA }, node: { out: b, seen } }
}

/** The request fields a provider's server reads (fetch also sends sec-fetch-mode, accept-language and accept-encoding). */
const wire = (s: Seen) => ({
  method: s.method,
  url: s.url,
  body: s.body,
  contentType: s.headers['content-type'],
  contentLength: s.headers['content-length'],
  authorization: s.headers.authorization,
  accept: s.headers.accept,
  userAgent: s.headers['user-agent'],
  webhookId: s.headers['webhook-id'],
})

const answer = async (res: Response) => ({
  status: res.status,
  ok: res.ok,
  contentType: res.headers.get('content-type'),
  retryAfter: res.headers.get('retry-after'),
  requestId: res.headers.get('x-request-id'),
  text: await res.text(),
})

describe('nodeFetch: the same request on the wire and the same answer as fetch', () => {
  it('a form POST with Basic auth (Twilio, captcha checks)', async () => {
    const r = await both(async (f) =>
      answer(
        await f(new URL('/json?x=1', base), {
          method: 'POST',
          headers: { Authorization: 'Basic QUM6dG9r', accept: 'application/json' },
          body: new URLSearchParams({ To: '+12015550123', Body: 'Your code is 123 456 & more' }),
          redirect: 'manual',
        }),
      ),
    )
    expect(r.node.seen.map(wire)).toEqual(r.fetch.seen.map(wire))
    expect(r.node.seen[0]).toMatchObject({ method: 'POST', url: '/json?x=1', body: 'To=%2B12015550123&Body=Your+code+is+123+456+%26+more' })
    expect(r.node.seen[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded;charset=UTF-8')
    expect(r.node.out).toEqual(r.fetch.out)
    expect(r.node.out).toMatchObject({ status: 201, ok: true, requestId: 'abc', text: '{"sid":"SM1","é":"ü"}' })
  })

  it('a JSON string body with its own content type, and a string one without (Textbelt, webhooks)', async () => {
    for (const headers of [{ 'content-type': 'application/json', 'webhook-id': 'msg_1' }, {}] as Record<string, string>[]) {
      const r = await both(async (f) =>
        answer(await f(`${base}/json`, { method: 'POST', headers, body: JSON.stringify({ to: '+447700900123', body: 'Code: 1' }), redirect: 'manual' })),
      )
      expect(r.node.seen.map(wire)).toEqual(r.fetch.seen.map(wire))
      expect(r.node.out).toEqual(r.fetch.out)
    }
  })

  it('an error status keeps its headers (a provider reads Retry-After)', async () => {
    const r = await both(async (f) => answer(await f(`${base}/busy`, { method: 'POST', body: 'x', redirect: 'manual' })))
    expect(r.node.out).toEqual(r.fetch.out)
    expect(r.node.out).toMatchObject({ status: 429, ok: false, retryAfter: '1' })
  })

  it('a redirect is answered, not followed, when the caller asks for "manual"', async () => {
    const r = await both(async (f) => (await f(`${base}/moved`, { method: 'POST', body: 'x', redirect: 'manual' })).status)
    expect(r.node).toEqual({ out: 302, seen: [expect.objectContaining({ url: '/moved' })] })
    expect(r.fetch.out).toBe(302)
  })

  it('a call it does not take itself goes to fetch: a redirect to follow is followed', async () => {
    const r = await both(async (f) => answer(await f(`${base}/moved`)))
    expect(r.node.seen.map((s) => s.url)).toEqual(['/moved', '/json'])
    expect(r.node.out).toEqual(r.fetch.out)
  })

  it('a 204 answers with an empty body', async () => {
    const r = await both(async (f) => answer(await f(`${base}/empty`, { method: 'POST', body: '', redirect: 'manual' })))
    expect(r.node.out).toEqual(r.fetch.out)
    expect(r.node.out).toMatchObject({ status: 204, text: '' })
  })
})

describe('nodeFetch: the same errors as fetch', () => {
  it('a timeout before the answer and one during its body reject with the signal’s TimeoutError', async () => {
    for (const path of ['/hang', '/stall-body']) {
      for (const f of [fetch, nodeFetch]) {
        const err = await f(`${base}${path}`, { method: 'POST', body: 'x', redirect: 'manual', signal: AbortSignal.timeout(150) })
          .then((res) => res.text())
          .then(() => undefined, (e: unknown) => e)
        expect(isTimeout(err), `${f === fetch ? 'fetch' : 'nodeFetch'} ${path}`).toBe(true)
        expect(unreachable(err, 150)).toBe('no answer within 150 ms')
      }
    }
  })

  it('a refused connection is "fetch failed" caused by ECONNREFUSED: never connected, safe to retry', async () => {
    const url = await closedPortUrl()
    for (const f of [fetch, nodeFetch]) {
      const err = await f(`${url}/x`, { method: 'POST', body: 'x', redirect: 'manual' }).then(() => undefined, (e: unknown) => e)
      expect(err).toBeInstanceOf(TypeError)
      expect((err as Error).message).toBe('fetch failed')
      expect(neverConnected(err)).toBe(true)
      expect(unreachable(err, 1000)).toMatch(/^fetch failed: .*ECONNREFUSED/)
    }
  })

  it('a connection cut mid-answer is "fetch failed" that may have reached the provider', async () => {
    for (const f of [fetch, nodeFetch]) {
      const err = await f(`${base}/reset`, { method: 'POST', body: 'x', redirect: 'manual' })
        .then((res) => res.text())
        .then(() => undefined, (e: unknown) => e)
      expect(err).toBeInstanceOf(TypeError)
      expect(neverConnected(err)).toBe(false)
    }
  })
})

describe('the Twilio provider (SMS_PROVIDER=twilio) on nodeFetch', () => {
  let twilio: FakeTwilioServer
  beforeAll(async () => {
    twilio = await startFakeTwilio()
  })
  afterAll(() => twilio.close())

  it('sends the SMS and returns Twilio’s message sid', async () => {
    const config = loadConfig({ SERVER_SECRET: TEST_SECRET, SMS_PROVIDER: 'twilio', ...twilio.env })
    const sms = createSmsProvider(config.sms, createLogger('error', () => {}), () => {}, undefined, nodeFetch)
    const { id } = await sms.send('+12015550123', 'Your code is 424242', { country: 'US' })
    expect(id).toMatch(/^SM[0-9a-f]{32}$/)
    expect(twilio.messages).toEqual([expect.objectContaining({ sid: id, to: '+12015550123', body: 'Your code is 424242' })])
  })
})

describe('nodeFetch over HTTPS', () => {
  // A throwaway self-signed certificate (openssl, made here and deleted after) for a loopback
  // server. Trust comes from NODE_EXTRA_CA_CERTS, which Node reads at start, so each side runs in
  // a child process.
  it('checks the server’s certificate as Node’s fetch does: refused without its CA, answered with it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nomisafe-tls-'))
    const [key, cert, probe] = ['key.pem', 'cert.pem', 'probe.mjs'].map((f) => join(dir, f)) as [string, string, string]
    const tls = createHttpsServer({}, (req, res) => {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (chunk: string) => (body += chunk))
      req.on('end', () => res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ body })))
    })
    try {
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
        '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ], { stdio: 'ignore' })
      tls.setSecureContext({ key: readFileSync(key), cert: readFileSync(cert) })
      await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve))
      const url = `https://localhost:${(tls.address() as AddressInfo).port}/x`
      const modules = ['../../src/runtime/node-fetch.ts', '../../src/sms/reason.ts'].map((m) => new URL(m, import.meta.url).href)
      writeFileSync(probe, `
        import { nodeFetch } from ${JSON.stringify(modules[0])}
        import { neverConnected } from ${JSON.stringify(modules[1])}
        const out = {}
        for (const [name, f] of [['fetch', fetch], ['nodeFetch', nodeFetch]]) {
          try {
            const res = await f(${JSON.stringify(url)}, { method: 'POST', body: new URLSearchParams({ code: '424242' }), redirect: 'manual', signal: AbortSignal.timeout(5000) })
            out[name] = { status: res.status, text: await res.text() }
          } catch (err) {
            out[name] = { error: err.message, cause: err.cause?.code, neverConnected: neverConnected(err) }
          }
        }
        console.log(JSON.stringify(out))
        process.exit(0)
      `)
      const run = async (env: Record<string, string>) => {
        const { stdout } = await promisify(execFile)(process.execPath, [probe], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 })
        return JSON.parse(stdout) as Record<'fetch' | 'nodeFetch', unknown>
      }

      const untrusted = await run({})
      expect(untrusted.nodeFetch).toEqual(untrusted.fetch)
      expect(untrusted.nodeFetch).toEqual({ error: 'fetch failed', cause: 'DEPTH_ZERO_SELF_SIGNED_CERT', neverConnected: false })

      const trusted = await run({ NODE_EXTRA_CA_CERTS: cert })
      expect(trusted.nodeFetch).toEqual(trusted.fetch)
      expect(trusted.nodeFetch).toEqual({ status: 201, text: '{"body":"code=424242"}' })
    } finally {
      tls.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
