import { normalizePhone } from '../auth/phone.ts'
import type { Deps } from '../deps.ts'
import { AppError } from '../errors.ts'
import { securityEvent } from '../auth/security-events.ts'
import { setUserDisabled } from '../store/users.ts'

/** `users disable PHONE` / `users enable PHONE`. Disabling ends every session of the user. */
export async function usersSetDisabled(deps: Deps, phoneInput: string | undefined, disabled: boolean, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  if (!phoneInput) {
    err(`usage: users ${disabled ? 'disable' : 'enable'} PHONE`)
    return 2
  }
  let phone: string
  try {
    // Operators may look up any number, so only its format is checked, not the sign-in rules.
    phone = normalizePhone(phoneInput, { ...deps.config.phone, allowedCountries: [], deniedCountries: [] }).e164
  } catch (e) {
    if (e instanceof AppError) {
      err(`"${phoneInput}" is not a valid phone number${deps.config.phone.defaultCountry ? '' : ' (national numbers need DEFAULT_COUNTRY)'}`)
      return 1
    }
    throw e
  }
  const user = await setUserDisabled(deps.db, { phone }, disabled, deps.clock.now())
  if (!user) {
    err(`no user has the number ${phone}`)
    return 1
  }
  await securityEvent(deps, disabled ? 'user_disabled' : 'user_enabled', {}, { userId: user.id, phone, detail: { by: 'cli' } })
  out(`user ${user.id} (${phone}) ${disabled ? 'disabled; every session ended' : 'enabled'}`)
  return 0
}
