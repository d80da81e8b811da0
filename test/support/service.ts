// The service as a separate process on loopback, configured only by its environment, for tests
// that need what only a real process shows (start-up, background work, signals) or a client from
// another ecosystem that speaks HTTP.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'

export const ENTRY = join(import.meta.dirname, '../../src/runtime/node.ts')

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

export interface RunningService {
  url: string
  output: () => string
  stop: () => Promise<number | null>
}

export async function startService(env: Record<string, string>): Promise<RunningService> {
  const port = await freePort()
  const child: ChildProcess = spawn(process.execPath, [ENTRY], {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += String(d)))
  child.stderr!.on('data', (d) => (out += String(d)))
  const deadline = Date.now() + 30_000
  while (!out.includes('"listening"')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`service did not start:\n${out}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode)
        child.once('exit', (code) => resolve(code))
        child.kill('SIGTERM')
      }),
  }
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as any }
}

/** What the README's walk-through does: request, read the code from the console, verify. */
export async function signInThroughConsole(svc: RunningService, phone: string) {
  const requested = await postJson(`${svc.url}/api/auth/otp/request/`, { phone_number: phone })
  if (requested.status !== 202) throw new Error(`code request answered ${requested.status}`)
  let code: string | undefined
  for (let i = 0; i < 200 && !code; i++) {
    code = [...svc.output().matchAll(new RegExp(`\\[sms\\] to \\${phone}: (\\d{6})`, 'g'))].at(-1)?.[1]
    if (!code) await new Promise((r) => setTimeout(r, 20))
  }
  const res = await postJson(`${svc.url}/api/auth/otp/verify/`, { phone_number: phone, otp: code })
  if (res.status !== 200) throw new Error(`verify answered ${res.status}: ${JSON.stringify(res.body)}`)
  return res.body as { id: number; phone_number: string; access: string; refresh: string; created: boolean }
}
