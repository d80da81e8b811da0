/**
 * Keys derived from the one server secret with HKDF, each for a single purpose, so a leak or
 * misuse of one never weakens another.
 */
export interface Secrets {
  /** HMAC-SHA256 key for one-time codes. */
  otpKey: CryptoKey
  /** AES-GCM key for signing keys stored in the database. */
  keyEncryptionKey: CryptoKey
  /** AES-GCM key for the newest refresh token a session keeps for its grace window. */
  sessionKey: CryptoKey
}

const encoder = new TextEncoder()

export async function deriveSecrets(serverSecret: string): Promise<Secrets> {
  const master = await crypto.subtle.importKey('raw', encoder.encode(serverSecret), 'HKDF', false, ['deriveKey'])
  const derive = (info: string, algorithm: HmacImportParams | AesKeyAlgorithm, usages: KeyUsage[]) =>
    crypto.subtle.deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: encoder.encode('nomisafe-auth'), info: encoder.encode(info) },
      master,
      algorithm,
      false,
      usages,
    )
  const [otpKey, keyEncryptionKey, sessionKey] = await Promise.all([
    derive('otp-code-hmac', { name: 'HMAC', hash: 'SHA-256', length: 256 }, ['sign']),
    derive('signing-key-encryption', { name: 'AES-GCM', length: 256 }, ['encrypt', 'decrypt']),
    derive('session-token-encryption', { name: 'AES-GCM', length: 256 }, ['encrypt', 'decrypt']),
  ])
  return { otpKey, keyEncryptionKey, sessionKey }
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
/** The character for the six bits of `n` that start `shift` bits from the right. */
const char = (n: number, shift: number) => BASE64URL[(n >> shift) & 63]!

/** Unpadded base64url (RFC 4648 §5), three bytes to four characters; on every hash of a sign-in. */
export function base64url(bytes: ArrayBuffer | Uint8Array): string {
  const v = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)
  let s = ''
  let i = 0
  for (; i + 2 < v.length; i += 3) {
    const n = (v[i]! << 16) | (v[i + 1]! << 8) | v[i + 2]!
    s += char(n, 18) + char(n, 12) + char(n, 6) + char(n, 0)
  }
  if (i < v.length) {
    const n = (v[i]! << 16) | ((v[i + 1] ?? 0) << 8)
    s += char(n, 18) + char(n, 12) + (i + 1 < v.length ? char(n, 6) : '')
  }
  return s
}

export function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const s = atob(text.replaceAll('-', '+').replaceAll('_', '/'))
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

/** A random secret for deployments that did not set SERVER_SECRET (kept in the database). */
export function randomSecret(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)))
}

/** SHA-256 of a token id, for looking tokens up without storing them in the clear. */
export async function sha256(text: string): Promise<string> {
  return base64url(await crypto.subtle.digest('SHA-256', encoder.encode(text)))
}
