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

/**
 * A logger that writes through `write` (the runtime hands in stdout/stderr): JSON lines for
 * machines, or with format 'pretty' one readable line per event for a developer's terminal.
 */
export function createLogger(
  level: LogLevel | 'silent',
  write: (line: string, level: LogLevel) => void,
  clock: Clock = systemClock,
  format: 'json' | 'pretty' = 'json',
): Logger {
  const emit = (lvl: LogLevel) => (msg: string, fields: LogFields = {}) => {
    if (RANK[lvl] < RANK[level]) return
    const time = clock.now().toISOString()
    write(format === 'pretty' ? pretty(time, lvl, msg, fields) : JSON.stringify({ time, level: lvl, msg, ...fields }), lvl)
  }
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') }
}

/**
 * Lines gathered and written together once per turn of the event loop (`later` schedules that):
 * under load one write, one system call, carries the log lines of many requests. The runtimes
 * call `flush` on exit, so nothing logged is lost.
 */
export function lineBatcher(write: (text: string) => void, later: (flush: () => void) => void) {
  let waiting = ''
  const flush = () => {
    if (waiting === '') return
    const text = waiting
    waiting = ''
    write(text)
  }
  return {
    line(text: string) {
      if (waiting === '') later(flush)
      waiting += `${text}\n`
      if (waiting.length >= 65_536) flush()
    },
    flush,
  }
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} }

/** "+12015550123" → "+1201*****23": enough to correlate, not enough to identify. */
export function maskPhone(e164: string): string {
  if (e164.length <= 7) return '*'.repeat(e164.length)
  return e164.slice(0, 5) + '*'.repeat(e164.length - 7) + e164.slice(-2)
}

function pretty(time: string, level: LogLevel, msg: string, fields: LogFields): string {
  const rest = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ')
  return `${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${msg}${rest ? `  ${rest}` : ''}`
}
