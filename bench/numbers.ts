// Unique, valid phone numbers for the flows: US numbers in several geographic area codes, each
// checked once with libphonenumber-js (the service's own library, with full metadata) before the
// run. Area code 302 is left out: the --scale data set uses it for its pre-loaded users.
import { parsePhoneNumberFromString } from 'libphonenumber-js/max'

const AREA_CODES = ['201', '212', '213', '305', '312', '404', '415', '512', '617', '702', '808', '917']

/** `count` distinct valid E.164 numbers, typed as an app would send them ("+1 201 200 0001"). */
export function validNumbers(count: number): { e164: string[]; typed: string[]; rejected: number } {
  const e164: string[] = []
  const typed: string[] = []
  let rejected = 0
  // Subscriber numbers 200-0000 … 999-9999 per area code, interleaved over the area codes.
  const perArea = 8_000_000
  for (let i = 0; e164.length < count && i < perArea * AREA_CODES.length; i++) {
    const area = AREA_CODES[i % AREA_CODES.length]!
    const subscriber = String(2_000_000 + Math.floor(i / AREA_CODES.length))
    const candidate = `+1${area}${subscriber}`
    const parsed = parsePhoneNumberFromString(candidate)
    if (!parsed || !parsed.isValid() || parsed.number !== candidate) {
      rejected++
      continue
    }
    e164.push(candidate)
    typed.push(`+1 ${area} ${subscriber.slice(0, 3)} ${subscriber.slice(3)}`)
  }
  if (e164.length < count) throw new Error(`only ${e164.length} valid numbers could be made, ${count} wanted`)
  return { e164, typed, rejected }
}
