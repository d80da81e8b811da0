import { Hono } from 'hono'
import { cors } from 'hono/cors'
import type { Deps } from './deps.ts'
import { AppError, toProblem } from './errors.ts'
import { opsRoutes } from './routes/ops.ts'
import { otpRoutes } from './routes/otp.ts'
import { sessionRoutes } from './routes/session.ts'

const REQUEST_ID = /^[\w.:-]{1,128}$/

/** The whole HTTP API as a function of its dependencies; runtimes only serve `app.fetch`. */
export function createApp(deps: Deps) {
  const { log, clock, config } = deps
  // strict: false serves every path with and without its trailing slash (the original clients use it).
  const app = new Hono<{ Variables: { requestId: string } }>({ strict: false })

  app.use(async (c, next) => {
    const given = c.req.header('x-request-id')
    const requestId = given && REQUEST_ID.test(given) ? given : crypto.randomUUID()
    c.set('requestId', requestId)
    const started = clock.now().getTime()
    await next()
    c.res.headers.set('x-request-id', requestId)
    log.info('request', {
      request_id: requestId,
      method: c.req.method,
      route: c.req.routePath,
      status: c.res.status,
      duration_ms: clock.now().getTime() - started,
    })
  })
  app.use(
    cors({
      origin: config.corsOrigins.length === 0 ? '*' : config.corsOrigins,
      allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
      allowHeaders: ['authorization', 'content-type', 'x-request-id'],
      exposeHeaders: ['retry-after', 'x-request-id', 'www-authenticate'],
      maxAge: 600,
    }),
  )

  app.onError((err, c) => toProblem(err, c, log))
  app.notFound((c) => toProblem(new AppError('not_found'), c, log))

  app.route('/api/auth/otp', otpRoutes(deps))
  app.route('/api/auth', sessionRoutes(deps))
  app.route('/', opsRoutes(deps))
  return app
}

export type App = ReturnType<typeof createApp>
