import { Hono } from 'hono'
import { cors } from 'hono/cors'
import type { Deps } from './deps.ts'
import { AppError, toProblem } from './errors.ts'
import { adminRoutes } from './routes/admin.ts'
import { docsRoutes } from './routes/docs.ts'
import { metricsRoutes } from './routes/metrics.ts'
import { opsRoutes } from './routes/ops.ts'
import { otpRoutes } from './routes/otp.ts'
import { sessionRoutes } from './routes/session.ts'

const REQUEST_ID = /^[\w.:-]{1,128}$/

/** The whole HTTP API as a function of its dependencies; runtimes only serve `app.fetch`. */
export function createApp(deps: Deps) {
  const { log, config } = deps
  // strict: false serves every path with and without its trailing slash (the original clients use it).
  const app = new Hono<{ Variables: { requestId: string } }>({ strict: false })

  // CORS preflights (OPTIONS) go to Hono's middleware; other answers get their CORS headers below.
  const exposeHeaders = ['retry-after', 'x-request-id', 'www-authenticate']
  const preflight = cors({
    origin: config.corsOrigins.length === 0 ? '*' : config.corsOrigins,
    allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
    allowHeaders: ['authorization', 'content-type', 'x-request-id'],
    exposeHeaders,
    maxAge: 600,
  })
  const allowedOrigin = (origin: string | undefined) =>
    config.corsOrigins.length === 0 ? '*' : origin !== undefined && config.corsOrigins.includes(origin) ? origin : undefined
  // What every answer carries, as OWASP's REST Security Cheat Sheet has it for a JSON API: not
  // stored by any cache (tokens), not rendered or framed as a page, no referrer. A route that
  // needs otherwise sets its own (the JWKS's cache lifetime, the docs page's policy).
  const security: [string, string][] = [
    ['cache-control', 'no-store'],
    ['content-security-policy', "default-src 'none'; frame-ancestors 'none'"],
    ['referrer-policy', 'no-referrer'],
    ['x-content-type-options', 'nosniff'],
    ['x-frame-options', 'DENY'],
  ]
  if (config.hstsMaxAgeSeconds > 0) security.push(['strict-transport-security', `max-age=${config.hstsMaxAgeSeconds}; includeSubDomains`])
  const exposed = exposeHeaders.join(',')

  // One middleware for what every request gets (each middleware is another promise chain on every
  // request): its id, the headers above, metrics and the log line. The headers are set with
  // c.header before the route answers, which keeps them in the answer's own header list; c.res
  // touched before the route answers would make @hono/node-server stream every answer instead of
  // writing it in one piece (bench/RESULTS.md).
  app.use(async (c, next) => {
    const given = c.req.header('x-request-id')
    const requestId = given && REQUEST_ID.test(given) ? given : crypto.randomUUID()
    c.set('requestId', requestId)
    c.header('x-request-id', requestId)
    for (const [name, value] of security) c.header(name, value)
    const started = performance.now()
    if (c.req.method === 'OPTIONS') {
      c.res = (await preflight(c, next)) ?? c.res
    } else {
      const origin = allowedOrigin(c.req.header('origin'))
      if (origin) c.header('access-control-allow-origin', origin)
      c.header('access-control-expose-headers', exposed)
      if (config.corsOrigins.length > 0) c.header('vary', 'Origin', { append: true })
      await next()
    }
    const seconds = (performance.now() - started) / 1000
    // The route pattern, not the path: bounded label values whatever clients send.
    const route = c.req.routePath
    const status = c.res.status
    deps.metrics.inc('http_requests_total', { method: c.req.method, route, status: String(status) })
    deps.metrics.observe('http_request_duration_seconds', { method: c.req.method, route }, seconds)
    log.info('request', { request_id: requestId, method: c.req.method, route, status, duration_ms: Math.round(seconds * 10000) / 10 })
  })

  app.onError((err, c) => toProblem(err, c, log))
  app.notFound((c) => toProblem(new AppError('not_found'), c, log))

  app.route('/api/auth/otp', otpRoutes(deps))
  app.route('/api/auth', sessionRoutes(deps))
  app.route('/', opsRoutes(deps))
  app.route('/', docsRoutes()) // GET /openapi.json and GET /docs
  if (!config.metricsPort) app.route('/', metricsRoutes(deps))
  if (config.adminToken) app.route('/admin', adminRoutes(deps, config.adminToken))
  return app
}

/** /metrics alone, for METRICS_PORT: scrapers reach it on a port the internet does not. */
export function createMetricsApp(deps: Deps) {
  const app = new Hono()
  app.onError((err, c) => toProblem(err, c, deps.log))
  app.notFound((c) => toProblem(new AppError('not_found'), c, deps.log))
  app.route('/', metricsRoutes(deps))
  return app
}

export type App = ReturnType<typeof createApp>
