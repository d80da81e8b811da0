import type { Deps } from '../deps.ts'
import { listAudit } from '../store/audit.ts'

/** `audit [--user ID] [--type TYPE] [--since ISO-TIME] [--limit N]`: the audit trail, newest first. */
export async function auditList(deps: Deps, args: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const opts: { userId?: number; type?: string; since?: Date; limit: number } = { limit: 100 }
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i]!.split('=', 2) as [string, string | undefined]
    const value = inline ?? args[++i]
    if (value === undefined) {
      err(`${flag} needs a value`)
      return 2
    }
    if (flag === '--user' && /^[1-9]\d*$/.test(value)) opts.userId = Number(value)
    else if (flag === '--type' && /^[a-z_]+$/.test(value)) opts.type = value
    else if (flag === '--since' && !Number.isNaN(Date.parse(value))) opts.since = new Date(value)
    else if (flag === '--limit' && /^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 10000) opts.limit = Number(value)
    else {
      err(`cannot read ${flag} ${value}: see "audit --help"`)
      return 2
    }
  }
  const rows = await listAudit(deps.db, opts)
  for (const r of rows) {
    const who = [r.userId ? `user=${r.userId}` : '', r.phoneMasked ? `phone=${r.phoneMasked}` : '', r.ip ? `ip=${r.ip}` : '']
    const detail = Object.keys(r.detail).length ? JSON.stringify(r.detail) : ''
    out([r.at.toISOString(), r.type.padEnd(15), ...who.filter(Boolean), r.requestId ? `request=${r.requestId}` : '', detail].filter(Boolean).join('  '))
  }
  out(`${rows.length} event(s)`)
  return 0
}
