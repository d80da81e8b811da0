import { delay, http, HttpResponse, type HttpHandler } from 'msw'

/**
 * A fake SMS gateway behind SMS_WEBHOOK_URL: it takes the JSON message `{ to, body, country }`
 * with its Standard Webhooks headers, records every request as it arrived (headers and raw body,
 * so a test can check the signature itself), and answers as told.
 *
 *   const gateway = fakeWebhook()                        // 200 {"id": "gw-1"}
 *   fakeWebhook({ status: 204 })                         // accepted, no id
 *   fakeWebhook([{ status: 503 }, 'accept'])             // one behaviour per request; the last repeats
 */
export type WebhookBehaviour =
  | 'accept'
  /** Never answers: pair with a small timeoutMs. */
  | 'hang'
  /** The connection fails (fetch rejects). */
  | 'network-error'
  /** Any answer: status, optional body (a string or JSON) and headers. */
  | { status: number; body?: unknown; headers?: Record<string, string> }

export interface WebhookRequest {
  method: string
  url: URL
  headers: Headers
  /** The body exactly as sent: the signature covers these bytes. */
  raw: string
  json: { to?: unknown; body?: unknown; country?: unknown }
}

export interface WebhookFake {
  handler: HttpHandler
  requests: WebhookRequest[]
  /** The text of the last message accepted for `to`. */
  lastBodyTo(to: string): string
}

export function fakeWebhook(behaviour: WebhookBehaviour | WebhookBehaviour[] = 'accept', url = 'https://sms-gateway.example.test/send'): WebhookFake {
  const requests: WebhookRequest[] = []
  const accepted: Array<{ to: string; body: string }> = []
  const plan = Array.isArray(behaviour) ? behaviour : [behaviour]
  let nextId = 1

  const handler = http.post(url, async ({ request }) => {
    const now = plan[Math.min(requests.length, plan.length - 1)]!
    const raw = await request.text()
    let json: WebhookRequest['json'] = {}
    try {
      json = JSON.parse(raw) as WebhookRequest['json']
    } catch {}
    requests.push({ method: request.method, url: new URL(request.url), headers: new Headers(request.headers), raw, json })

    if (now === 'hang') {
      await delay('infinite')
      return HttpResponse.error()
    }
    if (now === 'network-error') return HttpResponse.error()
    if (now === 'accept') {
      accepted.push({ to: String(json.to), body: String(json.body) })
      return HttpResponse.json({ id: `gw-${nextId++}`, status: 'queued' })
    }
    if (now.status >= 200 && now.status < 300) accepted.push({ to: String(json.to), body: String(json.body) })
    const body = now.body === undefined || typeof now.body === 'string' ? (now.body as string | undefined) : JSON.stringify(now.body)
    const headers = { ...(typeof now.body === 'object' ? { 'content-type': 'application/json' } : {}), ...now.headers }
    return new HttpResponse(body ?? null, { status: now.status, headers })
  })

  return {
    handler,
    requests,
    lastBodyTo(to) {
      const found = accepted.findLast((m) => m.to === to)
      if (!found) throw new Error(`no SMS was sent to ${to}`)
      return found.body
    },
  }
}
