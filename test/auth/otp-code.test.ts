import { describe, expect, it } from 'vitest'
import { generateCode, hashCode } from '../../src/auth/otp-code.ts'
import { base64url, deriveSecrets, fromBase64url } from '../../src/auth/secrets.ts'

describe('one-time codes', () => {
  it('have the asked length and only digits', () => {
    for (const length of [4, 6, 8, 10]) expect(generateCode(length)).toMatch(new RegExp(`^\\d{${length}}$`))
  })

  it('use every digit about equally often (no modulo bias)', () => {
    const counts = new Array(10).fill(0)
    const draws = 60_000
    for (let i = 0; i < draws / 6; i++) for (const d of generateCode(6)) counts[Number(d)]++
    // With a % 10 bias, 0-5 would each appear ~10.2% and 6-9 ~9.4%; uniform is 10% ± ~0.4%.
    for (const c of counts) expect(Math.abs(c / draws - 0.1)).toBeLessThan(0.006)
  })

  it('are stored as an HMAC bound to the number and the server secret', async () => {
    const a = await deriveSecrets('a'.repeat(32))
    const b = await deriveSecrets('b'.repeat(32))
    const h = await hashCode(a.otpKey, '+12015550123', '123456')
    expect(h).not.toContain('123456')
    expect(h).toMatch(/^[\w-]{43}$/)
    expect(await hashCode(a.otpKey, '+12015550123', '123456')).toBe(h)
    expect(await hashCode(a.otpKey, '+12015550124', '123456')).not.toBe(h)
    expect(await hashCode(b.otpKey, '+12015550123', '123456')).not.toBe(h)
  })

  it('and every hash and token id is written as unpadded base64url, as before (stored hashes keep matching)', () => {
    // Buffer is an independent encoder; the service's own runs on every runtime.
    for (let length = 0; length <= 70; length++) {
      const bytes = crypto.getRandomValues(new Uint8Array(length))
      const text = base64url(bytes)
      expect(text).toBe(Buffer.from(bytes).toString('base64url'))
      expect(base64url(bytes.buffer)).toBe(text)
      expect(fromBase64url(text)).toEqual(bytes)
    }
    expect(base64url(new Uint8Array([0xfb, 0xff, 0xbf]))).toBe('-_-_')
  })
})
