// What the benchmark runs: the service on each runtime and database, and the floor. Each target is
// a separate process started with its real entrypoint, configured only by its environment.
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, existsSync, openSync, closeSync, readdirSync, readFileSync } from 'node:fs'
import { get } from 'node:http'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { sleep } from './util.ts'

export const ROOT = join(import.meta.dirname, '..')

export interface Target {
  id: string
  label: string
  database: 'postgres' | 'embedded'
  /** Pre-loaded with the --scale data set (1,000,000 users, codes, counters, sessions). */
  scale?: boolean
  floor?: boolean
  /** Every abuse limit set to 0 (off): the same service, to show what the limits cost. */
  limitsOff?: boolean
  /** The command, or why it cannot run here. */
  command(nodeFlags: string[]): { cmd: string; args: string[] } | { missing: string }
}

const executable = (path: string) => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** node_modules/.bin first (the brief's place), then BUN_BIN / DENO_BIN, PATH, and the folder .ci/run installs Deno into. */
export function findRuntime(name: 'bun' | 'deno'): string | undefined {
  const fromEnv = process.env[`${name.toUpperCase()}_BIN`]
  const candidates = [join(ROOT, 'node_modules/.bin', name), ...(fromEnv ? [fromEnv] : [])]
  candidates.push(...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, name)))
  if (name === 'deno') {
    const base = process.env.TMPDIR || tmpdir()
    try {
      for (const d of readdirSync(base).filter((d) => d.startsWith('nomisafe-ci-deno-')).sort().reverse()) candidates.push(join(base, d, 'bin', 'deno'))
    } catch {}
  }
  return candidates.find((p) => existsSync(p) && executable(p))
}

const startWords = (): string[] => JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start.split(/\s+/)

/**
 * The Node flags of `npm start` (package.json), so the service is measured as it is shipped: its
 * heap limits and the compile cache (README.md, "Memory").
 */
export function startFlags(): string[] {
  const words = startWords()
  return words.slice(words.indexOf('node') + 1, words.indexOf('src/runtime/node.ts'))
}

/** The environment `npm start` sets before `node` (the C library's memory settings). */
export function startEnv(): Record<string, string> {
  const words = startWords()
  return Object.fromEntries(words.slice(0, words.indexOf('node')).map((w) => w.split(/=(.*)/s, 2) as [string, string]))
}

const node = (entry: string) => (flags: string[]) =>
  entry.startsWith('src/')
    ? { cmd: process.execPath, args: [...flags, ...startFlags(), join(ROOT, entry), 'serve'] }
    : { cmd: process.execPath, args: [...flags, join(ROOT, entry)] }

export const TARGETS: Target[] = [
  { id: 'node-pg', label: 'Node + PostgreSQL, every limit on', database: 'postgres', command: node('src/runtime/node.ts') },
  {
    id: 'node-pg-1m',
    label: 'Node + PostgreSQL, every limit on, 1M users/codes/counters',
    database: 'postgres',
    scale: true,
    command: node('src/runtime/node.ts'),
  },
  {
    id: 'node-pg-no-limits',
    label: 'Node + PostgreSQL, every abuse limit off (what the limits cost)',
    database: 'postgres',
    limitsOff: true,
    command: node('src/runtime/node.ts'),
  },
  { id: 'node-pglite', label: 'Node + embedded PGlite, every limit on', database: 'embedded', command: node('src/runtime/node.ts') },
  {
    id: 'bun-pg',
    label: 'Bun + PostgreSQL, every limit on',
    database: 'postgres',
    command: () => {
      const bun = findRuntime('bun')
      if (!bun) return { missing: 'bun is not in node_modules/.bin, BUN_BIN or PATH (npm install puts it in node_modules/.bin)' }
      if (!existsSync(join(ROOT, 'src/runtime/bun.ts'))) return { missing: 'src/runtime/bun.ts does not exist yet' }
      return { cmd: bun, args: [join(ROOT, 'src/runtime/bun.ts'), 'serve'] }
    },
  },
  {
    id: 'deno-pg',
    label: 'Deno + PostgreSQL, every limit on',
    database: 'postgres',
    command: () => {
      const deno = findRuntime('deno')
      if (!deno) return { missing: 'deno is not in node_modules/.bin, DENO_BIN, PATH or the folder .ci/run installs it into' }
      if (!existsSync(join(ROOT, 'src/runtime/deno.ts'))) return { missing: 'src/runtime/deno.ts does not exist yet' }
      return { cmd: deno, args: ['run', '--allow-net', '--allow-env', '--allow-read', '--allow-write', join(ROOT, 'src/runtime/deno.ts'), 'serve'] }
    },
  },
  { id: 'floor', label: 'Floor (bench/floor.ts): no limits, no logging', database: 'postgres', floor: true, command: node('bench/floor.ts') },
]

export interface ServerProcess {
  pid: number
  url: string
  /** The last few kB of its stderr (warnings, errors), for error messages. */
  stderrTail(): string
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>
}

function healthz(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get(`${url}/healthz`, { timeout: 1000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(false))
  })
}

/** Starts a target and resolves once GET /healthz answers 200 (it listens only after migrating and loading keys). */
export async function startServer(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  port: number,
  startTimeoutMs: number,
): Promise<ServerProcess> {
  // Its stdout (the info log) goes to /dev/null: the service pays for writing its logs, the driver does not pay for reading them.
  const devNull = openSync('/dev/null', 'w')
  const child: ChildProcess = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', devNull, 'pipe'] })
  closeSync(devNull)
  let stderr = ''
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (d: string) => (stderr = (stderr + d).slice(-4000)))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let exitCode: number | null | undefined
  void exited.then((code) => (exitCode = code))
  const url = `http://127.0.0.1:${port}`
  const server: ServerProcess = {
    pid: child.pid!,
    url,
    stderrTail: () => stderr,
    stop: async (graceMs = 15_000) => {
      if (exitCode !== undefined) return exitCode
      child.kill('SIGTERM')
      const code = await Promise.race([exited, sleep(graceMs).then(() => 'timeout' as const)])
      if (code !== 'timeout') return code
      child.kill('SIGKILL')
      return Promise.race([exited, sleep(5000).then(() => null)])
    },
  }
  const deadline = Date.now() + startTimeoutMs
  for (;;) {
    if (exitCode !== undefined) throw new Error(`${cmd} exited with ${exitCode} before serving:\n${stderr.trim()}`)
    if (await healthz(url)) return server
    if (Date.now() > deadline) {
      await server.stop(2000)
      throw new Error(`${cmd} did not serve within ${startTimeoutMs} ms:\n${stderr.trim()}`)
    }
    await sleep(50)
  }
}
