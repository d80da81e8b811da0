/**
 * Prometheus metrics of this instance, rendered in the text exposition format. They are
 * observations of one process (Prometheus scrapes each instance and sums), not state: nothing
 * the service decides depends on them.
 */
type Labels = Record<string, string>

interface Family {
  help: string
  type: 'counter' | 'histogram'
}

const FAMILIES = {
  http_requests_total: { help: 'HTTP requests answered, by method, route and status.', type: 'counter' },
  http_request_duration_seconds: { help: 'Time to answer an HTTP request, by method and route.', type: 'histogram' },
  sms_sent_total: { help: 'SMS sent or failed, by provider, destination country and outcome.', type: 'counter' },
  otp_verify_total: { help: 'Code verifications by outcome.', type: 'counter' },
  rate_limit_hits_total: { help: 'Requests refused by a limit, by limit.', type: 'counter' },
  security_events_total: { help: 'Security events written to the audit trail, by type.', type: 'counter' },
  events_delivery_total: { help: 'Webhook event delivery tries, by outcome.', type: 'counter' },
} as const satisfies Record<string, Family>

export type MetricName = keyof typeof FAMILIES

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

interface Histogram {
  counts: number[]
  sum: number
  count: number
}

export interface Metrics {
  inc(name: MetricName, labels: Labels, by?: number): void
  observe(name: MetricName, labels: Labels, seconds: number): void
  render(): string
}

const NEEDS_ESCAPE = /[\\\n"]/
const escape = (v: string) => (NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v)
/** The series' labels in name order, as they are rendered: `a="1",b="2"`. Built on every call, so kept lean. */
const key = (labels: Labels) => {
  const names = Object.keys(labels)
  for (let i = 1; i < names.length; i++) {
    if (names[i - 1]! > names[i]!) {
      names.sort()
      break
    }
  }
  let k = ''
  for (const name of names) k += `${k === '' ? '' : ','}${name}="${escape(labels[name]!)}"`
  return k
}

export function createMetrics(): Metrics {
  const counters = new Map<MetricName, Map<string, number>>()
  const histograms = new Map<MetricName, Map<string, Histogram>>()
  return {
    inc(name, labels, by = 1) {
      let series = counters.get(name)
      if (!series) counters.set(name, (series = new Map()))
      const k = key(labels)
      series.set(k, (series.get(k) ?? 0) + by)
    },
    observe(name, labels, seconds) {
      let series = histograms.get(name)
      if (!series) histograms.set(name, (series = new Map()))
      const k = key(labels)
      let h = series.get(k)
      if (!h) series.set(k, (h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }))
      for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.counts[i]!++
      h.sum += seconds
      h.count++
    },
    render() {
      const lines: string[] = []
      for (const [name, family] of Object.entries(FAMILIES) as [MetricName, Family][]) {
        lines.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} ${family.type}`)
        for (const [k, value] of counters.get(name) ?? []) lines.push(`${name}${k ? `{${k}}` : ''} ${value}`)
        for (const [k, h] of histograms.get(name) ?? []) {
          const sep = k ? `${k},` : ''
          BUCKETS.forEach((le, i) => lines.push(`${name}_bucket{${sep}le="${le}"} ${h.counts[i]}`))
          lines.push(`${name}_bucket{${sep}le="+Inf"} ${h.count}`, `${name}_sum${k ? `{${k}}` : ''} ${h.sum}`, `${name}_count${k ? `{${k}}` : ''} ${h.count}`)
        }
      }
      return `${lines.join('\n')}\n`
    },
  }
}
