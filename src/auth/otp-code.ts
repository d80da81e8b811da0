import { base64url } from './secrets.ts'

/**
 * Digits drawn uniformly: bytes of 250 and above are redrawn, since 256 is not a multiple of 10
 * and `byte % 10` would make 0–5 likelier than 6–9.
 */
export function generateCode(length: number): string {
  let code = ''
  while (code.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (byte < 250 && code.length < length) code += String(byte % 10)
    }
  }
  return code
}

const encoder = new TextEncoder()

/** The only form a code is stored or compared in. Bound to the number, so equal codes differ. */
export async function hashCode(key: CryptoKey, phone: string, code: string): Promise<string> {
  return base64url(await crypto.subtle.sign('HMAC', key, encoder.encode(`${phone}:${code}`)))
}
