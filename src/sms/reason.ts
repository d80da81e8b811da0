import { maskPhone } from '../log.ts'

/**
 * Operator-facing reasons are built from provider answers and fetch errors, which can echo the
 * number ("The 'To' number +1… is not valid"), a key, or a URL with a token in it. Reasons end up
 * in logs, so every one passes through here.
 */
export function redact(text: string, to: string, secrets: readonly string[]): string {
  let out = text
  for (const secret of secrets) if (secret) out = out.replaceAll(secret, '[redacted]')
  for (const n of new Set([to, to.replace(/^\+/, '')])) if (n.length >= 4) out = out.replaceAll(n, maskPhone(to))
  // Cut after redacting, so a cut can never leave half a secret behind.
  return out.slice(0, 300)
}

export function isTimeout(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'TimeoutError'
}

export function unreachable(err: unknown, timeoutMs: number): string {
  if (isTimeout(err)) return `no answer within ${timeoutMs} ms`
  const parts: string[] = []
  for (let e: unknown = err; e instanceof Error && parts.length < 3; e = e.cause) parts.push(e.message)
  return parts.join(': ') || String(err)
}

// Errors that come before a connection exists: nothing of the request can have reached the
// provider. Node (undici) and Bun name them with a code; Deno only in its message.
const NEVER_CONNECTED_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT',
  'ConnectionRefused', 'FailedToOpenSocket',
])
const NEVER_CONNECTED_TEXT = /tcp connect error|dns error|failed to lookup address/i

/**
 * True only when the request surely never left: the connection was refused or the name did not
 * resolve. A reset or a timeout may come after the provider read the request, so they are false.
 */
export function neverConnected(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && NEVER_CONNECTED_CODES.has(code)) return true
    if (NEVER_CONNECTED_TEXT.test(e.message)) return true
  }
  return false
}
