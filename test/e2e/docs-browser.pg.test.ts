// GET /docs in a real browser: Debian's headless Chromium, driven by playwright-core, loads the
// page from the real service process and must list every endpoint of the OpenAPI document without
// a single request leaving this machine. A screenshot is kept under test-results/.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testDatabase } from '../support/db.ts'
import { startService, type RunningService } from '../support/service.ts'

const CHROMIUM = '/usr/bin/chromium'
const ARTIFACTS = join(import.meta.dirname, '../../test-results')
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

let svc: RunningService | undefined
let closeDb: (() => Promise<void>) | undefined
let profile: string | undefined
let browser: BrowserContext | undefined

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium), as .ci/run does`)
  }
  const conn = await testDatabase('postgres', { migrate: false })
  closeDb = conn.close
  svc = await startService({ DATABASE_URL: conn.url! })
  profile = mkdtempSync(join(tmpdir(), 'nomisafe-chromium-'))
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1400, height: 1000 },
  })
})

afterAll(async () => {
  await browser?.close()
  if (svc) expect(await svc.stop()).toBe(0)
  await closeDb?.()
  if (profile) rmSync(profile, { recursive: true, force: true })
})

describe('GET /docs in headless Chromium', () => {
  it('lists every endpoint of /openapi.json, loading everything from the service itself', async () => {
    const doc = await (await fetch(`${svc!.url}/openapi.json`)).json()
    const paths = Object.keys(doc.paths)
    const summaries = Object.values<Record<string, { summary: string }>>(doc.paths).flatMap((item) => Object.values(item).map((op) => op.summary))

    const page = await browser!.newPage()
    const requests: string[] = []
    const errors: string[] = []
    page.on('request', (r) => requests.push(r.url()))
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`))
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`))
    // Content-Security-Policy violations (a script, style, font or call to another host) land here.
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`console ${m.type()}: ${m.text()}`)
    })

    const res = await page.goto(`${svc!.url}/docs`)
    expect(res?.status()).toBe(200)
    await page.waitForFunction(
      (expected) => expected.every((text) => document.body.innerText.includes(text)),
      [...paths, ...summaries],
      { timeout: 30_000 },
    )
    const text = await page.evaluate(() => document.body.innerText)
    for (const path of paths) expect(text, `the page shows ${path}`).toContain(path)
    for (const summary of summaries) expect(text, `the page lists "${summary}"`).toContain(summary)

    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'docs.png') })
    // The first operation, as a reader sees it.
    await page.getByRole('heading', { name: doc.paths['/api/auth/otp/request/'].post.summary }).scrollIntoViewIfNeeded()
    await page.screenshot({ path: join(ARTIFACTS, 'docs-operation.png') })

    expect(errors).toEqual([])
    const origins = new Set(requests.map((u) => new URL(u)).filter((u) => u.protocol !== 'data:' && u.protocol !== 'blob:').map((u) => u.origin))
    for (const origin of origins) expect(LOOPBACK.has(new URL(origin).hostname), `${origin} is on loopback`).toBe(true)
    const own = requests.map((u) => new URL(u).pathname)
    expect(own).toEqual(expect.arrayContaining(['/docs', '/docs/assets/scalar.js', '/docs/assets/init.js', '/openapi.json']))
    await page.close()
  }, 90_000)
})
