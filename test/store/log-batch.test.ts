import { describe, expect, it } from 'vitest'
import { lineBatcher } from '../../src/log.ts'

describe('log lines in batches', () => {
  it('writes the lines of one turn together, in order, once the turn is over', async () => {
    const writes: string[] = []
    const out = lineBatcher((text) => writes.push(text), setImmediate)
    out.line('{"msg":"one"}')
    out.line('{"msg":"two"}')
    expect(writes).toEqual([])
    await new Promise((resolve) => setImmediate(resolve))
    expect(writes).toEqual(['{"msg":"one"}\n{"msg":"two"}\n'])
    out.line('{"msg":"three"}')
    await new Promise((resolve) => setImmediate(resolve))
    expect(writes).toEqual(['{"msg":"one"}\n{"msg":"two"}\n', '{"msg":"three"}\n'])
  })

  it('loses nothing at exit: flush writes what waits, and a later scheduled flush writes nothing twice', async () => {
    const writes: string[] = []
    const out = lineBatcher((text) => writes.push(text), setImmediate)
    out.line('last words')
    out.flush()
    expect(writes).toEqual(['last words\n'])
    await new Promise((resolve) => setImmediate(resolve))
    expect(writes).toEqual(['last words\n'])
  })

  it('does not hold more than 64 kB: a long burst is written as it grows', () => {
    const writes: string[] = []
    const out = lineBatcher((text) => writes.push(text), () => {})
    for (let i = 0; i < 1000; i++) out.line('x'.repeat(199))
    expect(writes.length).toBeGreaterThanOrEqual(2)
    expect(writes.every((w) => w.length <= 65_536 + 200)).toBe(true)
    out.flush()
    expect(writes.join('')).toBe(`${'x'.repeat(199)}\n`.repeat(1000))
  })
})
