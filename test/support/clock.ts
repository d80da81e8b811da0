import type { Clock } from '../../src/clock.ts'

export interface FakeClock extends Clock {
  advance(ms: number): void
  set(iso: string): void
}

/** Time moves only when a test moves it: no sleeps, no fake timers. */
export function fakeClock(iso = '2026-01-01T00:00:00Z'): FakeClock {
  let t = Date.parse(iso)
  return {
    now: () => new Date(t),
    advance: (ms) => {
      t += ms
    },
    set: (s) => {
      t = Date.parse(s)
    },
  }
}
