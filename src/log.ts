import { type Clock, systemClock } from './clock.ts'

/**
 * Structured logging: one JSON line per event. Callers pass fields, never whole objects that might
 * carry a secret; phone numbers go through maskPhone first.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type LogFields = Record<string, unknown>

export interface Logger {
  debug(msg: string, fields?: LogFields): void
  info(msg: string, fields?: LogFields): void
  warn(msg: string, fields?: LogFields): void
  error(msg: string, fields?: LogFields): void
}

const RANK: Record<LogLevel | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

/** A logger that writes JSON lines through `write` (the runtime hands in stdout/stderr). */
export function createLogger(
  level: LogLevel | 'silent',
  write: (line: string, level: LogLevel) => void,
  clock: Clock = systemClock,
): Logger {
  const emit = (lvl: LogLevel) => (msg: string, fields: LogFields = {}) => {
    if (RANK[lvl] < RANK[level]) return
    write(JSON.stringify({ time: clock.now().toISOString(), level: lvl, msg, ...fields }), lvl)
  }
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') }
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} }

/** "+12015550123" → "+1201*****23": enough to correlate, not enough to identify. */
export function maskPhone(e164: string): string {
  if (e164.length <= 7) return '*'.repeat(e164.length)
  return e164.slice(0, 5) + '*'.repeat(e164.length - 7) + e164.slice(-2)
}
