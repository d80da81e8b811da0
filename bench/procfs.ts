// CPU time and memory of processes, from Linux's /proc.
import { readdirSync, readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

let ticksPerSecond: number | undefined
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

interface Stat {
  /** The command name (a thread's own name for a thread's stat) */
  comm: string
  ppid: number
  /** user + system CPU of the process (or the thread) itself, ms */
  cpuMs: number
  /** user + system CPU of its children that have exited and were waited for, ms */
  childrenCpuMs: number
}

/** `/proc/<pid>/stat`, or with `tid` that thread's `/proc/<pid>/task/<tid>/stat`. */
function readStat(pid: number, tid?: string): Stat | undefined {
  let text: string
  try {
    text = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) may contain spaces and brackets: fields start after the last ")".
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // f[0] is field 3 (state); utime = field 14, stime 15, cutime 16, cstime 17, ppid = field 4.
  const tick = 1000 / clockTicks()
  return {
    comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')),
    ppid: Number(f[1]),
    cpuMs: (Number(f[11]) + Number(f[12])) * tick,
    childrenCpuMs: (Number(f[13]) + Number(f[14])) * tick,
  }
}

/** CPU ms used so far by one process (all its threads). */
export function processCpuMs(pid: number): number | undefined {
  return readStat(pid)?.cpuMs
}

/**
 * CPU ms used so far by a process tree such as PostgreSQL's: the root, its live descendants, and
 * the descendants that already exited (counted in the root's cutime/cstime once waited for).
 */
export function treeCpuMs(rootPid: number): number | undefined {
  const root = readStat(rootPid)
  if (!root) return undefined
  const byParent = new Map<number, { pid: number; stat: Stat }[]>()
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    if (!Number.isInteger(pid) || pid <= 0 || pid === rootPid) continue
    const stat = readStat(pid)
    if (!stat) continue
    const list = byParent.get(stat.ppid) ?? []
    list.push({ pid, stat })
    byParent.set(stat.ppid, list)
  }
  let total = root.cpuMs + root.childrenCpuMs
  const queue = [rootPid]
  for (let guard = 0; queue.length > 0 && guard < 10_000; guard++) {
    for (const child of byParent.get(queue.shift()!) ?? []) {
      total += child.stat.cpuMs
      queue.push(child.pid)
    }
  }
  return total
}

/**
 * CPU ms used so far by each of a process's threads, summed by thread name: "main thread" for the
 * process's first thread (JavaScript runs there), the others by the name their runtime gave them
 * (Node: V8Worker for the garbage collector's and compiler's helpers, libuv-worker for the thread
 * pool that runs WebCrypto). A thread that has ended is no longer listed.
 */
export function threadCpuMs(pid: number): Map<string, number> | undefined {
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return undefined
  }
  const out = new Map<string, number>()
  for (const tid of tids) {
    const stat = readStat(pid, tid)
    if (!stat) continue
    const name = Number(tid) === pid ? 'main thread' : stat.comm.replace(/[\s\d#:-]+$/, '') || 'other'
    out.set(name, (out.get(name) ?? 0) + stat.cpuMs)
  }
  return out
}

/** Resident set size now and its peak (VmRSS, VmHWM), in MB. */
export function memoryMb(pid: number): { rss: number; peak: number } | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return undefined
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
}

/** CPU ms every CPU of the machine spent busy so far (/proc/stat: all but idle and iowait). */
export function machineBusyCpuMs(): number | undefined {
  let line: string | undefined
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
  } catch {
    return undefined
  }
  if (!line?.startsWith('cpu ')) return undefined
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * (1000 / clockTicks())
}
