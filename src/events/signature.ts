/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
 * "<webhook-id>.<webhook-timestamp>.<body>" with the secret's bytes (base64 after "whsec_"),
 * sent as "v1,<base64 signature>". WebCrypto only, so every runtime signs the same way.
 */
export async function webhookSigningKey(secret: string): Promise<CryptoKey> {
  const b64 = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret
  const raw = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0))
  return crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
}

export async function signWebhook(key: CryptoKey, id: string, timestampSeconds: number, body: string): Promise<string> {
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${id}.${timestampSeconds}.${body}`)))
  let binary = ''
  for (const byte of mac) binary += String.fromCharCode(byte)
  return `v1,${btoa(binary)}`
}
