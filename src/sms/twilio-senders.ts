/** Who an SMS comes from: `From` (a number, short code or alphanumeric ID) or a messaging service. */
export type TwilioSender = { from: string } | { messagingServiceSid: string }

/**
 * Twilio senders, as TWILIO_FROM_NUMBER, TWILIO_MESSAGING_SERVICE_SID and TWILIO_SENDERS name
 * them. A country may need its own: US carriers want a registered 10DLC number or a messaging
 * service, while many European countries show an alphanumeric sender ID instead of a number.
 */
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/
const E164 = /^\+[1-9]\d{6,14}$/
const SHORT_CODE = /^\d{3,8}$/
// Twilio: up to 11 characters of A-Z, a-z, 0-9 and space, at least one of them a letter.
const ALPHANUMERIC = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/

const SENDER_FORMS = 'an E.164 number (+12015550100), a short code, an alphanumeric sender ID (up to 11 letters, digits or spaces)'

/** A sender that goes into `From`: a number, short code or alphanumeric sender ID. */
export function parseFromSender(value: string): TwilioSender {
  if (MESSAGING_SERVICE_SID.test(value)) throw new Error('is a messaging service SID; set TWILIO_MESSAGING_SERVICE_SID instead')
  if (E164.test(value) || SHORT_CODE.test(value) || ALPHANUMERIC.test(value)) return { from: value }
  throw new Error(`must be ${SENDER_FORMS}`)
}

export function parseMessagingServiceSid(value: string): TwilioSender {
  if (!MESSAGING_SERVICE_SID.test(value)) throw new Error('must be MG followed by 32 hexadecimal characters')
  return { messagingServiceSid: value }
}

/** `GB:NomiSafe,US:+12015550100,DE:MG…` → { GB: { from: 'NomiSafe' }, … }. */
export function parseTwilioSenders(value: string): Record<string, TwilioSender> {
  const senders: Record<string, TwilioSender> = {}
  for (const entry of value.split(',').map((e) => e.trim()).filter(Boolean)) {
    const colon = entry.indexOf(':')
    const country = (colon < 0 ? entry : entry.slice(0, colon)).trim().toUpperCase()
    const sender = colon < 0 ? '' : entry.slice(colon + 1).trim()
    if (!/^[A-Z]{2}$/.test(country) || !sender) {
      throw new Error(`"${entry}" must be COUNTRY:SENDER, with an ISO 3166-1 alpha-2 country such as GB:NomiSafe`)
    }
    if (country in senders) throw new Error(`names ${country} twice`)
    if (MESSAGING_SERVICE_SID.test(sender)) senders[country] = { messagingServiceSid: sender }
    else if (E164.test(sender) || SHORT_CODE.test(sender) || ALPHANUMERIC.test(sender)) senders[country] = { from: sender }
    else throw new Error(`the sender for ${country} must be ${SENDER_FORMS} or a messaging service SID (MG + 32 hex)`)
  }
  return senders
}
