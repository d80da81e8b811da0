import { delay, http, HttpResponse, passthrough, type HttpHandler } from 'msw'

/**
 * A fake Twilio Messages API, built from Twilio's documented answers: 201 with a message resource,
 * or `{ code, message, more_info, status }` on failure. It records every request it receives.
 *
 *   const twilio = fakeTwilio()                                  // accepts every message
 *   const server = setupServer(twilio.handler)
 *   server.use(fakeTwilio({ fail: { code: 21211 } }).handler)    // one test: invalid number
 *   fakeTwilio([{ fail: { code: 20503 } }, 'accept'])            // one behaviour per request; the last repeats
 *   twilio.lastBodyTo('+12015550123')                            // the SMS text, e.g. to read a code
 */
export type TwilioBehaviour =
  | 'accept'
  /** Never answers: pair with a small timeoutMs. */
  | 'hang'
  /** Takes the message (it counts as sent), then never answers: a timeout after Twilio accepted. */
  | 'accept-then-hang'
  /** The connection fails mid-request (fetch rejects; the request may have been read). */
  | 'network-error'
  /** Lets the request through to the real network: pair with an apiUrl on a closed port (closedPortUrl()). */
  | 'refused'
  /** Twilio's error JSON. `status` defaults to what Twilio sends for that code. */
  | { fail: { code: number; status?: number; message?: string; retryAfter?: string } }
  /** Anything else, e.g. an HTML page from a load balancer. */
  | { raw: { status: number; body: string; contentType?: string } }

export interface RecordedRequest {
  method: string
  url: URL
  headers: Headers
  /** The form fields as sent: To, From or MessagingServiceSid, Body. */
  form: Record<string, string>
  /** The raw body, to check the encoding. */
  text: string
}

export interface TwilioMessage {
  sid: string
  to: string
  /** From, or undefined when a messaging service picked the sender. */
  from: string | undefined
  messagingServiceSid: string | undefined
  body: string
}

export interface TwilioFake {
  handler: HttpHandler
  requests: RecordedRequest[]
  /** Messages Twilio accepted, oldest first. */
  messages: TwilioMessage[]
  /** The text of the last accepted SMS to `to`; throws when none was sent. */
  lastBodyTo(to: string): string
  clear(): void
}

// Twilio's documented status and message per code ({To} and {From} are filled in as Twilio does).
const ERRORS: Record<number, { status: number; message: string }> = {
  20003: { status: 401, message: 'Authenticate' },
  20429: { status: 429, message: 'Too Many Requests' },
  20500: { status: 500, message: 'Internal Server Error' },
  20503: { status: 503, message: 'Service Unavailable' },
  21211: { status: 400, message: "The 'To' number {To} is not a valid phone number." },
  21408: { status: 400, message: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {To}." },
  21610: { status: 400, message: 'Attempt to send to unsubscribed recipient' },
  21612: { status: 400, message: "The 'To' phone number: {To}, is not currently reachable using the 'From' phone number: {From} via SMS." },
  21614: { status: 400, message: "'To' number {To} is not a valid mobile number" },
}

const hex32 = () => crypto.randomUUID().replaceAll('-', '')

function twilioError(code: number, form: Record<string, string>, status?: number, message?: string, retryAfter?: string) {
  const known = ERRORS[code]
  const text = (message ?? known?.message ?? 'Bad Request')
    .replace('{To}', form.To ?? '')
    .replace('{From}', form.From ?? '')
  const httpStatus = status ?? known?.status ?? 400
  return HttpResponse.json(
    { code, message: text, more_info: `https://www.twilio.com/docs/errors/${code}`, status: httpStatus },
    { status: httpStatus, headers: retryAfter ? { 'retry-after': retryAfter } : {} },
  )
}

export function fakeTwilio(
  behaviour: TwilioBehaviour | TwilioBehaviour[] = 'accept',
  { apiUrl = 'https://api.twilio.com' }: { apiUrl?: string } = {},
): TwilioFake {
  const requests: RecordedRequest[] = []
  const messages: TwilioMessage[] = []
  const base = apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`
  const plan = Array.isArray(behaviour) ? behaviour : [behaviour]

  const handler = http.post(new URL('2010-04-01/Accounts/:accountSid/Messages.json', base).href, async ({ request, params }) => {
    const now = plan[Math.min(requests.length, plan.length - 1)]!
    const text = await request.clone().text()
    const form = Object.fromEntries(new URLSearchParams(text))
    requests.push({ method: request.method, url: new URL(request.url), headers: new Headers(request.headers), form, text })

    if (now === 'refused') return passthrough()
    if (now === 'hang') await delay('infinite')
    if (now === 'network-error') return HttpResponse.error()
    if (typeof now === 'object' && 'raw' in now) {
      const { status, body, contentType = 'text/html' } = now.raw
      return new HttpResponse(body, { status, headers: { 'content-type': contentType } })
    }
    if (typeof now === 'object') return twilioError(now.fail.code, form, now.fail.status, now.fail.message, now.fail.retryAfter)

    // Twilio checks the required parameters before anything else.
    if (!form.To) return twilioError(21604, form, 400, "A 'To' phone number is required.")
    if (!form.From && !form.MessagingServiceSid) {
      return twilioError(21603, form, 400, "A 'From' phone number or a 'MessagingServiceSid' is required.")
    }
    if (!form.Body) return twilioError(21602, form, 400, 'Message body is required.')

    const sid = `SM${hex32()}`
    messages.push({ sid, to: form.To, from: form.From, messagingServiceSid: form.MessagingServiceSid, body: form.Body })
    if (now === 'accept-then-hang') await delay('infinite')
    return HttpResponse.json(
      {
        sid,
        account_sid: params.accountSid,
        to: form.To,
        from: form.From ?? null,
        messaging_service_sid: form.MessagingServiceSid ?? null,
        body: form.Body,
        status: form.MessagingServiceSid ? 'accepted' : 'queued',
        direction: 'outbound-api',
        api_version: '2010-04-01',
        num_segments: '1',
        error_code: null,
        error_message: null,
        uri: `/2010-04-01/Accounts/${String(params.accountSid)}/Messages/${sid}.json`,
      },
      { status: 201 },
    )
  })

  return {
    handler,
    requests,
    messages,
    lastBodyTo(to) {
      const found = messages.findLast((m) => m.to === to)
      if (!found) throw new Error(`no SMS was sent to ${to} (sent to: ${messages.map((m) => m.to).join(', ') || 'nobody'})`)
      return found.body
    },
    clear() {
      requests.length = 0
      messages.length = 0
    },
  }
}
