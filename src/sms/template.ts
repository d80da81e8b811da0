/**
 * The SMS text. SMS_TEMPLATE is parsed once at start-up: everything but the code is known then
 * (app name, lifetime, the WebOTP and app-hash lines), so a request only puts the code in.
 */
export const DEFAULT_SMS_TEMPLATE = '{code} is your {app} code. It expires in {expiry}. Never share it.'

/** The longest SMS we send: beyond it, providers split and bill several segments. */
export const MAX_SMS_LENGTH = 300

const PLACEHOLDERS = ['code', 'app', 'minutes', 'expiry'] as const

export interface SmsTemplateSettings {
  /** SMS_TEMPLATE; `\n` stands for a line break, as env files cannot hold one. */
  template: string
  appName: string
  ttlSeconds: number
  /** OTP_LENGTH, to check the length of the longest text. */
  codeLength: number
  /** SMS_WEBOTP_DOMAIN: adds the last line `@domain #code` that browsers read (WebOTP). */
  webOtpDomain?: string | undefined
  /** SMS_ANDROID_APP_HASH: the 11-character hash Android's SMS Retriever API looks for. */
  androidAppHash?: string | undefined
}

export interface SmsTemplate {
  /** The finished text, cut at each place the code goes: the SMS is `pieces.join(code)`. */
  readonly pieces: readonly string[]
}

/** Thrown for a template that cannot be used; the message names what is wrong, not the variable. */
export class TemplateError extends Error {}

export function compileSmsTemplate(s: SmsTemplateSettings): SmsTemplate {
  const template = s.template.replaceAll('\\n', '\n').trim()
  const minutes = Math.max(1, Math.round(s.ttlSeconds / 60))
  const values: Record<Exclude<(typeof PLACEHOLDERS)[number], 'code'>, string> = {
    app: s.appName,
    minutes: String(minutes),
    expiry: `${minutes} minute${minutes === 1 ? '' : 's'}`,
  }
  // Split first, then fill in: an APP_NAME that happens to contain "{code}" stays text.
  const pieces = ['']
  let last = 0
  for (const m of template.matchAll(/\{(\w*)\}/g)) {
    const name = m[1]!
    pieces[pieces.length - 1] += template.slice(last, m.index)
    last = m.index + m[0].length
    if (name === 'code') pieces.push('')
    else if (name in values) pieces[pieces.length - 1] += values[name as keyof typeof values]
    else throw new TemplateError(`unknown placeholder {${name}}; use {code}, {app}, {minutes} or {expiry}`)
  }
  pieces[pieces.length - 1] += template.slice(last)
  if (pieces.length === 1) throw new TemplateError('must contain {code}')

  // SMS Retriever finds the hash anywhere; WebOTP needs its line last, so the hash goes before it.
  if (s.androidAppHash) pieces[pieces.length - 1] += `\n${s.androidAppHash}`
  if (s.webOtpDomain) {
    pieces[pieces.length - 1] += `\n@${s.webOtpDomain} #`
    pieces.push('')
  }
  const length = pieces.join('0'.repeat(s.codeLength)).length
  if (length > MAX_SMS_LENGTH) {
    const extra = s.androidAppHash || s.webOtpDomain ? ' with the app-hash and WebOTP lines' : ''
    throw new TemplateError(`is ${length} characters once filled in${extra}; at most ${MAX_SMS_LENGTH}`)
  }
  return { pieces }
}

/** The SMS that carries `code`. */
export function smsBody(template: SmsTemplate, code: string): string {
  return template.pieces.join(code)
}
