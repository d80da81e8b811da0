// The --scale data set: a database migrated by the service itself, then 1,000,000 users (each with
// a session), 1,000,000 old codes (each row with its number's send and failure counts, migration
// 0011) and 1,000,000 per-address counter rows, made with INSERT … SELECT generate_series. Built
// once as a template; every round clones it (CREATE DATABASE … TEMPLATE).
//
// Everything is recent enough that the service's pruning (counters older than two days, numbers'
// rows a day past their code and counts) would not touch it: it is the state of a busy day. The
// numbers are +1 302 …, an area code the flows never use, so every flow still signs in a new user.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import postgres from 'postgres'
import { createDatabase, type BenchPg } from './pg.ts'
import { ROOT } from './targets.ts'

export const SCALE_ROWS = 1_000_000

function migrate(url: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'src/runtime/node.ts'), 'migrate'], {
      cwd: ROOT,
      env: { ...env, DATABASE_URL: url, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)))
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve()
      else reject(new Error(`migrate exited with ${code}: ${stderr.trim()}`))
    })
  })
}

export async function buildScaleTemplate(pg: BenchPg, name: string, baseEnv: Record<string, string>, rows: number, log: (line: string) => void): Promise<void> {
  const started = Date.now()
  await createDatabase(pg, name)
  await migrate(pg.urlOf(name), baseEnv)
  const sql = postgres(pg.urlOf(name), { max: 1, onnotice: () => {} })
  try {
    await sql.unsafe(`set timezone = 'UTC'`)
    const phone = `'+1302' || (2000000 + g)::text`
    log(`  users…`)
    await sql.unsafe(`
      insert into users (phone_number, created_at, last_login_at)
      select ${phone}, now() - make_interval(days => 1 + g % 700), now() - make_interval(mins => g % 1400)
        from generate_series(1, ${rows}) g`)
    log(`  sessions…`)
    await sql.unsafe(`
      insert into sessions (id, user_id, refresh_jti_hash, created_at, expires_at)
      select gen_random_uuid(), id, md5(id::text), last_login_at, last_login_at + interval '30 days' from users`)
    log(`  codes…`)
    // Sent 20 minutes to 23 hours ago: all expired, most used, some with wrong guesses; each row
    // with its number's send counts of the last day (migration 0011) and, for some, wrong guesses.
    await sql.unsafe(`
      insert into otp_codes (phone_number, code_hash, created_at, expires_at, attempts, used_at,
                             sends_hour_start, sends_hour, sends_day_start, sends_day, fails_start, fails)
      select ${phone}, md5(g::text), t, t + interval '5 minutes', g % 3, case when g % 10 <> 0 then t + interval '40 seconds' end,
             date_trunc('hour', t), 1 + g % 3, date_trunc('day', t), 1 + g % 5,
             case when g % 3 <> 0 then date_trunc('hour', t) end, g % 3
        from generate_series(1, ${rows}) g, lateral (select now() - make_interval(mins => 20 + g % 1360) as t) x`)
    log(`  counters…`)
    // Per-address request and verify counters of the last day's hours, one address each.
    await sql.unsafe(`
      insert into rate_counters (key, window_start, count)
      select case when g % 2 = 0 then 'request:ip:' else 'verify:ip:' end
               || '10.' || (g / 65536) % 256 || '.' || (g / 256) % 256 || '.' || g % 256 || ':3600',
             date_trunc('hour', now()) - make_interval(hours => 1 + g % 22),
             1 + g % 3
        from generate_series(1, ${rows}) g`)
    log(`  vacuum analyze…`)
    await sql.unsafe('vacuum analyze')
  } finally {
    await sql.end({ timeout: 5 })
  }
  log(`  scale template ready in ${((Date.now() - started) / 1000).toFixed(0)} s`)
}
