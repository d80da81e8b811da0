import { describe, expect, it } from 'vitest'
import { createApp } from '../../src/app.ts'
import { createMetrics } from '../../src/metrics.ts'
import { call, post, testApp, type TestApp } from '../support/app.ts'
import { useTestDatabase } from '../support/db.ts'

const PHONE = '+12015550123'
const conn = useTestDatabase()

async function signIn(t: TestApp, phone = PHONE, headers: Record<string, string> = {}) {
  await post(t.app, '/api/auth/otp/request/', { phone_number: phone }, headers)
  return post(t.app, '/api/auth/otp/verify/', { phone_number: phone, otp: t.sms.codeFor(phone) }, headers)
}

describe('health', () => {
  it('answers /healthz, and /readyz until the instance starts shutting down', async () => {
    const t = await testApp(conn)
    expect((await call(t.app, 'GET', '/healthz')).status).toBe(200)
    expect((await call(t.app, 'GET', '/readyz')).status).toBe(200)
    let accepting = true
    const stopping = createApp({ ...t.deps, accepting: () => accepting })
    accepting = false
    expect((await call(stopping, 'GET', '/readyz')).status).toBe(503)
    expect((await call(stopping, 'GET', '/healthz')).status).toBe(200)
  })
})

describe('request ids and logs', () => {
  it('returns the caller’s X-Request-Id, or a new one when it is missing or unreasonable', async () => {
    const t = await testApp(conn)
    expect((await call(t.app, 'GET', '/healthz', undefined, { 'x-request-id': 'abc-123' })).headers.get('x-request-id')).toBe('abc-123')
    expect((await call(t.app, 'GET', '/healthz')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const odd = await call(t.app, 'GET', '/healthz', undefined, { 'x-request-id': 'x'.repeat(300) })
    expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('writes one line per request and per notable event, with masked numbers and no secrets', async () => {
    const t = await testApp(conn)
    const res = await signIn(t, PHONE, { 'x-request-id': 'req-42' })
    await post(t.app, '/api/auth/otp/verify/', { phone_number: PHONE, otp: '000000' })
    const requests = t.log.lines.filter((l) => l.msg === 'request')
    expect(requests).toHaveLength(3)
    expect(requests[0]!.fields).toMatchObject({ request_id: 'req-42', method: 'POST', route: '/api/auth/otp/request', status: 202 })
    expect(typeof requests[0]!.fields.duration_ms).toBe('number')
    expect(t.log.lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['code sent', 'signed in', 'verify failed']))
    const all = JSON.stringify(t.log.lines)
    expect(all).not.toContain(PHONE)
    expect(all).not.toContain('2015550123')
    expect(all).not.toContain(res.body.access)
    expect(all).not.toContain(res.body.refresh)
    expect(all).not.toContain(t.config.serverSecret!)
  })
})

describe('GET /metrics', () => {
  it('counts requests, codes sent, verify outcomes and limits hit, in Prometheus text', async () => {
    const t = await testApp(conn)
    await signIn(t)
    await post(t.app, '/api/auth/otp/request/', { phone_number: PHONE })
    const res = await call(t.app, 'GET', '/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = res.body as string
    expect(text).toContain('# TYPE http_requests_total counter')
    expect(text).toContain('http_requests_total{method="POST",route="/api/auth/otp/request",status="202"} 1')
    expect(text).toContain('http_requests_total{method="POST",route="/api/auth/otp/request",status="429"} 1')
    expect(text).toMatch(/http_request_duration_seconds_bucket\{method="POST",route="\/api\/auth\/otp\/verify",le="\+Inf"\} 1/)
    expect(text).toContain('sms_sent_total{country="US",outcome="sent",provider="recording"} 1')
    expect(text).toContain('otp_verify_total{outcome="signed_in"} 1')
    expect(text).toContain('security_events_total{type="code_sent"} 1')
  })

  it('counts one series per set of labels, whatever their order, and escapes label values', () => {
    const m = createMetrics()
    m.inc('sms_sent_total', { provider: 'twilio', country: 'US', outcome: 'sent' })
    m.inc('sms_sent_total', { outcome: 'sent', country: 'US', provider: 'twilio' })
    m.inc('rate_limit_hits_total', { limit: 'a "quoted"\\ \nvalue' })
    const text = m.render()
    expect(text).toContain('sms_sent_total{country="US",outcome="sent",provider="twilio"} 2')
    expect(text).toContain('rate_limit_hits_total{limit="a \\"quoted\\"\\\\ \\nvalue"} 1')
  })

  it('counts the limit that refused a request', async () => {
    const t = await testApp(conn, { env: { LIMIT_SENDS_PER_HOUR: '1', OTP_RESEND_COOLDOWN_SECONDS: '0' } })
    await post(t.app, '/api/auth/otp/request/', { phone_number: PHONE })
    await post(t.app, '/api/auth/otp/request/', { phone_number: '+12015550124' })
    expect((await call(t.app, 'GET', '/metrics')).body).toContain('rate_limit_hits_total{limit="sends_per_hour"} 1')
  })

  it('wants the bearer token when METRICS_TOKEN is set', async () => {
    const t = await testApp(conn, { env: { METRICS_TOKEN: 'metrics-token-0123456789abcdef' } })
    expect((await call(t.app, 'GET', '/metrics')).status).toBe(401)
    expect((await call(t.app, 'GET', '/metrics', undefined, { authorization: 'Bearer wrong-token-0123456789abcdef' })).status).toBe(401)
    expect((await call(t.app, 'GET', '/metrics', undefined, { authorization: 'Bearer metrics-token-0123456789abcdef' })).status).toBe(200)
  })

  it('is not on the API port when METRICS_PORT is set', async () => {
    const t = await testApp(conn, { env: { METRICS_PORT: '9464' } })
    expect((await call(t.app, 'GET', '/metrics')).status).toBe(404)
  })
})

describe('the audit trail', () => {
  it('keeps one row per security event, with user, masked number, address and request id', async () => {
    const t = await testApp(conn, { env: { REFRESH_REUSE_GRACE: '0' } })
    const ip = { 'x-test-client-ip': '198.51.100.23', 'x-request-id': 'audit-req-1' }
    await post(t.app, '/api/auth/otp/request/', { phone_number: PHONE }, ip)
    await post(t.app, '/api/auth/otp/verify/', { phone_number: PHONE, otp: '000000' === t.sms.codeFor(PHONE) ? '111111' : '000000' }, ip)
    const s = (await post(t.app, '/api/auth/otp/verify/', { phone_number: PHONE, otp: t.sms.codeFor(PHONE) }, ip)).body
    const next = (await post(t.app, '/api/auth/token/refresh/', { refresh: s.refresh })).body
    await post(t.app, '/api/auth/token/refresh/', { refresh: s.refresh }) // reuse
    await post(t.app, '/api/auth/otp/request/', { phone_number: PHONE }) // cooldown: not a limit
    expect(next.refresh).toBeDefined()
    const rows = await conn.db.selectFrom('audit_events').selectAll().orderBy('id').execute()
    expect(rows.map((r) => r.type)).toEqual(['code_sent', 'verify_failed', 'signed_in', 'refresh_reuse'])
    expect(rows[0]).toMatchObject({ phone_masked: '+1201*****23', ip: '198.51.100.23', request_id: 'audit-req-1', user_id: null })
    expect(Number(rows[2]!.user_id)).toBe(s.id)
    expect(rows[2]!.phone_masked).toBe('+1201*****23')
    expect(JSON.stringify(rows)).not.toContain(PHONE)
  })
})

describe('the admin API', () => {
  const ADMIN = 'admin-token-0123456789abcdef0123456789'
  const as = (token = ADMIN) => ({ authorization: `Bearer ${token}` })

  it('does not exist without ADMIN_TOKEN', async () => {
    const t = await testApp(conn)
    expect((await call(t.app, 'GET', '/admin/users?phone=%2B12015550123', undefined, as())).status).toBe(404)
  })

  it('refuses any other token with 401', async () => {
    const t = await testApp(conn, { env: { ADMIN_TOKEN: ADMIN } })
    expect((await call(t.app, 'GET', '/admin/users/1')).status).toBe(401)
    expect((await call(t.app, 'GET', '/admin/users/1', undefined, as(`${ADMIN}x`))).status).toBe(401)
    const signedIn = (await signIn(t)).body
    expect((await call(t.app, 'GET', '/admin/users/1', undefined, { authorization: `Bearer ${signedIn.access}` })).status).toBe(401)
  })

  it('looks users up, disables and enables them, lists and ends their sessions', async () => {
    const t = await testApp(conn, { env: { ADMIN_TOKEN: ADMIN, OTP_RESEND_COOLDOWN_SECONDS: '0' } })
    const a = (await signIn(t)).body
    const b = (await signIn(t)).body
    const byPhone = await call(t.app, 'GET', '/admin/users?phone=%2B1%20201%20555%200123', undefined, as())
    expect(byPhone.body).toEqual({ id: a.id, phone_number: PHONE, created_at: expect.any(String), last_login_at: expect.any(String), disabled_at: null })
    expect((await call(t.app, 'GET', `/admin/users/${a.id}`, undefined, as())).body.id).toBe(a.id)
    expect((await call(t.app, 'GET', '/admin/users/999', undefined, as())).status).toBe(404)
    expect((await call(t.app, 'GET', '/admin/users/abc', undefined, as())).status).toBe(404)

    const sessions = (await call(t.app, 'GET', `/admin/users/${a.id}/sessions`, undefined, as())).body.sessions
    expect(sessions).toHaveLength(2)
    const one = await call(t.app, 'DELETE', `/admin/users/${a.id}/sessions/${sessions[0].id}`, undefined, as())
    expect(one.body).toEqual({ ended: 1 })
    expect((await call(t.app, 'GET', `/admin/users/${a.id}/sessions`, undefined, as())).body.sessions).toHaveLength(1)

    const disabled = await call(t.app, 'POST', `/admin/users/${a.id}/disable`, undefined, as())
    expect(disabled.body.disabled_at).toEqual(expect.any(String))
    expect((await post(t.app, '/api/auth/token/refresh/', { refresh: b.refresh })).status).toBe(403)
    expect((await signIn(t)).status).toBe(403)
    expect((await call(t.app, 'POST', `/admin/users/${a.id}/enable`, undefined, as())).body.disabled_at).toBeNull()
    expect((await signIn(t)).status).toBe(200)
    expect((await call(t.app, 'DELETE', `/admin/users/${a.id}/sessions`, undefined, as())).body).toEqual({ ended: 1 })
    const types = (await conn.db.selectFrom('audit_events').select('type').execute()).map((r) => r.type)
    expect(types).toEqual(expect.arrayContaining(['user_disabled', 'user_enabled', 'sessions_ended']))
  })
})

describe('headers', () => {
  it('sets secure headers, and HSTS only when asked', async () => {
    const plain = await testApp(conn)
    const res = await call(plain.app, 'GET', '/healthz')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.headers.get('strict-transport-security')).toBeNull()
    // Tokens and errors alike are never kept by a cache, nor rendered or framed as a page.
    const signedIn = await signIn(plain)
    const refused = await post(plain.app, '/api/auth/otp/verify/', { phone_number: PHONE, otp: '000000' })
    for (const answer of [res, signedIn, refused]) {
      expect(answer.headers.get('cache-control')).toBe('no-store')
      expect(answer.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'")
      expect(answer.headers.get('referrer-policy')).toBe('no-referrer')
    }
    expect(signedIn.status).toBe(200)
    expect(refused.status).toBe(400)
    // Where a route sets its own, it stands: the key set may be cached, the docs page has its policy.
    expect((await call(plain.app, 'GET', '/.well-known/jwks.json')).headers.get('cache-control')).toBe('public, max-age=300')
    const docs = await call(plain.app, 'GET', '/docs')
    expect(docs.headers.get('cache-control')).toBe('no-cache')
    expect(docs.headers.get('content-security-policy')).toContain("script-src 'self'")
    const hsts = await testApp(conn, { env: { HSTS_MAX_AGE_SECONDS: '31536000' } })
    expect((await call(hsts.app, 'GET', '/healthz')).headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains')
  })
})
