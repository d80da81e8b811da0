// Command-line flags of `npm run bench -- [flags]`.
import { TARGETS } from './targets.ts'

export interface Options {
  rounds: number
  seconds: number
  warmup: number
  concurrency: number
  targets: string[]
  smoke: boolean
  scale: boolean
  profile: boolean
  durable: boolean
  logLevel: string
  /** NODE_OPTIONS for the Node targets (the service on Node, and the floor). */
  nodeOptions: string
  /** Phone numbers made (and checked) before the run: the most flows one round can start. */
  numbers: number
}

export const USAGE = `Usage: npm run bench -- [flags]

  --rounds N          rounds per target, interleaved (A B C, A B C, …)      default 3
  --seconds S         measured window of each round                          default 10
  --warmup S          warm-up before each window (not counted)               default 3
  --concurrency C     virtual users                                          default 32
  --targets LIST      comma-separated, from: ${TARGETS.map((t) => t.id).join(', ')}
                      default: every target except node-pg-1m (added by --scale)
  --scale             also run node-pg-1m: Node + PostgreSQL with 1,000,000 users, codes and
                      counter rows pre-loaded, and report its ratio to node-pg (takes a few minutes)
  --smoke             seconds long, C=4, node-pg, node-pglite and floor, 1 round: asserts only that
                      flows complete with zero errors (exit 1 otherwise), never a speed
  --profile           one round of node-pg and floor with node --cpu-prof, and a summary of where
                      the CPU went (profiles kept in bench/results/)
  --durable           PostgreSQL with fsync and synchronous_commit on (default: off, as in the tests)
  --log-level LEVEL   the service's LOG_LEVEL                                default info
  --node-options OPTS NODE_OPTIONS for the Node targets (service and floor), e.g.
                      "--max-old-space-size=96"                              default none
  --numbers N         valid phone numbers prepared (the most flows a round can start)  default 100000
  --help`

export function parseOptions(argv: string[]): Options | 'help' {
  const o: Options = {
    rounds: 3,
    seconds: 10,
    warmup: 3,
    concurrency: 32,
    targets: [],
    smoke: false,
    scale: false,
    profile: false,
    durable: false,
    logLevel: 'info',
    nodeOptions: '',
    numbers: 100_000,
  }
  const given = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined]
    const value = () => {
      const v = inline ?? argv[++i]
      if (v === undefined) throw new Error(`${flag} needs a value`)
      return v
    }
    const number = (min: number, max: number) => {
      const n = Number(value())
      if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${flag} must be a number from ${min} to ${max}`)
      return n
    }
    given.add(flag)
    switch (flag) {
      case '--rounds':
        o.rounds = Math.round(number(1, 50))
        break
      case '--seconds':
        o.seconds = number(0.5, 600)
        break
      case '--warmup':
        o.warmup = number(0, 120)
        break
      case '--concurrency':
        o.concurrency = Math.round(number(1, 1000))
        break
      case '--targets':
        o.targets = value().split(',').map((t) => t.trim()).filter(Boolean)
        for (const t of o.targets) if (!TARGETS.some((x) => x.id === t)) throw new Error(`unknown target "${t}" (known: ${TARGETS.map((x) => x.id).join(', ')})`)
        break
      case '--smoke':
        o.smoke = true
        break
      case '--scale':
        o.scale = true
        break
      case '--profile':
        o.profile = true
        break
      case '--durable':
        o.durable = true
        break
      case '--log-level':
        o.logLevel = value()
        break
      case '--node-options':
        o.nodeOptions = value()
        break
      case '--numbers':
        o.numbers = Math.round(number(100, 2_000_000))
        break
      case '--help':
      case '-h':
        return 'help'
      default:
        throw new Error(`unknown flag "${argv[i]}"\n\n${USAGE}`)
    }
  }
  if (o.smoke) {
    if (!given.has('--rounds')) o.rounds = 1
    if (!given.has('--seconds')) o.seconds = 2
    if (!given.has('--warmup')) o.warmup = 0.5
    if (!given.has('--concurrency')) o.concurrency = 4
    if (!given.has('--numbers')) o.numbers = 5000
    if (o.targets.length === 0) o.targets = ['node-pg', 'node-pglite', 'floor']
  }
  if (o.profile) {
    if (!given.has('--rounds')) o.rounds = 1
    if (o.targets.length === 0) o.targets = ['node-pg', 'floor']
  }
  if (o.targets.length === 0) o.targets = TARGETS.filter((t) => t.id !== 'node-pg-1m').map((t) => t.id)
  if (o.scale && !o.targets.includes('node-pg-1m')) o.targets.splice(o.targets.indexOf('node-pg') + 1, 0, 'node-pg-1m')
  if (o.targets.includes('node-pg-1m') && !o.targets.includes('node-pg')) o.targets.unshift('node-pg')
  // Run in the canonical order, whatever order they were given in.
  o.targets = TARGETS.map((t) => t.id).filter((id) => o.targets.includes(id))
  return o
}
