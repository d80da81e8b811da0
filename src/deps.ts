import type { Context } from 'hono'
import type { Clock } from './clock.ts'
import type { Config } from './config.ts'
import type { KeyStore } from './auth/key-store.ts'
import type { Secrets } from './auth/secrets.ts'
import type { Logger } from './log.ts'
import type { Metrics } from './metrics.ts'
import type { SmsProvider } from './sms/provider.ts'
import type { Db } from './store/connect.ts'

/** `fetch` as the global is when called (test servers such as msw replace it after modules load). */
export const globalFetch: typeof fetch = (input, init) => fetch(input, init)

/** Everything the core uses, handed in: the app itself reaches for nothing global. */
export interface Deps {
  config: Config
  db: Db
  sms: SmsProvider
  log: Logger
  metrics: Metrics
  clock: Clock
  keys: KeyStore
  secrets: Secrets
  /** False while the process shuts down, so load balancers stop sending before it goes. */
  accepting: () => boolean
  /** The socket's remote address, from the runtime adapter (undefined when unknown). */
  clientAddress: (c: Context) => string | undefined
  /** Outbound HTTP (SMS providers, captcha checks, event webhooks): the global `fetch`, or a leaner one the runtime hands in. */
  fetch: typeof fetch
}
