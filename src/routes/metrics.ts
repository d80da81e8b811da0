import { Hono } from 'hono'
import type { Deps } from '../deps.ts'
import { requireBearerSecret } from './bearer-secret.ts'

/** GET /metrics in Prometheus text format, behind METRICS_TOKEN when set. */
export function metricsRoutes(deps: Deps) {
  const app = new Hono()
  if (deps.config.metricsToken) app.use('/metrics', requireBearerSecret(deps.config.metricsToken))
  return app.get('/metrics', (c) => c.body(deps.metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }))
}
