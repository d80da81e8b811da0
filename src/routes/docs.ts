// GET /openapi.json and GET /docs: the OpenAPI document, and an interactive page (Scalar's API
// reference) that renders it. Every file the page loads is served from here: deployments are often
// closed networks, and the Content-Security-Policy allows scripts from this service only.
import { Hono } from 'hono'
import { readFile } from 'node:fs/promises'
import { AppError } from '../errors.ts'
import { buildOpenApiDocument } from './openapi.ts'

/** The page's own files: not part of the API, so not in the OpenAPI document. */
export const DOCS_ASSET_ROUTE = '/docs/assets/:file'

interface Asset {
  body: Uint8Array<ArrayBuffer>
  gzip: Uint8Array<ArrayBuffer>
  etag: string
}

/**
 * Scalar's standalone browser bundle (one self-contained script, CSS included), from the
 * @scalar/api-reference package. On Bun the import below makes `bun build --compile` embed the
 * file in the executable, which has no node_modules; Node and Deno read it from node_modules.
 */
async function readScalarBundle(): Promise<Uint8Array<ArrayBuffer>> {
  const bun = (globalThis as { Bun?: { file(path: string): Blob } }).Bun
  if (bun) {
    // @ts-ignore -- a Bun-only import attribute: the module is the file's path (on disk, or inside the binary).
    const embedded: { default: string } = await import('../../node_modules/@scalar/api-reference/dist/browser/standalone.js', { with: { type: 'file' } })
    return new Uint8Array(await bun.file(embedded.default).arrayBuffer())
  }
  // The package exports no path to the bundle: it sits beside the entry point, in dist/browser/.
  const bytes = await readFile(new URL('browser/standalone.js', import.meta.resolve('@scalar/api-reference')))
  return new Uint8Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
}

async function asset(body: Uint8Array<ArrayBuffer>): Promise<Asset> {
  const gzip = new Uint8Array(await new Response(new Blob([body]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer())
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body))
  const etag = `"${[...digest.subarray(0, 12)].map((b) => b.toString(16).padStart(2, '0')).join('')}"`
  return { body, gzip, etag }
}

// Read and compressed once per process, on the first request for it (not at start-up: the
// bundle is ~5 MB, and most processes never serve the page).
let scalarBundle: Promise<Asset> | undefined
const scalar = () => (scalarBundle ??= readScalarBundle().then(asset).catch((err) => {
  scalarBundle = undefined
  throw err
}))

/** What Scalar is told: the document, and nothing that would reach for another host. */
const SCALAR_CONFIG = {
  url: '/openapi.json',
  withDefaultFonts: false, // its default fonts come from a CDN
  telemetry: false,
  agent: { disabled: true },
  mcp: { disabled: true },
  defaultOpenAllTags: true,
  documentDownloadType: 'json',
  showDeveloperTools: 'never', // its toolbar links to Scalar's hosted services
  metaData: { title: 'NomiSafe Auth API reference' },
}

const INIT_JS = `// Renders /openapi.json with Scalar's API reference (served by this service, like this file).
Scalar.createApiReference('#app', ${JSON.stringify(SCALAR_CONFIG)})
`

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>NomiSafe Auth API reference</title>
</head>
<body>
<div id="app"></div>
<noscript>This page needs JavaScript. The OpenAPI document it renders is <a href="/openapi.json">/openapi.json</a>.</noscript>
<script src="/docs/assets/scalar.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>
`

/**
 * Scripts from this service only: no inline script, no eval, no other host for anything. Inline
 * styles are allowed: the bundle adds its theme as <style> elements (only the first one would
 * carry a nonce), and a style cannot run code.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** GET /openapi.json, GET /docs and the page's assets. The document is built once, here. */
export function docsRoutes() {
  const document = JSON.stringify(buildOpenApiDocument())
  return new Hono()
    .get('/openapi.json', (c) => c.body(document, 200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' }))
    .get('/docs', (c) =>
      c.html(PAGE, 200, {
        'content-security-policy': CONTENT_SECURITY_POLICY,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      }),
    )
    .get(DOCS_ASSET_ROUTE, async (c) => {
      const headers: Record<string, string> = {
        'content-type': 'text/javascript; charset=utf-8',
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      }
      const file = c.req.param('file')
      if (file === 'init.js') return c.body(INIT_JS, 200, headers)
      if (file !== 'scalar.js') throw new AppError('not_found')
      const { body, gzip, etag } = await scalar()
      headers.etag = etag
      headers.vary = 'accept-encoding'
      if (c.req.header('if-none-match')?.split(/\s*,\s*/).includes(etag)) return c.body(null, 304, headers)
      if (/\bgzip\b(?!\s*;\s*q=0(?:\.0*)?(?![\d.]))/.test(c.req.header('accept-encoding') ?? '')) {
        return c.body(gzip, 200, { ...headers, 'content-encoding': 'gzip' })
      }
      return c.body(body, 200, headers)
    })
}
