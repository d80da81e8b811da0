// The OpenAPI document (GET /openapi.json) against a real OpenAPI validator and against the API
// itself: the routes the app serves, the bodies it accepts and rejects, and the answers it gives.
// Also the /docs page as served (the browser test is test/e2e/docs-browser.pg.test.ts).
import { Validator } from '@seriousme/openapi-schema-validator'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import * as v from 'valibot'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { CODES } from '../../src/errors.ts'
import { DOCS_ASSET_ROUTE } from '../../src/routes/docs.ts'
import { OPERATIONS, REQUEST_BODIES, RESPONSE_BODIES, buildOpenApiDocument } from '../../src/routes/openapi.ts'
import type { Connection } from '../../src/store/connect.ts'
import { call, post, testApp, type JsonResponse, type TestApp } from '../support/app.ts'
import { resetData, testDatabase } from '../support/db.ts'

const addFormats = ((addFormatsModule as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020

const PHONE = '+12015550123'
// With the admin API on, so that every route there is gets served.
const ADMIN_TOKEN = 'admin-token-for-the-openapi-tests-0123456789'
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }

let conn: Connection
let t: TestApp
let doc: any
beforeAll(async () => {
  conn = await testDatabase()
})
afterAll(() => conn.close())
beforeEach(async () => {
  await resetData(conn)
  t = await testApp(conn, { env: { ADMIN_TOKEN } })
  doc = (await call(t.app, 'GET', '/openapi.json')).body
})

// JSON Schema 2020-12, OpenAPI 3.1's dialect, with the document's components as $defs.
// (strictRequired off: an anyOf branch may require a property that its parent schema defines.)
const ajv = addFormats(new Ajv2020({ strict: true, strictRequired: false, allErrors: true }))
const compiled = new Map<string, ValidateFunction>()
function jsonSchema(schema: unknown): ValidateFunction {
  const text = JSON.stringify({ ...(schema as object), $defs: doc.components.schemas }).replaceAll('#/components/schemas/', '#/$defs/')
  let validate = compiled.get(text)
  if (!validate) compiled.set(text, (validate = ajv.compile(JSON.parse(text))))
  return validate
}

/** Holds an answer of the app to its documented response: status, media type, body, headers. */
function expectDocumented(method: string, path: string, res: JsonResponse) {
  const op = doc.paths[path]?.[method.toLowerCase()]
  expect(op, `${method} ${path} is documented`).toBeDefined()
  const documented = op.responses[String(res.status)]
  expect(documented, `${method} ${path} documents status ${res.status}`).toBeDefined()
  for (const name of Object.keys(documented.headers ?? {})) {
    expect(res.headers.get(name), `${method} ${path} ${res.status} has header ${name}`).not.toBeNull()
  }
  if (!documented.content) return expect(res.body).toBeUndefined()
  const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!
  expect(Object.keys(documented.content)).toContain(mediaType)
  const validate = jsonSchema(documented.content[mediaType].schema)
  expect(validate(res.body), `${method} ${path} ${res.status}: ${JSON.stringify(validate.errors)}`).toBe(true)
}

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const res = await call(t.app, 'GET', '/openapi.json')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json\b/)
    const validator = new Validator()
    const result = await validator.validate(res.body)
    expect(result.errors).toBeUndefined()
    expect(result.valid).toBe(true)
    expect(validator.version).toBe('3.1')
    expect((await call(t.app, 'GET', '/openapi.json/')).body).toEqual(res.body)
  })

  it('has every $ref resolve, and every schema compile as JSON Schema 2020-12 (strict)', () => {
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!)
    expect(refs.length).toBeGreaterThan(10)
    for (const ref of new Set(refs)) {
      const target = ref
        .replace(/^#\//, '')
        .split('/')
        .reduce((node: any, key) => node?.[key.replaceAll('~1', '/').replaceAll('~0', '~')], doc)
      expect(target, ref).toBeDefined()
    }
    for (const name of Object.keys(doc.components.schemas)) jsonSchema({ $ref: `#/components/schemas/${name}` })
  })

  it('documents every route the app serves, and nothing else', () => {
    const served = t.app.routes
      .filter((r) => r.method !== 'ALL' && r.path !== DOCS_ASSET_ROUTE)
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}').replace(/\/$/, '')}`)
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item as object).map((method) => `${method.toUpperCase()} ${path.replace(/\/$/, '')}`),
    )
    expect(new Set(documented).size).toBe(documented.length)
    expect(new Set(OPERATIONS.map((op) => op.id)).size).toBe(OPERATIONS.length)
    expect([...new Set(served)].sort()).toEqual([...documented].sort())
  })

  it('answers every documented operation in both slash forms', async () => {
    for (const op of OPERATIONS) {
      const path = op.path.replace(/\{\w+\}/g, '1')
      for (const form of new Set([path, path.endsWith('/') ? path.slice(0, -1) : `${path}/`])) {
        const res = await call(t.app, op.method.toUpperCase(), form, op.body ? {} : undefined)
        expect(res.body?.code, `${op.method} ${form}`).not.toBe('not_found')
        expect(res.status, `${op.method} ${form}`).not.toBe(404)
      }
    }
  })

  it('names every problem code of errors.ts in the problem schema, with its status', () => {
    const problem = doc.components.schemas.Problem
    expect(problem.properties.code.enum).toEqual(Object.keys(CODES))
    expect(problem.required).toEqual(['type', 'title', 'status', 'detail', 'code'])
    // Each operation's problem answers name their codes, and each code sits under a status it is answered with.
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        for (const [status, response] of Object.entries<any>(op.responses)) {
          const media = response.content?.['application/problem+json']
          if (!media) continue
          const code = media.schema.allOf[1].properties.code
          const codes: string[] = code.enum ?? [code.const]
          expect(codes.length, `${method} ${path} ${status}`).toBeGreaterThan(0)
          for (const c of codes) {
            const usual = CODES[c as keyof typeof CODES][0]
            const allowed = c === 'invalid_request' ? [400, 413] : c === 'sms_delivery_failed' ? [502, 503] : [usual]
            expect(allowed, `${method} ${path}: ${c} under ${status}`).toContain(Number(status))
            expect(jsonSchema(media.schema)(media.examples[c].value), `${method} ${path} example ${c}`).toBe(true)
          }
        }
      }
    }
  })

  it('describes every request field, marks the Bearer token, and names the headers', () => {
    for (const name of Object.keys(REQUEST_BODIES)) {
      for (const [field, schema] of Object.entries<any>(doc.components.schemas[name].properties)) {
        expect(schema.description, `${name}.${field}`).toEqual(expect.any(String))
      }
    }
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' })
    expect(doc.paths['/api/auth/me/'].get.security).toEqual([{ bearerAuth: [] }])
    expect(doc.paths['/api/auth/otp/request/'].post.security).toEqual([])
    expect(doc.paths['/api/auth/otp/verify/'].post.responses['429'].headers['Retry-After']).toBeDefined()
    expect(doc.paths['/api/auth/me/'].get.responses['401'].headers['WWW-Authenticate']).toBeDefined()
    expect(doc.paths['/healthz'].get.responses['200'].headers['X-Request-Id']).toBeDefined()
    expect(doc.info.description).toMatch(/both with and without its trailing slash/)
  })
})

describe('the documented request bodies', () => {
  // What the API accepts (true) and refuses with 400 invalid_request (false), for each body.
  const samples: Record<keyof typeof REQUEST_BODIES, [body: unknown, accepted: boolean][]> = {
    OtpRequest: [
      [{ phone_number: PHONE }, true],
      [{ phone_number: '(201) 555-0124', captcha_token: 'token' }, true],
      [{ phone_number: '+12015550125', something_else: 1 }, true],
      [{}, false],
      [{ phone_number: 12015550123 }, false],
      [{ phone_number: '' }, false],
      [{ phone_number: '1'.repeat(65) }, false],
      [{ phone_number: PHONE, captcha_token: '' }, false],
      [[PHONE], false],
      ['+12015550123', false],
      [null, false],
    ],
    OtpVerify: [
      [{ phone_number: PHONE, otp: '123456' }, true],
      [{ phone_number: PHONE }, false],
      [{ phone_number: PHONE, otp: 123456 }, false],
      [{ phone_number: PHONE, otp: '' }, false],
      [{ phone_number: PHONE, otp: '1'.repeat(33) }, false],
      [{ otp: '123456' }, false],
    ],
    RefreshRequest: [
      [{ refresh: 'not-a-token' }, true],
      [{}, false],
      [{ refresh: 1 }, false],
      [{ refresh: '' }, false],
      [{ refresh: 'x'.repeat(4097) }, false],
    ],
    LogoutRequest: [
      [{ refresh: 'not-a-token' }, true],
      [{ all: true }, true],
      [{ refresh: 'not-a-token', all: false }, true],
      [{}, false],
      [{ all: false }, false],
      [{ all: 'yes' }, false],
      [{ refresh: null }, false],
    ],
  }

  it.each(Object.keys(samples) as (keyof typeof samples)[])('%s accepts what the API accepts and refuses what it refuses', async (name) => {
    const op = OPERATIONS.find((o) => o.body === name)!
    const validate = jsonSchema({ $ref: `#/components/schemas/${name}` })
    for (const [body, accepted] of samples[name]) {
      const res = await post(t.app, op.path, JSON.stringify(body))
      expect(res.body?.code === 'invalid_request', `${op.path} ${JSON.stringify(body)}: ${res.status} ${res.body?.code}`).toBe(!accepted)
      expect(validate(body), `${name} documents ${JSON.stringify(body)} as ${accepted ? 'valid' : 'invalid'}`).toBe(accepted)
      // The schema the document was made from, as the route applies it (cross-field rules come after it).
      if (!accepted && v.safeParse(REQUEST_BODIES[name], body).success) expect(name).toBe('LogoutRequest')
    }
  })
})

describe('the documented answers', () => {
  it('match what a whole session answers: bodies, statuses, media types and headers', async () => {
    const conforms = <S extends v.GenericSchema>(schema: S, body: unknown) => {
      expect(v.safeParse(schema, body).issues).toBeUndefined()
      expect(Object.keys(body as object).sort()).toEqual(Object.keys((schema as any).entries).sort())
    }
    const REQUEST = '/api/auth/otp/request/'
    const VERIFY = '/api/auth/otp/verify/'
    const ME = '/api/auth/me/'
    const sent = await post(t.app, REQUEST, { phone_number: PHONE })
    expectDocumented('POST', REQUEST, sent)
    conforms(RESPONSE_BODIES.CodeSent, sent.body)
    expectDocumented('POST', REQUEST, await post(t.app, REQUEST, { phone_number: PHONE })) // 429 rate_limited, Retry-After
    expectDocumented('POST', REQUEST, await post(t.app, REQUEST, { phone_number: 'not a number' })) // 400
    expectDocumented('POST', REQUEST, await post(t.app, REQUEST, '{"phone_number":')) // 400 invalid_request
    expectDocumented('POST', REQUEST, await post(t.app, REQUEST, { phone_number: 'x'.repeat(20_000) })) // 413

    expectDocumented('POST', VERIFY, await post(t.app, VERIFY, { phone_number: PHONE, otp: '000000' }))
    const signedIn = await post(t.app, VERIFY, { phone_number: PHONE, otp: t.sms.codeFor(PHONE) })
    expectDocumented('POST', VERIFY, signedIn)
    conforms(RESPONSE_BODIES.SignedIn, signedIn.body)
    const bearer = { authorization: `Bearer ${signedIn.body.access}` }

    const me = await call(t.app, 'GET', ME, undefined, bearer)
    expectDocumented('GET', ME, me)
    conforms(RESPONSE_BODIES.User, me.body)
    expectDocumented('GET', ME, await call(t.app, 'GET', ME)) // 401 with WWW-Authenticate

    const refreshed = await post(t.app, '/api/auth/token/refresh/', { refresh: signedIn.body.refresh })
    expectDocumented('POST', '/api/auth/token/refresh/', refreshed)
    conforms(RESPONSE_BODIES.Tokens, refreshed.body)
    expectDocumented('POST', '/api/auth/token/refresh/', await post(t.app, '/api/auth/token/refresh/', { refresh: 'x' }))

    const jwks = await call(t.app, 'GET', '/.well-known/jwks.json')
    expectDocumented('GET', '/.well-known/jwks.json', jwks)
    conforms(RESPONSE_BODIES.Jwks, jwks.body)
    for (const key of jwks.body.keys) conforms(RESPONSE_BODIES.Jwk, key)

    for (const path of ['/healthz', '/readyz', '/openapi.json']) expectDocumented('GET', path, await call(t.app, 'GET', path))
    expectDocumented('GET', '/metrics', await call(t.app, 'GET', '/metrics'))

    const found = await call(t.app, 'GET', `/admin/users?phone=${encodeURIComponent(PHONE)}`, undefined, admin)
    expectDocumented('GET', '/admin/users', found)
    conforms(RESPONSE_BODIES.AdminUser, found.body)
    expectDocumented('GET', '/admin/users', await call(t.app, 'GET', '/admin/users', undefined, admin)) // 400: no phone
    expectDocumented('GET', '/admin/users', await call(t.app, 'GET', '/admin/users?phone=%2B12015550199', undefined, admin)) // 404
    expectDocumented('GET', '/admin/users', await call(t.app, 'GET', `/admin/users?phone=${PHONE}`)) // 401
    const id = signedIn.body.id
    expectDocumented('GET', '/admin/users/{id}', await call(t.app, 'GET', `/admin/users/${id}`, undefined, admin))
    const sessions = await call(t.app, 'GET', `/admin/users/${id}/sessions`, undefined, admin)
    expectDocumented('GET', '/admin/users/{id}/sessions', sessions)
    conforms(RESPONSE_BODIES.AdminSessions, sessions.body)
    expect(sessions.body.sessions).toHaveLength(1)
    const sid = sessions.body.sessions[0].id
    expectDocumented('DELETE', '/admin/users/{id}/sessions/{sid}', await call(t.app, 'DELETE', `/admin/users/${id}/sessions/${sid}`, undefined, admin))
    expectDocumented('DELETE', '/admin/users/{id}/sessions', await call(t.app, 'DELETE', `/admin/users/${id}/sessions`, undefined, admin))
    expectDocumented('POST', '/admin/users/{id}/disable', await call(t.app, 'POST', `/admin/users/${id}/disable`, undefined, admin))
    expectDocumented('GET', ME, await call(t.app, 'GET', ME, undefined, bearer)) // 403 account_disabled
    expectDocumented('POST', '/admin/users/{id}/enable', await call(t.app, 'POST', `/admin/users/${id}/enable`, undefined, admin))
    expectDocumented('GET', '/admin/users/{id}', await call(t.app, 'GET', `/admin/users/${id + 1000}`, undefined, admin)) // 404

    expectDocumented('POST', '/api/auth/logout/', await post(t.app, '/api/auth/logout/', { all: true }, bearer))
    expectDocumented('POST', '/api/auth/logout/', await post(t.app, '/api/auth/logout/', { all: true })) // 401
    expectDocumented('DELETE', ME, await call(t.app, 'DELETE', ME, undefined, bearer))
    expectDocumented('DELETE', ME, await call(t.app, 'DELETE', ME, undefined, bearer)) // 401: the account is gone
  })
})

describe('GET /docs', () => {
  it('is a page whose scripts all come from this service, under a policy that allows no other', async () => {
    const res = await t.app.request('/docs')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toMatch(/(^|; )script-src 'self'(;|$)/)
    expect(csp).toMatch(/(^|; )default-src 'none'(;|$)/)
    expect(csp).toMatch(/(^|; )connect-src 'self'(;|$)/)
    const html = await res.text()
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
    expect(scripts.length).toBeGreaterThan(0)
    for (const [, attrs, inline] of scripts) {
      expect(inline!.trim()).toBe('') // no inline script
      const src = attrs!.match(/\bsrc="([^"]+)"/)?.[1]
      expect(src).toMatch(/^\/docs\/assets\/[\w.-]+\.js$/)
      const asset = await t.app.request(src!)
      expect(asset.status, src).toBe(200)
      expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/)
      expect((await asset.text()).length).toBeGreaterThan(100)
    }
    expect(html).not.toMatch(/https?:\/\//)
    expect((await t.app.request('/docs/')).status).toBe(200)
  })

  it('serves the renderer compressed, and revalidates it by ETag', async () => {
    const gzip = await t.app.request('/docs/assets/scalar.js', { headers: { 'accept-encoding': 'gzip, br' } })
    expect(gzip.status).toBe(200)
    expect(gzip.headers.get('content-encoding')).toBe('gzip')
    const plain = await t.app.request('/docs/assets/scalar.js')
    expect(plain.headers.get('content-encoding')).toBeNull()
    const refused = await t.app.request('/docs/assets/scalar.js', { headers: { 'accept-encoding': 'gzip;q=0, identity' } })
    expect(refused.headers.get('content-encoding')).toBeNull()
    const weighted = await t.app.request('/docs/assets/scalar.js', { headers: { 'accept-encoding': 'gzip;q=0.5' } })
    expect(weighted.headers.get('content-encoding')).toBe('gzip')
    const text = await plain.text()
    expect(text).toContain('createApiReference')
    const unzipped = await new Response((await gzip.blob()).stream().pipeThrough(new DecompressionStream('gzip'))).text()
    expect(unzipped).toBe(text)
    const etag = plain.headers.get('etag')!
    expect(etag).toMatch(/^"[0-9a-f]+"$/)
    const again = await t.app.request('/docs/assets/scalar.js', { headers: { 'if-none-match': etag } })
    expect(again.status).toBe(304)
  })

  it('answers 404 not_found for any other asset', async () => {
    const other = await call(t.app, 'GET', '/docs/assets/other.js')
    expect(other.status).toBe(404)
    expect(other.body.code).toBe('not_found')
  })
})
