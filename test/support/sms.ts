import { SmsError, type SmsFailure, type SmsProvider } from '../../src/sms/provider.ts'

export interface SentSms {
  to: string
  body: string
}

export interface RecordingSms extends SmsProvider {
  sent: SentSms[]
  last(): SentSms
  /** The code in the newest SMS to `to`, read the way a user would read it. */
  codeFor(to: string): string
  /** The next sends fail with this kind until `failWith(undefined)`. */
  failWith(kind: SmsFailure | undefined): void
}

export function recordingSms(): RecordingSms {
  const sent: SentSms[] = []
  let failure: SmsFailure | undefined
  return {
    name: 'recording',
    sent,
    async send(to, body) {
      if (failure) throw new SmsError(failure, `test failure ${failure}`)
      sent.push({ to, body })
      return { id: `rec-${sent.length}` }
    },
    last() {
      const m = sent.at(-1)
      if (!m) throw new Error('no SMS was sent')
      return m
    },
    codeFor(to) {
      const m = sent.findLast((s) => s.to === to)
      const code = m?.body.match(/\b\d{4,10}\b/)?.[0]
      if (!code) throw new Error(`no code was sent to ${to}`)
      return code
    },
    failWith(kind) {
      failure = kind
    },
  }
}
