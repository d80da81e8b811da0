import { describe, expect, it } from 'vitest'
import { normalizePhone } from '../../src/auth/phone.ts'
import { AppError } from '../../src/errors.ts'

const open = { defaultCountry: undefined, allowedCountries: [], deniedCountries: [] }

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (e) {
    if (e instanceof AppError) return e.code
    throw e
  }
  return undefined
}

describe('phone numbers', () => {
  it('normalise to E.164 with the country', () => {
    expect(normalizePhone('+44 7400 123456', open)).toEqual({ e164: '+447400123456', country: 'GB' })
    expect(normalizePhone('9876543210', { ...open, defaultCountry: 'IN' })).toEqual({ e164: '+919876543210', country: 'IN' })
  })

  it('refuse letters, too few digits and numbers no country uses', () => {
    for (const bad of ['1-800-FLOWERS', '+1 20', '+999 123 456 789', '', '+']) {
      expect(codeOf(() => normalizePhone(bad, open))).toBe('invalid_phone_number')
    }
  })

  it('refuse numbers that never reach a person (premium rate, toll-free)', () => {
    expect(codeOf(() => normalizePhone('+1 900 555 0123', open))).toBe('phone_number_not_allowed')
    expect(codeOf(() => normalizePhone('+1 800 555 0123', open))).toBe('phone_number_not_allowed')
  })
})
