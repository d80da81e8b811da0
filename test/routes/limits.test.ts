import PNF from 'google-libphonenumber'
import { sql, type Transaction } from 'kysely'
import { http, HttpResponse, delay } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SmsError, type SmsProvider } from '../../src/sms/provider.ts'
import { pruneOld } from '../../src/store/prune.ts'
import type { Database } from '../../src/store/schema.ts'
import { post, testApp, type TestApp } from '../support/app.ts'
import { fakeClock } from '../support/clock.ts'
import { resetData, useTestDatabase } from '../support/db.ts'

const REQUEST = '/api/auth/otp/request/'
const VERIFY = '/api/auth/otp/verify/'
// 10:00:00 UTC, so hourly windows end 3600 s later.
const START = '2026-03-02T10:00:00Z'

const conn = useTestDatabase()

/** n distinct valid US numbers. */
const numbers = (n: number) => Array.from({ length: n }, (_, i) => `+1201555${String(100 + i).padStart(4, '0')}`)
const request = (t: TestApp<SmsProvider>, phone: string, ip = '192.0.2.1') => post(t.app, REQUEST, { phone_number: phone }, { 'x-test-client-ip': ip })
const verify = (t: TestApp, phone: string, otp: string, ip = '192.0.2.1') =>
  post(t.app, VERIFY, { phone_number: phone, otp }, { 'x-test-client-ip': ip })
const wrong = (code: string) => (code === '000000' ? '111111' : '000000')

function expect429(res: { status: number; headers: Headers; body: any }, code: string, retryAfter: number) {
  expect(res.status).toBe(429)
  expect(res.body.code).toBe(code)
  expect(res.headers.get('retry-after')).toBe(String(retryAfter))
}

/** An SMS provider that fails until `recover()` (from the start unless told otherwise), and again after `fail()`. */
function flakySms(failing = true) {
  let down = failing
  const sms: SmsProvider = {
    name: 'flaky',
    async send() {
      if (down) throw new SmsError('unavailable', 'down')
      return { id: 'x' }
    },
  }
  return { sms, recover: () => (down = false), fail: () => (down = true) }
}

const open = { OTP_RESEND_COOLDOWN_SECONDS: '0', LIMIT_REQUESTS_PER_IP_HOUR: '0', LIMIT_VERIFIES_PER_IP_HOUR: '0' }

describe('per-number caps', () => {
  it('caps codes sent to one number per hour, with Retry-After to the end of the window', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { ...open, LIMIT_SENDS_PER_NUMBER_HOUR: '3' } })
    const [phone] = numbers(1) as [string]
    for (let i = 0; i < 3; i++) expect((await request(t, phone)).status).toBe(202)
    t.clock.advance(600_000)
    expect429(await request(t, phone), 'rate_limited', 3000)
    expect(t.sms.sent).toHaveLength(3)
    t.clock.advance(3000_000)
    expect((await request(t, phone)).status).toBe(202)
  })

  it('leaves the code already sent working when a request is refused at a cap, and writes nothing for it', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { ...open, LIMIT_SENDS_PER_NUMBER_HOUR: '2' } })
    const [phone] = numbers(1) as [string]
    expect((await request(t, phone)).status).toBe(202)
    expect((await request(t, phone)).status).toBe(202)
    const sent = t.sms.codeFor(phone)
    expect429(await request(t, phone), 'rate_limited', 3600)
    expect(t.sms.sent).toHaveLength(2)
    const audit = await conn.db.selectFrom('audit_events').select('type').orderBy('id').execute()
    expect(audit.map((r) => r.type)).toEqual(['code_sent', 'code_sent', 'limit_hit'])
    expect((await verify(t, phone, sent)).status).toBe(200)
  })

  it('caps codes sent to one number per day', async () => {
    const t = await testApp(conn, {
      clock: fakeClock('2026-03-02T22:00:00Z'),
      env: { ...open, LIMIT_SENDS_PER_NUMBER_HOUR: '0', LIMIT_SENDS_PER_NUMBER_DAY: '2' },
    })
    const [phone] = numbers(1) as [string]
    expect((await request(t, phone)).status).toBe(202)
    expect((await request(t, phone)).status).toBe(202)
    expect429(await request(t, phone), 'rate_limited', 7200)
    t.clock.advance(7200_000)
    expect((await request(t, phone)).status).toBe(202)
  })

  it('stops a brute force across many fresh codes with the per-number failure cap', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { ...open, LIMIT_SENDS_PER_NUMBER_HOUR: '0', LIMIT_FAILED_VERIFIES_PER_NUMBER_HOUR: '8' } })
    const [phone] = numbers(1) as [string]
    const capped: boolean[] = []
    // The attacker asks for a new code whenever one dies (5 guesses), and keeps guessing.
    for (let code = 0; code < 4; code++) {
      await request(t, phone)
      for (let g = 0; g < 5; g++) {
        const res = await verify(t, phone, wrong(t.sms.codeFor(phone)))
        expect([400, 429]).toContain(res.status)
        capped.push(res.status === 429 && res.headers.get('retry-after') === '3600')
      }
    }
    // 8 guesses were judged; every later one hit the per-number cap, whatever the code.
    expect(capped.indexOf(true)).toBe(8)
    expect(capped.slice(8).every(Boolean)).toBe(true)
    // Even the right code is refused until the hour is over.
    const blocked = await verify(t, phone, t.sms.codeFor(phone))
    expect429(blocked, 'too_many_attempts', 3600)
    t.clock.advance(3600_000)
    await request(t, phone)
    expect((await verify(t, phone, t.sms.codeFor(phone))).status).toBe(200)
  })

  it('refuses the right code once the failure cap is spent, while the code still has guesses left', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { ...open, LIMIT_FAILED_VERIFIES_PER_NUMBER_HOUR: '2' } })
    const [phone] = numbers(1) as [string]
    await request(t, phone)
    for (let g = 0; g < 2; g++) expect((await verify(t, phone, wrong(t.sms.codeFor(phone)))).status).toBe(400)
    expect429(await verify(t, phone, t.sms.codeFor(phone)), 'too_many_attempts', 3600)
    t.clock.advance(3600_000)
    await request(t, phone)
    expect((await verify(t, phone, t.sms.codeFor(phone))).status).toBe(200)
  })

  it('does not count a correct code against the failure cap', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { ...open, LIMIT_FAILED_VERIFIES_PER_NUMBER_HOUR: '1' } })
    const [phone] = numbers(1) as [string]
    for (let i = 0; i < 3; i++) {
      await request(t, phone)
      expect((await verify(t, phone, t.sms.codeFor(phone))).status).toBe(200)
    }
  })
})

describe('per-client caps', () => {
  it('caps code requests per client address, sent or not, and other addresses go on', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { LIMIT_REQUESTS_PER_IP_HOUR: '3' } })
    const [a, b, c, d] = numbers(4) as [string, string, string, string]
    expect((await request(t, a, '198.51.100.7')).status).toBe(202)
    expect((await request(t, a, '198.51.100.7')).status).toBe(429) // cooldown, still counted
    expect((await request(t, b, '198.51.100.7')).status).toBe(202)
    expect429(await request(t, c, '198.51.100.7'), 'rate_limited', 3600)
    expect((await request(t, d, '198.51.100.8')).status).toBe(202)
  })

  it('caps verifies per client address with too_many_attempts', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { LIMIT_VERIFIES_PER_IP_HOUR: '2', LIMIT_REQUESTS_PER_IP_HOUR: '0' } })
    const [a, b] = numbers(2) as [string, string]
    await request(t, a)
    expect((await verify(t, a, wrong(t.sms.codeFor(a)), '198.51.100.9')).status).toBe(400)
    expect((await verify(t, a, wrong(t.sms.codeFor(a)), '198.51.100.9')).status).toBe(400)
    expect429(await verify(t, a, t.sms.codeFor(a), '198.51.100.9'), 'too_many_attempts', 3600)
    await request(t, b)
    expect((await verify(t, b, t.sms.codeFor(b), '198.51.100.10')).status).toBe(200)
  })

  it('ignores X-Forwarded-For unless TRUST_PROXY_HOPS says how many proxies to believe', async () => {
    const spoofed = await testApp(conn, { clock: fakeClock(START), env: { LIMIT_REQUESTS_PER_IP_HOUR: '1' } })
    const [a, b, c, d] = numbers(4) as [string, string, string, string]
    expect((await post(spoofed.app, REQUEST, { phone_number: a }, { 'x-forwarded-for': '203.0.113.1' })).status).toBe(202)
    expect((await post(spoofed.app, REQUEST, { phone_number: b }, { 'x-forwarded-for': '203.0.113.2' })).status).toBe(429)

    await resetData(conn)
    const proxied = await testApp(conn, { clock: fakeClock(START), env: { LIMIT_REQUESTS_PER_IP_HOUR: '1', TRUST_PROXY_HOPS: '1' } })
    // The load balancer appends the address it saw; what the client wrote before it is not believed.
    const lb = (seen: string) => ({ 'x-forwarded-for': `10.9.9.9, ${seen}` })
    expect((await post(proxied.app, REQUEST, { phone_number: a }, lb('203.0.113.1'))).status).toBe(202)
    expect((await post(proxied.app, REQUEST, { phone_number: b }, lb('203.0.113.2'))).status).toBe(202)
    expect((await post(proxied.app, REQUEST, { phone_number: c }, lb('203.0.113.1'))).status).toBe(429)
    expect((await post(proxied.app, REQUEST, { phone_number: d }, { 'x-forwarded-for': '10.9.9.9, 203.0.113.3' })).status).toBe(202)
  })
})

describe('ceilings against SMS pumping', () => {
  it('caps SMS per hour across all numbers and addresses', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { ...open, LIMIT_SENDS_PER_HOUR: '3' } })
    const phones = numbers(5)
    for (let i = 0; i < 3; i++) expect((await request(t, phones[i]!, `198.51.100.${i}`)).status).toBe(202)
    expect429(await request(t, phones[3]!, '198.51.100.99'), 'rate_limited', 3600)
    expect(t.sms.sent).toHaveLength(3)
  })

  it('caps SMS per destination country per hour', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { ...open, LIMIT_SENDS_PER_COUNTRY_HOUR: '2' } })
    const [a, b, c] = numbers(3) as [string, string, string]
    expect((await request(t, a)).status).toBe(202)
    expect((await request(t, b)).status).toBe(202)
    expect429(await request(t, c), 'rate_limited', 3600)
    expect((await request(t, '+919876543210')).status).toBe(202)
  })

  it('does not count an SMS the provider failed to send', async () => {
    const { sms, recover } = flakySms()
    const t = await testApp(conn, { clock: fakeClock(START), sms, env: { ...open, LIMIT_SENDS_PER_NUMBER_HOUR: '1', LIMIT_SENDS_PER_HOUR: '1' } })
    const [phone] = numbers(1) as [string]
    for (let i = 0; i < 3; i++) expect((await request(t, phone)).status).toBe(503)
    recover()
    expect((await request(t, phone)).status).toBe(202)
  })

  it("keeps the number's earlier sends counted when the provider fails a later code", async () => {
    const { sms, recover, fail } = flakySms(false)
    const t = await testApp(conn, { clock: fakeClock(START), sms, env: { ...open, LIMIT_SENDS_PER_NUMBER_HOUR: '2' } })
    const [phone] = numbers(1) as [string]
    expect((await request(t, phone)).status).toBe(202)
    fail()
    expect((await request(t, phone)).status).toBe(503)
    recover()
    // The failed code is not counted; the first one still is.
    expect((await request(t, phone)).status).toBe(202)
    expect429(await request(t, phone), 'rate_limited', 3600)
  })

  it('lets 0 turn a cap off', async () => {
    const t = await testApp(conn, {
      clock: fakeClock(START),
      env: { ...open, LIMIT_SENDS_PER_NUMBER_HOUR: '0', LIMIT_SENDS_PER_NUMBER_DAY: '0', LIMIT_SENDS_PER_HOUR: '0', LIMIT_SENDS_PER_COUNTRY_HOUR: '0' },
    })
    const [phone] = numbers(1) as [string]
    for (let i = 0; i < 25; i++) expect((await request(t, phone)).status).toBe(202)
    expect(await conn.db.selectFrom('rate_counters').selectAll().execute()).toEqual([])
  })
})

describe('destination rules with the phone library’s own example numbers', () => {
  const util = PNF.PhoneNumberUtil.getInstance()
  const T = PNF.PhoneNumberType
  const example = (region: string, type: PNF.PhoneNumberType) => {
    const n = util.getExampleNumberForType(region, type)
    return n ? util.format(n, PNF.PhoneNumberFormat.E164) : undefined
  }
  const refused: Array<[string, PNF.PhoneNumberType, string]> = [
    ['premium rate', T.PREMIUM_RATE, 'GB'],
    ['toll-free', T.TOLL_FREE, 'US'],
    ['shared cost', T.SHARED_COST, 'FR'],
    ['UAN', T.UAN, 'GB'],
    ['voicemail', T.VOICEMAIL, 'DE'],
    ['pager', T.PAGER, 'GB'],
  ]

  it.each(refused)('refuses a %s number with 400 phone_number_not_allowed', async (_name, type, region) => {
    const t = await testApp(conn)
    const number = example(region, type)
    expect(number, `${region} has an example`).toBeDefined()
    const res = await request(t, number!)
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('phone_number_not_allowed')
    expect(t.sms.sent).toHaveLength(0)
  })

  it.each(['GB', 'IN', 'DE', 'BR', 'NG'])('accepts the %s mobile example', async (region) => {
    const t = await testApp(conn)
    expect((await request(t, example(region, T.MOBILE)!)).status).toBe(202)
  })

  it('applies the country allow-list and deny-list to example numbers', async () => {
    const t = await testApp(conn, { env: { ALLOWED_COUNTRIES: 'GB,IN', DENIED_COUNTRIES: 'DE' } })
    expect((await request(t, example('GB', T.MOBILE)!)).status).toBe(202)
    expect((await request(t, example('DE', T.MOBILE)!, '192.0.2.2')).body.code).toBe('phone_number_not_allowed')
    expect((await request(t, example('BR', T.MOBILE)!, '192.0.2.3')).body.code).toBe('phone_number_not_allowed')
  })
})

describe('the optional human check', () => {
  const verifyUrl = 'https://captcha.test/siteverify'
  const seen: URLSearchParams[] = []
  let answer: 'yes' | 'no' | 'hang' | 'broken' = 'yes'
  const server = setupServer(
    http.post(verifyUrl, async ({ request }) => {
      seen.push(new URLSearchParams(await request.text()))
      if (answer === 'hang') await delay('infinite')
      if (answer === 'broken') return new HttpResponse('<html>502</html>', { status: 502 })
      return HttpResponse.json(answer === 'yes' ? { success: true } : { success: false, 'error-codes': ['invalid-input-response'] })
    }),
  )
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterAll(() => server.close())
  const env = { CAPTCHA_PROVIDER: 'turnstile', CAPTCHA_SECRET: 'captcha-secret', CAPTCHA_VERIFY_URL: verifyUrl, CAPTCHA_TIMEOUT_MS: '200' }

  it('sends a code only for a token the provider confirms, passing secret, token and client address', async () => {
    const t = await testApp(conn, { env })
    seen.length = 0
    answer = 'yes'
    const res = await post(t.app, REQUEST, { phone_number: '+12015550123', captcha_token: 'tok-1' }, { 'x-test-client-ip': '198.51.100.4' })
    expect(res.status).toBe(202)
    expect(Object.fromEntries(seen[0]!)).toEqual({ secret: 'captcha-secret', response: 'tok-1', remoteip: '198.51.100.4' })
  })

  it.each(['no', 'hang', 'broken'] as const)('fails closed with 400 captcha_failed when the provider says %s', async (kind) => {
    const t = await testApp(conn, { env })
    answer = kind
    const res = await post(t.app, REQUEST, { phone_number: '+12015550123', captcha_token: 'tok-2' })
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('captcha_failed')
    expect(JSON.stringify(res.body)).not.toContain('captcha-secret')
    expect(t.sms.sent).toHaveLength(0)
  })

  it('refuses a request without a token', async () => {
    const t = await testApp(conn, { env })
    const res = await post(t.app, REQUEST, { phone_number: '+12015550123' })
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('captcha_failed')
  })
})

describe('caps of 10,000 or more, counted over several rows', () => {
  const windowStart = new Date(START)
  /** Counts as other database connections would have left them: `total` over three shard rows. */
  async function seed(key: string, total: number) {
    const parts = [Math.floor(total / 2), Math.floor(total / 3)]
    const rows = [...parts, total - parts[0]! - parts[1]!].map((count, i) => ({ key, window_start: windowStart, shard: 60 + i, count }))
    await conn.db.insertInto('rate_counter_shards').values(rows).execute()
  }
  const total = async (key: string) =>
    Number(
      (await conn.db.selectFrom('rate_counter_shards').select((eb) => eb.fn.sum<string>('count').as('n')).where('key', '=', key).executeTakeFirst())?.n ?? 0,
    )

  it('stops SMS at the overall cap, summed over every connection\'s row, and counts only what is sent', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { ...open, LIMIT_SENDS_PER_HOUR: '10000' } })
    await seed('send:all:3600', 9998)
    const phones = numbers(4)
    expect((await request(t, phones[0]!)).status).toBe(202)
    expect((await request(t, phones[1]!)).status).toBe(202)
    expect429(await request(t, phones[2]!), 'rate_limited', 3600)
    expect(t.sms.sent).toHaveLength(2)
    expect(await total('send:all:3600')).toBe(10000)
    // Nothing exact was left behind for the refused one: its number's own counters were not touched.
    const refused = await conn.db.selectFrom('rate_counters').select('key').where('key', 'like', `%${phones[2]!}%`).execute()
    expect(refused).toEqual([])
  })

  it('stops SMS at a per-country cap of that size, and other countries go on', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { ...open, LIMIT_SENDS_PER_COUNTRY_HOUR: '20000' } })
    await seed('send:country:US:3600', 20000)
    expect429(await request(t, numbers(1)[0]!), 'rate_limited', 3600)
    expect((await request(t, '+919876543210')).status).toBe(202)
    expect(t.sms.sent).toHaveLength(1)
  })

  it('counts every request from an address, refused or not, and refuses past the cap', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { LIMIT_REQUESTS_PER_IP_HOUR: '10000' } })
    await seed('request:ip:198.51.100.7:3600', 9999)
    const [a, b, c] = numbers(3) as [string, string, string]
    expect((await request(t, a, '198.51.100.7')).status).toBe(202)
    expect429(await request(t, b, '198.51.100.7'), 'rate_limited', 3600)
    expect429(await request(t, b, '198.51.100.7'), 'rate_limited', 3600)
    expect(await total('request:ip:198.51.100.7:3600')).toBe(10002)
    expect((await request(t, c, '198.51.100.8')).status).toBe(202)
  })

  it('caps verifies per address the same way', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { ...open, LIMIT_VERIFIES_PER_IP_HOUR: '10000' } })
    await seed('verify:ip:192.0.2.1:3600', 10000)
    const [a] = numbers(1) as [string]
    await request(t, a)
    expect429(await verify(t, a, t.sms.codeFor(a)), 'too_many_attempts', 3600)
    expect((await verify(t, a, t.sms.codeFor(a), '192.0.2.2')).status).toBe(200)
  })

  it('takes back the count of an SMS the provider failed to send', async () => {
    const { sms, recover } = flakySms()
    const t = await testApp(conn, { clock: fakeClock(START), sms, env: { ...open, LIMIT_SENDS_PER_HOUR: '10000' } })
    await seed('send:all:3600', 9999)
    const [a, b] = numbers(2) as [string, string]
    for (let i = 0; i < 3; i++) expect((await request(t, a)).status).toBe(503)
    expect(await total('send:all:3600')).toBe(9999)
    recover()
    expect((await request(t, a)).status).toBe(202)
    expect429(await request(t, b), 'rate_limited', 3600)
  })

  it('takes back the shares other connections were given and did not use, so the cap passes exactly its limit', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { ...open, LIMIT_SENDS_PER_HOUR: '10000' } })
    // Every unit of the cap is handed out, but one connection used only 4,998 of its 5,000.
    await conn.db
      .insertInto('rate_counter_shards')
      .values([
        { key: 'send:all:3600', window_start: windowStart, shard: 60, count: 4998, granted: 5000 },
        { key: 'send:all:3600', window_start: windowStart, shard: 61, count: 5000, granted: 5000 },
      ])
      .execute()
    const phones = numbers(3)
    expect((await request(t, phones[0]!)).status).toBe(202)
    expect((await request(t, phones[1]!)).status).toBe(202)
    expect429(await request(t, phones[2]!), 'rate_limited', 3600)
    expect(await total('send:all:3600')).toBe(10000)
    const lent = await conn.db.selectFrom('rate_counter_shards').select('granted').where('shard', '=', 60).executeTakeFirstOrThrow()
    expect(lent.granted).toBe(4998)
  })

  it('holds a lowered cap at once, whatever shares were handed out under the old one', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { ...open, LIMIT_SENDS_PER_HOUR: '10000' } })
    // Every connection's row holds an unused share of 1,000 from when the cap was 1,000,000;
    // together they have counted 9,998.
    const rows = Array.from({ length: 64 }, (_, shard) => ({
      key: 'send:all:3600',
      window_start: windowStart,
      shard,
      count: shard === 0 ? 170 : 156, // 170 + 63 × 156 = 9,998
      granted: 1000,
      granted_for: 1_000_000,
    }))
    await conn.db.insertInto('rate_counter_shards').values(rows).execute()
    expect(await total('send:all:3600')).toBe(9998)
    const phones = numbers(3)
    expect((await request(t, phones[0]!)).status).toBe(202)
    expect((await request(t, phones[1]!)).status).toBe(202)
    expect429(await request(t, phones[2]!), 'rate_limited', 3600)
    expect(await total('send:all:3600')).toBe(10000)
  })

  it('passes exactly the limit when many requests race for its last units', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: { ...open, LIMIT_SENDS_PER_HOUR: '10000' } })
    await seed('send:all:3600', 9980)
    const answers = await Promise.all(numbers(40).map((phone) => request(t, phone)))
    expect(answers.filter((r) => r.status === 202)).toHaveLength(20)
    expect(answers.filter((r) => r.status === 429)).toHaveLength(20)
    expect(t.sms.sent).toHaveLength(20)
    expect(await total('send:all:3600')).toBe(10000)
  })

  /**
   * Runs `work` on one connection right after the shard table was analyzed with the statistics of
   * a quiet hour (a page or two, where a sequential scan looks cheaper on paper), and counts the
   * sequential and index scans of the table it made.
   */
  async function scansAfterAnalyze<T>(work: (trx: Transaction<Database>) => Promise<T>) {
    return conn.db.transaction().execute(async (trx) => {
      // This connection's scans of the table not yet reported (they may include earlier work).
      const read = async () => {
        const { rows } = await sql<{ seq: string; idx: string }>`
          select seq_scan as seq, idx_scan as idx from pg_stat_xact_user_tables where relname = 'rate_counter_shards'`.execute(trx)
        return { seq: Number(rows[0]!.seq), idx: Number(rows[0]!.idx) }
      }
      await sql`analyze rate_counter_shards`.execute(trx)
      const before = await read()
      const result = await work(trx)
      const after = await read()
      return { result, scans: { seq: after.seq - before.seq, idx: after.idx - before.idx } }
    })
  }

  it('finds each share by its key, not by reading the whole table, once the table was analyzed small', async () => {
    await seed('send:all:3600', 30)
    const { scans } = await scansAfterAnalyze(async (trx) => {
      for (let i = 0; i < 20; i++) await sql`select nomisafe_hit('send:all:3600', ${windowStart}, 1000000)`.execute(trx)
    })
    expect(await total('send:all:3600')).toBe(50)
    expect(scans.seq).toBe(0)
    expect(scans.idx).toBeGreaterThanOrEqual(20)
  })

  it('finds each share by its key in both sign-in steps too, once the table was analyzed small', async () => {
    for (const key of ['ip:req', 'ip:ver', 'send:all:3600']) await seed(key, 30)
    const ts = (ms: number) => new Date(windowStart.getTime() + ms)
    const { scans, result: outcomes } = await scansAfterAnalyze(async (trx) => {
      const outcomes: string[] = []
      // Past the first call, each hit is within this connection's share: the steps' own updates.
      for (const phone of numbers(20)) {
        const issued = await sql<{ outcome: string }>`select * from nomisafe_request_code(${phone}, 'hash', ${ts(1000)}, ${ts(301_000)}, 60,
          'ip:req', ${windowStart}, 1000000, array['send:all:3600'], array[${windowStart}]::timestamptz[], array[1000000],
          'number:hour', ${windowStart}, 3, 'number:day', ${windowStart}, 10, '+1***', '192.0.2.1', null, '{}')`.execute(trx)
        const signed = await sql<{ outcome: string }>`select * from nomisafe_sign_in(${phone}, 'hash', ${ts(2000)}, 5,
          'ip:ver', ${windowStart}, 1000000, ${'fail:' + phone}, ${windowStart}, 10,
          ${crypto.randomUUID()}, 'jti', ${ts(86_400_000)}, null, null, '+1***', '192.0.2.1', null)`.execute(trx)
        outcomes.push(issued.rows[0]!.outcome, signed.rows[0]!.outcome)
      }
      return outcomes
    })
    expect(outcomes).toEqual(numbers(20).flatMap(() => ['issued', 'signed_in']))
    for (const key of ['ip:req', 'ip:ver', 'send:all:3600']) expect(await total(key)).toBe(50)
    expect(scans.seq).toBe(0)
    expect(scans.idx).toBeGreaterThanOrEqual(60)
  })

  it('prunes their old rows with the other counters', async () => {
    await seed('send:all:3600', 5)
    expect((await pruneOld(conn.db, new Date(windowStart.getTime() + 3 * 86400_000), { auditRetentionDays: 90 })).counters).toBe(3)
    expect(await total('send:all:3600')).toBe(0)
  })
})

describe('pruning', () => {
  it("deletes a number's row once its code and its counts' windows are a day over, a withdrawn code's too", async () => {
    const { sms } = flakySms()
    const t = await testApp(conn, { clock: fakeClock(START), sms, env: { ...open, LIMIT_SENDS_PER_NUMBER_DAY: '5' } })
    const [a] = numbers(1) as [string]
    expect((await request(t, a)).status).toBe(503)
    // No code is left, but the row holds the number's counts while their day lasts.
    t.clock.advance(86400_000)
    expect(await pruneOld(conn.db, t.clock.now(), { auditRetentionDays: 90 })).toMatchObject({ codes: 0 })
    expect(await conn.db.selectFrom('otp_codes').select('phone_number').execute()).toEqual([{ phone_number: a }])
    t.clock.advance(2 * 86400_000)
    expect(await pruneOld(conn.db, t.clock.now(), { auditRetentionDays: 90 })).toMatchObject({ codes: 1 })
    expect(await conn.db.selectFrom('otp_codes').select('phone_number').execute()).toEqual([])
  })

  it('deletes old counters, codes and ended sessions, and keeps what limits still read', async () => {
    const t = await testApp(conn, { clock: fakeClock(START), env: open })
    const [a] = numbers(1) as [string]
    await request(t, a)
    await verify(t, a, t.sms.codeFor(a))
    expect(await pruneOld(conn.db, t.clock.now(), { auditRetentionDays: 90 })).toMatchObject({ counters: 0, codes: 0, sessions: 0 })
    t.clock.advance(3 * 86400_000)
    await request(t, a)
    const pruned = await pruneOld(conn.db, t.clock.now(), { auditRetentionDays: 90 })
    expect(pruned.counters).toBeGreaterThan(0)
    const counters = await conn.db.selectFrom('rate_counters').select('window_start').execute()
    expect(counters.every((c) => c.window_start.getTime() >= t.clock.now().getTime() - 86400_000)).toBe(true)
    expect((await verify(t, a, t.sms.codeFor(a))).status).toBe(200)
  })
})
