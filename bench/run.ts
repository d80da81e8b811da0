// `npm run bench`: full sign-in flows per second, the service against a floor, in one run.
// See bench/README.md. Progress goes to stderr; stdout gets one JSON line per measurement and the
// markdown table at the end. The same JSON lines go to bench/results/<time>.json.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { summarizeProfile } from './cpu-profile.ts'
import { startDriver } from './driver.ts'
import { startFakeTwilio, type FakeTwilio } from './fake-twilio.ts'
import { validNumbers } from './numbers.ts'
import { parseOptions, USAGE, type Options } from './options.ts'
import { measureTokenChecks, type TokenChecks } from './token-checks.ts'
import { createDatabase, dropDatabase, startBenchPg, statementsOf, transactionsOf, waitForNoBackends, type BenchPg } from './pg.ts'
import { machineBusyCpuMs, memoryMb, processCpuMs, threadCpuMs, treeCpuMs } from './procfs.ts'
import { buildScaleTemplate, SCALE_ROWS } from './seed.ts'
import { findRuntime, ROOT, startEnv, startServer, TARGETS, type Target } from './targets.ts'
import { freePort, median, percentile, sleep, sortedCopy } from './util.ts'

const t0 = Date.now()
const log = (line: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`)
const SCALE_TEMPLATE = 'bench_scale_template'

/** The service's settings: every abuse limit on. Caps a run from one loopback address would reach are set high, never to 0 (off). */
const HIGH = '1000000000'
/** GET /me calls per kind of token, after each round's flows (bench/token-checks.ts). */
const TOKEN_CHECKS = 500
function serviceEnv(o: Options): Record<string, string> {
  return {
    LOG_LEVEL: o.logLevel,
    OTP_RESEND_COOLDOWN_SECONDS: '30',
    OTP_MAX_ATTEMPTS: '5',
    // Per number: the defaults. Each flow's number is fresh, so they are written and checked, never reached.
    LIMIT_SENDS_PER_NUMBER_HOUR: '5',
    LIMIT_SENDS_PER_NUMBER_DAY: '10',
    LIMIT_FAILED_VERIFIES_PER_NUMBER_HOUR: '10',
    // One address (127.0.0.1), one country and the global ceiling see every flow: high, but on.
    LIMIT_REQUESTS_PER_IP_HOUR: HIGH,
    LIMIT_VERIFIES_PER_IP_HOUR: HIGH,
    LIMIT_SENDS_PER_COUNTRY_HOUR: HIGH,
    LIMIT_SENDS_PER_HOUR: HIGH,
  }
}

/** A clean environment: nothing from the caller's shell (a DATABASE_URL, say) reaches a target. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'DENO_DIR']) if (process.env[k]) env[k] = process.env[k]!
  env.DENO_NO_UPDATE_CHECK = '1'
  env.NO_COLOR = '1'
  return env
}

interface Snapshot {
  at: number
  serverCpuMs: number | undefined
  serverThreadsCpuMs: Map<string, number> | undefined
  pgCpuMs: number | undefined
  statements: number | undefined
  driverCpuMs: number
  machineBusyMs: number | undefined
}

interface Latency {
  p50: number
  p95: number
  p99: number
  n: number
}

interface RoundResult {
  kind: 'round'
  target: string
  round: number
  concurrency: number
  windowSeconds: number
  flows: number
  flowsPerSecond: number
  request: Latency
  verify: Latency
  /** Errors over the whole round (warm-up, window and drain), by kind. */
  errors: Record<string, number>
  errorsInWindow: Record<string, number>
  peakRssMb: number | undefined
  serverCpuMsPerFlow: number | undefined
  /** The server's CPU per flow by thread (procfs.ts threadCpuMs), "ended threads" for the rest. */
  serverThreadsMsPerFlow: Record<string, number> | undefined
  postgresCpuMsPerFlow: number | undefined
  driverCpuMsPerFlow: number
  transactionsPerFlow: number | undefined
  statementsPerFlow: number | undefined
  flowsInServerLife: number
  /**
   * CPU the rest of the machine used during the window (busy CPU of the whole machine minus the
   * server's, PostgreSQL's and the driver's), as a share of all CPUs: other people's work.
   */
  otherCpuShare: number | undefined
  loadAverage1m: number
  /** GET /me with a valid and a forged access token after the flows (PostgreSQL targets of the service). */
  tokenChecks?: TokenChecks
  /** Raw latencies, for the summary; left out of the JSON line. */
  requestSamples?: number[]
  verifySamples?: number[]
}

const lat = (xs: number[]): Latency => {
  const s = sortedCopy(xs)
  return { p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), n: s.length }
}
const round2 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? undefined : Math.round(x * 100) / 100)

class Bench {
  readonly o: Options
  readonly pg: BenchPg | undefined
  readonly twilio: FakeTwilio
  readonly numbers: { e164: string[]; typed: string[] }
  readonly secret = randomBytes(32).toString('base64url')
  readonly results: RoundResult[] = []
  readonly failures: string[] = []
  readonly bootCost = new Map<string, { transactions: number; statements: number | undefined }>()
  readonly outFile: string
  readonly profileDir: string
  readonly profiles: { target: string; file: string }[] = []

  constructor(o: Options, pg: BenchPg | undefined, twilio: FakeTwilio, numbers: { e164: string[]; typed: string[] }, outFile: string, profileDir: string) {
    this.o = o
    this.pg = pg
    this.twilio = twilio
    this.numbers = numbers
    this.outFile = outFile
    this.profileDir = profileDir
  }

  emit(record: object): void {
    const line = JSON.stringify(record)
    process.stdout.write(`${line}\n`)
    appendFileSync(this.outFile, `${line}\n`)
  }

  envFor(t: Target, port: number, where: { database?: string; dataDir?: string }): Record<string, string> {
    const env: Record<string, string> = { ...baseEnv(), HOST: '127.0.0.1', PORT: String(port), ...this.twilio.env }
    const command = t.command([])
    if (this.o.nodeOptions && 'cmd' in command && command.cmd === process.execPath) env.NODE_OPTIONS = this.o.nodeOptions
    if (where.database) env.DATABASE_URL = this.pg!.urlOf(where.database)
    if (t.floor) return env
    Object.assign(env, serviceEnv(this.o), { SERVER_SECRET: this.secret, SMS_PROVIDER: 'twilio', PRUNE_INTERVAL_SECONDS: '3600' })
    if (t.limitsOff) for (const k of Object.keys(env)) if (k.startsWith('LIMIT_')) env[k] = '0'
    if ('cmd' in command && command.cmd === process.execPath) Object.assign(env, startEnv())
    if (where.dataDir) env.DATA_DIR = where.dataDir
    return env
  }

  async snapshot(pid: number, database: string | undefined): Promise<Snapshot> {
    const statements = database && this.pg ? await statementsOf(this.pg, database) : undefined
    const cpu = process.cpuUsage()
    return {
      at: performance.now(),
      serverCpuMs: processCpuMs(pid),
      serverThreadsCpuMs: threadCpuMs(pid),
      pgCpuMs: database && this.pg ? treeCpuMs(this.pg.postmasterPid()) : undefined,
      statements,
      driverCpuMs: (cpu.user + cpu.system) / 1000,
      machineBusyMs: machineBusyCpuMs(),
    }
  }

  /** Where a round's database lives: a fresh PostgreSQL database, or a fresh DATA_DIR. */
  async prepare(t: Target, name: string): Promise<{ database?: string; dataDir?: string; cleanup: () => Promise<{ transactions?: number }> }> {
    if (t.database === 'embedded') {
      const dir = mkdtempSync(join(tmpdir(), 'nomisafe-bench-data-'))
      return {
        dataDir: join(dir, 'data'),
        cleanup: async () => {
          rmSync(dir, { recursive: true, force: true })
          return {}
        },
      }
    }
    const pg = this.pg!
    await createDatabase(pg, name, t.scale ? SCALE_TEMPLATE : undefined)
    return {
      database: name,
      cleanup: async () => {
        // Backends flush their statistics when they exit: read the transactions once all are gone.
        const gone = await waitForNoBackends(pg, name)
        const transactions = gone ? await transactionsOf(pg, name) : undefined
        await dropDatabase(pg, name)
        return { transactions }
      },
    }
  }

  command(t: Target): { cmd: string; args: string[] } | { missing: string } {
    const profileFlags = this.o.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(this.profileDir, t.id)}`] : []
    return t.command(profileFlags)
  }

  /** The transactions and statements a target spends starting and stopping, to take out of the per-flow figures. */
  async calibrate(t: Target): Promise<void> {
    if (t.database !== 'postgres') return
    const command = this.command(t)
    if ('missing' in command) return
    const name = `bench_boot_${t.id.replaceAll('-', '_')}`
    const where = await this.prepare(t, name)
    let statements: number | undefined
    try {
      const port = await freePort()
      const server = await startServer(command.cmd, command.args.filter((a) => !a.startsWith('--cpu-prof')), this.envFor(t, port, where), port, 120_000)
      await sleep(200)
      statements = this.pg ? await statementsOf(this.pg, name) : undefined
      await server.stop()
    } finally {
      const { transactions } = await where.cleanup()
      if (transactions !== undefined) this.bootCost.set(t.id, { transactions, statements })
    }
  }

  async round(t: Target, round: number): Promise<void> {
    const command = this.command(t)
    if ('missing' in command) return
    const o = this.o
    const name = `bench_${t.id.replaceAll('-', '_')}_${round}`
    this.twilio.reset()
    const where = await this.prepare(t, name)
    let result: RoundResult | undefined
    let serverError: string | undefined
    let flowsInLife = 0
    try {
      const port = await freePort()
      const server = await startServer(command.cmd, command.args, this.envFor(t, port, where), port, 120_000)
      try {
        const driver = startDriver({
          baseUrl: server.url,
          concurrency: o.concurrency,
          numbers: this.numbers,
          twilio: this.twilio,
          requestTimeoutMs: 10_000,
          smsTimeoutMs: 5_000,
          maxRunMs: (o.warmup + o.seconds) * 1000 + 60_000,
        })
        await sleep(o.warmup * 1000)
        const a = await this.snapshot(server.pid, where.database)
        driver.startWindow()
        await sleep(o.seconds * 1000)
        const w = driver.endWindow()
        const b = await this.snapshot(server.pid, where.database)
        const mem = memoryMb(server.pid)
        const done = await driver.stop()
        flowsInLife = done.flowsCompleted
        const access = driver.accessToken()
        const database = where.database
        const tokenChecks =
          !t.floor && database && this.pg && access
            ? await measureTokenChecks(server.url, access, TOKEN_CHECKS, () => statementsOf(this.pg!, database))
            : undefined
        const perFlow = (x: number | undefined, y: number | undefined) => (x === undefined || y === undefined || w.flows === 0 ? undefined : (y - x) / w.flows)
        result = {
          kind: 'round',
          target: t.id,
          round,
          concurrency: o.concurrency,
          windowSeconds: w.durationMs / 1000,
          flows: w.flows,
          flowsPerSecond: w.flows / (w.durationMs / 1000),
          request: lat(w.requestMs),
          verify: lat(w.verifyMs),
          errors: done.errors,
          errorsInWindow: w.errors,
          peakRssMb: mem?.peak,
          serverCpuMsPerFlow: perFlow(a.serverCpuMs, b.serverCpuMs),
          serverThreadsMsPerFlow: byThread(a, b, w.flows),
          postgresCpuMsPerFlow: perFlow(a.pgCpuMs, b.pgCpuMs),
          driverCpuMsPerFlow: perFlow(a.driverCpuMs, b.driverCpuMs)!,
          transactionsPerFlow: undefined,
          statementsPerFlow: perFlow(a.statements, b.statements),
          flowsInServerLife: flowsInLife,
          otherCpuShare: otherShare(a, b, w.durationMs),
          loadAverage1m: loadavg()[0]!,
          tokenChecks,
          requestSamples: w.requestMs,
          verifySamples: w.verifyMs,
        }
      } finally {
        const code = await server.stop()
        if (code !== 0 && code !== null && !o.profile) serverError = `exited with ${code} on SIGTERM: ${server.stderrTail().trim().slice(-500)}`
      }
    } catch (err) {
      serverError = err instanceof Error ? err.message : String(err)
    } finally {
      const { transactions } = await where.cleanup()
      const boot = this.bootCost.get(t.id)
      if (result && transactions !== undefined && boot && flowsInLife > 0) result.transactionsPerFlow = (transactions - boot.transactions) / flowsInLife
    }
    if (serverError) {
      this.failures.push(`${t.id} round ${round}: ${serverError}`)
      log(`  ${t.id} round ${round}: ${serverError}`)
    }
    if (!result) return
    this.results.push(result)
    const { requestSamples: _r, verifySamples: _v, ...line } = result
    this.emit({
      ...line,
      flowsPerSecond: round2(line.flowsPerSecond),
      request: roundLatency(line.request),
      verify: roundLatency(line.verify),
      peakRssMb: round2(line.peakRssMb),
      serverCpuMsPerFlow: round2(line.serverCpuMsPerFlow),
      serverThreadsMsPerFlow: line.serverThreadsMsPerFlow && Object.fromEntries(Object.entries(line.serverThreadsMsPerFlow).map(([k, v]) => [k, round2(v)])),
      postgresCpuMsPerFlow: round2(line.postgresCpuMsPerFlow),
      driverCpuMsPerFlow: round2(line.driverCpuMsPerFlow),
      transactionsPerFlow: round2(line.transactionsPerFlow),
      statementsPerFlow: round2(line.statementsPerFlow),
      windowSeconds: round2(line.windowSeconds),
      otherCpuShare: round2(line.otherCpuShare),
    })
    const errs = Object.entries(result.errors)
    log(
      `  ${t.id} round ${round}: ${result.flowsPerSecond.toFixed(1)} flows/s, verify p99 ${result.verify.p99.toFixed(1)} ms` +
        `, other load ${f((result.otherCpuShare ?? NaN) * 100, 0)} % of the CPUs` +
        (errs.length ? `, errors: ${errs.map(([k, n]) => `${k} ×${n}`).join(', ')}` : ''),
    )
  }
}

/** The server's CPU in the window per flow, by thread name, largest first; what ended threads used as "ended threads". */
function byThread(a: Snapshot, b: Snapshot, flows: number): Record<string, number> | undefined {
  if (!a.serverThreadsCpuMs || !b.serverThreadsCpuMs || a.serverCpuMs === undefined || b.serverCpuMs === undefined || flows === 0) return undefined
  const out: [string, number][] = []
  for (const [name, ms] of b.serverThreadsCpuMs) out.push([name, (ms - (a.serverThreadsCpuMs.get(name) ?? 0)) / flows])
  const ended = (b.serverCpuMs - a.serverCpuMs) / flows - out.reduce((sum, [, v]) => sum + v, 0)
  if (ended > 0.005) out.push(['ended threads', ended])
  return Object.fromEntries(out.filter(([, v]) => v >= 0.005).sort((x, y) => y[1] - x[1]))
}

/** Busy CPU of the machine not spent by the server, PostgreSQL or the driver, over all CPUs' time. */
function otherShare(a: Snapshot, b: Snapshot, windowMs: number): number | undefined {
  if (a.machineBusyMs === undefined || b.machineBusyMs === undefined) return undefined
  const ours = (b.serverCpuMs ?? 0) - (a.serverCpuMs ?? 0) + ((b.pgCpuMs ?? 0) - (a.pgCpuMs ?? 0)) + (b.driverCpuMs - a.driverCpuMs)
  return Math.max(0, (b.machineBusyMs - a.machineBusyMs - ours) / (windowMs * availableParallelism()))
}

const roundLatency = (l: Latency) => ({ p50: round2(l.p50), p95: round2(l.p95), p99: round2(l.p99), n: l.n })

interface Summary {
  kind: 'summary'
  target: string
  label: string
  rounds: number
  flowsPerSecond: { median: number; min: number; max: number }
  ratioToFloor: number | undefined
  request: Latency
  verify: Latency
  errors: Record<string, number>
  peakRssMb: number | undefined
  serverCpuMsPerFlow: number | undefined
  /** Median over the rounds of each thread's CPU per flow. */
  serverThreadsMsPerFlow: Record<string, number> | undefined
  postgresCpuMsPerFlow: number | undefined
  transactionsPerFlow: number | undefined
  statementsPerFlow: number | undefined
  otherCpuShare: number | undefined
  /** The most statements any round spent per GET /me, with a valid token and with a forged one. */
  tokenChecks: { validStatementsPerCall: number | undefined; forgedStatementsPerCall: number | undefined; allAnswered: boolean } | undefined
}

/**
 * `a`'s flows/s over `b`'s, as the median of the rounds' ratios: the targets of one round run
 * minutes apart at most, so a ratio taken within a round cancels most of what the machine's other
 * load does to both (across rounds flows/s moved by ±15 % on the development machine).
 */
function pairedRatio(results: RoundResult[], a: string, b: string): number | undefined {
  const ratios: number[] = []
  for (const ra of results.filter((r) => r.target === a)) {
    const rb = results.find((r) => r.target === b && r.round === ra.round)
    if (rb && rb.flowsPerSecond > 0) ratios.push(ra.flowsPerSecond / rb.flowsPerSecond)
  }
  return ratios.length ? median(ratios) : undefined
}

function summarize(results: RoundResult[], targets: Target[]): Summary[] {
  const med = (xs: (number | undefined)[]) => {
    const ys = xs.filter((x): x is number => x !== undefined && Number.isFinite(x))
    return ys.length ? median(ys) : undefined
  }
  const out: Summary[] = []
  for (const t of targets) {
    const rs = results.filter((r) => r.target === t.id)
    if (rs.length === 0) continue
    const fps = rs.map((r) => r.flowsPerSecond)
    const errors: Record<string, number> = {}
    for (const r of rs) for (const [k, n] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + n
    out.push({
      kind: 'summary',
      target: t.id,
      label: t.label,
      rounds: rs.length,
      flowsPerSecond: { median: median(fps), min: Math.min(...fps), max: Math.max(...fps) },
      ratioToFloor: undefined,
      request: lat(rs.flatMap((r) => r.requestSamples ?? [])),
      verify: lat(rs.flatMap((r) => r.verifySamples ?? [])),
      errors,
      peakRssMb: rs.some((r) => r.peakRssMb !== undefined) ? Math.max(...rs.map((r) => r.peakRssMb ?? 0)) : undefined,
      serverCpuMsPerFlow: med(rs.map((r) => r.serverCpuMsPerFlow)),
      serverThreadsMsPerFlow: threadMedians(rs),
      postgresCpuMsPerFlow: med(rs.map((r) => r.postgresCpuMsPerFlow)),
      transactionsPerFlow: med(rs.map((r) => r.transactionsPerFlow)),
      statementsPerFlow: med(rs.map((r) => r.statementsPerFlow)),
      otherCpuShare: med(rs.map((r) => r.otherCpuShare)),
      tokenChecks: tokenSummary(rs),
    })
  }
  const floor = out.find((s) => s.target === 'floor')
  if (floor) for (const s of out) s.ratioToFloor = pairedRatio(results, s.target, 'floor')
  return out
}

/** Each thread's median over the rounds (0 in a round where it did not show), largest first. */
function threadMedians(rs: RoundResult[]): Record<string, number> | undefined {
  const names = [...new Set(rs.flatMap((r) => Object.keys(r.serverThreadsMsPerFlow ?? {})))]
  if (names.length === 0) return undefined
  const out = names.map((n) => [n, median(rs.map((r) => r.serverThreadsMsPerFlow?.[n] ?? 0))] as const)
  return Object.fromEntries(out.sort((x, y) => y[1] - x[1]))
}

/** Where each server's CPU went, by thread: the line under the table. */
function threadLines(summaries: Summary[]): string[] {
  const lines = summaries
    .filter((s) => s.serverThreadsMsPerFlow)
    .map((s) => `  - ${s.target}: ${Object.entries(s.serverThreadsMsPerFlow!).map(([n, v]) => `${n} ${v.toFixed(2)}`).join(', ')}`)
  return lines.length ? ['Server CPU ms per flow by thread (median of the rounds):', ...lines, ''] : []
}

function tokenSummary(rs: RoundResult[]): Summary['tokenChecks'] {
  const tc = rs.map((r) => r.tokenChecks).filter((x): x is TokenChecks => x !== undefined)
  if (tc.length === 0) return undefined
  const most = (xs: (number | undefined)[]) => (xs.some((x) => x === undefined) ? undefined : Math.max(...(xs as number[])))
  return {
    validStatementsPerCall: most(tc.map((c) => c.valid.statementsPerCall)),
    forgedStatementsPerCall: most(tc.map((c) => c.forged.statementsPerCall)),
    allAnswered: tc.every((c) => c.valid.ok === c.calls && c.forged.refused === c.calls),
  }
}

const f = (x: number | undefined, digits = 1) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits))

function table(summaries: Summary[]): string {
  const lines = [
    '| Target | Flows/s median (min–max) | × floor | Request p50 / p95 / p99 ms | Verify p50 / p95 / p99 ms | Errors | Peak RSS MB | Server CPU ms/flow | PostgreSQL CPU ms/flow | Xacts/flow | Stmts/flow |',
    '| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
  ]
  for (const s of summaries) {
    const errors = Object.entries(s.errors)
    lines.push(
      `| ${s.target} | ${f(s.flowsPerSecond.median)} (${f(s.flowsPerSecond.min)}–${f(s.flowsPerSecond.max)}) | ${f(s.ratioToFloor, 2)} | ` +
        `${f(s.request.p50)} / ${f(s.request.p95)} / ${f(s.request.p99)} | ${f(s.verify.p50)} / ${f(s.verify.p95)} / ${f(s.verify.p99)} | ` +
        `${errors.length ? errors.map(([k, n]) => `${k} ×${n}`).join('; ') : '0'} | ${f(s.peakRssMb, 0)} | ${f(s.serverCpuMsPerFlow, 2)} | ` +
        `${f(s.postgresCpuMsPerFlow, 2)} | ${f(s.transactionsPerFlow, 2)} | ${f(s.statementsPerFlow, 2)} |`,
    )
  }
  return lines.join('\n')
}

/** The issue's targets, each with its figure and by how much it is met or missed. */
function verdicts(summaries: Summary[], results: RoundResult[], o: Options): string[] {
  const by = (id: string) => summaries.find((s) => s.target === id)
  const node = by('node-pg')
  const floor = by('floor')
  const out: string[] = []
  const missedBy = (value: number, limit: number, higherIsBetter: boolean) => {
    const ok = higherIsBetter ? value >= limit : value <= limit
    const off = higherIsBetter ? (limit - value) / limit : (value - limit) / limit
    return ok ? 'met' : `MISSED by ${(100 * off).toFixed(off < 0.01 ? 1 : 0)} %`
  }
  if (node && floor && node.ratioToFloor !== undefined) {
    const r = node.ratioToFloor
    const ofMedians = node.flowsPerSecond.median / floor.flowsPerSecond.median
    out.push(
      `- Node + PostgreSQL, every limit on, flows/s ≥ 1.0× floor: ${r.toFixed(2)}× (median of the rounds' ratios; ${ofMedians.toFixed(2)}× of the medians) — ${missedBy(r, 1, true)}`,
    )
    const cpu = (s: Summary) => (s.serverCpuMsPerFlow ?? NaN) + (s.postgresCpuMsPerFlow ?? NaN)
    out.push(
      `  - CPU per flow, server + PostgreSQL (the figure other load on the machine disturbs least): ${f(cpu(node), 2)} ms vs the floor's ${f(cpu(floor), 2)} ms = ${(cpu(node) / cpu(floor)).toFixed(2)}×`,
    )
    const off = by('node-pg-no-limits')
    const limitsCost = pairedRatio(results, 'node-pg', 'node-pg-no-limits')
    if (off?.ratioToFloor !== undefined && limitsCost !== undefined) {
      out.push(
        `  - What the limits cost: node-pg ran at ${limitsCost.toFixed(2)}× the flows/s of node-pg-no-limits, the same service with every abuse limit off, which ran at ${off.ratioToFloor.toFixed(2)}× the floor (medians of the rounds' ratios)`,
      )
    }
    const v = node.verify.p99 / floor.verify.p99
    out.push(`- Verify p99 ≤ 1.2× floor's: ${f(node.verify.p99)} ms vs ${f(floor.verify.p99)} ms = ${v.toFixed(2)}× — ${missedBy(v, 1.2, false)}`)
  }
  if (node?.peakRssMb !== undefined) {
    out.push(
      `- Peak RSS ≤ 150 MB under C = 32: ${f(node.peakRssMb, 0)} MB at C = ${o.concurrency}${o.concurrency === 32 ? '' : ' (not C = 32: informative only)'} — ${missedBy(node.peakRssMb, 150, false)}`,
    )
  }
  const tc = node?.tokenChecks
  if (tc) {
    // A refused forged token shows the check itself; a valid one may cost only what /me reads.
    const ok = tc.allAnswered && tc.forgedStatementsPerCall === 0 && tc.validStatementsPerCall !== undefined && tc.validStatementsPerCall <= 1
    out.push(
      `- Access-token checks cost no database round trip: a forged token is refused (401) with ${f(tc.forgedStatementsPerCall, 2)} statements per check; ` +
        `GET /me with a valid one costs ${f(tc.validStatementsPerCall, 2)} (the user row it answers with)${tc.allAnswered ? '' : '; some checks were not answered 200/401'} — ${ok ? 'met' : 'MISSED'}`,
    )
  }
  for (const s of summaries) {
    const n = Object.values(s.errors).reduce((a, b) => a + b, 0)
    if (n > 0) out.push(`- No errors: ${s.target} had ${n} — MISSED`)
  }
  if (summaries.length && summaries.every((s) => Object.keys(s.errors).length === 0)) out.push('- No errors: met (every target, every round)')
  const scaled = by('node-pg-1m')
  const paired = pairedRatio(results, 'node-pg-1m', 'node-pg')
  if (node && scaled && paired !== undefined) {
    const drop = 1 - paired
    const pct = (d: number) => (d >= 0 ? `${(100 * d).toFixed(1)} % slower` : `${(-100 * d).toFixed(1)} % faster`)
    out.push(
      `- With ${SCALE_ROWS.toLocaleString('en')} rows, flows/s falls ≤ 10 %: ${pct(drop)} (median of the rounds' ratios; medians ${f(scaled.flowsPerSecond.median)} vs ${f(node.flowsPerSecond.median)} flows/s, ${pct(1 - scaled.flowsPerSecond.median / node.flowsPerSecond.median)}) — ${drop <= 0.1 ? 'met' : `MISSED by ${(100 * (drop - 0.1)).toFixed(1)} points`}`,
    )
  }
  return out
}

function otherLoad(results: RoundResult[]): string {
  const shares = results.map((r) => r.otherCpuShare).filter((x): x is number => x !== undefined)
  if (shares.length === 0) return 'Other processes on the machine: not measured.'
  const pc = (x: number) => `${(100 * x).toFixed(0)} %`
  return `Other processes (not the server, PostgreSQL or the driver) used ${pc(Math.min(...shares))}–${pc(Math.max(...shares))} of the CPUs during the measured windows (median ${pc(median(shares))}).`
}

function machine() {
  const cpuinfo = (() => {
    try {
      return readFileSync('/proc/cpuinfo', 'utf8')
    } catch {
      return ''
    }
  })()
  const version = (cmd: string | undefined, args: string[]) => {
    if (!cmd) return undefined
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000 }).split('\n')[0]!.trim()
    } catch {
      return undefined
    }
  }
  return {
    nproc: availableParallelism(),
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim(),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
    bun: version(findRuntime('bun'), ['--version']),
    deno: version(findRuntime('deno'), ['--version'])?.replace(/^deno\s+/, ''),
    /** What was measured: the commit, and how many files under src/ and db/ differ from it. */
    commit: version('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
    uncommittedSourceFiles: (() => {
      try {
        return execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'db'], { encoding: 'utf8', timeout: 10_000 }).split('\n').filter(Boolean).length
      } catch {
        return undefined
      }
    })(),
  }
}

async function main(): Promise<number> {
  let o: Options
  try {
    const parsed = parseOptions(process.argv.slice(2))
    if (parsed === 'help') {
      process.stdout.write(`${USAGE}\n`)
      return 0
    }
    o = parsed
  } catch (err) {
    log(err instanceof Error ? err.message : String(err))
    return 2
  }
  if (process.platform !== 'linux') log('note: CPU and memory figures come from /proc and need Linux; they are left empty elsewhere')

  const targets = o.targets.map((id) => TARGETS.find((t) => t.id === id)!)
  const runnable: Target[] = []
  for (const t of targets) {
    const c = t.command([])
    if ('missing' in c) log(`note: skipping ${t.id}: ${c.missing}`)
    else runnable.push(t)
  }
  if (o.profile) {
    for (const t of runnable) {
      const c = t.command([])
      if ('cmd' in c && c.cmd !== process.execPath) log(`note: --profile profiles Node targets only; ${t.id} runs unprofiled`)
    }
  }

  const resultsDir = join(ROOT, 'bench', 'results')
  mkdirSync(resultsDir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const outFile = join(resultsDir, `${stamp}${o.smoke ? '-smoke' : ''}.json`)
  const profileDir = join(resultsDir, `profiles-${stamp}`)

  const m = machine()
  log(`machine: ${m.nproc} CPUs (${m.cpuModel ?? 'unknown model'}), ${m.memoryGb} GB, load average ${m.loadAverage.join(' ')}`)
  log(`numbers: checking ${o.numbers} phone numbers with libphonenumber-js…`)
  const numbers = validNumbers(o.numbers)

  const needsPg = runnable.some((t) => t.database === 'postgres')
  const pg = needsPg ? await startBenchPg({ durable: o.durable, log }) : undefined
  const twilio = await startFakeTwilio()
  const bench = new Bench(o, pg, twilio, numbers, outFile, profileDir)
  let interrupted = false
  const onSignal = () => {
    if (interrupted) process.exit(130)
    interrupted = true
    log('interrupted: finishing the current round, then stopping (Ctrl+C again to quit at once)')
  }
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal)

  try {
    bench.emit({ kind: 'run', startedAt: new Date().toISOString(), argv: process.argv.slice(2), options: o, machine: m, postgres: pg?.version, pgStatStatements: pg?.statements })
    if (runnable.some((t) => t.scale) && pg) {
      log(`scale: building the ${SCALE_ROWS.toLocaleString('en')}-row template database…`)
      await buildScaleTemplate(pg, SCALE_TEMPLATE, baseEnv(), SCALE_ROWS, log)
    }
    if (!o.smoke) {
      log('calibrating: transactions each PostgreSQL target spends starting and stopping…')
      for (const t of runnable) {
        if (interrupted) break
        try {
          await bench.calibrate(t)
        } catch (err) {
          log(`  ${t.id}: could not calibrate: ${err instanceof Error ? err.message : String(err)}`)
        }
      }
    }
    const perRound = o.warmup + o.seconds + 3
    log(`running ${o.rounds} round(s) of ${runnable.map((t) => t.id).join(', ')}: C=${o.concurrency}, ${o.warmup} s warm-up + ${o.seconds} s measured (about ${Math.ceil((o.rounds * runnable.length * perRound) / 60)} min)`)
    for (let r = 1; r <= o.rounds && !interrupted; r++) {
      for (const t of runnable) {
        if (interrupted) break
        log(`round ${r}/${o.rounds}: ${t.id}`)
        await bench.round(t, r)
      }
    }
  } finally {
    twilio.reset()
    await twilio.close()
    if (pg) {
      if (runnable.some((t) => t.scale)) await dropDatabase(pg, SCALE_TEMPLATE).catch(() => {})
      await pg.stop()
    }
  }

  const summaries = summarize(bench.results, runnable)
  for (const s of summaries) bench.emit({ ...s, request: roundLatency(s.request), verify: roundLatency(s.verify) })
  const endLoad = loadavg().map((x) => x.toFixed(2)).join(' ')
  const header = [
    '',
    `## NomiSafe Auth benchmark — ${new Date().toISOString()}`,
    '',
    `${m.nproc} CPUs (${m.cpuModel ?? 'unknown'}), ${m.memoryGb} GB; load average ${m.loadAverage.join(' ')} at start, ${endLoad} at end.`,
    `Service at commit ${m.commit ?? '?'}${m.uncommittedSourceFiles ? ` with ${m.uncommittedSourceFiles} uncommitted file(s) under src/ and db/` : ''}.`,
    `Node ${m.node}, PostgreSQL ${pg?.version ?? '–'}${pg && !pg.statements ? ' (no pg_stat_statements)' : ''}, Bun ${m.bun ?? '–'}, Deno ${m.deno ?? '–'}.`,
    otherLoad(bench.results),
    `C = ${o.concurrency} virtual users, ${o.rounds} interleaved round(s) per target, ${o.warmup} s warm-up + ${o.seconds} s measured, each on a fresh database; PostgreSQL ${o.durable ? 'durable (fsync on)' : 'with fsync and synchronous_commit off'}; service LOG_LEVEL=${o.logLevel}${o.nodeOptions ? `; NODE_OPTIONS=${o.nodeOptions}` : ''}.`,
    '',
  ]
  // The smoke run checks errors only: no verdict on speed from a few seconds at C = 4.
  const checks = o.smoke ? [] : verdicts(summaries, bench.results, o)
  process.stdout.write(`${[...header, table(summaries), '', ...threadLines(summaries), ...checks, ''].join('\n')}\n`)
  if (bench.failures.length) process.stdout.write(`\nFailures:\n${bench.failures.map((x) => `- ${x}`).join('\n')}\n`)
  log(`results: ${outFile}`)

  if (o.profile) {
    for (const t of runnable) {
      const dir = join(profileDir, t.id)
      let files: string[] = []
      try {
        files = readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))
      } catch {}
      if (files.length === 0) {
        log(`no CPU profile was written for ${t.id}`)
        continue
      }
      const flows = bench.results.filter((r) => r.target === t.id).reduce((n, r) => n + r.flowsInServerLife, 0)
      process.stdout.write(`\n### CPU profile: ${t.id}\n\n${summarizeProfile(join(dir, files[0]!), 25, o.rounds === 1 ? flows : undefined)}\n`)
    }
  }

  if (o.smoke) {
    const bad: string[] = []
    for (const t of runnable) {
      const s = summaries.find((x) => x.target === t.id)
      if (!s) bad.push(`${t.id}: no result`)
      else {
        if (s.flowsPerSecond.min <= 0) bad.push(`${t.id}: no flow completed in the measured window`)
        if (Object.keys(s.errors).length > 0) bad.push(`${t.id}: errors ${JSON.stringify(s.errors)}`)
      }
    }
    bad.push(...bench.failures)
    if (bad.length) {
      log(`smoke: FAILED\n${bad.map((x) => `  ${x}`).join('\n')}`)
      return 1
    }
    log(`smoke: ok — ${summaries.map((s) => `${s.target} ${Math.round(s.flowsPerSecond.median * o.seconds)} flows`).join(', ')}, no errors`)
    return 0
  }
  return bench.failures.length || interrupted ? 1 : 0
}

process.exitCode = await main()
