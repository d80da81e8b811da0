import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { Logger } from '../log.ts'

type CaptchaConfig = NonNullable<Config['captcha']>

/**
 * Checks a Turnstile or hCaptcha token with the provider's siteverify API. It fails closed:
 * a missing token, a "no", an error or a timeout all refuse the request with 400 captcha_failed.
 */
export async function verifyCaptcha(
  cfg: CaptchaConfig,
  token: string | undefined,
  clientIp: string | undefined,
  log: Logger,
  http: typeof fetch,
): Promise<void> {
  if (!token) throw new AppError('captcha_failed', { detail: 'A captcha_token is required.' })
  const form = new URLSearchParams({ secret: cfg.secret, response: token })
  if (clientIp) form.set('remoteip', clientIp)
  let success = false
  try {
    const res = await http(cfg.verifyUrl, { method: 'POST', body: form, redirect: 'manual', signal: AbortSignal.timeout(cfg.timeoutMs) })
    const json = (await res.json().catch(() => ({}))) as { success?: unknown; 'error-codes'?: unknown }
    success = res.ok && json.success === true
    if (!success) log.info('captcha refused', { provider: cfg.provider, status: res.status, errors: json['error-codes'] })
  } catch (err) {
    log.warn('captcha provider unreachable: refusing', { provider: cfg.provider, error: err instanceof Error ? err.name : String(err) })
  }
  if (!success) throw new AppError('captcha_failed')
}
