// Summarises a V8 .cpuprofile (node --cpu-prof): where the server's CPU went, by function (self
// time), by area (package, node internals, the service's own files, GC), and the service's own
// functions by inclusive time (synchronous parts only: V8 puts an async function's resumed
// part under runMicrotasks). Also runnable by hand: node bench/cpu-profile.ts FILE.cpuprofile [FLOWS]
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

function shortUrl(url: string): string {
  if (!url) return ''
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length)
  const src = url.search(/\/(src|bench|db)\//)
  if (src >= 0) return url.slice(src + 1)
  return url.replace(/^file:\/\//, '')
}

function area(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : `(native) ${name || 'anonymous'}`
  if (url.startsWith('node:')) return url
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  const src = /\/((?:src|bench|db)\/.*)$/.exec(url)
  return src ? src[1]! : url
}

const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)} %`

/** `flows`: the flows the profiled process served in its life, to show µs per flow as well. */
export function summarizeProfile(path: string, top = 25, flows?: number): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url)}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`

  const self = new Map<string, number>()
  const areas = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let total = 0
  let idle = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000 // µs → ms; a sample's time is the gap to the next one
    const node = byId.get(profile.samples[i]!)
    if (!node) continue
    total += dt
    if (node.callFrame.functionName === '(idle)') {
      idle += dt
      continue
    }
    const k = key(node)
    self.set(k, (self.get(k) ?? 0) + dt)
    const a = area(node.callFrame.url, node.callFrame.functionName)
    areas.set(a, (areas.get(a) ?? 0) + dt)
    // Inclusive time of the service's own functions: each once per sample, however deep the recursion.
    const seen = new Set<string>()
    for (let id: number | undefined = node.id, guard = 0; id !== undefined && guard < 500; id = parent.get(id), guard++) {
      const n = byId.get(id)!
      if (!/\/src\//.test(n.callFrame.url) || n.callFrame.url.includes('/node_modules/')) continue
      const ik = key(n)
      if (seen.has(ik)) continue
      seen.add(ik)
      inclusive.set(ik, (inclusive.get(ik) ?? 0) + dt)
    }
  }
  const busy = total - idle
  const perFlow = flows && flows > 0 ? (ms: number) => ` ${((1000 * ms) / flows).toFixed(0)} |` : () => ''
  const head = (what: string) => [`| share | ms |${flows ? ' µs/flow |' : ''} ${what} |`, `| ---: | ---: |${flows ? ' ---: |' : ''} --- |`]
  const rows = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, ms]) => `| ${pct(ms, busy)} | ${ms.toFixed(0)} |${perFlow(ms)} \`${k.replaceAll('|', '\\|')}\` |`)
  return [
    `Profile ${path}: ${total.toFixed(0)} ms sampled, ${busy.toFixed(0)} ms busy (${pct(busy, total)}), ${idle.toFixed(0)} ms idle` +
      (flows ? `; ${flows} flows served: ${((1000 * busy) / flows).toFixed(0)} µs busy per flow.` : '.'),
    '',
    `Self time by area (share of busy time):`,
    '',
    ...head('area'),
    ...rows(areas, 20),
    '',
    `Top ${top} functions by self time:`,
    '',
    ...head('function'),
    ...rows(self, top),
    ...(inclusive.size === 0 ? [] : ['', `The service's own functions (src/) by inclusive time:`, '', ...head('function'), ...rows(inclusive, 20)]),
  ].join('\n')
}

if (import.meta.main) {
  const file = process.argv[2]
  if (!file) {
    process.stderr.write('usage: node bench/cpu-profile.ts FILE.cpuprofile [FLOWS]\n')
    process.exit(2)
  }
  process.stdout.write(`${summarizeProfile(file, 25, process.argv[3] ? Number(process.argv[3]) : undefined)}\n`)
}
