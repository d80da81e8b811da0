import { describe, expect, it } from 'vitest'
import { post, testApp, type TestApp } from '../support/app.ts'
import { useTestDatabase } from '../support/db.ts'

// The web app runs on another origin than the API: every call it makes is a CORS call.
const WEB_APP = 'https://web.nomisafe.example'
const PATHS: Array<[string, string]> = [
  ['/api/auth/otp/request/', 'POST'],
  ['/api/auth/otp/verify/', 'POST'],
  ['/api/auth/token/refresh/', 'POST'],
  ['/api/auth/logout/', 'POST'],
  ['/api/auth/me/', 'GET'],
  ['/api/auth/me/', 'DELETE'],
  ['/.well-known/jwks.json', 'GET'],
  ['/healthz', 'GET'],
  ['/readyz', 'GET'],
]
const BOTH_SLASH_FORMS = PATHS.flatMap(([path, method]): Array<[string, string]> =>
  path.endsWith('/') ? [[path, method], [path.slice(0, -1), method]] : [[path, method], [`${path}/`, method]],
)

const conn = useTestDatabase()

function preflight(t: TestApp, path: string, method: string, origin = WEB_APP) {
  return t.app.request(path, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type' },
  })
}

const list = (value: string | null) => (value ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)

describe('CORS with the default settings (any origin, no credentials)', () => {
  it.each(BOTH_SLASH_FORMS)('answers the preflight of %s (%s) from a foreign origin, without a redirect', async (path, method) => {
    const t = await testApp(conn)
    const res = await preflight(t, path, method)
    expect(res.status).toBe(204)
    expect(res.headers.get('location')).toBeNull()
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    expect(list(res.headers.get('access-control-allow-methods'))).toContain(method.toLowerCase())
    expect(list(res.headers.get('access-control-allow-headers'))).toEqual(expect.arrayContaining(['authorization', 'content-type']))
    expect(res.headers.get('access-control-allow-credentials')).toBeNull()
  })

  it('exposes Retry-After and X-Request-Id on answers, errors included', async () => {
    const t = await testApp(conn)
    const origin = { origin: WEB_APP }
    const first = await post(t.app, '/api/auth/otp/request/', { phone_number: '+12015550123' }, origin)
    expect(first.status).toBe(202)
    const limited = await post(t.app, '/api/auth/otp/request/', { phone_number: '+12015550123' }, origin)
    expect(limited.status).toBe(429)
    for (const res of [first, limited]) {
      expect(res.headers.get('access-control-allow-origin')).toBe('*')
      expect(list(res.headers.get('access-control-expose-headers'))).toEqual(expect.arrayContaining(['retry-after', 'x-request-id']))
      expect(res.headers.get('x-request-id')).toBeTruthy()
      expect(res.headers.get('access-control-allow-credentials')).toBeNull()
    }
    expect(limited.headers.get('retry-after')).toBeTruthy()
    const unauthorized = await t.app.request('/api/auth/me/', { headers: origin })
    expect(unauthorized.status).toBe(401)
    expect(unauthorized.headers.get('access-control-allow-origin')).toBe('*')
  })
})

describe('CORS_ORIGINS', () => {
  const env = { CORS_ORIGINS: `${WEB_APP}, https://admin.nomisafe.example/` }

  it('allows the listed origins by name', async () => {
    const t = await testApp(conn, { env })
    for (const origin of [WEB_APP, 'https://admin.nomisafe.example']) {
      const res = await preflight(t, '/api/auth/token/refresh/', 'POST', origin)
      expect(res.status).toBe(204)
      expect(res.headers.get('access-control-allow-origin')).toBe(origin)
      expect(list(res.headers.get('vary'))).toContain('origin')
      expect(res.headers.get('access-control-allow-credentials')).toBeNull()
    }
    const call = await post(t.app, '/api/auth/otp/request/', { phone_number: '+12015550123' }, { origin: WEB_APP })
    expect(call.headers.get('access-control-allow-origin')).toBe(WEB_APP)
    // The answer depends on the origin: a shared cache must not hand it to another one.
    expect(list(call.headers.get('vary'))).toContain('origin')
  })

  it('gives any other origin no CORS permission', async () => {
    const t = await testApp(conn, { env })
    const res = await preflight(t, '/api/auth/otp/request/', 'POST', 'https://evil.example')
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
    const call = await post(t.app, '/api/auth/otp/request/', { phone_number: '+12015550123' }, { origin: 'https://evil.example' })
    expect(call.headers.get('access-control-allow-origin')).toBeNull()
  })
})
