// The service's outbound calls on Node (SMS providers, captcha checks, event webhooks), as a
// `fetch` the core is handed. Node's own `fetch` implements the whole WHATWG machinery in
// JavaScript (request and response streams, signal links, finalization registries): ~250 µs of
// CPU a call, where undici's `request`, the client beneath it, costs ~70 (bench/RESULTS.md).
// This takes the calls the service makes (a plain header object, a string or form body, no
// redirect to follow) straight to `request` and answers with a real `Response`; any other call
// goes to Node's `fetch` unchanged.
import { request } from 'undici'

const FORM_TYPE = 'application/x-www-form-urlencoded;charset=UTF-8'
const TEXT_TYPE = 'text/plain;charset=UTF-8'
/** Statuses whose Response carries no body (the constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304])

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD'

/** True for `{ name: value }` headers: the shape the service passes (Headers and arrays are not). */
function isPlainRecord(h: unknown): h is Record<string, string> {
  return typeof h === 'object' && h !== null && Object.getPrototypeOf(h) === Object.prototype
}

export const nodeFetch: typeof fetch = async (input, init) => {
  const body = init?.body
  const plainBody = body == null || typeof body === 'string' || body instanceof URLSearchParams
  const plainHeaders = init?.headers === undefined || isPlainRecord(init.headers)
  // Only what this file reproduces exactly; the rest (a Request, streams, following redirects) is Node's fetch.
  if (!(typeof input === 'string' || input instanceof URL) || !plainBody || !plainHeaders || init?.redirect !== 'manual') {
    return fetch(input, init)
  }
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(init.headers ?? {})) headers[name.toLowerCase()] = String(value)
  // The defaults Node's fetch sends; it also asks for compressed answers, which this never needs.
  headers.accept ??= '*/*'
  headers['user-agent'] ??= 'node'
  let payload: string | undefined
  if (typeof body === 'string') {
    payload = body
    headers['content-type'] ??= TEXT_TYPE
  } else if (body instanceof URLSearchParams) {
    payload = body.toString()
    headers['content-type'] ??= FORM_TYPE
  }
  const method = (init.method ?? 'GET').toUpperCase() as Method
  const signal = init.signal ?? undefined
  let res: Awaited<ReturnType<typeof request>>
  let text: string
  try {
    res = await request(input, { method, headers, body: payload, signal })
    text = await res.body.text()
  } catch (err) {
    // As Node's fetch reports them: the signal's reason when it was aborted, else "fetch failed".
    if (signal?.aborted) throw signal.reason
    throw new TypeError('fetch failed', { cause: err })
  }
  const answerHeaders = new Headers()
  for (const [name, value] of Object.entries(res.headers)) {
    if (Array.isArray(value)) for (const v of value) answerHeaders.append(name, v)
    else if (value !== undefined) answerHeaders.append(name, value)
  }
  return new Response(NULL_BODY.has(res.statusCode) || method === 'HEAD' ? null : text, { status: res.statusCode, headers: answerHeaders })
}
