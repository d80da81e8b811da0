import { base64url, fromBase64url } from './secrets.ts'

const encoder = new TextEncoder()

/**
 * AES-GCM with a fresh 96-bit IV; `context` is bound in as additional data, so a sealed value
 * can't be moved onto another row. Format: `v1.<iv>.<ciphertext>`.
 */
export async function seal(key: CryptoKey, plain: ArrayBuffer | Uint8Array<ArrayBuffer> | string, context: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const data = typeof plain === 'string' ? encoder.encode(plain) : plain
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: encoder.encode(context) }, key, data)
  return `v1.${base64url(iv)}.${base64url(sealed)}`
}

/** Opens what `seal` made with the same key and context; throws on any mismatch. */
export async function unseal(key: CryptoKey, sealed: string, context: string): Promise<ArrayBuffer> {
  const [version, iv, data] = sealed.split('.')
  if (version !== 'v1' || !iv || !data) throw new Error('sealed value has an unknown format')
  return crypto.subtle.decrypt({ name: 'AES-GCM', iv: fromBase64url(iv), additionalData: encoder.encode(context) }, key, fromBase64url(data))
}

export async function unsealText(key: CryptoKey, sealed: string, context: string): Promise<string> {
  return new TextDecoder().decode(await unseal(key, sealed, context))
}
