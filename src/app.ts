import { Hono } from 'hono'
import { cors } from 'hono/cors'
import { secureHeaders } from 'hono/secure-headers'
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

  app.use(async (c, next) => {
    const given = c.req.header('x-request-id')
    const requestId = given && REQUEST_ID.test(given) ? given : crypto.randomUUID()
    c.set('requestId', requestId)
    const started = performance.now()
    await next()
    c.res.headers.set('x-request-id', requestId)
    const seconds = (performance.now() - started) / 1000
    // The route pattern, not the path: bounded label values whatever clients send.
    const route = c.req.routePath
    deps.metrics.inc('http_requests_total', { method: c.req.method, route, status: String(c.res.status) })
    deps.metrics.observe('http_request_duration_seconds', { method: c.req.method, route }, seconds)
    log.info('request', {
      request_id: requestId,
      method: c.req.method,
      route,
      status: c.res.status,
      duration_ms: Math.round(seconds * 10000) / 10,
    })
  })
  app.use(
    secureHeaders({
      strictTransportSecurity: config.hstsMaxAgeSeconds > 0 ? `max-age=${config.hstsMaxAgeSeconds}; includeSubDomains` : false,
      // Answers are read cross-origin by the apps (CORS); CORP same-origin would get in the way.
      crossOriginResourcePolicy: false,
      crossOriginOpenerPolicy: false,
      xFrameOptions: 'DENY',
    }),
  )
  // CORS. Preflights (OPTIONS) go to Hono's middleware. Other requests get their headers before
  // the route answers (c.header), because Hono's middleware sets them on c.res before the route
  // runs, which makes @hono/node-server stream every answer instead of writing it in one piece
  // (bench/RESULTS.md: about 100 µs of CPU per sign-in on Node, in socket writes).
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
  app.use(async (c, next) => {
    if (c.req.method === 'OPTIONS') return preflight(c, next)
    const origin = allowedOrigin(c.req.header('origin'))
    if (origin) c.header('access-control-allow-origin', origin)
    c.header('access-control-expose-headers', exposeHeaders.join(','))
    if (config.corsOrigins.length > 0) c.header('vary', 'Origin', { append: true })
    await next()
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
