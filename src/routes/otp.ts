import { Hono } from 'hono'
import * as v from 'valibot'
import { requestCode, verifyCode } from '../auth/sign-in.ts'
import type { Deps } from '../deps.ts'
import { field, object, readJson } from './body.ts'
import { caller } from './client-ip.ts'

export const OtpRequestBody = object({
  phone_number: field('phone_number', 64),
  captcha_token: v.optional(field('captcha_token', 4096)),
})
export const OtpVerifyBody = object({ phone_number: field('phone_number', 64), otp: field('otp', 32) })

/** Sign-in by SMS code. Both endpoints ignore any Authorization header (API.md). */
export function otpRoutes(deps: Deps) {
  return new Hono()
    .post('/request', async (c) => {
      const body = await readJson(c, OtpRequestBody)
      const sent = await requestCode(deps, { phone: body.phone_number, captchaToken: body.captcha_token }, caller(c, deps))
      return c.json(
        { detail: 'A code has been sent.', expires_in: sent.expiresInSeconds, resend_after: sent.resendAfterSeconds },
        202,
      )
    })
    .post('/verify', async (c) => {
      const body = await readJson(c, OtpVerifyBody)
      const s = await verifyCode(deps, body.phone_number, body.otp, caller(c, deps))
      return c.json({
        id: s.id,
        phone_number: s.phoneNumber,
        access: s.access,
        refresh: s.refresh,
        token_type: 'Bearer',
        expires_in: s.expiresInSeconds,
        created: s.created,
      })
    })
}
