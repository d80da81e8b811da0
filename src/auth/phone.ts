import { parsePhoneNumberFromString, type CountryCode, type NumberType } from 'libphonenumber-js/max'
import { AppError } from '../errors.ts'

export interface PhoneRules {
  /** Bare national numbers are read in this country; without it they are refused. */
  defaultCountry: string | undefined
  /** Empty: every country. */
  allowedCountries: readonly string[]
  deniedCountries: readonly string[]
}

export interface Phone {
  e164: string
  country: string
}

/** Numbers that never reach a person's handset: texting them only costs money (SMS pumping). */
const NEVER_A_PERSON: ReadonlySet<NumberType> = new Set([
  'PREMIUM_RATE',
  'SHARED_COST',
  'TOLL_FREE',
  'UAN',
  'VOICEMAIL',
  'PAGER',
])

// What people type around digits: spaces, dashes, dots and brackets (API.md), nothing else.
const TYPED_NUMBER = /^\+?[\d\s\-.()]{4,32}$/

/** Normalises what a client typed to E.164, or throws the AppError API.md names. */
export function normalizePhone(input: string, rules: PhoneRules): Phone {
  const typed = input.trim()
  if (!TYPED_NUMBER.test(typed)) throw new AppError('invalid_phone_number')
  const international = typed.startsWith('+')
  if (!international && !rules.defaultCountry) {
    throw new AppError('invalid_phone_number', {
      detail: 'The phone number needs a country code, such as +1 or +91.',
    })
  }
  const parsed = parsePhoneNumberFromString(
    typed,
    international ? undefined : { defaultCountry: rules.defaultCountry as CountryCode },
  )
  if (!parsed || !parsed.isValid() || !parsed.country) throw new AppError('invalid_phone_number')
  const country = parsed.country
  if (
    rules.deniedCountries.includes(country) ||
    (rules.allowedCountries.length > 0 && !rules.allowedCountries.includes(country))
  ) {
    throw new AppError('phone_number_not_allowed')
  }
  const type = parsed.getType()
  if (type && NEVER_A_PERSON.has(type)) {
    throw new AppError('phone_number_not_allowed', { detail: 'Sign-in is not available for this kind of number.' })
  }
  return { e164: parsed.number, country }
}
