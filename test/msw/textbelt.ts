import { delay, http, HttpResponse, type HttpHandler } from 'msw'

/**
 * A fake Textbelt `POST /text`, built from Textbelt's documented answers: HTTP 200 with
 * `{ success: true, textId, quotaRemaining }`, and failures that are usually still HTTP 200 with
 * `{ success: false, error, quotaRemaining }`. It records every request it receives.
 *
 *   const textbelt = fakeTextbelt()                                  // accepts while quota lasts
 *   server.use(fakeTextbelt({ fail: { error: 'Out of quota', quotaRemaining: 0 } }).handler)
 *   textbelt.lastBodyTo('+12015550123')                              // the SMS text
 */
export type TextbeltBehaviour =
  | 'accept'
  /** Never answers: pair with a small timeoutMs. */
  | 'hang'
  /** The connection fails (fetch rejects). */
  | 'network-error'
  /** `{ success: false, error, quotaRemaining }`, with HTTP 200 unless `status` says otherwise. */
  | { fail: { error: string; quotaRemaining?: number; status?: number } }
  /** Anything else, e.g. an HTML page from a load balancer. */
  | { raw: { status: number; body: string; contentType?: string } }

export interface RecordedRequest {
  method: string
  url: URL
  headers: Headers
  /** The parsed body (JSON or form): phone, message, key. */
  body: Record<string, unknown>
}

export interface TextbeltFake {
  handler: HttpHandler
  requests: RecordedRequest[]
  /** Messages Textbelt accepted, oldest first. */
  messages: Array<{ textId: string; phone: string; message: string }>
  /** The text of the last accepted SMS to `phone`; throws when none was sent. */
  lastBodyTo(phone: string): string
  clear(): void
}

async function readBody(request: Request): Promise<Record<string, unknown>> {
  // Textbelt takes JSON as well as the form encoding its curl examples use.
  if (request.headers.get('content-type')?.includes('application/json')) {
    const json: unknown = await request.json()
    return typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {}
  }
  return Object.fromEntries(new URLSearchParams(await request.text()))
}

export function fakeTextbelt(
  behaviour: TextbeltBehaviour = 'accept',
  { url = 'https://textbelt.com', quota = 40 }: { url?: string; quota?: number } = {},
): TextbeltFake {
  const requests: RecordedRequest[] = []
  const messages: TextbeltFake['messages'] = []
  let quotaRemaining = quota
  let nextTextId = 1000

  const handler = http.post(new URL('text', url.endsWith('/') ? url : `${url}/`).href, async ({ request }) => {
    const body = await readBody(request)
    requests.push({ method: request.method, url: new URL(request.url), headers: new Headers(request.headers), body })

    if (behaviour === 'hang') await delay('infinite')
    if (behaviour === 'network-error') return HttpResponse.error()
    if (typeof behaviour === 'object' && 'raw' in behaviour) {
      const { status, body: text, contentType = 'text/html' } = behaviour.raw
      return new HttpResponse(text, { status, headers: { 'content-type': contentType } })
    }
    if (typeof behaviour === 'object') {
      const { error, quotaRemaining: left = quotaRemaining, status = 200 } = behaviour.fail
      return HttpResponse.json({ success: false, error, quotaRemaining: left }, { status })
    }

    if (quotaRemaining <= 0) return HttpResponse.json({ success: false, error: 'Out of quota', quotaRemaining: 0 })
    quotaRemaining -= 1
    const textId = String(nextTextId++)
    messages.push({ textId, phone: String(body.phone), message: String(body.message) })
    return HttpResponse.json({ success: true, textId, quotaRemaining })
  })

  return {
    handler,
    requests,
    messages,
    lastBodyTo(phone) {
      const found = messages.findLast((m) => m.phone === phone)
      if (!found) throw new Error(`no SMS was sent to ${phone} (sent to: ${messages.map((m) => m.phone).join(', ') || 'nobody'})`)
      return found.message
    },
    clear() {
      requests.length = 0
      messages.length = 0
      quotaRemaining = quota
    },
  }
}
