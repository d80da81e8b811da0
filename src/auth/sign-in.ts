import type { Deps } from '../deps.ts'
import { AppError } from '../errors.ts'
import { maskPhone } from '../log.ts'
import { SmsError } from '../sms/provider.ts'
import { issueCode, withdrawCode } from '../store/otp-codes.ts'
import { signInWithCode } from '../store/sign-in.ts'
import { generateCode, hashCode } from './otp-code.ts'
import { normalizePhone } from './phone.ts'
import { sha256 } from './secrets.ts'
import { signAccessToken, signRefreshToken } from './tokens.ts'

export interface CodeRequested {
  expiresInSeconds: number
  resendAfterSeconds: number
}

/** Sends a new code to the number. The answer is the same whether or not a user has it. */
export async function requestCode(deps: Deps, phoneInput: string): Promise<CodeRequested> {
  const { config, clock, db, sms, log, secrets } = deps
  const phone = normalizePhone(phoneInput, config.phone)
  const code = generateCode(config.otp.length)
  const codeHash = await hashCode(secrets.otpKey, phone.e164, code)
  const now = clock.now()
  const issued = await issueCode(db, {
    phone: phone.e164,
    codeHash,
    now,
    expiresAt: new Date(now.getTime() + config.otp.ttlSeconds * 1000),
    cooldownSeconds: config.otp.resendCooldownSeconds,
  })
  if (!issued.issued) {
    log.info('code refused: resend cooldown', { phone: maskPhone(phone.e164) })
    throw new AppError('rate_limited', {
      detail: 'A code was sent to this number moments ago. Wait before asking for another.',
      retryAfterSeconds: issued.retryAfterSeconds,
    })
  }
  try {
    const sent = await sms.send(phone.e164, smsBody(config.appName, code, config.otp.ttlSeconds))
    log.info('code sent', { phone: maskPhone(phone.e164), provider: sms.name, message_id: sent.id })
  } catch (err) {
    // A code that never reached the phone must neither work nor hold the number's cooldown.
    await withdrawCode(db, phone.e164, codeHash)
    throw smsFailure(err)
  }
  return { expiresInSeconds: config.otp.ttlSeconds, resendAfterSeconds: config.otp.resendCooldownSeconds }
}

export function smsBody(appName: string, code: string, ttlSeconds: number): string {
  const minutes = Math.max(1, Math.round(ttlSeconds / 60))
  return `${code} is your ${appName} code. It expires in ${minutes} minute${minutes === 1 ? '' : 's'}. Never share it.`
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
export async function verifyCode(deps: Deps, phoneInput: string, otp: string): Promise<SignedIn> {
  const { config, clock, db, log, secrets, keys } = deps
  const phone = normalizePhone(phoneInput, config.phone)
  if (!new RegExp(`^\\d{${config.otp.length}}$`).test(otp)) throw new AppError('invalid_otp')
  const now = clock.now()
  const sessionId = crypto.randomUUID()
  const refreshJti = crypto.randomUUID()
  const result = await signInWithCode(db, {
    phone: phone.e164,
    codeHash: await hashCode(secrets.otpKey, phone.e164, otp),
    maxAttempts: config.otp.maxAttempts,
    now,
    session: {
      id: sessionId,
      refreshJtiHash: await sha256(refreshJti),
      expiresAt: new Date(now.getTime() + config.jwt.refreshTtlSeconds * 1000),
    },
  })
  switch (result.outcome) {
    case 'wrong':
      log.info('verify failed', { phone: maskPhone(phone.e164) })
      throw new AppError('invalid_otp')
    case 'exhausted': {
      log.info('verify refused: attempts spent', { phone: maskPhone(phone.e164) })
      const nextCodeAt = result.sentAt.getTime() + config.otp.resendCooldownSeconds * 1000
      throw new AppError('too_many_attempts', { retryAfterSeconds: (nextCodeAt - now.getTime()) / 1000 })
    }
    case 'disabled':
      throw new AppError('account_disabled')
  }
  const [access, refresh] = await Promise.all([
    signAccessToken(keys, config.jwt, { userId: result.userId, phone: phone.e164, now }),
    signRefreshToken(keys, config.jwt, { userId: result.userId, sessionId, jti: refreshJti, now }),
  ])
  log.info('signed in', { user_id: result.userId, created: result.created })
  return {
    id: result.userId,
    phoneNumber: phone.e164,
    access,
    refresh: refresh.token,
    expiresInSeconds: config.jwt.accessTtlSeconds,
    created: result.created,
  }
}
