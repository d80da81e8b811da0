import type { Deps } from '../deps.ts'
import { AppError } from '../errors.ts'
import { maskPhone } from '../log.ts'
import { SmsError } from '../sms/provider.ts'
import { smsBody } from '../sms/template.ts'
import { hitCounters, type Exceeded } from '../store/counters.ts'
import { requestCodeInDb, signInInDb, withdrawCodeInDb } from '../store/flows.ts'
import { newEventRef } from '../events/outbox.ts'
import { verifyCaptcha } from './captcha.ts'
import { failedVerifyHits, ipRequestHits, ipVerifyHits, numberSendHits, retryAfterSeconds, sharedSendHits, hitOf, type LimitedHit } from './limits.ts'
import { generateCode, hashCode } from './otp-code.ts'
import { normalizePhone } from './phone.ts'
import { sha256 } from './secrets.ts'
import { noteSecurityEvent, securityEvent, type Actor } from './security-events.ts'
import { signAccessToken, signRefreshToken } from './tokens.ts'

export interface CodeRequested {
  expiresInSeconds: number
  resendAfterSeconds: number
}

export interface Caller extends Actor {
  /** The client's address, as far as the deployment can tell (see TRUST_PROXY_HOPS). */
  ip: string
}

/** Records which cap refused the request and returns its 429, with the window's Retry-After. */
async function limited(
  deps: Deps,
  caller: Caller,
  code: 'rate_limited' | 'too_many_attempts',
  hits: LimitedHit[],
  exceeded: Exceeded,
  phone?: string,
): Promise<AppError> {
  const { name: limit, windowSeconds } = hitOf(hits, exceeded.key)
  deps.metrics.inc('rate_limit_hits_total', { limit })
  await securityEvent(deps, 'limit_hit', caller, { phone, detail: { limit } })
  return new AppError(code, { retryAfterSeconds: retryAfterSeconds(exceeded, windowSeconds, deps.clock.now()) })
}

/** Counts a request against the client address's cap on its own, for steps that end before the database function. */
async function countAddress(deps: Deps, caller: Caller, code: 'rate_limited' | 'too_many_attempts', hits: LimitedHit[]): Promise<void> {
  const exceeded = await hitCounters(deps.db, hits)
  if (exceeded) throw await limited(deps, caller, code, hits, exceeded)
}

const DIGITS = /^\d+$/

/** Sends a new code to the number. The answer is the same whether or not a user has it. */
export async function requestCode(deps: Deps, req: { phone: string; captchaToken?: string }, caller: Caller): Promise<CodeRequested> {
  const { config, clock, db, sms, log, secrets } = deps
  const phone = normalizePhone(req.phone, config.phone)
  const now = clock.now()
  const ipHits = ipRequestHits(config.limits, caller.ip, now)
  if (config.captcha) {
    // The address is counted before the human check, so a flood from one address never reaches the provider.
    await countAddress(deps, caller, 'rate_limited', ipHits)
    await verifyCaptcha(config.captcha, req.captchaToken, caller.ip, log, deps.fetch)
  }

  // A test number (TEST_PHONE_NUMBERS) gets its fixed code and no SMS; limits and checks stay the same.
  const testCode = config.otp.testNumbers.get(phone.e164)
  const code = testCode ?? generateCode(config.otp.length)
  const codeHash = await hashCode(secrets.otpKey, phone.e164, code)
  const numberHits = numberSendHits(config.limits, phone.e164, now)
  const sharedHits = sharedSendHits(config.limits, phone.country, now)
  const actor = { phoneMasked: maskPhone(phone.e164), ip: caller.ip, requestId: caller.requestId }
  const detail = testCode === undefined ? { provider: sms.name } : { test_number: true }
  const claim = await requestCodeInDb(db, {
    phone: phone.e164,
    codeHash,
    now,
    expiresAt: new Date(now.getTime() + config.otp.ttlSeconds * 1000),
    cooldownSeconds: config.otp.resendCooldownSeconds,
    ipHit: config.captcha ? undefined : ipHits[0],
    numberHits,
    sendHits: sharedHits,
    actor,
    auditDetail: detail,
  })
  if (claim.outcome === 'cooldown') {
    log.info('code refused: resend cooldown', { phone: actor.phoneMasked })
    const nextAt = claim.lastSentAt.getTime() + config.otp.resendCooldownSeconds * 1000
    throw new AppError('rate_limited', {
      detail: 'A code was sent to this number moments ago. Wait before asking for another.',
      retryAfterSeconds: (nextAt - now.getTime()) / 1000,
    })
  }
  if (claim.outcome === 'limited') throw await limited(deps, caller, 'rate_limited', [...ipHits, numberHits.hour, numberHits.day, ...sharedHits], claim.exceeded, phone.e164)
  if (testCode === undefined) {
    try {
      const sent = await sms.send(phone.e164, smsBody(config.sms.template, code), { country: phone.country })
      deps.metrics.inc('sms_sent_total', { provider: sms.name, country: phone.country, outcome: 'sent' })
      noteSecurityEvent(deps, 'code_sent', caller, { phone: phone.e164, detail: { provider: sms.name, message_id: sent.id } })
    } catch (err) {
      const outcome = err instanceof SmsError ? err.kind : 'error'
      deps.metrics.inc('sms_sent_total', { provider: sms.name, country: phone.country, outcome })
      await withdrawCodeInDb(db, { phone: phone.e164, codeHash, numberHits, sendHits: sharedHits, now, actor, auditDetail: { provider: sms.name, outcome } })
      noteSecurityEvent(deps, 'sms_failed', caller, { phone: phone.e164, detail: { provider: sms.name, outcome } })
      throw smsFailure(err)
    }
  } else {
    noteSecurityEvent(deps, 'code_sent', caller, { phone: phone.e164, detail })
  }
  return { expiresInSeconds: config.otp.ttlSeconds, resendAfterSeconds: config.otp.resendCooldownSeconds }
}

function smsFailure(err: unknown): AppError {
  if (!(err instanceof SmsError)) return new AppError('sms_delivery_failed', { status: 503 }, { cause: err })
  switch (err.kind) {
    case 'invalid_number':
      return new AppError('invalid_phone_number', { detail: 'The phone number cannot receive text messages.' }, { cause: err })
    case 'opted_out':
      return new AppError('phone_number_opted_out', {}, { cause: err })
    case 'region_blocked':
      return new AppError('phone_number_not_allowed', {}, { cause: err })
    case 'rejected':
      return new AppError('sms_delivery_failed', { status: 502 }, { cause: err })
    case 'unavailable':
      return new AppError('sms_delivery_failed', { status: 503 }, { cause: err })
  }
}

export interface SignedIn {
  id: number
  phoneNumber: string
  access: string
  refresh: string
  expiresInSeconds: number
  created: boolean
}

/** Exchanges a code for a session. Every kind of bad code gets the same answer. */
export async function verifyCode(deps: Deps, phoneInput: string, otp: string, caller: Caller): Promise<SignedIn> {
  const { config, clock, db, secrets, keys } = deps
  const phone = normalizePhone(phoneInput, config.phone)
  const now = clock.now()
  const ipHits = ipVerifyHits(config.limits, caller.ip, now)
  const failureHits = failedVerifyHits(config.limits, phone.e164, now)
  // A code of the wrong shape can't be right: it is refused after counting only the address.
  if (otp.length !== config.otp.length || !DIGITS.test(otp)) {
    await countAddress(deps, caller, 'too_many_attempts', ipHits)
    throw new AppError('invalid_otp')
  }
  const sessionId = crypto.randomUUID()
  const refreshJti = crypto.randomUUID()
  // Both hashes at once: each is a job on the runtime's crypto threads, and under load a wait.
  const [codeHash, refreshJtiHash] = await Promise.all([hashCode(secrets.otpKey, phone.e164, otp), sha256(refreshJti)])
  const result = await signInInDb(db, {
    phone: phone.e164,
    codeHash,
    now,
    maxAttempts: config.otp.maxAttempts,
    ipHit: ipHits[0],
    failHit: failureHits[0]!,
    session: {
      id: sessionId,
      refreshJtiHash,
      expiresAt: new Date(now.getTime() + config.jwt.refreshTtlSeconds * 1000),
    },
    event: config.events ? newEventRef(now) : undefined,
    actor: { phoneMasked: maskPhone(phone.e164), ip: caller.ip, requestId: caller.requestId },
  })
  deps.metrics.inc('otp_verify_total', { outcome: result.outcome })
  switch (result.outcome) {
    case 'wrong':
      noteSecurityEvent(deps, 'verify_failed', caller, { phone: phone.e164 })
      throw new AppError('invalid_otp')
    case 'exhausted': {
      noteSecurityEvent(deps, 'verify_failed', caller, { phone: phone.e164, detail: { reason: 'attempts spent' } })
      const nextCodeAt = result.sentAt.getTime() + config.otp.resendCooldownSeconds * 1000
      throw new AppError('too_many_attempts', { retryAfterSeconds: (nextCodeAt - now.getTime()) / 1000 })
    }
    case 'disabled':
      noteSecurityEvent(deps, 'verify_failed', caller, { userId: result.userId, phone: phone.e164, detail: { reason: 'account disabled' } })
      throw new AppError('account_disabled')
    case 'limited':
      throw await limited(deps, caller, 'too_many_attempts', [...ipHits, ...failureHits], result.exceeded, phone.e164)
  }
  const [access, refresh] = await Promise.all([
    signAccessToken(keys, config.jwt, { userId: result.userId, phone: phone.e164, now }),
    signRefreshToken(keys, config.jwt, { userId: result.userId, sessionId, jti: refreshJti, now }),
  ])
  noteSecurityEvent(deps, 'signed_in', caller, { userId: result.userId, phone: phone.e164, detail: { created: result.created, session_id: sessionId } })
  return {
    id: result.userId,
    phoneNumber: phone.e164,
    access,
    refresh: refresh.token,
    expiresInSeconds: config.jwt.accessTtlSeconds,
    created: result.created,
  }
}
